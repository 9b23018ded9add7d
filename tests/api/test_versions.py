"""Versions: listed newest first, diffed, reverted without rewriting history."""

import httpx
import pytest


@pytest.fixture
async def project(client: httpx.AsyncClient) -> str:
    return (await client.post("/projects", json={"name": "history"})).json()["id"]


async def _write(client: httpx.AsyncClient, project: str, path: str, content: str) -> str:
    response = await client.put(f"/projects/{project}/files/{path}", json={"content": content})
    assert response.status_code == 200, response.text
    return response.json()["version_id"]


async def test_versions_newest_first_with_pagination(
    client: httpx.AsyncClient, project: str
) -> None:
    written = [await _write(client, project, "main.py", f"v = {i}\n") for i in range(4)]
    everything = (await client.get(f"/projects/{project}/versions")).json()
    ids = [item["id"] for item in everything["items"]]
    assert ids[:4] == written[::-1]
    assert everything["items"][-1]["message"] == "Create project"
    assert everything["next"] is None

    page = (await client.get(f"/projects/{project}/versions", params={"limit": 2})).json()
    collected = [item["id"] for item in page["items"]]
    while page["next"]:
        page = (
            await client.get(
                f"/projects/{project}/versions", params={"limit": 2, "cursor": page["next"]}
            )
        ).json()
        collected += [item["id"] for item in page["items"]]
    assert collected == ids


async def test_file_versions_only_list_changes_to_that_file(
    client: httpx.AsyncClient, project: str
) -> None:
    first = await _write(client, project, "a.py", "1")
    await _write(client, project, "b.py", "1")
    second = await _write(client, project, "a.py", "2")
    history = (await client.get(f"/projects/{project}/files/a.py/versions")).json()
    assert [item["id"] for item in history["items"]] == [second, first]


async def test_diff_against_parent_and_against_a_chosen_version(
    client: httpx.AsyncClient, project: str
) -> None:
    one = await _write(client, project, "main.py", "a = 1\nb = 2\n")
    two = await _write(client, project, "main.py", "a = 1\nb = 3\n")
    diff = (await client.get(f"/projects/{project}/versions/{two}/diff")).json()
    assert diff["against"] == one
    assert "-b = 2\n+b = 3\n" in diff["diff"]
    assert "--- a/main.py\n+++ b/main.py\n" in diff["diff"]

    versions = (await client.get(f"/projects/{project}/versions")).json()["items"]
    root = versions[-1]["id"]
    wide = (
        await client.get(f"/projects/{project}/versions/{two}/diff", params={"against": root})
    ).json()
    assert "+a = 1\n+b = 3\n" in wide["diff"]

    first_diff = (await client.get(f"/projects/{project}/versions/{root}/diff")).json()
    assert first_diff["against"] is None
    assert "main.py" in first_diff["diff"]


async def test_revert_adds_a_version_restoring_the_old_tree(
    client: httpx.AsyncClient, project: str
) -> None:
    one = await _write(client, project, "main.py", "original\n")
    await _write(client, project, "main.py", "changed\n")
    await _write(client, project, "extra.py", "new file\n")
    before = [
        item["id"] for item in (await client.get(f"/projects/{project}/versions")).json()["items"]
    ]

    reverted = await client.post(f"/projects/{project}/revert", json={"version_id": one})
    assert reverted.status_code == 200
    new = reverted.json()["version_id"]
    after = [
        item["id"] for item in (await client.get(f"/projects/{project}/versions")).json()["items"]
    ]
    assert after == [new, *before], "history is kept, the revert is a new version on top"
    assert (await client.get(f"/projects/{project}/files/main.py")).json()[
        "content"
    ] == "original\n"
    assert (await client.get(f"/projects/{project}/files/extra.py")).status_code == 404
    assert (await client.get(f"/projects/{project}")).json()["current_code"] == "original\n"


@pytest.mark.parametrize("version", ["f" * 40, "not-a-sha", "HEAD", "main", "0" * 40])
async def test_unknown_versions_are_404(
    client: httpx.AsyncClient, project: str, version: str
) -> None:
    assert (await client.get(f"/projects/{project}/versions/{version}/diff")).status_code == 404
    response = await client.post(f"/projects/{project}/revert", json={"version_id": version})
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


async def test_a_version_of_another_project_is_not_found(
    client: httpx.AsyncClient, project: str
) -> None:
    other = (await client.post("/projects", json={"name": "other"})).json()["id"]
    foreign = await _write(client, other, "main.py", "foreign\n")
    response = await client.post(f"/projects/{project}/revert", json={"version_id": foreign})
    assert response.status_code == 404


async def test_bad_cursor_is_422(client: httpx.AsyncClient, project: str) -> None:
    for cursor in ["@@@", "bm90IGpzb24", "WyJhIiwiYiJd"]:
        response = await client.get(f"/projects/{project}/versions", params={"cursor": cursor})
        assert response.status_code == 422, cursor
    for limit in [0, 501, "x"]:
        response = await client.get(f"/projects/{project}/versions", params={"limit": limit})
        assert response.status_code == 422


async def test_concurrent_writes_all_land(client: httpx.AsyncClient, project: str) -> None:
    import asyncio

    results = await asyncio.gather(*(_write(client, project, f"f{i}.py", str(i)) for i in range(8)))
    assert len(set(results)) == 8
    tree = (await client.get(f"/projects/{project}/files")).json()["items"]
    assert {item["path"] for item in tree} >= {f"f{i}.py" for i in range(8)}
