"""Whether the database answers, for /health, without making /health wait for it.

A load balancer polls /health every few seconds; a dashboard may poll it many times a second.
Asking the database on every call put each poll behind whatever else was queued for it: under
a burst of 100 run starts, /health took 100-230 ms although the server was well. The answer
is kept for a second instead, and renewed by a check that the caller does not wait for, so a
poll costs one loop turn. It stays honest: the first call waits for a real answer, and a check
that has not answered for `stuck_after_s` reports the database unavailable without waiting
for it to time out.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DatabaseState:
    """The last answer: ok or not, and how old it is."""

    ok: bool
    checked_ms_ago: int


class DatabaseHealth:
    """`state()`: the database's last answer to a trivial query, renewed at most every
    `max_age_s` seconds in the background."""

    def __init__(
        self,
        ping: Callable[[], Awaitable[bool]],
        *,
        max_age_s: float = 1.0,
        stuck_after_s: float = 5.0,
    ) -> None:
        self._ping = ping
        self.max_age_s, self.stuck_after_s = max_age_s, stuck_after_s
        self._ok: bool | None = None
        self._checked_at = 0.0
        self._check: asyncio.Task[None] | None = None
        self._check_began = 0.0

    async def state(self) -> DatabaseState:
        """The answer; waits only when there has never been one."""
        now = time.monotonic()
        if self._ok is None or now - self._checked_at >= self.max_age_s:
            check = self._renew(now)
            if self._ok is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(check), self.stuck_after_s)
        ok = bool(self._ok)
        if self._check is not None and time.monotonic() - self._check_began > self.stuck_after_s:
            ok = False  # asked and not answered: a database this slow serves nobody
        return DatabaseState(ok, int((time.monotonic() - self._checked_at) * 1000))

    def _renew(self, now: float) -> asyncio.Task[None]:
        if self._check is None:
            self._check_began = now
            self._check = asyncio.get_running_loop().create_task(self._run(), name="db-health")
        return self._check

    async def _run(self) -> None:
        try:
            self._ok = await self._ping()
        except Exception:
            self._ok = False
        finally:
            self._checked_at = time.monotonic()
            self._check = None

    async def close(self) -> None:
        """Stop a check in flight (at shutdown)."""
        check = self._check
        if check is not None:
            check.cancel()
            await asyncio.gather(check, return_exceptions=True)
