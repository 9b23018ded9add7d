"""A full disk and a read-only data directory, on a small tmpfs mounted for the test (root
only; skipped with its reason elsewhere): writes fail with a clear error and write nothing
half, reads go on, and writes work again once space (or write access) returns."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import RunningServer, vibeforge_server
from tests.stubs import TOKEN

# A full disk (of the data directory; the database is elsewhere): SQLite only.
pytestmark = pytest.mark.sqlite_only

HEADERS = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 16 MB tmpfs, unmounted after the test."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"mount is not allowed here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(directory: Path) -> Path:
    """Write until the file system is full; the ballast file."""
    ballast = directory / "ballast"
    with ballast.open("wb") as out, contextlib.suppress(OSError):
        while True:
            out.write(b"\0" * 65536)
            out.flush()
    with contextlib.suppress(OSError):
        os.sync()
    return ballast


def _run(*command: str) -> None:
    """A mount command, which takes a few milliseconds: the server runs in its own process."""
    subprocess.run(command, check=True)


def _fsck(repository: Path) -> None:
    done = subprocess.run(
        ["git", "fsck", "--full", "--no-dangling"], cwd=repository, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture
def server(tmpfs: Path, tmp_path: Path, database_url: str) -> Iterator[RunningServer]:
    """A real server whose data directory is on the tmpfs (its database is not)."""
    with vibeforge_server(tmpfs / "data", database_url, env={"VIBEFORGE_ADMIN_TOKEN": TOKEN}) as s:
        yield s


async def _write(http: httpx.AsyncClient, project: str, name: str) -> httpx.Response:
    return await http.put(f"/projects/{project}/files/{name}", json={"content": f"{name}\n" * 2000})


async def _project_with_a_file(http: httpx.AsyncClient, name: str) -> str:
    project = (await http.post("/projects", json={"name": name})).json()["id"]
    assert (await _write(http, project, "before.py")).status_code == 200
    return str(project)


async def test_a_full_disk_refuses_writes_clearly_keeps_reads_and_recovers(
    server: RunningServer, tmpfs: Path
) -> None:
    async with httpx.AsyncClient(base_url=server.url, headers=HEADERS, timeout=30) as http:
        project = await _project_with_a_file(http, "full")
        versions = (await http.get(f"/projects/{project}/versions")).json()["items"]
        ballast = _fill(tmpfs)
        refused = await _write(http, project, "during.py")
        print("full disk:", refused.status_code, refused.text)
        # The error shape with what happened, never a 500 nor a half-written version.
        assert refused.status_code == 503, refused.text
        assert "No space left on device" in refused.json()["detail"]
        assert (await http.get(f"/projects/{project}/files/before.py")).status_code == 200
        assert (await http.get(f"/projects/{project}/versions")).json()["items"] == versions
        assert (await http.get(f"/projects/{project}/files/during.py")).status_code == 404
        ballast.unlink()
        assert (await _write(http, project, "after.py")).status_code == 200
        files = (await http.get(f"/projects/{project}/files")).json()["items"]
        assert {entry["path"] for entry in files} >= {"before.py", "after.py"}
        assert "during.py" not in {entry["path"] for entry in files}
    _fsck(server.data_dir / "projects" / project)
    assert server.crashes() == [], server.crashes()


async def test_a_read_only_data_directory_refuses_writes_clearly_and_recovers(
    server: RunningServer, tmpfs: Path
) -> None:
    async with httpx.AsyncClient(base_url=server.url, headers=HEADERS, timeout=30) as http:
        project = await _project_with_a_file(http, "ro")
        # The projects' directory made read-only under the running server (a bind mount: the
        # server holds files open elsewhere in the data directory, so it cannot be remounted).
        projects = server.data_dir / "projects"
        _run("mount", "--bind", str(projects), str(projects))
        try:
            _run("mount", "-o", "remount,bind,ro", str(projects))
            refused = await _write(http, project, "during.py")
            print("read-only:", refused.status_code, refused.text)
            assert refused.status_code == 503, refused.text
            assert "Read-only file system" in refused.json()["detail"]
            assert (await http.get(f"/projects/{project}/files/before.py")).status_code == 200
        finally:
            _run("umount", str(projects))
        assert (await _write(http, project, "after.py")).status_code == 200
    _fsck(server.data_dir / "projects" / project)
    assert server.crashes() == [], server.crashes()
