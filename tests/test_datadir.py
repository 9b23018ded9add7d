"""One server per data directory: a second `vibeforge serve` is refused before it touches the
first one's runs, and a port in use fails before any start-up work or "ready"."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers import RunningServer, free_port, vibeforge_server
from tests.stubs import TOKEN, create_stub_model, until
from vibeforge.datadir import DataDirInUse, DataDirLock, lock_data_dir
from vibeforge.llm.stub import Script, StubLLMServer


def _serve(
    data_dir: Path, database_url: str, port: int, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("VIBEFORGE_")}
    environment.update(
        VIBEFORGE_DATA_DIR=str(data_dir),
        VIBEFORGE_DATABASE_URL=database_url,
        VIBEFORGE_PORT=str(port),
        VIBEFORGE_DEFAULT_MODEL="offline",
        VIBEFORGE_ADMIN_TOKEN=TOKEN,
        OLLAMA_HOST="127.0.0.1:9",
        **env,
    )
    return subprocess.run(
        [sys.executable, "-m", "vibeforge.cli", "serve"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_a_second_server_on_the_data_directory_is_refused_and_harms_nothing(
    server: RunningServer,
    http: httpx.AsyncClient,
    stub: StubLLMServer,
    database_url: str,
) -> None:
    await create_stub_model(http, stub)
    project = (await http.post("/projects", json={"name": "live"})).json()
    session = (await http.post(f"/projects/{project['id']}/sessions", json={})).json()
    stub.script(Script(chunks=tuple(f"x{i} " for i in range(60)), chunk_delay=0.03))
    run: dict[str, Any] = (
        await http.post(
            f"/sessions/{session['session_id']}/messages",
            params={"wait": "false"},
            json={"prompt": "long", "mode": "chat"},
        )
    ).json()
    await until(lambda: bool(stub.requests) and stub.requests[0].chunks_sent >= 2)
    journal = server.data_dir / "journal" / f"{run['run_id']}.jsonl"
    assert journal.exists()

    second = _serve(server.data_dir, database_url, free_port())
    assert second.returncode == 1
    assert f"in use by process {server.process.pid}" in second.stderr
    assert "vibeforge ready" not in second.stderr
    assert journal.exists(), "the live run's journal is untouched"

    for _ in range(300):
        stored = (await http.get(f"/runs/{run['run_id']}")).json()
        if stored["status"] != "running":
            break
        await asyncio.sleep(0.02)
    assert stored["status"] == "succeeded", "the live run was not marked interrupted"
    message = (await http.get(f"/messages/{run['message_id']}/full")).json()["message"]
    assert message["content"] == "".join(f"x{i} " for i in range(60))


def test_a_port_in_use_fails_before_start_up_work_and_ready(
    server: RunningServer, tmp_path: Path, database_url: str
) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    other = tmp_path / "other"
    # Its own SQLite file: one SQLite file serves one process (tests/scale/test_fail_closed.py).
    own = tmp_path / "other.db"
    url = f"sqlite+aiosqlite:///{own}" if database_url.startswith("sqlite") else database_url
    second = _serve(other, url, port)
    assert second.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in second.stderr
    assert "vibeforge ready" not in second.stderr
    assert not own.exists(), "no database was made or migrated"
    assert not (other / "vibeforge.db").exists(), "no database was made or migrated"
    DataDirLock.acquire(other).release()  # and the refused process let go of its lock


def test_the_lock_ends_with_its_process_and_names_its_holder(tmp_path: Path) -> None:
    held = DataDirLock.acquire(tmp_path)
    with pytest.raises(DataDirInUse, match=f"process {os.getpid()}"):
        DataDirLock.acquire(tmp_path)
    held.release()
    again = DataDirLock.acquire(tmp_path)
    again.release()
    # A killed holder leaves the file behind; the kernel dropped its lock.
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, sys; from pathlib import Path; from vibeforge.datadir import DataDirLock;"
            f" DataDirLock.acquire(Path({str(tmp_path)!r})); os._exit(0)",
        ],
        check=True,
    )
    assert child.returncode == 0 and (tmp_path / "server.lock").exists()
    DataDirLock.acquire(tmp_path).release()


def test_a_shared_data_directory_excludes_an_exclusive_server_and_needs_a_shared_database(
    tmp_path: Path,
) -> None:
    first = lock_data_dir(tmp_path, "postgresql+asyncpg://db/x", shared=True)
    assert first.alone, "the first process may recover: nobody else is there"
    first.after_recovery()
    second = lock_data_dir(tmp_path, "postgresql+asyncpg://db/x", shared=True)
    assert not second.alone, "another process is alive: its journals are not abandoned"
    with pytest.raises(DataDirInUse):
        lock_data_dir(tmp_path, "postgresql+asyncpg://db/x", shared=False)
    first.release()
    second.release()
    with pytest.raises(DataDirInUse, match="PostgreSQL"):
        lock_data_dir(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/v.db", shared=True)


def test_a_running_server_holds_the_lock_until_it_stops(tmp_path: Path, database_url: str) -> None:
    env = {"VIBEFORGE_ADMIN_TOKEN": TOKEN}
    with vibeforge_server(tmp_path / "data", database_url, env=env), pytest.raises(DataDirInUse):
        DataDirLock.acquire(tmp_path / "data")
    DataDirLock.acquire(tmp_path / "data").release()
