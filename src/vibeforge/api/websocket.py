"""The WebSocket protocol at `/ws` (DESIGN §4): subscribe with replay, chat, cancel, ping.

One writer task per connection drains the connection's bounded subscription; replies and
replayed events are written under the same lock, and a per-session high-water mark drops live
events that a replay already delivered, so a client sees every event once and in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from vibeforge.api.changes import announce
from vibeforge.api.deps import bearer_token
from vibeforge.api.schemas import has_nul
from vibeforge.api.snapshots import project_snapshot, session_snapshot
from vibeforge.db.tables import User
from vibeforge.errors import InvalidInput, Unauthorized, VibeforgeError
from vibeforge.projects.views import WriteResult
from vibeforge.runs.bus import Subscription, project_topic, session_topic
from vibeforge.runs.events import Event, envelope
from vibeforge.services import Services

router = APIRouter()
log = logging.getLogger("vibeforge.ws")

CLOSE_UNAUTHORIZED = 4401
CLOSE_TOO_SLOW = 4008
AUTH_TIMEOUT_S = 10.0
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


class Connection:
    """One authenticated socket."""

    def __init__(self, socket: WebSocket, services: Services, user: User) -> None:
        self.socket = socket
        self.services = services
        self.user = user
        self.subscription: Subscription = services.bus.subscribe(services.settings.ws_queue_events)
        self.delivered: dict[str, int] = {}
        self.projects: set[str] = set()
        self._lock = asyncio.Lock()

    async def send(self, wire: str) -> None:
        """Write one frame."""
        async with self._lock:
            await self.socket.send_text(wire)

    async def reply(self, type: str, data: dict[str, Any]) -> None:
        """A message to this client only (not numbered, not journaled)."""
        await self.send(envelope(type, data))

    async def send_event(self, event: Event) -> None:
        """Write a bus event unless a replay already delivered it."""
        async with self._lock:
            if event.session_id is not None and event.seq:
                if event.seq <= self.delivered.get(event.session_id, 0):
                    return
                self.delivered[event.session_id] = event.seq
            await self.socket.send_text(event.wire)

    async def pump(self) -> None:
        """Forward bus events until the subscription closes; a slow client is cut off."""
        while True:
            event = await self.subscription.get()
            if event is None:
                if self.subscription.overflowed:
                    await self.socket.close(
                        CLOSE_TOO_SLOW, "client too slow: reconnect with after_seq"
                    )
                return
            await self.send_event(event)

    # -- client requests --------------------------------------------------------------------

    async def handle(self, message: dict[str, Any]) -> None:
        """Dispatch one client message."""
        kind = message.get("type")
        data = message.get("data")
        if data is None:
            data = {key: value for key, value in message.items() if key != "type"}
        if not isinstance(kind, str) or not isinstance(data, dict):
            raise InvalidInput('a message is {"type": TEXT, "data": OBJECT}')
        # A `path` is left to the path rule, which refuses a NUL as invalid_path.
        if has_nul({key: value for key, value in data.items() if key != "path"}):
            raise InvalidInput("a field contains a NUL character")
        handler = _HANDLERS.get(kind)
        if handler is None:
            raise InvalidInput(f"unknown message type {kind!r}")
        await handler(self, data)

    async def on_ping(self, data: dict[str, Any]) -> None:
        await self.reply("pong", {"ts": data.get("ts")})

    async def on_subscribe(self, data: dict[str, Any]) -> None:
        session_id = _text(data, "session_id", required=False)
        project_id = _text(data, "project_id", required=False)
        after_seq = data.get("after_seq")
        if after_seq is not None and (not isinstance(after_seq, int) or after_seq < 0):
            raise InvalidInput("after_seq must be a non-negative integer")
        if session_id:
            await self._subscribe_session(session_id, after_seq)
        elif project_id:
            snapshot = await project_snapshot(self.services, self.user, project_id)
            self.services.bus.follow(self.subscription, project_topic(project_id))
            self.projects.add(project_id)
            await self.reply("snapshot", snapshot)
        else:
            raise InvalidInput("subscribe needs session_id or project_id")

    async def _subscribe_session(self, session_id: str, after_seq: int | None) -> None:
        services = self.services
        session = await services.sessions.get(self.user, session_id)
        # Follow first, so nothing published from here on is missed; the high-water mark
        # drops whatever the replay below also contains.
        services.bus.follow(self.subscription, session_topic(session_id))
        stream = services.streams.peek(session_id)
        last_seq = max(session.last_seq, stream.last_seq if stream else 0)
        async with self._lock:
            await self.socket.send_text(
                envelope(
                    "session_start",
                    {
                        "session_id": session.id,
                        "project_id": session.project_id,
                        "type": session.scope,
                        "node_id": session.node_id,
                        "last_seq": last_seq,
                    },
                )
            )
            replay: list[Event] | None = None
            if after_seq is not None:
                if after_seq >= last_seq:
                    replay = []
                elif stream is not None:
                    replay = stream.replay(after_seq)
            if replay is None:
                snapshot = await session_snapshot(
                    services,
                    self.user,
                    session,
                    reason="subscribe" if after_seq is None else "replay_unavailable",
                )
                await self.socket.send_text(envelope("snapshot", snapshot))
                self.delivered[session_id] = max(self.delivered.get(session_id, 0), last_seq)
                return
            for event in replay:
                await self.socket.send_text(event.wire)
                self.delivered[session_id] = event.seq
            self.delivered[session_id] = max(self.delivered.get(session_id, 0), after_seq)

    async def on_chat(self, data: dict[str, Any]) -> None:
        session_id = _text(data, "session_id")
        prompt = _text(data, "prompt")
        model = _text(data, "model", required=False)
        params = data.get("params")
        if params is not None and not isinstance(params, dict):
            raise InvalidInput("params must be an object")
        session = await self.services.sessions.get(self.user, session_id)
        if session_topic(session.id) not in self.subscription.topics:
            self.services.bus.follow(self.subscription, session_topic(session.id))
            stream = self.services.streams.peek(session.id)
            self.delivered.setdefault(
                session.id, max(session.last_seq, stream.last_seq if stream else 0)
            )
        mode = _text(data, "mode", required=False)
        await self.services.runs.start(
            self.user, session.id, prompt, model, params, mode, session=session
        )

    async def on_cancel(self, data: dict[str, Any]) -> None:
        result = await self.services.runs.cancel(self.user, _text(data, "run_id"))
        if not result["cancelled"]:
            await self.reply("cancel_result", result)

    async def on_upload_file(self, data: dict[str, Any]) -> None:
        project_id, path = _text(data, "project_id"), _path(data)
        content = data.get("content")
        if not isinstance(content, str):
            raise InvalidInput("content must be text")
        result = await self.services.projects.write_files(
            self.user, project_id, {path: content}, _text(data, "message", required=False) or ""
        )
        await self._changed(project_id, result.version_id, [path], result.changed)

    async def on_delete_file(self, data: dict[str, Any]) -> None:
        project_id, path = _text(data, "project_id"), _path(data)
        result = await self.services.projects.write_files(self.user, project_id, {path: None}, "")
        await self._changed(project_id, result.version_id, [path], result.changed)

    async def on_revert_version(self, data: dict[str, Any]) -> None:
        project_id = _text(data, "project_id")
        result = await self.services.projects.revert(
            self.user, project_id, _text(data, "version_id")
        )
        await self._changed(project_id, result.version_id, [], result.changed)

    async def _changed(
        self, project_id: str, version_id: str, paths: list[str], changed: bool
    ) -> None:
        data = {"version_id": version_id, "files": paths, "changed": changed}
        announce(self.services, project_id, WriteResult(version_id, changed), paths)
        if project_id not in self.projects:
            await self.reply("code_changed", {"project_id": project_id, **data})


_HANDLERS = {
    "ping": Connection.on_ping,
    "subscribe": Connection.on_subscribe,
    "chat": Connection.on_chat,
    "cancel": Connection.on_cancel,
    "upload_file": Connection.on_upload_file,
    "delete_file": Connection.on_delete_file,
    "revert_version": Connection.on_revert_version,
}


def _path(data: dict[str, Any]) -> str:
    """The `path` field as sent: the path rule refuses NULs and the rest as invalid_path."""
    value = data.get("path")
    if not isinstance(value, str):
        raise InvalidInput("'path' must be a string")
    return value


def _text(data: dict[str, Any], key: str, *, required: bool = True) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise InvalidInput(f"missing field {key!r}")
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{key!r} must be a string")
    if "\x00" in value:
        raise InvalidInput(f"{key!r} contains a NUL character")
    return value


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
        first = json.loads(frame.get("text") or "null")
        data = first.get("data") if isinstance(first, dict) else None
        token = data.get("token") if isinstance(data, dict) else None
        if not isinstance(token, str) or first.get("type") != "auth":
            raise Unauthorized("the first message must be auth")
        return await services.users.authenticate(token)
    except (TimeoutError, ValueError, AttributeError, Unauthorized):
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
    connection = Connection(socket, services, user)
    pump = asyncio.create_task(connection.pump())
    try:
        while True:
            frame = await socket.receive()
            if frame["type"] == "websocket.disconnect":
                break
            raw = frame.get("text")
            if raw is None:
                try:
                    raw = (frame.get("bytes") or b"").decode("utf-8")
                except UnicodeDecodeError:
                    # Refused, not repaired: U+FFFD would make two byte strings one name.
                    await connection.reply(
                        "error", {"code": "malformed_json", "detail": "a frame is not UTF-8"}
                    )
                    continue
            if len(raw) > MAX_MESSAGE_BYTES:
                await connection.reply(
                    "error", {"code": "payload_too_large", "detail": "message too large"}
                )
                continue
            try:
                message = json.loads(raw)
                if not isinstance(message, dict):
                    raise InvalidInput("a message must be a JSON object")
                await connection.handle(message)
            except json.JSONDecodeError:
                await connection.reply(
                    "error", {"code": "malformed_json", "detail": "not valid JSON"}
                )
            except VibeforgeError as error:
                await connection.reply("error", {"code": error.code, "detail": error.detail})
    except (WebSocketDisconnect, RuntimeError):
        pass
    except Exception:
        log.exception("websocket connection failed")
    finally:
        services.bus.unsubscribe(connection.subscription)
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pump
        if socket.client_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await socket.close()
