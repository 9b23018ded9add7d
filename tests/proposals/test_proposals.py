"""Proposals that wait for a human: accept, reject, a stale base merged or in conflict."""

from __future__ import annotations

import dataclasses

import httpx

from tests.agents.conftest import APP_PY, drain, follow_project, make_project, sr, verdict
from vibeforge.llm.stub import StubLLMServer
from vibeforge.proposals.merge import merge_text

WELCOME = APP_PY.replace("def greet", "def welcome")


async def pending(client: httpx.AsyncClient, stub: StubLLMServer):  # type: ignore[no-untyped-def]
    """A project whose session does not auto-apply, with one pending rename proposal."""
    project = await make_project(client, stub)
    off = await client.put(f"/sessions/{project.session_id}/auto_apply", json={"auto_apply": False})
    assert off.status_code == 204, off.text
    stub.script(sr("app.py", "def greet(name):\n", "def welcome(name):\n"), verdict(True))
    outcome = (await project.say("rename greet to welcome")).json()
    assert outcome["status"] == "success", outcome
    assert outcome["proposal_status"] == "pending"
    assert outcome["version_id"] is None
    assert "+def welcome(name):" in outcome["diff"]
    assert await project.read("app.py") == APP_PY
    return project, outcome["proposal_id"]


async def test_a_pending_proposal_is_committed_on_accept(
    app, client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    project, proposal_id = await pending(client, stub)
    events = follow_project(app, project.id)
    accepted = await client.post(f"/proposals/{proposal_id}/accept")
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert body["status"] == "applied" and body["merged"] is False
    assert await project.read("app.py") == WELCOME
    assert [e.type for e in drain(events)] == ["proposal", "code_changed"]
    again = await client.post(f"/proposals/{proposal_id}/accept")
    assert again.status_code == 409
    assert again.json()["error"] == "conflict"


async def test_a_rejected_proposal_changes_nothing(
    client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    project, proposal_id = await pending(client, stub)
    rejected = await client.post(f"/proposals/{proposal_id}/reject")
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert (await client.post(f"/proposals/{proposal_id}/accept")).status_code == 409
    assert await project.read("app.py") == APP_PY


async def test_a_stale_base_is_merged_three_way(
    client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    project, proposal_id = await pending(client, stub)
    await project.write("app.py", APP_PY.replace("return a + b", "return b + a"))
    accepted = await client.post(f"/proposals/{proposal_id}/accept")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["merged"] is True
    assert await project.read("app.py") == WELCOME.replace("return a + b", "return b + a")


async def test_a_stale_base_that_overlaps_is_a_conflict_and_nothing_is_written(
    client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    project, proposal_id = await pending(client, stub)
    mine = APP_PY.replace("def greet", "def salute")
    await project.write("app.py", mine)
    accepted = await client.post(f"/proposals/{proposal_id}/accept")
    assert accepted.status_code == 409
    assert "app.py" in accepted.json()["detail"]
    assert (await client.get(f"/proposals/{proposal_id}")).json()["status"] == "conflict"
    assert await project.read("app.py") == mine


async def test_auto_apply_merges_when_the_head_moved_during_the_run(
    app, client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    project = await make_project(client, stub)
    moved = APP_PY.replace("return a + b", "return b + a")
    # The evaluator is slow: the user commits meanwhile, so the run's base is stale.
    stub.script(
        sr("app.py", "def greet(name):\n", "def welcome(name):\n"),
        dataclasses.replace(verdict(True), first_byte_delay=0.3),
    )
    started = await project.say("rename greet to welcome", wait="false")
    assert started.status_code == 202
    await stub.wait_for(lambda: len(stub.requests) == 2)
    await project.write("app.py", moved)
    runs = app.state.services.runs
    active = runs.active(started.json()["run_id"])
    if active is not None:
        await runs.wait(active)
    messages = (await client.get(f"/sessions/{project.session_id}/messages")).json()["items"]
    assert messages[-1]["status"] == "success", messages[-1]
    assert await project.read("app.py") == WELCOME.replace("return a + b", "return b + a")
    # The message's diff is what landed on the newer head: only the rename.
    assert "+def welcome(name):" in messages[-1]["diff"]
    assert "b + a" not in messages[-1]["diff"].replace(" return b + a", "")


async def test_another_users_proposal_is_not_found(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    _, proposal_id = await pending(client, stub)
    for request in (
        other_client.get(f"/proposals/{proposal_id}"),
        other_client.post(f"/proposals/{proposal_id}/accept"),
        other_client.post(f"/proposals/{proposal_id}/reject"),
    ):
        answer = await request
        assert answer.status_code == 404
        assert answer.json()["error"] == "not_found"


async def test_project_auto_apply_off_leaves_proposals_pending(
    client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    project = await make_project(client, stub)
    off = await client.put(f"/projects/{project.id}/auto_apply", json={"auto_apply": False})
    assert off.status_code == 204
    stub.script(sr("app.py", "def greet(name):\n", "def welcome(name):\n"), verdict(True))
    outcome = (await project.say("rename greet to welcome")).json()
    assert outcome["proposal_status"] == "pending"
    bad = await client.put(f"/projects/{project.id}/auto_apply", json={"auto_apply": "maybe"})
    assert bad.status_code == 422 and "error" in bad.json()


def test_merge_text_is_clean_for_separate_changes_and_refuses_overlaps() -> None:
    base = "a\nb\nc\nd\ne\n"
    merged, clean = merge_text(base, "A\nb\nc\nd\ne\n", "a\nb\nc\nd\nE\n")
    assert clean and merged == "A\nb\nc\nd\nE\n"
    _, clean = merge_text(base, "X\nb\nc\nd\ne\n", "Y\nb\nc\nd\ne\n")
    assert not clean


async def test_pending_proposals_are_listed_by_status_and_only_to_their_owner(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    project, proposal_id = await pending(client, stub)
    url = f"/projects/{project.id}/proposals"
    waiting = (await client.get(url, params={"status": "pending"})).json()
    assert [p["id"] for p in waiting["items"]] == [proposal_id] and waiting["next"] is None
    assert waiting["items"][0]["status"] == "pending"
    assert (await client.get(url, params={"status": "applied"})).json()["items"] == []
    await client.post(f"/proposals/{proposal_id}/reject")
    assert (await client.get(url, params={"status": "pending"})).json()["items"] == []
    everything = (await client.get(url, params={"limit": 1})).json()
    assert [p["status"] for p in everything["items"]] == ["rejected"]
    bad = await client.get(url, params={"status": "maybe"})
    assert bad.status_code == 422 and bad.json()["error"] == "validation_error"
    assert (await other_client.get(url)).status_code == 404


async def test_a_sessions_proposals_are_listed_by_session(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    project, proposal_id = await pending(client, stub)
    url = f"/sessions/{project.session_id}/proposals"
    waiting = (await client.get(url, params={"status": "pending"})).json()
    assert [p["id"] for p in waiting["items"]] == [proposal_id] and waiting["next"] is None
    assert waiting["items"][0]["session_id"] == project.session_id
    # Another session of the same project has none of them.
    other = await client.post(f"/projects/{project.id}/sessions", json={"node_id": "elsewhere"})
    assert other.status_code == 201, other.text
    elsewhere = f"/sessions/{other.json()['session_id']}/proposals"
    assert (await client.get(elsewhere)).json() == {"items": [], "next": None}
    await client.post(f"/proposals/{proposal_id}/reject")
    assert (await client.get(url, params={"status": "pending"})).json()["items"] == []
    assert [p["status"] for p in (await client.get(url)).json()["items"]] == ["rejected"]
    bad = await client.get(url, params={"status": "maybe"})
    assert bad.status_code == 422 and bad.json()["error"] == "validation_error"
    refused = await other_client.get(url)
    assert refused.status_code == 404 and refused.json()["error"] == "not_found"
    missing = await client.get("/sessions/no-such-session/proposals")
    assert missing.status_code == 404
