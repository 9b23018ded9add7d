"""The workspace overview: a user's projects with their sessions, last activity and
attachment counts; renaming a project; nothing of another user's shows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from tests.attachments.conftest import upload
from vibeforge.llm.stub import Script, StubLLMServer


def stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_projects_list_their_sessions_activity_and_attachments(
    client: httpx.AsyncClient,
    other_client: httpx.AsyncClient,
    stub: StubLLMServer,
    stub_model: dict[str, Any],
) -> None:
    quiet = (await client.post("/projects", json={"name": "quiet"})).json()
    busy = (await client.post("/projects", json={"name": "busy"})).json()
    await other_client.post("/projects", json={"name": "not mine"})
    session = (await client.post(f"/projects/{busy['id']}/sessions", json={})).json()
    node = (await client.post(f"/projects/{busy['id']}/sessions", json={"node_id": "a.py"})).json()
    await upload(client, "one.txt", b"1\n", session_id=session["session_id"])
    await upload(client, "two.txt", b"2\n", project_id=busy["id"])
    stub.script(Script(chunks=("ok",)))
    answer = await client.post(
        f"/sessions/{session['session_id']}/messages",
        json={"prompt": "hi", "mode": "chat", "wait_for_attachments": True},
    )
    assert answer.status_code == 200, answer.text

    listed = (await client.get("/projects")).json()["items"]
    assert [item["name"] for item in listed] == ["busy", "quiet"], "newest first, mine only"
    first, second = listed
    assert first["attachments"] == 2 and second["attachments"] == 0
    ids = [item["session_id"] for item in first["sessions"]]
    assert ids == [session["session_id"], node["session_id"]] and second["sessions"] == []
    assert first["sessions"][1]["node_id"] == "a.py"
    assert stamp(first["last_activity_at"]) > stamp(first["updated_at"]), "the messages count"
    assert stamp(second["last_activity_at"]) == stamp(quiet["updated_at"])


async def test_a_project_is_renamed(client: httpx.AsyncClient) -> None:
    project = (await client.post("/projects", json={"name": "old name"})).json()
    renamed = await client.patch(f"/projects/{project['id']}", json={"name": "  new name "})
    assert renamed.status_code == 200 and renamed.json()["name"] == "new name"
    assert (await client.get("/projects")).json()["items"][0]["name"] == "new name"
    blank = await client.patch(f"/projects/{project['id']}", json={"name": "   "})
    assert blank.status_code == 422
