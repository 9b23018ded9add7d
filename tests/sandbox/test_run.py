"""The run() contract: files in, output and exit status out, nothing left behind."""

from __future__ import annotations

import asyncio
import glob
import os
import signal
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from vibeforge.errors import InvalidInput, InvalidPath
from vibeforge.sandbox import IsolationMode, run
from vibeforge.sandbox.isolation import IsolationSupport

from .conftest import survivors

PROGRAM = """
import os, sys
data = sys.stdin.buffer.read()
print(open("pkg/data.txt").read(), len(data), os.getcwd() == os.environ["HOME"])
sys.stderr.write("to stderr")
sys.exit(3)
"""


@pytest.fixture
def scratch_dirs(
    monkeypatch: pytest.MonkeyPatch, host_dir: Callable[[int], Path]
) -> Callable[[], list[str]]:
    """Scratch directories of this test only: other suites may run sandboxes meanwhile."""
    parent = host_dir(0o755)  # the sandbox uid must be able to reach its scratch directory
    monkeypatch.setattr(tempfile, "tempdir", str(parent))
    return lambda: glob.glob(os.path.join(parent, "vibeforge-sandbox-*"))


async def test_python_runs_with_the_given_files_and_stdin(
    mode: IsolationMode, scratch_dirs: Callable[[], list[str]]
) -> None:
    result = await run(
        ["python3", "main.py"],
        files={"main.py": PROGRAM, "pkg/data.txt": b"payload"},
        stdin=b"x" * 100_000,
        isolation=mode,
    )
    assert result.stdout == b"payload 100000 True\n"
    assert result.stderr == b"to stderr"
    assert result.exit_code == 3
    assert result.killed_reason is None
    assert not result.truncated
    assert not result.ok
    assert result.isolation == mode.value
    assert scratch_dirs() == []  # the scratch directory is gone


async def test_default_is_the_strongest_mode(caps: IsolationSupport) -> None:
    result = await run(["python3", "-c", "print('hi')"])
    assert result.ok
    assert result.stdout == b"hi\n"
    assert result.isolation == caps.available[0].value
    assert result.duration_s < 5


async def test_signal_deaths_use_the_shell_convention(mode: IsolationMode) -> None:
    code = "import os, signal, time\nos.kill(os.getpid(), signal.SIGUSR1)\ntime.sleep(5)"
    result = await run(["python3", "-c", code], isolation=mode, timeout_s=5)
    assert result.exit_code == 128 + signal.SIGUSR1
    assert result.killed_reason is None


async def test_stdin_a_program_never_reads_does_not_block(mode: IsolationMode) -> None:
    result = await run(["true"], stdin=b"x" * (4 << 20), isolation=mode, timeout_s=5)
    assert result.ok


async def test_cancelling_the_caller_kills_the_program(
    mode: IsolationMode, scratch_dirs: Callable[[], list[str]]
) -> None:
    token = f"cancel-{uuid.uuid4().hex}"
    task = asyncio.create_task(
        run(["python3", "-c", f"# {token}\nimport time\ntime.sleep(60)"], isolation=mode)
    )
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert survivors(token) == []
    assert scratch_dirs() == []


async def test_concurrent_runs_get_their_own_uids(
    mode: IsolationMode, caps: IsolationSupport
) -> None:
    code = "import os, time\ntime.sleep(0.5)\nprint(os.getuid())"
    started = time.monotonic()
    results = await asyncio.gather(
        *(run(["python3", "-c", code], isolation=mode) for _ in range(4))
    )
    assert time.monotonic() - started < 4 * 0.5  # they ran side by side
    assert all(r.ok for r in results)
    if caps.is_root:
        assert len({r.stdout for r in results}) == 4


@pytest.mark.parametrize(
    "kwargs",
    [
        {"timeout_s": 0},
        {"timeout_s": float("inf")},
        {"memory_mb": -1},
        {"output_bytes": 0},
        {"processes": 0},
        {"cpu_s": -1},
        {"isolation": "chroot"},
        {"ro_paths": ["relative/path"]},
        {"stdin": "text"},
    ],
)
async def test_invalid_arguments_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        await run(["true"], **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("argv", [[], "python3 -c pass", [""], ["a\x00b"]])
async def test_invalid_argv_is_refused(argv: object) -> None:
    with pytest.raises(InvalidInput):
        await run(argv)  # type: ignore[arg-type]


async def test_a_file_cannot_also_be_a_directory() -> None:
    with pytest.raises(InvalidPath):
        await run(["true"], files={"a": "x", "a/b": "y"})


async def test_rlimits_mode_is_refused_to_a_root_server() -> None:
    if os.geteuid() != 0:
        pytest.skip("the server is not root here, so the rlimits mode is legitimate")
    with pytest.raises(InvalidInput, match="rlimits"):
        await run(["true"], isolation=IsolationMode.RLIMITS)


async def test_cancelling_at_any_moment_leaves_nothing(
    mode: IsolationMode, scratch_dirs: Callable[[], list[str]]
) -> None:
    token = f"cancel-{uuid.uuid4().hex}"
    for delay in (0, 0.001, 0.003, 0.01, 0.02, 0.05):
        task = asyncio.create_task(
            run(["python3", "-c", f"# {token}\nimport time\ntime.sleep(60)"], isolation=mode)
        )
        await asyncio.sleep(delay)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert survivors(token) == []
    assert scratch_dirs() == []


def test_runs_on_uvloop_the_servers_event_loop() -> None:
    """uvicorn serves on uvloop, whose subprocesses take no user/group arguments."""
    import uvloop

    from vibeforge.sandbox import isolation_report, run

    async def both() -> tuple[dict[str, object], object]:
        report = await isolation_report()
        result = await run(["python3", "-c", "import os; print(os.getuid())"])
        return report, result

    report, result = uvloop.run(both())
    assert result.exit_code == 0, result
    assert result.stdout.strip() != b"0", "never as root"
    assert report["mode"] == result.isolation
