"""What the compat WebSocket adapters share: who the caller is, and reading a frame."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from vibeforge.api.compat.local import local_caller
from vibeforge.api.connection import ClientConnection
from vibeforge.api.deps import bearer_token
from vibeforge.db.tables import User
from vibeforge.errors import Unauthorized
from vibeforge.services import Services

log = logging.getLogger("vibeforge.compat")
MAX_FRAME_CHARS = 4 * 1024 * 1024
CLOSE_UNAUTHORIZED = 4401
CLOSE_TOO_SLOW = 4008


async def socket_caller(services: Services, socket: WebSocket) -> User | None:
    """The caller of a compat socket: its token (`?token=` or `Authorization: Bearer`), else
    the local user (local mode, loopback); None when neither holds."""
    token = socket.query_params.get("token")
    header = socket.headers.get("authorization")
    try:
        if token or header:
            return await services.users.authenticate(token or bearer_token(header))
        return await local_caller(services, socket)
    except Unauthorized:
        return None


class FrameError(ValueError):
    """A frame that is not text the adapter can read (too large, not UTF-8)."""


def frame_text(frame: dict[str, Any]) -> str | None:
    """The text of a received frame (binary frames as UTF-8); None once disconnected."""
    if frame["type"] == "websocket.disconnect":
        return None
    text = frame.get("text")
    if text is None:
        try:
            text = (frame.get("bytes") or b"").decode("utf-8")
        except UnicodeDecodeError:
            raise FrameError("a frame is not UTF-8") from None
    if len(text) > MAX_FRAME_CHARS:
        raise FrameError("message too large")
    return text


def json_or_none(text: str) -> Any:
    """The JSON value of a frame, or None when it is not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        return None


async def serve(
    socket: WebSocket,
    connection: ClientConnection,
    handle: Callable[[str], Awaitable[None]],
    refuse: Callable[[str], Awaitable[None]],
) -> None:
    """Run a compat socket: its connection's pump, then each text frame to `handle` (a frame
    that cannot be read to `refuse`) until the client leaves; its runs keep going."""
    connection.start()
    try:
        while True:
            try:
                text = frame_text(await socket.receive())
            except FrameError as error:
                await refuse(str(error))
                continue
            if text is None:
                break
            await handle(text)
    except (WebSocketDisconnect, RuntimeError):
        pass
    except Exception:
        log.exception("%s connection failed", connection.transport)
    finally:
        await connection.stop()
        if socket.client_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await socket.close()


async def accept_caller(socket: WebSocket, refusal: str) -> User | None:
    """Accept a compat socket and name its caller; without one, send `refusal` (the
    reference's own error text frame) and close with 4401."""
    user = await socket_caller(socket.app.state.services, socket)
    await socket.accept()
    if user is None:
        await socket.send_text(refusal)
        await socket.close(CLOSE_UNAUTHORIZED)
    return user
