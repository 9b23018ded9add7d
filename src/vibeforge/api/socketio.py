"""The Socket.IO transport: the same commands and events as `/ws`, as named Socket.IO events.

A client authenticates on connect (`auth={"token": ...}`, `?token=` or a bearer header), then
emits commands by name (`subscribe`, `chat`, `cancel`, `ping`, the workspace actions); each is
executed by the client layer (`api/connection.py`) and answered through its acknowledgement
(`{"ok": true, ...}` or `{"ok": false, "code", "detail"}`). Events are emitted under their own
names with `seq` inside the data; `done` also as `vibecode_response`, the name the vibecoding
reference clients listen for.

Scaled out, the server uses python-socketio's Redis manager, so an emit to a room or sid from
any process (or an external write-only manager) reaches clients of every process. A client's
own events are written with `ignore_queue`: the event bus already brought them to the process
the client is connected to, which also handles every command the client sends.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import parse_qs

import socketio

from vibeforge.api.compat.local import local_user_at
from vibeforge.api.compat.vibecoding import reference_fields
from vibeforge.api.connection import Ack, ClientConnection
from vibeforge.api.deps import bearer_token
from vibeforge.api.websocket import MAX_MESSAGE_BYTES
from vibeforge.db.tables import User
from vibeforge.errors import InvalidInput, Unauthorized
from vibeforge.runs.events import Event
from vibeforge.runs.protocol import ServerEvent, event_data
from vibeforge.services import Services

log = logging.getLogger("vibeforge.socketio")

ALIASES = {"done": "vibecode_response"}


def _token(environ: dict[str, Any], auth: Any) -> str:
    if isinstance(auth, dict) and isinstance(auth.get("token"), str):
        return auth["token"]
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if query.get("token"):
        return query["token"][0]
    return bearer_token(environ.get("HTTP_AUTHORIZATION"))


async def _caller(services: Services, environ: dict[str, Any], auth: Any) -> User:
    """The token's user; without any token, the local user (local mode, loopback)."""
    has_token = (isinstance(auth, dict) and "token" in auth) or "token=" in environ.get(
        "QUERY_STRING", ""
    )
    if not has_token and not environ.get("HTTP_AUTHORIZATION"):
        client = (environ.get("asgi.scope") or {}).get("client")
        local = await local_user_at(services, client[0] if client else None)
        if local is not None:
            return local
    return await services.users.authenticate(_token(environ, auth))


class SocketIOOutlet:
    """Emits a client's events and replies to its sid."""

    def __init__(self, namespace: VibeforgeNamespace, sid: str, user: User) -> None:
        self.namespace = namespace
        self.sid = sid
        self.user = user

    async def event(self, event: Event) -> None:
        """A bus event under its own name (and its alias), `seq` inside the data."""
        payload = {**event.data, "seq": event.seq}
        if event.type == "code_changed":  # the one event with reference fields: no await per chunk
            payload.update(await reference_fields(self.namespace.services, self.user, event))
        await self.namespace.emit(event.type, payload, to=self.sid, ignore_queue=True)
        alias = ALIASES.get(event.type)
        if alias:
            await self.namespace.emit(alias, payload, to=self.sid, ignore_queue=True)

    async def reply(self, reply: ServerEvent) -> None:
        """A message to this client alone."""
        data = {**event_data(reply), "seq": 0}
        await self.namespace.emit(reply.type, data, to=self.sid, ignore_queue=True)

    async def too_slow(self) -> None:
        """Disconnect: the client reconnects and subscribes with `after_seq`."""
        await self.namespace.disconnect(self.sid)


class VibeforgeNamespace(socketio.AsyncNamespace):
    """The default namespace: every event but connect and disconnect is a client command."""

    def __init__(self, services: Services) -> None:
        super().__init__("/")
        self.services = services
        self.connections: dict[str, ClientConnection] = {}

    async def trigger_event(self, event: str, *args: Any) -> Any:
        """Route connect, disconnect, and every command to the client layer."""
        if event == "connect":
            sid, environ, *rest = args
            return await self.connected(sid, environ, rest[0] if rest else None)
        if event == "disconnect":
            await self.disconnected(args[0])
            return None
        sid, *data = args
        return await self.command(sid, event, data)

    async def connected(self, sid: str, environ: dict[str, Any], auth: Any) -> None:
        """Authenticate, then start the client's event pump."""
        try:
            user = await _caller(self.services, environ, auth)
        except Unauthorized as failure:
            raise socketio.exceptions.ConnectionRefusedError(
                {"code": "unauthorized", "detail": failure.detail}
            ) from None
        outlet = SocketIOOutlet(self, sid, user)
        connection = ClientConnection(self.services, user, outlet, "socket.io")
        connection.start()
        self.connections[sid] = connection

    async def disconnected(self, sid: str) -> None:
        """Stop the client's pump; its runs keep going."""
        connection = self.connections.pop(sid, None)
        if connection is not None:
            await connection.stop()

    async def command(self, sid: str, event: str, data: list[Any]) -> Ack | None:
        """One command: its acknowledgement, or the error shape in it."""
        connection = self.connections.get(sid)
        if connection is None:
            return None
        if len(data) > 1:
            return await connection.refuse(InvalidInput(f"{event} takes one argument"))
        body = data[0] if data else None
        return await connection.handle({"type": event, "data": body if body is not None else {}})


MALFORMED = {"code": "invalid_input", "detail": "not a Socket.IO packet this server reads"}


def _readable(server: socketio.AsyncServer, data: Any) -> bool:
    """Whether python-socketio can dispatch this message without raising: it decodes, and an
    event names itself with a string first (an event packet without data, `42`, or a packet
    that is not JSON, made the library raise and log a traceback for every such frame)."""
    if not isinstance(data, str):
        return False
    try:
        packet = server.packet_class(encoded_packet=data)
    except (ValueError, TypeError, RecursionError):
        return False
    if packet.packet_type in (socketio.packet.EVENT, socketio.packet.BINARY_EVENT):
        return (
            isinstance(packet.data, list) and bool(packet.data) and isinstance(packet.data[0], str)
        )
    if packet.packet_type in (socketio.packet.ACK, socketio.packet.BINARY_ACK):
        return isinstance(packet.data, list)
    return packet.packet_type in (socketio.packet.CONNECT, socketio.packet.DISCONNECT)


class GuardedServer(socketio.AsyncServer):
    """A Socket.IO server that answers a malformed packet with the error shape instead of
    letting the library raise on it."""

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        if eio_sid in self._binary_packet or _readable(self, data):
            await super()._handle_eio_message(eio_sid, data)
            return
        log.warning("socket.io: a malformed packet from %s was refused", eio_sid)
        sid = self.manager.sid_from_eio_sid(eio_sid, "/")
        if sid is not None:
            await self.emit("error", {"seq": 0, **MALFORMED}, to=sid)


ENGINEIO_TYPES = frozenset("0123456")  # open, close, ping, pong, message, upgrade, noop


class EngineIOFrames:
    """ASGI wrapper of the Socket.IO app: a websocket text frame that is no engine.io packet
    (an unknown type, or empty) is dropped with a warning. python-engineio raised on it
    (IndexError), logged the traceback and dropped the connection."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return

        async def engineio_frames() -> Any:
            while True:
                message = await receive()
                text = message.get("text") if message["type"] == "websocket.receive" else None
                if text is None or text[:1] in ENGINEIO_TYPES:
                    return message
                log.warning("socket.io: a frame that is no engine.io packet was dropped")

        await self.app(scope, engineio_frames, send)


def build_socketio(services: Services) -> socketio.AsyncServer:
    """The Socket.IO server of an app."""
    settings = services.settings
    manager = None
    if settings.redis_url is not None:
        manager = socketio.AsyncRedisManager(
            settings.redis_url.get_secret_value(), channel=f"{settings.redis_prefix}:socketio"
        )
    sio = GuardedServer(
        async_mode="asgi",
        client_manager=manager,
        cors_allowed_origins=services.settings.cors_origin_list,
        logger=False,
        engineio_logger=False,
        # The same cap as /ws; engine.io closes a connection whose message is over it.
        max_http_buffer_size=MAX_MESSAGE_BYTES,
    )
    sio.register_namespace(VibeforgeNamespace(services))
    return sio


async def stop_task(task: asyncio.Task[Any] | None) -> None:
    """Cancel a background task and wait for it; its own failure is logged, not raised."""
    if task is None:
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    except Exception:
        log.exception("background task %s failed", task.get_name())
