"""The attack suite: hostile programs against every isolation mode, each held to its claims.

Every attack must end within its limits, report why, leave no process behind and keep the
server's event loop responsive (the `attack` fixture checks the last two on every run).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from vibeforge.errors import InvalidPath
from vibeforge.sandbox import IsolationMode, run

from .conftest import Attack, claims

SLACK_S = 3.0  # kill, reap and drain after a deadline, on a busy two-core CI machine


def existing(paths: list[Path]) -> list[Path]:
    """The paths that exist on the host (lexists: a dangling link counts too)."""
    return [path for path in paths if os.path.lexists(path)]


async def test_infinite_loop_is_killed_at_the_deadline(attack: Attack) -> None:
    result = await attack("while True: pass", timeout_s=1)
    assert result.killed_reason == "timeout"
    assert 1 <= result.duration_s < 1 + SLACK_S


async def test_cpu_limit_ends_a_busy_loop_before_the_wall_clock(attack: Attack) -> None:
    result = await attack("while True: pass", cpu_s=1, timeout_s=10)
    assert result.killed_reason == "cpu"
    # One CPU second takes longer than one wall second on a loaded machine; what matters is
    # that the CPU limit, not the wall clock, ended it.
    assert result.duration_s < 10


async def test_fork_bomb_is_capped_and_killed(attack: Attack) -> None:
    bomb = """
import os, time
while True:
    try:
        os.fork()
    except OSError:
        time.sleep(0.001)
"""
    result = await attack(bomb, timeout_s=2, processes=32)
    assert result.killed_reason == "timeout"
    assert result.duration_s < 2 + SLACK_S
    # The server can still start processes.
    proc = await asyncio.create_subprocess_exec("true")
    assert await proc.wait() == 0


async def test_process_limit_binds_the_unprivileged_uid(attack: Attack) -> None:
    code = """
import subprocess
children = []
try:
    for _ in range(100):
        children.append(subprocess.Popen(["sleep", "30"]))
except OSError:
    pass
print(len(children))
"""
    result = await attack(code, timeout_s=5, processes=16)
    assert result.exit_code == 0, result.stderr
    assert int(result.stdout) < 16


async def test_memory_bomb_reports_memory(attack: Attack) -> None:
    bomb = "chunks = []\nwhile True:\n    chunks.append(bytearray(32 * 1024 * 1024))"
    result = await attack(bomb, memory_mb=256, timeout_s=10)
    assert result.killed_reason == "memory"
    assert result.exit_code != 0
    assert result.duration_s < 5


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
async def test_gigabytes_of_output_are_cut_off(attack: Attack, stream: str) -> None:
    flood = f"import sys\nchunk = b'x' * 65536\nwhile True:\n    sys.{stream}.buffer.write(chunk)"
    result = await attack(flood, output_bytes=1 << 20, timeout_s=20)
    assert result.killed_reason == "output_limit"
    assert result.truncated
    assert len(getattr(result, stream)) == 1 << 20
    assert result.duration_s < 5


async def test_file_size_limit_stops_a_disk_filler(attack: Attack) -> None:
    code = "with open('big', 'wb') as f:\n    while True:\n        f.write(b'x' * 65536)"
    result = await attack(code, file_size_mb=1, timeout_s=10)
    assert result.killed_reason == "file_size"
    assert result.duration_s < 5


async def test_daemon_that_ignores_sigterm_dies_with_the_run(attack: Attack) -> None:
    # Double fork, new session, SIGTERM and SIGHUP ignored, stdout kept open: the classic way
    # to outlive a parent and a process-group kill, and to hold the run's pipes open.
    code = """
import os, signal, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        while True:
            print("still here", flush=True)
            time.sleep(0.05)
    os._exit(0)
time.sleep(0.3)
print("parent leaves", flush=True)
"""
    result = await attack(code, timeout_s=10)
    assert b"parent leaves" in result.stdout
    assert result.exit_code == 0
    assert result.duration_s < 5  # the daemon's open pipe does not hold the run to its 10 s


async def test_daemon_is_killed_when_the_run_times_out(attack: Attack) -> None:
    code = """
import os, signal, time
if os.fork() == 0:
    os.setsid()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(600)
time.sleep(600)
"""
    result = await attack(code, timeout_s=1)
    assert result.killed_reason == "timeout"


async def test_writes_outside_the_scratch_directory_fail(
    attack: Attack, host_dir: Callable[[int], Path]
) -> None:
    server_owned = host_dir(0o755)  # like the repository or the data directory
    targets = [server_owned / "owned", Path("/etc/owned"), Path("/usr/owned"), Path("/owned")]
    code = f"""
import json
report = {{}}
for path in {[str(t) for t in targets]!r} + ["inside"]:
    try:
        open(path, "w").write("owned")
        report[path] = "written"
    except OSError as exc:
        report[path] = type(exc).__name__
print(json.dumps(report))
"""
    result = await attack(code, timeout_s=5)
    report = json.loads(result.stdout)
    assert report["inside"] == "written"
    assert all(report[str(target)] != "written" for target in targets)
    assert existing(targets) == []


async def test_world_writable_host_places_are_out_of_reach(
    attack: Attack, host_dir: Callable[[int], Path]
) -> None:
    if not claims(attack.mode, "private_filesystem_view"):
        pytest.skip(f"{attack.mode} shows the host filesystem: world-writable places are shared")
    open_to_all = host_dir(0o777)
    host_tmp = Path("/tmp") / f"{attack.token}.txt"
    code = f"""
for path in [{str(open_to_all / "owned")!r}, {str(host_tmp)!r}, "/dev/shm/owned"]:
    try:
        open(path, "w").write("owned")
    except OSError:
        pass
"""
    await attack(code, timeout_s=5)
    assert existing([*open_to_all.iterdir(), host_tmp, Path("/dev/shm/owned")]) == []


@pytest.fixture
def data_dir(attack: Attack, host_dir: Callable[[int], Path]) -> Path:
    """A server data directory with a secret key and a database.

    Where the mode claims a private filesystem view, the directory is world-readable, so only
    the view can be what protects it; the weaker modes rely on the 0700 the docs require.
    """
    private_view = claims(attack.mode, "private_filesystem_view")
    data = host_dir(0o755 if private_view else 0o700)
    for name in ("secret_key", "vibeforge.db"):
        (data / name).write_text(f"SECRET-{attack.token}")
        (data / name).chmod(0o644 if private_view else 0o600)
    return data


async def test_server_data_directory_secret_and_database_are_unreadable(
    attack: Attack, data_dir: Path
) -> None:
    server = os.getpid()
    code = f"""
import glob, os
paths = [{str(data_dir / "secret_key")!r}, {str(data_dir / "vibeforge.db")!r}]
paths += glob.glob({str(data_dir)!r} + "/*")
paths += [f"/proc/{server}/root{data_dir / "secret_key"!s}", f"/proc/{server}/cwd/x"]
paths += glob.glob("/proc/{server}/fd/*") + glob.glob("/proc/*/root{data_dir!s}/*")
for path in paths:
    try:
        print(open(path).read())
    except OSError as exc:
        print(path, type(exc).__name__)
"""
    database = os.open(data_dir / "vibeforge.db", os.O_RDONLY)  # the server holds it open
    try:
        result = await attack(code, timeout_s=5)
    finally:
        os.close(database)
    assert result.exit_code == 0, result.stderr
    assert b"SECRET-" not in result.stdout + result.stderr


async def test_symlinks_planted_in_scratch_reach_nothing(attack: Attack, data_dir: Path) -> None:
    code = f"""
import os
os.symlink({str(data_dir / "secret_key")!r}, "leak")
os.symlink({str(data_dir)!r}, "dir_link")
try:
    print(open("leak").read())
except OSError as exc:
    print("leak", type(exc).__name__)
"""
    result = await attack(code, timeout_s=5)
    assert b"SECRET-" not in result.stdout
    # Deleting the scratch directory removed the links, not what they point to.
    assert (data_dir / "secret_key").read_text() == f"SECRET-{attack.token}"
    assert (data_dir / "vibeforge.db").exists()


@pytest.mark.parametrize(
    "name", ["../escape.py", "/etc/passwd", "a/../../escape.py", "a/b/../../../x", "", "a\x00b"]
)
async def test_provided_files_cannot_point_outside(name: str) -> None:
    with pytest.raises(InvalidPath):
        await run(["python3", "-c", "pass"], files={name: "x"})


async def test_server_port_on_localhost_is_unreachable(attack: Attack) -> None:
    if not claims(attack.mode, "no_network"):
        pytest.skip(f"{attack.mode} shares the host's network (no network namespace)")
    connections = 0

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    code = f"""
import socket
for host in ["127.0.0.1", "localhost", "1.1.1.1"]:
    try:
        socket.create_connection((host, {port}), timeout=1).close()
        print(host, "connected")
    except OSError as exc:
        print(host, type(exc).__name__)
"""
    async with server:
        result = await attack(code, timeout_s=10)
    assert b"connected" not in result.stdout, result.stdout
    assert connections == 0


async def test_server_environment_does_not_reach_the_program(
    attack: Attack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIBEFORGE_SECRET_KEY", f"SECRET-{attack.token}")
    monkeypatch.setenv("OPENAI_API_KEY", f"SECRET-{attack.token}")
    code = f"""
import glob, json, os
print(json.dumps(dict(os.environ)))
for path in glob.glob("/proc/*/environ") + ["/proc/{os.getpid()}/environ"]:
    try:
        print(open(path, "rb").read())
    except OSError:
        pass
"""
    result = await attack(code, timeout_s=5)
    assert result.exit_code == 0, result.stderr
    assert b"SECRET-" not in result.stdout
    environment = json.loads(result.stdout.splitlines()[0])
    assert set(environment) <= {"PATH", "HOME", "TMPDIR", "LANG", "USER", "LOGNAME", "PWD"} | {
        "PYTHONDONTWRITEBYTECODE",
        "LC_CTYPE",
    }


async def test_program_never_runs_as_root(attack: Attack) -> None:
    code = "import os\nprint(os.getuid(), os.geteuid(), os.getgid(), os.getgroups())"
    result = await attack(code, timeout_s=5)
    uid, euid, gid, *_ = result.stdout.split()
    assert {int(uid), int(euid), int(gid)}.isdisjoint({0})
    if os.geteuid() == 0 and attack.mode is not IsolationMode.RLIMITS:
        assert b"[]" in result.stdout  # root's supplementary groups are gone


async def test_data_directory_inside_a_shown_tree_is_masked(
    attack: Attack, host_dir: Callable[[int], Path]
) -> None:
    if not claims(attack.mode, "private_filesystem_view"):
        pytest.skip(f"{attack.mode} shows the host filesystem; hide_paths needs bubblewrap")
    # A deployment that keeps its data under a tree the sandbox must see (like /usr/local).
    shown = host_dir(0o755)
    (shown / "tool.txt").write_text("tool")
    data = shown / "data"
    data.mkdir(mode=0o755)
    (data / "secret_key").write_text(f"SECRET-{attack.token}")
    (shown / "vibeforge.db").write_text(f"SECRET-{attack.token}")
    code = f"""
import os
print(open({str(shown / "tool.txt")!r}).read())
try:
    print(os.listdir({str(data)!r}))
except OSError as exc:
    print("listing", type(exc).__name__)
for path in [{str(data / "secret_key")!r}, {str(shown / "vibeforge.db")!r}]:
    try:
        print(open(path).read())
    except OSError as exc:
        print(path, type(exc).__name__)
    try:
        open(path, "w").write("owned")
    except OSError as exc:
        print(path, type(exc).__name__)
"""
    hide = [str(data), str(shown / "vibeforge.db")]
    result = await attack(code, timeout_s=5, ro_paths=[str(shown)], hide_paths=hide)
    assert result.stdout.startswith(b"tool"), result.stderr
    assert b"SECRET-" not in result.stdout
    assert (shown / "vibeforge.db").read_text() == f"SECRET-{attack.token}"
