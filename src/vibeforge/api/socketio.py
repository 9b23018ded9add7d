"""Socket.IO: the same events as the WebSocket, in rooms per project and per session.

Clients authenticate on connect (`auth={"token": ...}`, `?token=` or a bearer header), then
`subscribe` to a project or session. A bridge task follows every bus event and emits it to the
rooms of its project and session, under its own name (`chunk`, `done`, ...); some events are
also emitted under the names the reference clients expect (`vibecode_response` for `done`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import parse_qs

import socketio

from vibeforge.api.deps import bearer_token
from vibeforge.api.schemas import has_nul
from vibeforge.api.snapshots import project_snapshot, session_snapshot
from vibeforge.errors import InvalidInput, Unauthorized, VibeforgeError
from vibeforge.runs.events import Event
from vibeforge.services import Services

log = logging.getLogger("vibeforge.socketio")

ALIASES = {"done": "vibecode_response"}
BRIDGE_QUEUE = 100_000


def _room(kind: str, key: str) -> str:
    return f"{kind}:{key}"


def _token(environ: dict[str, Any], auth: Any) -> str:
    if isinstance(auth, dict) and isinstance(auth.get("token"), str):
        return auth["token"]
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if query.get("token"):
        return query["token"][0]
    return bearer_token(environ.get("HTTP_AUTHORIZATION"))


def _refuse_nul(data: Any) -> None:
    if has_nul(data):
        raise InvalidInput("a field contains a NUL character")


def _payload(event: Event) -> dict[str, Any]:
    return {**event.data, "seq": event.seq}


def build_socketio(services: Services) -> tuple[socketio.AsyncServer, Any]:
    """The Socket.IO server and the coroutine function that runs its event bridge."""
    sio = socketio.AsyncServer(
        async_mode="asgi", cors_allowed_origins=[], logger=False, engineio_logger=False
    )

    async def user_of(sid: str) -> Any:
        saved = await sio.get_session(sid)
        return saved["user"]

    async def error(sid: str, failure: VibeforgeError) -> dict[str, Any]:
        body = {"code": failure.code, "detail": failure.detail}
        await sio.emit("error", body, to=sid)
        return {"ok": False, **body}

    @sio.event
    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        try:
            user = await services.users.authenticate(_token(environ, auth))
        except Unauthorized as failure:
            raise socketio.exceptions.ConnectionRefusedError(
                {"code": "unauthorized", "detail": failure.detail}
            ) from None
        await sio.save_session(sid, {"user": user})

    @sio.on("subscribe")
    async def subscribe(sid: str, data: Any = None) -> dict[str, Any]:
        try:
            _refuse_nul(data)
            if not isinstance(data, dict):
                raise InvalidInput("subscribe needs {project_id} or {session_id}")
            user = await user_of(sid)
            if isinstance(data.get("session_id"), str):
                session = await services.sessions.get(user, data["session_id"])
                await sio.enter_room(sid, _room("session", session.id))
                snapshot = await session_snapshot(services, user, session)
            elif isinstance(data.get("project_id"), str):
                snapshot = await project_snapshot(services, user, data["project_id"])
                await sio.enter_room(sid, _room("project", data["project_id"]))
            else:
                raise InvalidInput("subscribe needs {project_id} or {session_id}")
        except VibeforgeError as failure:
            return await error(sid, failure)
        await sio.emit("snapshot", snapshot, to=sid)
        return {"ok": True}

    @sio.on("chat")
    async def chat(sid: str, data: Any = None) -> dict[str, Any]:
        try:
            _refuse_nul(data)
            if not isinstance(data, dict) or not isinstance(data.get("session_id"), str):
                raise InvalidInput("chat needs session_id and prompt")
            prompt = data.get("prompt")
            if not isinstance(prompt, str):
                raise InvalidInput("chat needs session_id and prompt")
            user = await user_of(sid)
            session = await services.sessions.get(user, data["session_id"])
            await sio.enter_room(sid, _room("session", session.id))
            run = await services.runs.start(
                user,
                session.id,
                prompt,
                data.get("model"),
                data.get("params"),
                data.get("mode"),
                session=session,
            )
        except VibeforgeError as failure:
            return await error(sid, failure)
        return {"ok": True, "run_id": run.id, "message_id": run.ctx.assistant_message_id}

    @sio.on("cancel")
    async def cancel(sid: str, data: Any = None) -> dict[str, Any]:
        try:
            _refuse_nul(data)
            if not isinstance(data, dict) or not isinstance(data.get("run_id"), str):
                raise InvalidInput("cancel needs run_id")
            result = await services.runs.cancel(await user_of(sid), data["run_id"])
        except VibeforgeError as failure:
            return await error(sid, failure)
        return {"ok": True, **result}

    @sio.on("ping")
    async def ping(sid: str, data: Any = None) -> dict[str, Any]:
        return {"type": "pong"}

    async def bridge() -> None:
        while True:
            subscription = services.bus.subscribe_all(BRIDGE_QUEUE)
            try:
                while (event := await subscription.get()) is not None:
                    rooms = [_room("project", event.project_id)]
                    if event.session_id:
                        rooms.append(_room("session", event.session_id))
                    payload = _payload(event)
                    await sio.emit(event.type, payload, room=rooms)
                    alias = ALIASES.get(event.type)
                    if alias:
                        await sio.emit(alias, payload, room=rooms)
                log.warning("the Socket.IO bridge fell behind; events were dropped")
            finally:
                services.bus.unsubscribe(subscription)

    return sio, bridge


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
