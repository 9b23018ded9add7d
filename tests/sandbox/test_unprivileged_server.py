"""A server that is not root: bubblewrap as its own uid, else the rlimits mode.

The suite runs as root here, so this test starts a second Python as `nobody` that imports the
sandbox and attacks it, then checks what that process saw. `nobody` may not be able to enter the
checkout (a clone under a 0700 home directory), so the sandbox's modules are staged in a
world-readable temporary directory first.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import vibeforge

PACKAGE = Path(vibeforge.__file__).resolve().parent
# What `vibeforge.sandbox` imports: the standard library, the package root and the errors.
STAGED = ("__init__.py", "errors.py", "sandbox")


@pytest.fixture
def staged_source() -> Iterator[Path]:
    """The sandbox's modules, copied where any user can read them."""
    root = Path(tempfile.mkdtemp(prefix="vf-unprivileged-", dir="/tmp"))
    try:
        target = root / "vibeforge"
        target.mkdir()
        for name in STAGED:
            source = PACKAGE / name
            if source.is_dir():
                shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(source, target / name)
        for path in (root, *root.rglob("*")):
            path.chmod(0o755 if path.is_dir() else 0o644)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


SCRIPT = r"""
import asyncio, json, sys
from vibeforge.sandbox import run, isolation_report

FLOOD = "import sys\nwhile True:\n    sys.stdout.buffer.write(b'x' * 65536)"
DAEMON = '''
import os, time
if os.fork() == 0:
    os.setsid()
    time.sleep(1)
    print("daemon-done", flush=True)
    os._exit(0)
'''

async def main():
    report = await isolation_report()
    runs = {}
    for mode in report["available"]:
        ok = await run(["python3", "-c", "import os; print(os.getuid(), sorted(os.environ))"],
                       isolation=mode)
        loop = await run(["python3", "-c", "while True: pass"], timeout_s=1, isolation=mode)
        flood = await run(["python3", "-c", FLOOD], output_bytes=65536, isolation=mode)
        daemon = await run(["python3", "-c", DAEMON], timeout_s=5, isolation=mode)
        runs[mode] = {
            "ok": [ok.exit_code, ok.stdout.decode()],
            "loop": [loop.killed_reason, loop.duration_s],
            "flood": [flood.killed_reason, len(flood.stdout), flood.truncated],
            "daemon": [daemon.exit_code, daemon.stdout.decode(), daemon.duration_s],
        }
    print(json.dumps({"report": report, "runs": runs}))

asyncio.run(main())
"""


async def test_non_root_server_uses_bubblewrap_or_reports_rlimits(staged_source: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to start a process as nobody; as non-root the suite covers it")
    python = shutil.which("python3", path="/usr/bin:/bin")
    if python is None:
        pytest.skip("no system python3 for an unprivileged process")
    proc = await asyncio.create_subprocess_exec(
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        python,
        "-c",
        SCRIPT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd="/tmp",
        env={"PYTHONPATH": str(staged_source), "PATH": "/usr/bin:/bin", "SECRET_TOKEN": "leak-me"},
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, stderr.decode()
    seen = json.loads(stdout)
    report, runs = seen["report"], seen["runs"]
    assert report["runs_as"] == "the server's uid 65534"
    assert "rlimits" in report["available"]
    if shutil.which("bwrap"):
        assert report["mode"] == "bubblewrap", report["unavailable"]
    for mode, outcome in runs.items():
        exit_code, text = outcome["ok"]
        assert exit_code == 0
        assert text.startswith("65534 "), mode
        assert "SECRET_TOKEN" not in text
        assert outcome["loop"][0] == "timeout"
        assert outcome["loop"][1] < 2.5
        assert outcome["flood"] == ["output_limit", 65536, True]
    # Under bubblewrap the daemon dies with the pid namespace when the program exits.
    if "bubblewrap" in runs:
        exit_code, text, duration = runs["bubblewrap"]["daemon"]
        assert (exit_code, text) == (0, "")
        assert duration < 0.9
    # The rlimits mode cannot reach a process that left its group (documented): the run waits
    # out the drain grace for the daemon's pipe, then returns without it.
    exit_code, _, duration = runs["rlimits"]["daemon"]
    assert exit_code == 0
    assert duration < 5
