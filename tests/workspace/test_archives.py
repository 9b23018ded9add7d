"""Projects as archives: any version exported as a zip or a tarball and imported back the
same, and hostile archives (zip-slip, links, bombs, .git) refused leaving nothing behind."""

from __future__ import annotations

import io
import tarfile
import zipfile
from typing import Any

import httpx
import pytest

UNPACK_CAP = 8 * 1024 * 1024


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    """A small cap on what an archive may unpack to."""
    return settings.model_copy(update={"import_max_total_bytes": UNPACK_CAP})


FILES = {
    "main.py": "print('hi')\n",
    "pkg/__init__.py": "",
    "pkg/util.py": "def f():\n    return 'é ✓'\n",
    "README.md": "# Demo\n",
}


async def project_with_files(client: httpx.AsyncClient) -> tuple[str, list[str]]:
    """A project written in two versions; the version ids, newest first."""
    project = (await client.post("/projects", json={"name": "Demo project"})).json()["id"]
    for path, content in FILES.items():
        await client.put(f"/projects/{project}/files/{path}", json={"content": content})
    await client.put(f"/projects/{project}/files/main.py", json={"content": "print('v2')\n"})
    versions = (await client.get(f"/projects/{project}/versions")).json()["items"]
    return project, [version["id"] for version in versions]


def zip_files(data: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name).decode() for name in archive.namelist()}


def tar_files(data: bytes) -> dict[str, str]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        return {
            member.name: archive.extractfile(member).read().decode()  # type: ignore[union-attr]
            for member in archive.getmembers()
        }


async def import_archive(
    client: httpx.AsyncClient, filename: str, data: bytes, **fields: str
) -> httpx.Response:
    files = {"file": (filename, data, "application/octet-stream")}
    return await client.post("/projects/import", data=fields, files=files)


async def test_export_of_any_version_and_import_round_trip(client: httpx.AsyncClient) -> None:
    project, versions = await project_with_files(client)
    newest = await client.get(f"/projects/{project}/export", params={"format": "zip"})
    assert newest.status_code == 200, newest.text
    assert newest.headers["content-type"] == "application/zip"
    assert newest.headers["x-vibeforge-version"] == versions[0]
    assert 'filename="Demo-project-' in newest.headers["content-disposition"]
    exported = zip_files(newest.content)
    assert exported == {**FILES, "main.py": "print('v2')\n"}
    older = await client.get(
        f"/projects/{project}/export", params={"format": "tar.gz", "version_id": versions[1]}
    )
    assert older.headers["content-type"] == "application/gzip"
    assert tar_files(older.content) == FILES, "the version asked for, not the newest"

    imported = await import_archive(client, "demo.zip", newest.content)
    assert imported.status_code == 201, imported.text
    body = imported.json()
    assert body["files"] == 4 and body["skipped"] == []
    assert body["project"]["name"] == "demo" and body["project"]["main_file"] == "main.py"
    copy = body["project"]["id"]
    again = await client.get(f"/projects/{copy}/export")
    assert zip_files(again.content) == exported, "exported, imported, exported: the same"
    versions_of_copy = (await client.get(f"/projects/{copy}/versions")).json()["items"]
    assert len(versions_of_copy) == 2, "the project's creation, then the import as one version"
    assert versions_of_copy[0]["id"] == body["version_id"]


async def test_a_github_style_archive_with_a_binary_file(client: httpx.AsyncClient) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in (("repo-main/app.py", b"x = 1\n"), ("repo-main/logo.png", b"\x89PNG\0")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    response = await import_archive(
        client, "repo.tar.gz", buffer.getvalue(), name="Repo", strip_top_dir="true"
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["skipped"] == [{"path": "logo.png", "reason": "not UTF-8 text"}]
    files = (await client.get(f"/projects/{body['project']['id']}/files")).json()["items"]
    assert [item["path"] for item in files] == ["app.py"]


def zip_of(*members: tuple[str, bytes], link: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
        if link is not None:
            info = zipfile.ZipInfo(link)
            info.external_attr = 0o120777 << 16
            archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def tar_of(member: tarfile.TarInfo, data: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.addfile(member, io.BytesIO(data) if data else None)
    return buffer.getvalue()


def _symlink() -> tarfile.TarInfo:
    info = tarfile.TarInfo("evil")
    info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
    return info


def _hardlink() -> tarfile.TarInfo:
    info = tarfile.TarInfo("evil")
    info.type, info.linkname = tarfile.LNKTYPE, "main.py"
    return info


def _device() -> tarfile.TarInfo:
    info = tarfile.TarInfo("dev")
    info.type = tarfile.CHRTYPE
    return info


def _zip_bomb() -> bytes:
    """About 30 KB that inflates past the cap, each member under the file size cap."""
    piece = b"a" * 1000 * 1000
    return zip_of(*((f"part{n}.txt", piece) for n in range(UNPACK_CAP // len(piece) + 2)))


HOSTILE: dict[str, tuple[Any, int, str]] = {
    "zip-slip": (lambda: zip_of(("../../etc/cron.d/x", b"x\n")), 422, "invalid_path"),
    "absolute path": (lambda: zip_of(("/etc/passwd", b"x\n")), 422, "invalid_path"),
    "into .git": (lambda: zip_of((".git/hooks/post-commit", b"x\n")), 422, "invalid_path"),
    "NTFS .git": (lambda: zip_of(("GIT~1/config", b"x\n")), 422, "invalid_path"),
    "zip symlink": (lambda: zip_of(("a.py", b"x\n"), link="evil"), 422, "invalid_path"),
    "tar symlink": (lambda: tar_of(_symlink()), 422, "invalid_path"),
    "tar hard link": (lambda: tar_of(_hardlink()), 422, "invalid_path"),
    "tar device": (lambda: tar_of(_device()), 422, "invalid_path"),
    "a path twice": (lambda: zip_of(("a.py", b"1\n"), ("./a.py", b"2\n")), 422, "invalid_input"),
    "a bomb": (_zip_bomb, 413, "payload_too_large"),
    "not an archive": (lambda: b"just some text\n", 422, "invalid_input"),
    "a broken zip": (lambda: b"PK\x03\x04" + b"\x00" * 40, 422, "invalid_input"),
    "nothing to import": (lambda: zip_of(("logo.png", b"\x89PNG\0")), 422, "invalid_input"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
async def test_hostile_archives_are_refused_and_leave_nothing_behind(
    client: httpx.AsyncClient, app: Any, case: str
) -> None:
    make, status, code = HOSTILE[case]
    response = await import_archive(client, "x.zip", make())
    assert response.status_code == status, response.text
    assert response.json()["error"] == code
    assert (await client.get("/projects")).json()["items"] == [], "no project was made"
    projects_dir = app.state.services.settings.projects_dir
    assert not projects_dir.exists() or list(projects_dir.iterdir()) == []
    tmp = app.state.services.settings.attachments_dir / "tmp"
    assert not tmp.exists() or list(tmp.iterdir()) == [], "the upload is gone"


async def test_archive_limits(client: httpx.AsyncClient, app: Any) -> None:
    settings = app.state.services.settings
    many = zip_of(*((f"f{n}.txt", b"x\n") for n in range(settings.import_max_files + 1)))
    response = await import_archive(client, "many.zip", many)
    assert response.status_code == 413 and "members" in response.json()["detail"]
    # One member inflating far past the file size cap is cut off there and skipped.
    big = zip_of(("big.txt", b"y" * (50 * settings.max_file_bytes)), ("ok.txt", b"ok\n"))
    assert len(big) < 100_000
    response = await import_archive(client, "big.zip", big)
    assert response.status_code == 201, response.text
    reason = f"over {settings.max_file_bytes} bytes"
    assert response.json()["skipped"] == [{"path": "big.txt", "reason": reason}]


async def test_another_users_project_cannot_be_exported(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient
) -> None:
    project, _ = await project_with_files(client)
    response = await other_client.get(f"/projects/{project}/export")
    assert response.status_code == 404 and response.json()["error"] == "not_found"
    response = await client.get(f"/projects/{project}/export", params={"version_id": "0" * 40})
    assert response.status_code == 404
    response = await client.get(f"/projects/{project}/export", params={"format": "rar"})
    assert response.status_code == 422
