"""The OpenAI-compatible endpoint: `POST /v1/chat/completions` and `GET /v1/models` for
vibeforge tokens, answered through the relay by the caller's model configs (chosen by name),
every provider attempt recorded as an LLMCall.

It speaks OpenAI's protocol, errors included (`{"error": {"message", "type", "param",
"code"}}`), so that editors and SDKs made for OpenAI understand it; it is therefore mounted
beside the REST API rather than in it (and is not in the OpenAPI schema).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from vibeforge.api.deps import bearer_token
from vibeforge.db.chat_tables import LLMCall
from vibeforge.db.tables import User
from vibeforge.errors import NotFound, Unauthorized
from vibeforge.modelconfigs.service import OFFLINE_NAME, ResolvedModel
from vibeforge.relay import CallRecorder, CallScope, Relay, RelayCaps, RelayError, RelaySession
from vibeforge.relay.asgi import answer_response, read_json, refusal
from vibeforge.services import Services

log = logging.getLogger("vibeforge.openai")
ROLE = "api"  # the role of every LLMCall made through this endpoint
# Budgets, not per-session caps, limit these callers; nothing is clamped.
UNCAPPED = RelayCaps(max_calls=1 << 62, max_tokens=1 << 62, clamp=False)


class OpenAIEndpoint:
    """Answers OpenAI requests for vibeforge users; stores each LLMCall as it ends."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.relay = Relay()
        self._writes: set[asyncio.Task[None]] = set()

    async def caller(self, request: Request) -> User:
        """The user of the request's bearer token, or RelayError 401."""
        try:
            token = bearer_token(request.headers.get("authorization"))
            return await self.services.users.authenticate(token)
        except Unauthorized as refused:
            raise RelayError(401, refused.detail, code="invalid_api_key") from None

    async def model(self, user: User, name: Any) -> ResolvedModel:
        """The caller's model config named `name` (or the built-in offline model)."""
        if not isinstance(name, str) or not name:
            raise RelayError(400, "model must be a non-empty string", param="model")
        try:
            return await self.services.models.resolve(user, name)
        except NotFound:
            raise RelayError(
                404,
                f"the model {name!r} does not exist: name one of your model configs",
                param="model",
                code="model_not_found",
            ) from None

    def session(self, user: User, name: str, resolved: ResolvedModel) -> RelaySession:
        """A one-request relay session whose attempts are stored as they end."""
        scope = CallScope(
            owner_id=user.id,
            role=ROLE,
            model_label=resolved.label,
            prices=resolved.spec.prices,
        )
        recorder = CallRecorder(scope, on_row=self._store)
        return RelaySession(resolved.chat, name, recorder, UNCAPPED)

    def _store(self, row: LLMCall) -> None:
        # Called inside the stream, maybe while it is being cancelled: the write runs as its
        # own task, so a client hanging up cannot lose the record of what it was billed.
        task = asyncio.get_running_loop().create_task(self._write(row), name="store-llm-call")
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write(self, row: LLMCall) -> None:
        try:
            async with self.services.db.transaction() as session:
                session.add(row)
        except Exception:
            log.exception("could not store an LLM call of the OpenAI endpoint")

    async def drain(self) -> None:
        """Wait for the LLM calls being stored."""
        while self._writes:
            await asyncio.gather(*list(self._writes), return_exceptions=True)

    async def completions(self, request: Request) -> Response:
        """`POST /v1/chat/completions`."""
        try:
            user = await self.caller(request)
            body = await read_json(request, self.services.settings.max_body_bytes)
            name = body.get("model") if isinstance(body, dict) else None
            resolved = await self.model(user, name)
            session = self.session(user, str(name), resolved)
            answer = await self.relay.complete(session, body)
        except RelayError as error:
            return refusal(error)
        return answer_response(answer)

    async def models(self, request: Request) -> Response:
        """`GET /v1/models`: the model configs the caller may name, and the offline model."""
        try:
            user = await self.caller(request)
        except RelayError as error:
            return refusal(error)
        configs = await self.services.models.list(user)
        entries = [
            {
                "id": row.name,
                "object": "model",
                "created": int(row.created_at.timestamp()),
                "owned_by": "you" if row.owner_id == user.id else "shared",
            }
            for row in configs
        ]
        if all(row.name.casefold() != OFFLINE_NAME for row in configs):
            entries.append(
                {"id": OFFLINE_NAME, "object": "model", "created": 0, "owned_by": "vibeforge"}
            )
        return JSONResponse({"object": "list", "data": entries})


def openai_app(services: Services) -> Starlette:
    """The endpoint as an ASGI app, mounted at `/v1`."""
    endpoint = OpenAIEndpoint(services)
    app = Starlette(
        routes=[
            Route("/chat/completions", endpoint.completions, methods=["POST"]),
            Route("/models", endpoint.models, methods=["GET"]),
        ]
    )
    app.state.endpoint = endpoint
    return app
