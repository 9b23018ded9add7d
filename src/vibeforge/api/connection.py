"""The client layer under every socket transport: one connected, authenticated client.

`/ws` and Socket.IO only frame messages: they hand each client message to
`ClientConnection.handle`, which validates it as a typed command, executes it and answers
with its acknowledgement, and they write what the connection gives their `Outlet`. Events
reach a client through its own bounded bus subscription; a per-session high-water mark drops
live events that a replay already delivered, so a client sees every event once and in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol

from vibeforge.api.snapshots import project_snapshot, session_snapshot
from vibeforge.api.workspace_actions import WorkspaceAction, announce, perform
from vibeforge.db.tables import User
from vibeforge.db.types import new_id
from vibeforge.errors import VibeforgeError
from vibeforge.runs.bus import Subscription, project_topic, session_topic
from vibeforge.runs.events import Event
from vibeforge.runs.protocol import (
    COMMANDS,
    Cancel,
    CancelResult,
    Chat,
    CodeChanged,
    Command,
    DeleteFile,
    ErrorReply,
    Ping,
    Pong,
    RenameFile,
    RevertVersion,
    ServerEvent,
    SessionStart,
    Snapshot,
    Subscribe,
    UploadFile,
    parse_command,
)
from vibeforge.services import Services

log = logging.getLogger("vibeforge.connections")
CUT_OFF_WAIT_S = 5.0
Ack = dict[str, Any]


class Outlet(Protocol):
    """How a transport writes to its client."""

    async def event(self, event: Event) -> None:
        """Write a numbered bus event (its wire form is encoded once, for every client)."""
        ...

    async def reply(self, reply: ServerEvent) -> None:
        """Write a message addressed to this client alone (not numbered: `seq` 0)."""
        ...

    async def too_slow(self) -> None:
        """The client fell too far behind: close it, so it reconnects and replays."""
        ...


class ClientConnection:
    """One client of one transport: its subscription, what it was sent, its commands."""

    def __init__(
        self, services: Services, user: User, outlet: Outlet, transport: str = "socket"
    ) -> None:
        self.services = services
        self.user = user
        self.outlet = outlet
        self.subscription: Subscription = services.bus.subscribe(services.settings.ws_queue_events)
        self.delivered: dict[str, int] = {}  # session id -> highest seq written
        self.projects: set[str] = set()
        self._pump: asyncio.Task[None] | None = None
        self._cut_off: asyncio.Task[None] | None = None
        # Replies and replayed events are written under the same lock as live ones, so a
        # replay and the live stream interleave in `seq` order.
        self._lock = asyncio.Lock()
        self.id = new_id()
        self.transport = transport
        log.info(
            "%s connection %s opened (user %s)",
            transport,
            self.id,
            user.id,
            extra={"connection_id": self.id, "user_id": user.id},
        )

    async def handle(self, message: Any) -> Ack:
        """Validate and execute one client message `{"type", "data"}`; the acknowledgement
        is `{"ok": true, ...}`, or `{"ok": false, "code", "detail"}` after an `error` reply."""
        try:
            return await self.execute(parse_command(message, COMMANDS))
        except VibeforgeError as error:
            return await self.refuse(error)

    async def refuse(self, error: VibeforgeError) -> Ack:
        """Tell the client a command failed; the connection stays usable."""
        await self.reply(ErrorReply(error.code, error.detail))
        return {"ok": False, "code": error.code, "detail": error.detail}

    async def execute(self, command: Command) -> Ack:
        """Carry out a validated command."""
        match command:
            case Ping(ts=ts):
                await self.reply(Pong(ts))
                return {"ok": True, "type": "pong", "ts": ts}
            case Subscribe():
                await self.subscribe(command)
                return {"ok": True}
            case Chat():
                return await self.chat(command)
            case Cancel(run_id=run_id):
                found = await self.services.runs.cancel(self.user, run_id)
                if not found.cancelled:
                    await self.reply(CancelResult(found.run_id, found.status, found.cancelled))
                return {
                    "ok": True,
                    "run_id": found.run_id,
                    "status": found.status,
                    "cancelled": found.cancelled,
                }
            case UploadFile() | DeleteFile() | RevertVersion() | RenameFile():
                return await self.workspace_action(command)
        raise AssertionError(f"no handler for {type(command).__name__}")  # pragma: no cover

    # -- delivery ----------------------------------------------------------------------------

    async def reply(self, reply: ServerEvent) -> None:
        """A message to this client only."""
        async with self._lock:
            await self.outlet.reply(reply)

    async def deliver(self, event: Event) -> None:
        """Write a bus event unless a replay already delivered it."""
        async with self._lock:
            await self._write_new(event)

    async def _write_new(self, event: Event) -> None:
        if event.session_id is not None and event.seq:
            if event.seq <= self.delivered.get(event.session_id, 0):
                return
            self.delivered[event.session_id] = event.seq
        await self.outlet.event(event)

    def start(self) -> None:
        """Start forwarding bus events to the client."""
        self.subscription.on_overflow = self._too_slow
        self._pump = asyncio.create_task(self._forward(), name="client-pump")

    async def _forward(self) -> None:
        """Events already queued when the pump wakes are written together, under one lock."""
        subscription = self.subscription
        while (event := await subscription.get()) is not None:
            async with self._lock:
                while event is not None:
                    await self._write_new(event)
                    event = subscription.get_nowait()

    def _too_slow(self) -> None:
        """The client fell a whole queue behind: stop writing to it (the pump may be blocked
        on a client that stopped reading) and close it, so it reconnects and replays."""
        if self._cut_off is None:
            log.warning("a client fell %d events behind: cut off", self.subscription.maxsize)
            if self._pump is not None:
                self._pump.cancel()
            self._cut_off = asyncio.create_task(self.outlet.too_slow(), name="client-cut-off")

    async def stop(self) -> None:
        """Stop following anything and stop the pump; the client's runs keep going."""
        self.services.bus.unsubscribe(self.subscription)
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._pump
        if self._cut_off is not None and self._cut_off is not asyncio.current_task():
            # Let a cut-off finish its close handshake rather than abort it.
            with contextlib.suppress(asyncio.CancelledError, Exception, TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._cut_off), CUT_OFF_WAIT_S)
        log.info(
            "%s connection %s closed%s",
            self.transport,
            self.id,
            " (too slow)" if self.subscription.overflowed else "",
            extra={"connection_id": self.id},
        )

    # -- commands ----------------------------------------------------------------------------

    async def subscribe(self, command: Subscribe) -> None:
        """Follow a session (with replay after `after_seq`) or a project."""
        if command.session_id:
            await self._subscribe_session(command.session_id, command.after_seq)
            return
        assert command.project_id is not None
        snapshot = await project_snapshot(self.services, self.user, command.project_id)
        self.services.bus.follow(self.subscription, project_topic(command.project_id))
        self.projects.add(command.project_id)
        await self.reply(Snapshot(snapshot))

    async def _subscribe_session(self, session_id: str, after_seq: int | None) -> None:
        services = self.services
        session = await services.sessions.get(self.user, session_id)
        # Follow first, so nothing published from here on is missed; the high-water mark
        # drops whatever the replay below also contains.
        services.bus.follow(self.subscription, session_topic(session_id))
        stream = services.streams.peek(session_id)
        last_seq = max(session.last_seq, stream.last_seq if stream else 0)
        cluster = services.cluster  # scaled out: any process's events, from Redis
        async with self._lock:
            # Under the lock: a live event must not reach the client before the replay.
            if cluster is not None:
                last_seq = max(last_seq, await cluster.bus.last_seq(session_id))
            start = SessionStart(
                session.id, session.project_id, session.scope, session.node_id, last_seq
            )
            await self.outlet.reply(start)
            replay: list[Event] | None = None
            if after_seq is not None:
                if after_seq >= last_seq:
                    replay = []
                elif cluster is not None:
                    replay = await cluster.bus.replay(session_id, after_seq)
                elif stream is not None:
                    replay = stream.replay(after_seq)
            if replay is None:
                reason = "subscribe" if after_seq is None else "replay_unavailable"
                state = await session_snapshot(services, self.user, session, reason=reason)
                await self.outlet.reply(Snapshot(state))
                self.delivered[session_id] = max(self.delivered.get(session_id, 0), last_seq)
                return
            for event in replay:
                await self.outlet.event(event)
                self.delivered[session_id] = event.seq
            self.delivered[session_id] = max(self.delivered.get(session_id, 0), after_seq or 0)

    async def chat(self, command: Chat) -> Ack:
        """Start a run; the client follows its session from now on if it did not already."""
        services = self.services
        session = await services.sessions.get(self.user, command.session_id)
        if session_topic(session.id) not in self.subscription.topics:
            services.bus.follow(self.subscription, session_topic(session.id))
            stream = services.streams.peek(session.id)
            self.delivered.setdefault(
                session.id, max(session.last_seq, stream.last_seq if stream else 0)
            )
        run = await services.runs.start(self.user, command, session=session)
        return {"ok": True, "run_id": run.id, "message_id": run.ctx.assistant_message_id}

    async def workspace_action(self, command: WorkspaceAction) -> Ack:
        """A file action (a new version, announced to the project's subscribers) or an
        attachment's upload or deletion; answered with its reply event."""
        if isinstance(command, UploadFile) and command.name is not None:
            # Its extraction is announced to the project: follow the project from now on.
            project_id, _ = await self.services.attachments.target(
                self.user, command.project_id, command.session_id
            )
            if project_id not in self.projects:
                self.services.bus.follow(self.subscription, project_topic(project_id))
                self.projects.add(project_id)
        outcome = await perform(self.services, self.user, command)
        announce(self.services, outcome)
        written = outcome.written
        if written is not None and outcome.project_id not in self.projects:
            # A client that does not follow the project still hears of its own change.
            changed = CodeChanged(
                version_id=written.version_id,
                files=list(outcome.paths),
                changed=written.changed,
                project_id=outcome.project_id,
            )
            await self.reply(changed)
        await self.reply(outcome.reply)
        return {"ok": True, **outcome.ack}
