"""The WebSocket transport at `/ws`: JSON envelopes `{"type", "seq", "data"}` in text frames.

It authenticates, frames and writes; every command is executed by the client layer
(`api/connection.py`), shared with Socket.IO. One writer task per socket drains the client's
bounded subscription.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from vibeforge.api.connection import ClientConnection
from vibeforge.api.deps import bearer_token
from vibeforge.db.tables import User
from vibeforge.errors import PayloadTooLarge, Unauthorized, VibeforgeError
from vibeforge.runs.events import Event, envelope
from vibeforge.runs.protocol import Auth, ServerEvent, event_data, parse_command
from vibeforge.services import Services

router = APIRouter()
log = logging.getLogger("vibeforge.ws")

CLOSE_UNAUTHORIZED = 4401
CLOSE_TOO_SLOW = 4008
AUTH_TIMEOUT_S = 10.0
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


class WebSocketOutlet:
    """Writes a client's events and replies as text frames."""

    def __init__(self, socket: WebSocket) -> None:
        self.socket = socket

    async def event(self, event: Event) -> None:
        """A bus event, as encoded once for every subscriber."""
        await self.socket.send_text(event.wire)

    async def reply(self, reply: ServerEvent) -> None:
        """A message to this client alone, with `seq` 0."""
        await self.socket.send_text(envelope(reply.type, event_data(reply)))

    async def too_slow(self) -> None:
        """Close with 4008: the client reconnects with `after_seq`."""
        await self.socket.close(CLOSE_TOO_SLOW, "client too slow: reconnect with after_seq")


def _message(frame: dict[str, object]) -> object:
    """The JSON value of a text (or UTF-8 binary) frame."""
    raw = frame.get("text")
    if raw is None:
        data = frame.get("bytes") or b""
        assert isinstance(data, bytes)
        try:
            raw = data.decode("utf-8")
        except UnicodeDecodeError:
            # Refused, not repaired: U+FFFD would make two byte strings one name.
            raise _MalformedJSON("a frame is not UTF-8") from None
    assert isinstance(raw, str)
    if len(raw) > MAX_MESSAGE_BYTES:
        raise PayloadTooLarge("message too large")
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        raise _MalformedJSON from None
    except RecursionError:  # `[[[[...` nested past the parser's stack: not a message
        raise _MalformedJSON("JSON nested too deeply") from None


class _MalformedJSON(VibeforgeError):
    code = "malformed_json"
    status = 400

    def __init__(self, detail: str = "not valid JSON") -> None:
        super().__init__(detail)


async def _authenticate(socket: WebSocket, services: Services) -> User | None:
    """Token from ?token= or the Authorization header (refused before accept), else from a
    first message `{"type": "auth", "data": {"token": ...}}`."""
    token = socket.query_params.get("token")
    header = socket.headers.get("authorization")
    if token or header:
        try:
            user = await services.users.authenticate(token or bearer_token(header))
        except Unauthorized:
            await socket.close(CLOSE_UNAUTHORIZED)
            return None
        await socket.accept()
        return user
    await socket.accept()
    try:
        frame = await asyncio.wait_for(socket.receive(), AUTH_TIMEOUT_S)
        if frame["type"] == "websocket.disconnect":
            return None
        # Whatever the first frame is (binary, not JSON, not an object), a client that has not
        # authenticated is told only that: nothing is parsed further.
        auth = parse_command(json.loads(frame.get("text") or "null"), {Auth.type: Auth})
        assert isinstance(auth, Auth)
        return await services.users.authenticate(auth.token)
    except (TimeoutError, ValueError, VibeforgeError):
        await socket.send_text(
            envelope("error", {"code": "unauthorized", "detail": "invalid token"})
        )
        await socket.close(CLOSE_UNAUTHORIZED)
        return None


@router.websocket("/ws")
async def websocket_endpoint(socket: WebSocket) -> None:
    """Serve one client until it disconnects; its runs keep going."""
    services: Services = socket.app.state.services
    user = await _authenticate(socket, services)
    if user is None:
        return
    connection = ClientConnection(services, user, WebSocketOutlet(socket), "ws")
    connection.start()
    try:
        while True:
            frame = await socket.receive()
            if frame["type"] == "websocket.disconnect":
                break
            try:
                message = _message(frame)
            except VibeforgeError as error:
                await connection.refuse(error)
                continue
            await connection.handle(message)
    except (WebSocketDisconnect, RuntimeError):
        pass
    except Exception:
        log.exception("websocket connection failed")
    finally:
        await connection.stop()
        if socket.client_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await socket.close()
