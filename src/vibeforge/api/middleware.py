"""ASGI middleware: request ids and access logs, and a cap on request body size."""

from __future__ import annotations

import json
import logging
import secrets
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vibeforge.logs import request_id

log = logging.getLogger("vibeforge.access")


class _BodyTooLarge(Exception):
    pass


class RequestContextMiddleware:
    """Gives each request an id (echoed as X-Request-ID), logs it, and caps its body size."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")[:64]
        rid = incoming if incoming.isprintable() and incoming else secrets.token_hex(8)
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500
        response_started = False

        if "\x00" in scope.get("path", "") or b"%00" in scope.get("query_string", b""):
            # Nothing addressable has a NUL in it, and PostgreSQL cannot even compare one.
            await self._reject(send, rid, 422, "invalid_path", "the URL contains a NUL byte")
            log.info("request", extra=self._fields(scope, 422, started))
            request_id.reset(token)
            return
        declared = headers.get(b"content-length")
        if declared and declared.isdigit() and int(declared) > self.max_body_bytes:
            detail = f"the request body is over {self.max_body_bytes} bytes"
            await self._reject(send, rid, 413, "payload_too_large", detail)
            log.info("request", extra=self._fields(scope, 413, started))
            request_id.reset(token)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _BodyTooLarge
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
        except _BodyTooLarge:
            if not response_started:
                status = 413
                detail = f"the request body is over {self.max_body_bytes} bytes"
                await self._reject(send, rid, 413, "payload_too_large", detail)
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
