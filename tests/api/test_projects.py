"""Projects: create, list, read, delete — each scoped to its owner."""

from datetime import datetime, timedelta

import httpx
import pytest


async def test_create_project_returns_it_with_current_code(client: httpx.AsyncClient) -> None:
    response = await client.post("/projects", json={"name": "demo", "description": "d"})
    assert response.status_code == 201
    project = response.json()
    assert project["name"] == "demo"
    assert project["description"] == "d"
    assert project["main_file"] == "main.py"
    assert project["current_code"] == ""
    created = datetime.fromisoformat(project["created_at"].replace("Z", "+00:00"))
    assert created.utcoffset() == timedelta(0), "timestamps are UTC"

    await client.put(f"/projects/{project['id']}/files/main.py", json={"content": "x = 1\n"})
    fetched = (await client.get(f"/projects/{project['id']}")).json()
    assert fetched["current_code"] == "x = 1\n"
    assert fetched["updated_at"] >= project["updated_at"]


async def test_custom_main_file(client: httpx.AsyncClient) -> None:
    project = (
        await client.post("/projects", json={"name": "p", "main_file": "./src//app.py"})
    ).json()
    assert project["main_file"] == "src/app.py"
    files = (await client.get(f"/projects/{project['id']}/files")).json()
    assert [item["path"] for item in files["items"]] == ["src/app.py"]


async def test_list_is_newest_first_and_paginated(client: httpx.AsyncClient) -> None:
    ids = [(await client.post("/projects", json={"name": f"p{i}"})).json()["id"] for i in range(5)]
    first = (await client.get("/projects", params={"limit": 2})).json()
    assert [item["id"] for item in first["items"]] == ids[::-1][:2]
    seen = [item["id"] for item in first["items"]]
    cursor = first["next"]
    while cursor:
        page = (await client.get("/projects", params={"limit": 2, "cursor": cursor})).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next"]
    assert seen == ids[::-1]


async def test_another_users_project_is_not_found(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient
) -> None:
    project = (await client.post("/projects", json={"name": "private"})).json()
    pid = project["id"]
    assert (await other_client.get("/projects")).json()["items"] == []
    for method, path, body in [
        ("GET", f"/projects/{pid}", None),
        ("DELETE", f"/projects/{pid}", None),
        ("GET", f"/projects/{pid}/files", None),
        ("GET", f"/projects/{pid}/files/main.py", None),
        ("PUT", f"/projects/{pid}/files/main.py", {"content": "pwned"}),
        ("GET", f"/projects/{pid}/versions", None),
        ("POST", f"/projects/{pid}/revert", {"version_id": "a" * 40}),
    ]:
        response = await other_client.request(method, path, json=body)
        assert response.status_code == 404, (method, path)
        assert response.json()["error"] == "not_found"
    assert (await client.get(f"/projects/{pid}")).json()["current_code"] == ""


async def test_delete_removes_row_and_repository(app: object, client: httpx.AsyncClient) -> None:
    project = (await client.post("/projects", json={"name": "gone"})).json()
    repo_dir = app.state.services.settings.projects_dir / project["id"]  # type: ignore[attr-defined]
    assert repo_dir.is_dir()
    assert (await client.delete(f"/projects/{project['id']}")).status_code == 204
    assert not repo_dir.exists()
    assert (await client.get(f"/projects/{project['id']}")).status_code == 404
    assert (await client.delete(f"/projects/{project['id']}")).status_code == 404


async def test_interrupted_delete_is_finished_at_start_up(
    app: object, client: httpx.AsyncClient
) -> None:
    from vibeforge.db.tables import Project

    services = app.state.services  # type: ignore[attr-defined]
    project = (await client.post("/projects", json={"name": "half"})).json()
    # A crash after the row was marked, before the repository went.
    async with services.db.transaction() as session:
        (await session.get(Project, project["id"])).state = "deleting"
    assert (await client.get(f"/projects/{project['id']}")).status_code == 404
    await services.projects.reconcile()
    assert not (services.settings.projects_dir / project["id"]).exists()
    async with services.db.transaction() as session:
        assert await session.get(Project, project["id"]) is None


async def test_orphan_repository_is_removed_at_start_up(
    app: object, client: httpx.AsyncClient
) -> None:
    import os

    services = app.state.services  # type: ignore[attr-defined]
    kept = (await client.post("/projects", json={"name": "kept"})).json()
    orphan = services.settings.projects_dir / "crashed-before-its-row-committed"
    orphan.mkdir(parents=True)
    os.utime(orphan, (0, 0))
    await services.projects.reconcile()
    assert not orphan.exists()
    assert (services.settings.projects_dir / kept["id"]).is_dir()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "   "},
        {"name": 5},
        {"name": "x" * 201},
        {"name": "ok", "main_file": "../escape.py"},
        {"name": "ok", "main_file": ".git/config"},
        {"name": "ok", "unknown": 1},
    ],
)
async def test_invalid_project_bodies_are_422(client: httpx.AsyncClient, body: dict) -> None:
    response = await client.post("/projects", json=body)
    assert response.status_code == 422, response.text
    assert set(response.json()) == {"error", "detail"}
