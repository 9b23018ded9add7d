"""The relay over HTTP: `POST /v1/chat/completions` as a small Starlette app, for any transport."""

from __future__ import annotations

import json
from contextlib import aclosing
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Send

from vibeforge.relay.relay import Relay
from vibeforge.relay.translate import RelayError

MAX_BODY_BYTES = 8 * 1024 * 1024
# The OpenAI SDKs retry 429 and 5xx by themselves unless told not to; vibeforge has retried
# the provider already, and a cap does not lift by retrying.
NO_RETRY = {"x-should-retry": "false"}


async def read_json(request: Request, limit: int = MAX_BODY_BYTES) -> Any:
    """The request's JSON body, read up to `limit` bytes (RelayError 413 past it, 400 if bad)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise RelayError(413, f"the request body is over {limit} bytes")
    body = bytearray()
    async for piece in request.stream():
        body += piece
        if len(body) > limit:
            raise RelayError(413, f"the request body is over {limit} bytes")
    try:
        return json.loads(body)
    except ValueError:
        raise RelayError(400, "the request body is not JSON", code="invalid_json") from None


class ClosingStream(StreamingResponse):
    """A streamed answer whose iterator is closed however the response ends: a client that
    hangs up while a chunk is being sent still closes the provider's stream at once."""

    async def stream_response(self, send: Send) -> None:
        """Stream the body, then close the iterator (a no-op when it ran to its end)."""
        async with aclosing(self.body_iterator):  # type: ignore[type-var]
            await super().stream_response(send)


def answer_response(answer: dict[str, Any] | Any) -> Response:
    """A chat.completion as JSON, or a stream of chunks as server-sent events."""
    if isinstance(answer, dict):
        return JSONResponse(answer)
    return ClosingStream(
        answer, media_type="text/event-stream", headers={"cache-control": "no-cache"}
    )


def refusal(error: RelayError) -> JSONResponse:
    """An error in OpenAI's shape."""
    return JSONResponse(error.body(), status_code=error.status, headers=NO_RETRY)


def relay_app(relay: Relay) -> Starlette:
    """An ASGI app answering OpenAI chat completions for the relay's sessions."""

    async def completions(request: Request) -> Response:
        try:
            session = relay.session_for(request.headers.get("authorization"))
            answer = await relay.complete(session, await read_json(request))
        except RelayError as error:
            return refusal(error)
        return answer_response(answer)

    async def models(request: Request) -> Response:
        try:
            session = relay.session_for(request.headers.get("authorization"))
        except RelayError as error:
            return refusal(error)
        entry = {"id": session.model_name, "object": "model", "owned_by": "vibeforge"}
        return JSONResponse({"object": "list", "data": [entry]})

    return Starlette(
        routes=[
            Route("/v1/chat/completions", completions, methods=["POST"]),
            Route("/chat/completions", completions, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
        ]
    )
