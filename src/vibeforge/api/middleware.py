"""ASGI middleware: request ids, access logs, the cap on request body size, and the last word
on unexpected errors (a 500 carrying the request id, never a stack trace)."""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Mapping

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vibeforge.logs import request_id

log = logging.getLogger("vibeforge.access")
errors_log = logging.getLogger("vibeforge.api")
REQUEST_ID_SCOPE_KEY = "vibeforge.request_id"


class BodyTooLarge(HTTPException):
    """The request body went over the cap; an HTTPException so FastAPI's body reader lets it
    through as it is (it turns any other exception into a 400)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is over {limit} bytes")


def internal_error_detail(rid: str) -> str:
    """What a client is told about an unexpected error: only the id to quote."""
    return f"internal error (request id {rid})"


class RequestContextMiddleware:
    """Gives each request an id (echoed as X-Request-ID), logs it, caps its body size, and
    answers any unexpected exception with a 500 in the error shape carrying that id.

    The cap is enforced when the body is read, not before routing: a route that needs a token
    checks it first (from the headers alone), so a client without one gets 401 whatever its
    body, and an oversized body is never read. A declared `Content-Length` over the cap fails
    the first read at once; a body without one is counted and cut off at the cap.
    `body_limits` gives some paths (file uploads, streamed to disk) a cap of their own.
    """

    def __init__(
        self, app: ASGIApp, max_body_bytes: int, body_limits: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_limits = dict(body_limits or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")[:64]
        rid = incoming if incoming.isprintable() and incoming else secrets.token_hex(8)
        scope[REQUEST_ID_SCOPE_KEY] = rid
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500
        response_started = False
        limit = self.body_limits.get(scope.get("path", ""), self.max_body_bytes)
        declared = headers.get(b"content-length")
        received = limit + 1 if declared and declared.isdigit() and int(declared) > limit else 0

        async def limited_receive() -> Message:
            nonlocal received
            if received > limit:
                raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_id)
        except BodyTooLarge as too_large:
            # Raised through an app that is not FastAPI's (the Socket.IO mount).
            if not response_started:
                status = 413
                await self._reject(send, rid, 413, "payload_too_large", str(too_large.detail))
        except Exception:
            # Caught here, inside the request's context, so the log line and the answer both
            # carry the request id (Starlette's own handler runs after the id is gone).
            errors_log.exception("unhandled error", extra={"request_id": rid})
            if not response_started:
                status = 500
                await self._reject(send, rid, 500, "internal_error", internal_error_detail(rid))
            # Once the answer has started it cannot become a 500: the server closes the
            # connection on the incomplete response.
        finally:
            log.info("request", extra=self._fields(scope, status, started))
            request_id.reset(token)

    def _fields(self, scope: Scope, status: int, started: float) -> dict[str, object]:
        return {
            "method": scope.get("method"),
            "path": scope.get("path"),
            "status": status,
            "ms": round((time.perf_counter() - started) * 1000, 2),
        }

    async def _reject(self, send: Send, rid: str, status: int, code: str, detail: str) -> None:
        body = json.dumps({"error": code, "detail": detail}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"x-request-id", rid.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
