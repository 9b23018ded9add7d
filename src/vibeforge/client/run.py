"""One run as the client sees it: an async iterator of its typed events, its outcome, a cancel.

Events are the server's own (`vibeforge.runs.protocol`). A run that answered ends with `done`
and then `post_response_complete`; a cancelled or interrupted one ends with `cancelled` or
`interrupted`, and its outcome is then the `Done` the server's REST answer would give: the
status and the text streamed so far.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import deque
from typing import TYPE_CHECKING, Any

from vibeforge.client.callbacks import Callback, Callbacks
from vibeforge.runs.protocol import (
    Cancelled,
    ChatSessionStart,
    Chunk,
    Done,
    Interrupted,
    PostResponseComplete,
    RunFailed,
    ServerEvent,
    StageUpdate,
    TokenUsage,
)
from vibeforge.statuses import ENDED

if TYPE_CHECKING:
    from vibeforge.client.client import Client

log = logging.getLogger("vibeforge.client")
_STATUS_EVENTS = (ChatSessionStart, StageUpdate, Cancelled, Interrupted)


class Run:
    """A run in flight; `async for event in run`, `await run.result()`, `await run.cancel()`."""

    def __init__(
        self,
        client: Client,
        session_id: str,
        run_id: str,
        message_id: str,
        trace_id: str,
        callbacks: Callbacks,
    ) -> None:
        self.client = client
        self.session_id = session_id
        self.id = run_id
        self.message_id = message_id
        self.trace_id = trace_id
        self.callbacks = callbacks
        self.status = "running"
        self.text: list[str] = []  # the answer's pieces so far
        self.thinking: list[str] = []
        self.usage: dict[str, Any] | None = None  # the run's token total so far
        self.last_seq = 0
        self.ended = False  # the last event has arrived
        self._events: deque[ServerEvent] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._error: BaseException | None = None
        self._outcome: asyncio.Future[Done] = asyncio.get_running_loop().create_future()
        self._tasks: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return f"<Run {self.id} {self.status}>"

    @property
    def content(self) -> str:
        """The answer streamed so far."""
        return "".join(self.text)

    # -- what callers use --------------------------------------------------------------------

    def __aiter__(self) -> Run:
        return self

    async def __anext__(self) -> ServerEvent:
        while not self._events:
            if self._error is not None:
                raise self._error
            if self.ended:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._events.popleft()

    async def result(self) -> Done:
        """The run's outcome (waits for it; cancelling this wait does not cancel the run)."""
        return await asyncio.shield(self._outcome)

    async def cancel(self) -> dict[str, Any]:
        """Cancel the run on the server: `{run_id, status, cancelled}` once its partial answer
        is stored (the upstream model stream is closed by then)."""
        return await self.client.cancel_run(self.id)

    # -- what the client feeds ---------------------------------------------------------------

    def push(self, event: ServerEvent, seq: int) -> None:
        """One event of this run, in order."""
        self.last_seq = seq
        if type(event) is Chunk:  # the hot path: one per streamed piece
            if event.content:
                self.text.append(event.content)
            if event.thinking:
                self.thinking.append(event.thinking)
            self._events.append(event)
            waiter = self._waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            if self.callbacks.on_partial is not None:
                self._call(self.callbacks.on_partial, event)
            return
        match event:
            case TokenUsage(total=total):
                self.usage = total
            case Done():
                self.status = event.status
                self.usage = event.token_usage
                self._settle(event)
            case PostResponseComplete():
                self.ended = True
            case Cancelled() | Interrupted():
                self.status = "cancelled" if isinstance(event, Cancelled) else "interrupted"
                self.ended = True
                self._settle(self._outcome_so_far(self.status))
            case RunFailed():
                self._call(self.callbacks.on_error, event)
        self._queue(event)
        if isinstance(event, _STATUS_EVENTS):
            self._call(self.callbacks.on_status, event)
        if isinstance(event, Done):
            self._call(self.callbacks.on_done, event)
        elif isinstance(event, Cancelled | Interrupted):
            self._call(self.callbacks.on_done, self._outcome.result())

    def settle_from_message(self, message: dict[str, Any]) -> None:
        """End the run from its stored message, when the events it missed are gone for good
        (the server restarted): the text not yet seen arrives as one chunk, then `done`."""
        status = str(message.get("status"))
        if self.ended or status not in ENDED:
            return
        content = str(message.get("content") or "")
        seen = self.content
        if len(content) > len(seen) and content.startswith(seen):
            self.push(Chunk(content=content[len(seen) :]), self.last_seq)
        done = Done(
            run_id=self.id,
            message_id=self.message_id,
            status=status,
            content=content,
            diff=message.get("diff"),
            trace_id=self.trace_id,
            token_usage=message.get("token_usage") or self.usage or {},
            error=message.get("error"),
            error_code=message.get("error_code"),
        )
        self.push(done, self.last_seq)
        self.push(PostResponseComplete(self.id), self.last_seq)

    def fail(self, error: BaseException) -> None:
        """The client can no longer follow the run (it may still be going on the server)."""
        if self.ended:
            return
        self._error = error
        self.ended = True
        if not self._outcome.done():
            self._outcome.set_exception(error)
            self._outcome.exception()  # retrieved: only those who await result() see it
        self._wake()
        self._call(self.callbacks.on_error, error)

    # -- inside ------------------------------------------------------------------------------

    def _outcome_so_far(self, status: str) -> Done:
        return Done(
            run_id=self.id,
            message_id=self.message_id,
            status=status,
            content=self.content,
            diff=None,
            trace_id=self.trace_id,
            token_usage=self.usage or {},
        )

    def _settle(self, done: Done) -> None:
        if not self._outcome.done():
            self._outcome.set_result(done)

    def _queue(self, event: ServerEvent) -> None:
        self._events.append(event)
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _call(self, callback: Callback | None, argument: Any) -> None:
        if callback is None:
            return
        try:
            result = callback(self, argument)
        except Exception:
            log.exception("a run callback failed")
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
