"""A thin blocking wrapper of the async client, for scripts and GUI code without an event loop.

The async `Client` runs on a private event loop in a daemon thread; every method of it is
available here as a blocking call, and a run is iterated with a plain `for`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

from vibeforge.client.client import Client
from vibeforge.client.run import Run
from vibeforge.runs.protocol import Done, ServerEvent

T = TypeVar("T")


class SyncClient:
    """`Client`'s methods as blocking calls: `SyncClient(url, token).send(...)` -> SyncRun."""

    def __init__(self, base_url: str, token: str, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="vibeforge-client", daemon=True
        )
        self._thread.start()

        async def build() -> Client:
            return Client(base_url, token, **options)

        self.client: Client = self.call(build())

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the client's loop and wait for its result."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result()

    def send(self, session_id: str, prompt: str, **options: Any) -> SyncRun:
        """Start a run (see `Client.send`)."""
        return SyncRun(self, self.call(self.client.send(session_id, prompt, **options)))

    def cancel_all(self) -> list[dict[str, Any]]:
        """Cancel every run in flight."""
        return self.call(self.client.cancel_all())

    def close(self) -> None:
        """Close the client and stop its thread."""
        if self._loop.is_closed():
            return
        self.call(self.client.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.client, name)
        if not asyncio.iscoroutinefunction(method):
            return method  # type: ignore[no-any-return]

        def blocking(*args: Any, **kwargs: Any) -> Any:
            return self.call(method(*args, **kwargs))

        blocking.__doc__ = method.__doc__
        return blocking


class SyncRun:
    """A run, iterated with `for`; `result()` and `cancel()` block."""

    def __init__(self, owner: SyncClient, run: Run) -> None:
        self.owner = owner
        self.run = run
        self.id = run.id

    def __iter__(self) -> Iterator[ServerEvent]:
        while True:
            try:
                yield self.owner.call(self.run.__anext__())
            except StopAsyncIteration:
                return

    def result(self) -> Done:
        """The run's outcome (blocks until it is known)."""
        return self.owner.call(self.run.result())

    def cancel(self) -> dict[str, Any]:
        """Cancel the run on the server."""
        return self.owner.call(self.run.cancel())
