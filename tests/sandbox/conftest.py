"""Fixtures for the sandbox tests: the modes to attack, and checks that nothing got out."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from vibeforge.sandbox import IsolationMode, SandboxResult, run
from vibeforge.sandbox.isolation import PROTECTIONS, IsolationSupport, probe


@pytest.fixture(scope="session")
def caps() -> IsolationSupport:
    """The machine's isolation support, probed once per session, outside any test's event loop."""
    return asyncio.run(probe())


def claims(mode: IsolationMode, protection: str) -> bool:
    """Whether `mode` says it protects against this; tests hold every mode to its claims."""
    return PROTECTIONS[mode][protection]


@pytest.fixture(params=[m.value for m in IsolationMode])
def mode(request: pytest.FixtureRequest, caps: IsolationSupport) -> IsolationMode:
    """Each isolation mode this machine offers; a missing one is skipped with the reason."""
    mode = IsolationMode(request.param)
    if mode not in caps.available:
        if mode is IsolationMode.BUBBLEWRAP and caps.bwrap and caps.is_root:
            pytest.fail(f"bwrap is installed but bubblewrap mode failed: {caps.missing[mode]}")
        pytest.skip(f"{mode} unavailable here: {caps.missing.get(mode, '?')}")
    return mode


def survivors(token: str) -> list[int]:
    """Pids of processes whose command line carries `token`: none may outlive a run."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read()
            with open(f"/proc/{entry}/stat", "rb") as handle:
                state = handle.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if token.encode() in cmdline and state != b"Z":
            found.append(int(entry))
    return found


@dataclass
class Attack:
    """Runs hostile code while watching the server: its event loop must keep ticking."""

    mode: IsolationMode
    token: str
    slowest_tick_s: float = 0.0

    async def __call__(self, code: str, **kwargs: object) -> SandboxResult:
        """Run `code` with python3 in the sandbox; `TOKEN` in it is replaced by a unique token."""
        code = code.replace("TOKEN", self.token)
        argv: list[str] = ["python3", "-c", f"# {self.token}\n{code}"]
        stop = asyncio.Event()

        async def heartbeat() -> None:
            last = time.monotonic()
            while not stop.is_set():
                await asyncio.sleep(0.01)
                now = time.monotonic()
                self.slowest_tick_s = max(self.slowest_tick_s, now - last)
                last = now

        ticker = asyncio.create_task(heartbeat())
        try:
            result = await run(argv, isolation=self.mode, **kwargs)  # type: ignore[arg-type]
        finally:
            stop.set()
            await ticker
        assert self.slowest_tick_s < 0.5, "the server's event loop stalled during the run"
        assert survivors(self.token) == [], "a sandboxed process outlived its run"
        assert result.isolation == self.mode.value
        return result


@pytest.fixture
def attack(mode: IsolationMode) -> Attack:
    """An attacker for the current mode."""
    return Attack(mode, f"attack-{uuid.uuid4().hex}")


@pytest.fixture
def host_dir() -> Iterator[Callable[[int], Path]]:
    """Make directories outside pytest's private tmp (which is 0700) with chosen permissions."""
    made: list[Path] = []

    def make(mode: int) -> Path:
        path = Path(f"/tmp/vibeforge-sandbox-test-{uuid.uuid4().hex}")
        path.mkdir()
        path.chmod(mode)
        made.append(path)
        return path

    yield make
    for path in made:
        shutil.rmtree(path, ignore_errors=True)
