"""POST /templates/resolve: text, provenance, exclusions, session triggers, state routes."""

from __future__ import annotations

from typing import Any

import httpx


async def module(client: httpx.AsyncClient, name: str, content: str, **fields: Any) -> None:
    response = await client.post("/modules", json={"name": name, "content": content, **fields})
    assert response.status_code == 201, response.text


async def resolve(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await client.post("/templates/resolve", json=body)


async def test_a_template_resolves_with_spans_that_add_up(client: httpx.AsyncClient) -> None:
    await module(client, "greeting", "Hello ${name}, @tone")
    await module(client, "tone", "be brief.", priority=2)
    await module(client, "off", "never", is_active=False)
    response = await resolve(
        client, template="Sys: @greeting @off (${date}) \\@x", variables={"name": "Zoë"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["text"].startswith("Sys: Hello Zoë, be brief.  (20") and body["text"].endswith(
        ") @x"
    )
    position = 0
    for span in body["spans"]:
        assert span["start"] == position
        position = span["end"]
    assert position == len(body["text"]) and body["tokens"] == sum(
        s["tokens"] for s in body["spans"]
    )
    kinds = [(s["kind"], s["name"], s["source"]) for s in body["spans"]]
    assert ("variable", "name", "request") in kinds and ("variable", "date", "builtin") in kinds
    assert ("module", "tone", None) in kinds
    assert body["excluded"] == [
        {"module": "off", "reason": "inactive", "detail": "the module is not active", "path": []}
    ]
    assert body["included"] == ["greeting", "tone"] and not body["stable"]


async def test_unknown_references_are_errors_naming_them(client: httpx.AsyncClient) -> None:
    missing = await resolve(client, template="hi @nobody")
    assert missing.status_code == 422 and missing.json()["error"] == "invalid_template"
    assert "@nobody" in missing.json()["detail"]
    unknown = await resolve(client, template="hi ${mystery}")
    assert unknown.status_code == 422 and "${mystery}" in unknown.json()["detail"]
    no_session = await resolve(client, template="in ${project}")
    assert no_session.status_code == 422, "no session: no project to name"
    assert (await resolve(client, variables={"bad-name": 1}, template="x")).status_code == 422
    assert (await resolve(client)).status_code == 422


async def test_a_sessions_messages_feed_triggers_and_built_ins(
    client: httpx.AsyncClient, session_id: str
) -> None:
    said = await client.post(
        f"/sessions/{session_id}/messages", json={"prompt": "let us deploy", "mode": "chat"}
    )
    assert said.status_code == 200, said.text
    await module(
        client, "ops", "Deploy carefully.", trigger={"type": "keyword", "keys": ["deploy"]}
    )
    await module(client, "lore", "Dragons.", trigger={"type": "regex", "pattern": "dragons?"})
    body = (
        await resolve(client, template="@ops@lore for ${user} in ${project}", session_id=session_id)
    ).json()
    assert body["text"] == "Deploy carefully. for admin@localhost in runs"
    ops = next(s for s in body["spans"] if s["name"] == "ops")
    assert ops["trigger"] == "keyword: deploy"
    assert [(e["module"], e["reason"]) for e in body["excluded"]] == [("lore", "trigger")]


async def test_a_persona_template_and_budget_and_scripts(client: httpx.AsyncClient) -> None:
    await module(client, "core", "c" * 40, essential=True)
    await module(client, "extra", "e" * 40, priority=-1)
    await module(
        client, "clock", "print('tick', end='')\nctx.set_output('mood', 'calm')", kind="script"
    )
    persona = (
        await client.post(
            "/personas",
            json={"name": "P", "template": "@core|@extra|@clock ${mood}", "token_budget": 15},
        )
    ).json()
    body = (await resolve(client, persona_id=persona["id"])).json()
    assert body["text"] == "c" * 40 + "||tick calm"
    assert [(e["module"], e["reason"]) for e in body["excluded"]] == [("extra", "budget")]
    assert body["scripts"][0]["module"] == "clock" and body["scripts"][0]["ok"]
    mood = next(s for s in body["spans"] if s["name"] == "mood")
    assert mood["source"] == "output"
    not_run = (await resolve(client, template="[@clock]", run_scripts=False)).json()
    assert not_run["text"] == "[]" and not_run["excluded"][0]["reason"] == "not_run"
    wider = (await resolve(client, persona_id=persona["id"], budget_tokens=500)).json()
    assert wider["excluded"] == [] and "e" * 40 in wider["text"]


async def test_state_routes_and_other_users(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, session_id: str
) -> None:
    state = (await client.get(f"/sessions/{session_id}/state")).json()
    assert (state["variables"], state["outputs"], state["updated_at"]) == ({}, {}, None)
    assert (await client.delete(f"/sessions/{session_id}/memories")).status_code == 204
    assert (await other_client.get(f"/sessions/{session_id}/state")).status_code == 404
    assert (await other_client.delete(f"/sessions/{session_id}/memories")).status_code == 404
    assert (await resolve(other_client, template="x", session_id=session_id)).status_code == 404
    persona = (await client.post("/personas", json={"name": "P", "template": "x"})).json()
    assert (await resolve(other_client, persona_id=persona["id"])).status_code == 404
    await module(client, "mine", "secret text")
    theirs = await resolve(other_client, template="@mine")
    assert theirs.status_code == 422 and "secret" not in theirs.text
