"""Hostile paths over REST: every one is 422 invalid_path, makes no version, and the project's
repository stays clean by `git fsck --strict`."""

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.hostile_paths import (
    ALL_HOSTILE,
    BAD_URL_PATHS,
    HOSTILE,
    fsck_strict,
    send_json,
    url_quote,
    versions,
)


@pytest.fixture
async def project(client: httpx.AsyncClient) -> str:
    created = await client.post("/projects", json={"name": "hostile"})
    project_id = created.json()["id"]
    written = await client.put(f"/projects/{project_id}/files/src/ok.py", json={"content": "1\n"})
    assert written.status_code == 200
    return project_id


def refused_as_invalid_path(response: httpx.Response) -> str:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_path", body
    assert body["detail"]
    return body["detail"]


@pytest.mark.parametrize("kind", sorted(HOSTILE))
async def test_every_member_of_every_class_is_refused_on_every_route(
    client: httpx.AsyncClient, project: str, kind: str
) -> None:
    before = await versions(client, project)
    base = f"/projects/{project}/files"
    for path in HOSTILE[kind]:
        url = f"{base}/{url_quote(path)}"
        refused_as_invalid_path(await send_json(client, "PUT", url, {"content": "x"}))
        refused_as_invalid_path(await client.get(url))
        refused_as_invalid_path(await client.delete(url))
        refused_as_invalid_path(await client.get(f"{url}/versions"))
        renamed = await send_json(
            client, "POST", f"{base}:rename", {"from": "src/ok.py", "to": path}
        )
        refused_as_invalid_path(renamed)
        back = await send_json(client, "POST", f"{base}:rename", {"from": path, "to": "b.py"})
        refused_as_invalid_path(back)
    assert await versions(client, project) == before, "a refused write made a version"
    assert (await client.get(f"{base}/src/ok.py")).json()["content"] == "1\n"


@pytest.mark.parametrize("raw", BAD_URL_PATHS)
async def test_a_url_that_is_not_utf8_is_refused_not_repaired(
    client: httpx.AsyncClient, project: str, raw: str
) -> None:
    before = await versions(client, project)
    url = f"/projects/{project}/files/{raw}"
    for response in (
        await send_json(client, "PUT", url, {"content": "x"}),
        await client.get(url),
        await client.delete(url),
        await client.get(f"{url}/versions"),
    ):
        assert "not valid UTF-8" in refused_as_invalid_path(response)
    assert await versions(client, project) == before


async def test_two_urls_never_name_one_file(client: httpx.AsyncClient, project: str) -> None:
    base = f"/projects/{project}/files"
    for raw in ("x%FF.py", "x%FE.py", "x%EF%BF%BD.py"):  # the last is U+FFFD itself
        refused_as_invalid_path(await send_json(client, "PUT", f"{base}/{raw}", {"content": "x"}))
    tree = (await client.get(base)).json()["items"]
    assert sorted(item["path"] for item in tree) == ["main.py", "src/ok.py"]


@pytest.mark.parametrize(
    "main_file", ["GIT~1/x.py", ".gitmodules", "aux.py", "a\u202eb.py", "nul\x00.py", "\ud800"]
)
async def test_a_main_file_is_held_to_the_same_rule(
    client: httpx.AsyncClient, project: str, main_file: str
) -> None:
    created = await send_json(client, "POST", "/projects", {"name": "p", "main_file": main_file})
    refused_as_invalid_path(created)
    patched = await send_json(client, "PATCH", f"/projects/{project}", {"main_file": main_file})
    assert patched.status_code == 422, patched.text
    if main_file not in ("nul\x00.py", "\ud800"):  # PATCH's schema refuses these itself
        refused_as_invalid_path(patched)


@pytest.mark.parametrize("message", ["nul\x00byte", "lone \ud800 surrogate"])
async def test_a_commit_message_git_cannot_store_is_refused(
    client: httpx.AsyncClient, project: str, message: str
) -> None:
    before = await versions(client, project)
    url = f"/projects/{project}/files/m.py"
    written = await send_json(client, "PUT", url, {"content": "x", "message": message})
    assert written.status_code == 422, written.text
    assert written.json()["error"] == "validation_error"  # the body's schema refuses it first
    assert await versions(client, project) == before


async def test_gitattributes_git_cannot_parse_is_refused(
    client: httpx.AsyncClient, project: str
) -> None:
    url = f"/projects/{project}/files/.gitattributes"
    long_line = "*.py diff=python " + "x" * 2100 + "\n"
    assert "2048" in refused_as_invalid_path(await client.put(url, json={"content": long_line}))
    assert (await client.put(url, json={"content": "*.py text eol=lf\n"})).status_code == 200


async def test_a_hostile_batch_leaves_the_repository_clean(
    client: httpx.AsyncClient, project: str, settings: Any
) -> None:
    before = await versions(client, project)
    base = f"/projects/{project}/files"
    for path in ALL_HOSTILE:
        await send_json(client, "PUT", f"{base}/{url_quote(path)}", {"content": "x\n"})
        await send_json(client, "POST", f"{base}:rename", {"from": "src/ok.py", "to": path})
    for raw in BAD_URL_PATHS:
        await send_json(client, "PUT", f"{base}/{raw}", {"content": "x\n"})
    assert await versions(client, project) == before
    fsck_strict(Path(settings.projects_dir) / project)
