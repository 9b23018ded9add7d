"""The Python client of vibeforge: REST calls, and runs streamed over one `/ws` connection.

    async with Client("http://127.0.0.1:8000", token) as client:
        run = await client.send(session_id, "add a docstring", params={"temperature": 0.2})
        async for event in run:          # the server's typed events (runs.protocol)
            ...
        done = await run.result()

A run is started over REST (`POST /sessions/{id}/messages?wait=false`, so a refusal is an
`ApiError` at once and the run's id is known before its first event) after its session is
followed on the socket, so no event of the run can be missed; events that arrive before the
REST answer are held and handed to the run when its id is known.

The event side (the socket, `websockets`, the event protocol and its pydantic models) is
imported when it is first needed, or ahead of that in a thread by `prepare()`: a terminal chat
shows its prompt before paying for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from vibeforge.client.callbacks import Callback, Callbacks
from vibeforge.client.errors import ConnectionLost
from vibeforge.client.params import check_params
from vibeforge.client.rest import JSON, RestClient

if TYPE_CHECKING:
    from vibeforge.client.run import Run
    from vibeforge.client.socket import EventSocket

log = logging.getLogger("vibeforge.client")
MODEL_CACHE_S = 5.0
_Held = tuple[str, int, dict[str, Any]]


class Client(RestClient):
    """One user's connection to one server; many runs may be in flight at once."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 30.0,
        reconnect_within: float = 30.0,
        on_partial: Callback | None = None,
        on_done: Callback | None = None,
        on_error: Callback | None = None,
        on_status: Callback | None = None,
        on_envelope: Callable[[Run, str, int, dict[str, Any]], None] | None = None,
    ) -> None:
        """`on_envelope` sees each event of a run as it came over the wire (type, seq, data),
        before it is decoded: for tools that relay or log the server's events as they are."""
        super().__init__(base_url, token, timeout=timeout)
        self.callbacks = Callbacks(on_partial, on_done, on_error, on_status)
        self.on_envelope = on_envelope
        self.runs: dict[str, Run] = {}  # in flight, by id
        self.reconnect_within = reconnect_within
        self._socket: EventSocket | None = None
        self._decode: Callable[[str, dict[str, Any], int], Any] = _not_loaded
        self._starting: dict[str, int] = {}  # session -> sends awaiting their run id
        self._held: dict[str, list[_Held]] = {}  # their sessions' events of unknown runs
        self._models: dict[str | None, tuple[float, str | None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @property
    def socket(self) -> EventSocket:
        """The event socket (made on first use; it connects when a session is followed)."""
        if self._socket is None:
            from vibeforge.client.socket import EventSocket
            from vibeforge.runs.protocol import decode_event

            self._decode = decode_event
            self._socket = EventSocket(
                self.base_url,
                self.token,
                self._deliver,
                self._replay_unavailable,
                self._lost,
                self._caught_up,
                reconnect_within=self.reconnect_within,
            )
        return self._socket

    async def prepare(self, session_id: str | None = None) -> None:
        """Load the event side in a worker thread, and follow `session_id` if given, so the
        first `send` starts at once."""
        await asyncio.to_thread(_import_event_side)
        if session_id is not None and session_id not in self.socket.last_seq:
            session = await self.get_session(session_id)
            await self.socket.follow(session_id, int(session["last_seq"]))

    async def aclose(self) -> None:
        """Stop following runs (they go on on the server) and close the connections."""
        if self._socket is not None:
            await self._socket.close()
        for run in list(self.runs.values()):
            run.fail(ConnectionLost("the client was closed"))
        self.runs.clear()
        await super().aclose()

    async def send(
        self,
        session_id: str,
        prompt: str,
        *,
        model: str | None = None,
        params: Mapping[str, Any] | None = None,
        mode: str | None = None,
        on_partial: Callback | None = None,
        on_done: Callback | None = None,
        on_error: Callback | None = None,
        on_status: Callback | None = None,
    ) -> Run:
        """Start a run in a session and return it as soon as the server accepted it.

        `model` is a config id or name; `params` are checked as the server checks them (an
        `ApiError` 422 `invalid_parameter` before anything is sent); `mode` is code or chat.
        A session runs one run at a time: a new message cancels the session's active run."""
        if params:
            check_params(await self._provider_of(model), params)
        from vibeforge.client.run import Run

        if session_id in self.socket.last_seq:
            await self.socket.connected()
        else:
            session = await self.get_session(session_id)  # 404 for another user's
            await self.socket.follow(session_id, int(session["last_seq"]))
        body: JSON = {"prompt": prompt}
        for name, value in (("model", model), ("params", params), ("mode", mode)):
            if value is not None:
                body[name] = dict(value) if name == "params" else value
        self._starting[session_id] = self._starting.get(session_id, 0) + 1
        try:
            accepted = await self.post_message(session_id, body, wait=False)
            callbacks = Callbacks(on_partial, on_done, on_error, on_status).over(self.callbacks)
            run = Run(
                self,
                session_id,
                accepted["run_id"],
                accepted["message_id"],
                accepted["trace_id"],
                callbacks,
            )
            self.runs[run.id] = run
            for kind, seq, data in self._held.get(session_id, ()):
                if data.get("run_id") == run.id:
                    self._to_run(run, kind, seq, data)
        finally:
            self._starting[session_id] -= 1
            if not self._starting[session_id]:
                del self._starting[session_id]
                self._held.pop(session_id, None)
        return run

    async def cancel_all(self) -> list[JSON]:
        """Cancel every run in flight; their cancel answers."""
        runs = list(self.runs.values())
        answers = await asyncio.gather(*(run.cancel() for run in runs), return_exceptions=True)
        return [answer for answer in answers if isinstance(answer, dict)]

    # -- events from the socket --------------------------------------------------------------

    def _deliver(self, kind: str, seq: int, data: dict[str, Any]) -> None:
        run_id = data.get("run_id")
        run = self.runs.get(run_id) if run_id else None
        if run is not None:
            self._to_run(run, kind, seq, data)
            return
        session_id = data.get("session_id")
        if run_id and session_id in self._starting:
            self._held.setdefault(session_id, []).append((kind, seq, data))

    def _to_run(self, run: Run, kind: str, seq: int, data: dict[str, Any]) -> None:
        if self.on_envelope is not None:
            self.on_envelope(run, kind, seq, data)
        event = self._decode(kind, data, seq)
        if event is None:  # a type this version does not know
            run.last_seq = seq
            return
        run.push(event, seq)
        if run.ended:
            self.runs.pop(run.id, None)

    def _replay_unavailable(self, session_id: str, snapshot: dict[str, Any]) -> None:
        messages = {message.get("id"): message for message in snapshot.get("messages") or ()}
        for run in [run for run in self.runs.values() if run.session_id == session_id]:
            message = messages.get(run.message_id)
            if message is not None:
                run.settle_from_message(message)
                if run.ended:
                    self.runs.pop(run.id, None)

    def _caught_up(self, session_id: str) -> None:
        for run in [run for run in self.runs.values() if run.session_id == session_id]:
            task = asyncio.get_running_loop().create_task(self._reconcile(run))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _reconcile(self, run: Run) -> None:
        """After a reconnect found no event missed: a run its server no longer runs ended
        without a last event (a crash); end it from its stored message."""
        try:
            if (await self.get_run(run.id))["status"] == "running":
                return  # still going: its events keep coming
            message = (await self.message_full(run.message_id))["message"]
        except Exception as error:  # the next reconnect tries again
            log.warning("could not check run %s after a reconnect: %s", run.id, error)
            return
        if not run.ended:  # its last events may have arrived meanwhile
            run.settle_from_message(message)
        if run.ended:
            self.runs.pop(run.id, None)

    def _lost(self, error: Exception) -> None:
        for run in list(self.runs.values()):
            run.fail(error)
        self.runs.clear()

    # -- which provider a request goes to ----------------------------------------------------

    async def _provider_of(self, model: str | None) -> str | None:
        """The provider of the config a request names, else of the caller's default config;
        None when the server's own default model serves it."""
        cached = self._models.get(model)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        if model is not None:
            provider: str | None = (await self.get_model(model))["provider"]
        else:
            defaults = [row for row in await self.list_models() if row.get("is_default")]
            provider = defaults[0]["provider"] if defaults else None
        self._models[model] = (time.monotonic() + MODEL_CACHE_S, provider)
        return provider


def _import_event_side() -> None:
    import vibeforge.client.run
    import vibeforge.client.socket  # noqa: F401


def _not_loaded(kind: str, data: dict[str, Any], seq: int) -> Any:
    raise AssertionError("events arrive only once the socket (and the protocol) is loaded")
