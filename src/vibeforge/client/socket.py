"""The event half of the Python client: one `/ws` connection for every session it follows.

Each session event carries the session's `seq`, numbered without gaps. The socket remembers
the highest `seq` delivered per session; after a dropped connection it reconnects and
subscribes again with `after_seq`, so the server replays what was missed, and an event at or
below the mark is dropped, so each is delivered exactly once and in order. A jump in `seq`
(an event lost on the way) asks for the replay the same way. When the server no longer holds
the missed events it sends a snapshot instead, handed to `on_snapshot`; when a resubscribe
finds nothing missed, `on_caught_up` is told, since a run may have ended without a last event
(its server died, and the one that recovered it has no stream to replay).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from vibeforge.client.errors import ApiError, ConnectionLost

log = logging.getLogger("vibeforge.client")

Deliver = Callable[[str, int, dict[str, Any]], None]
OnSnapshot = Callable[[str, dict[str, Any]], None]
OnLost = Callable[[Exception], None]
OnCaughtUp = Callable[[str], None]
FOLLOW_TIMEOUT_S = 30.0
FIRST_DELAY_S = 0.05
MAX_DELAY_S = 1.0


def ws_url(base_url: str) -> str:
    """The `/ws` address of a server given by its HTTP base URL."""
    if base_url.startswith("https://"):
        return "wss://" + base_url.removeprefix("https://") + "/ws"
    return "ws://" + base_url.removeprefix("http://") + "/ws"


class EventSocket:
    """A self-healing `/ws` connection; `deliver` gets every session event once, in order."""

    def __init__(
        self,
        base_url: str,
        token: str,
        deliver: Deliver,
        on_snapshot: OnSnapshot,
        on_lost: OnLost,
        on_caught_up: OnCaughtUp,
        *,
        reconnect_within: float = 30.0,
    ) -> None:
        self.url = ws_url(base_url.rstrip("/"))
        self.token = token
        self.deliver = deliver
        self.on_snapshot = on_snapshot
        self.on_lost = on_lost
        self.on_caught_up = on_caught_up
        self.reconnect_within = reconnect_within
        self.last_seq: dict[str, int] = {}  # followed session -> highest seq delivered
        self.connections = 0  # how many times a connection was opened (1 + reconnects)
        self._connection: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[None] | None = None
        self._started: dict[str, asyncio.Future[int]] = {}
        self._follow_lock = asyncio.Lock()  # one subscribe awaiting its answer at a time
        self._replaying: set[str] = set()  # sessions with a replay asked for after a gap
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    async def follow(self, session_id: str, after_seq: int) -> int:
        """Receive the session's events after `after_seq` (once; later calls do nothing);
        returns the session's `last_seq` as the server reported it."""
        await self.connected()
        async with self._follow_lock:
            if session_id in self.last_seq:
                return self.last_seq[session_id]
            self.last_seq[session_id] = after_seq
            started = self._started[session_id] = asyncio.get_running_loop().create_future()
            await self._subscribe(session_id, after_seq)
            try:
                return await asyncio.wait_for(started, FOLLOW_TIMEOUT_S)
            except BaseException:
                self.last_seq.pop(session_id, None)
                raise

    async def close(self) -> None:
        """Close the connection for good."""
        self._closing = True
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    # -- the connection ----------------------------------------------------------------------

    async def connected(self) -> None:
        """Connect (again, after giving up) unless connected; every followed session is
        subscribed again from its mark."""
        if self._task is None or self._task.done():
            self._ready = asyncio.get_running_loop().create_future()
            self._task = asyncio.create_task(self._run(self._ready), name="vibeforge-ws")
        assert self._ready is not None
        await asyncio.shield(self._ready)

    async def _open(self) -> ClientConnection:
        return await connect(
            self.url,
            additional_headers={"Authorization": f"Bearer {self.token}"},
            max_size=None,
            compression=None,  # token chunks are tiny: deflate costs more CPU than it saves
            proxy=None,
        )

    async def _run(self, ready: asyncio.Future[None]) -> None:
        """Connect, resubscribe, read; on a drop, reconnect with backoff until given up."""
        delay = FIRST_DELAY_S
        down_since: float | None = None
        loop = asyncio.get_running_loop()
        while not self._closing:
            try:
                connection = await self._open()
            except InvalidStatus as error:
                # The server answered and refused (a bad token is 403): retrying cannot help.
                status = error.response.status_code
                self._give_up(ready, ApiError(401, "unauthorized", f"/ws refused: {status}"))
                return
            except (OSError, WebSocketException, TimeoutError) as error:
                if not ready.done():  # the first connection: say so at once
                    self._give_up(ready, ConnectionLost(f"cannot reach {self.url}: {error}"))
                    return
                down_since = down_since or loop.time()
                if loop.time() - down_since > self.reconnect_within:
                    self._give_up(ready, ConnectionLost(f"{self.url} unreachable: {error}"))
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_DELAY_S)
                continue
            self.connections += 1
            delay, down_since = FIRST_DELAY_S, None
            self._connection = connection
            self._replaying.clear()
            try:
                for session_id, seq in list(self.last_seq.items()):
                    await self._subscribe(session_id, seq)
                if not ready.done():
                    ready.set_result(None)
                async for frame in connection:
                    try:
                        self._frame(frame)
                    except Exception:  # a bad frame or a failing callback: keep reading
                        log.exception("event socket: could not handle a frame")
            except ConnectionClosed:
                pass
            finally:
                self._connection = None
            if not self._closing:
                log.info("event socket dropped; reconnecting with after_seq")
                down_since = loop.time()

    def _give_up(self, ready: asyncio.Future[None], error: Exception) -> None:
        if not ready.done():
            ready.set_exception(error)
            ready.exception()  # retrieved: the follower that awaits it raises it
        for started in self._started.values():
            if not started.done():
                started.set_exception(error)
        self._started.clear()
        self.on_lost(error)

    async def _subscribe(self, session_id: str, after_seq: int) -> None:
        if self._connection is None:
            return  # the reconnect subscribes again
        message = {"type": "subscribe", "data": {"session_id": session_id, "after_seq": after_seq}}
        with contextlib.suppress(ConnectionClosed):
            await self._connection.send(json.dumps(message))

    # -- frames ------------------------------------------------------------------------------

    def _frame(self, frame: str | bytes) -> None:
        envelope = json.loads(frame)
        kind: str = envelope["type"]
        seq: int = envelope.get("seq") or 0
        data: dict[str, Any] = envelope.get("data") or {}
        if seq:
            session_id = data.get("session_id")
            last = self.last_seq.get(session_id) if session_id else None
            if last is None or seq <= last:
                return  # not followed, or delivered already (a replay overlapping live events)
            if seq != last + 1:
                # Something between was lost on the way: the replay brings it, in order.
                if session_id not in self._replaying:
                    self._replaying.add(session_id)
                    task = asyncio.get_running_loop().create_task(self._subscribe(session_id, last))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                return
            self._replaying.discard(session_id)
            self.last_seq[session_id] = seq
            self.deliver(kind, seq, data)
            return
        if kind == "session_start":
            session_id = data.get("session_id", "")
            last_seq = int(data.get("last_seq") or 0)
            started = self._started.pop(session_id, None)
            if started is not None:
                if not started.done():
                    started.set_result(last_seq)
            elif session_id in self.last_seq and last_seq <= self.last_seq[session_id]:
                self.on_caught_up(session_id)
        elif kind == "snapshot" and data.get("reason") == "replay_unavailable":
            session_id = (data.get("session") or {}).get("session_id")
            if session_id in self.last_seq:
                self.last_seq[session_id] = max(
                    self.last_seq[session_id], int(data.get("last_seq") or 0)
                )
                self.on_snapshot(session_id, data)
        elif kind == "error":
            # Subscribes are the only commands sent, one awaiting its answer at a time.
            code = str(data.get("code"))
            error = ApiError(404 if code == "not_found" else 422, code, str(data.get("detail")))
            for started in self._started.values():
                if not started.done():
                    started.set_exception(error)
            self._started.clear()
            log.warning("the server refused a subscribe: %s", data)
