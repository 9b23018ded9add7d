"""Modules over REST: CRUD, checks on save, the ctx API, scripts tested in the sandbox."""

from __future__ import annotations

from typing import Any

import httpx

from tests.stubs import create_stub_model
from vibeforge.llm.stub import Script, StubLLMServer


async def make(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await client.post("/modules", json={"name": "tone", "content": "Be kind.", **fields})
    assert response.status_code == 201, response.text
    return response.json()


async def test_modules_are_created_listed_changed_and_deleted(client: httpx.AsyncClient) -> None:
    tone = await make(client, priority=3, trigger={"type": "keyword", "keys": ["hello"]})
    assert tone["trigger"] == {
        "type": "keyword",
        "keys": ["hello"],
        "match": "any",
        "case_sensitive": False,
        "whole_word": False,
    }
    assert (tone["stage"], tone["kind"], tone["scan_depth"], tone["limits"]["timeout_s"]) == (
        "before",
        "simple",
        2,
        5.0,
    )
    await make(client, name="memo", kind="script", stage="after", content="print(1)")
    names = lambda body: [m["name"] for m in body["items"]]  # noqa: E731
    assert names((await client.get("/modules")).json()) == ["memo", "tone"]
    assert names((await client.get("/modules?stage=after")).json()) == ["memo"]
    assert names((await client.get("/modules?kind=simple")).json()) == ["tone"]
    updated = await client.put(f"/modules/{tone['id']}", json={"token_budget": 50, "priority": 9})
    assert updated.status_code == 200
    assert (updated.json()["token_budget"], updated.json()["priority"]) == (50, 9)
    assert updated.json()["trigger"]["keys"] == ["hello"]
    assert (await client.put(f"/modules/{tone['id']}", json={"token_budget": None})).json()[
        "token_budget"
    ] is None
    assert (await client.delete(f"/modules/{tone['id']}")).status_code == 204
    assert (await client.get(f"/modules/{tone['id']}")).status_code == 404


async def test_modules_that_cannot_work_are_refused_on_save(client: httpx.AsyncClient) -> None:
    await make(client)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": "tone"}, "exists"),
        ({"name": "Tone"}, "name"),
        ({"name": "a" * 51}, "name"),
        ({"name": "x", "content": "bad @Ref"}, "'@Ref'"),
        ({"name": "x", "stage": "after"}, "must be a script"),
        ({"name": "x", "uses_model": True}, "script modules only"),
        ({"name": "x", "trigger": {"type": "regex", "pattern": "(a)\\1"}}, "RE2"),
        ({"name": "x", "trigger": {"type": "keyword", "keys": []}}, "keys"),
        ({"name": "x", "trigger": {"type": "keyword", "keys": ["  "]}}, "blank"),
        ({"name": "x", "trigger": {"type": "sometimes"}}, "trigger.type"),
        ({"name": "x", "scan_depth": 101}, "scan_depth"),
        ({"name": "x", "kind": "script", "limits": {"timeout_s": 1000}}, "timeout_s"),
        ({"name": "x", "kind": "script", "limits": {"memory_mb": 1}}, "memory_mb"),
    ]
    for body, words in cases:
        response = await client.post("/modules", json={"content": "", **body})
        assert response.status_code in (409, 422), (body, response.text)
        assert words in response.json()["detail"], (body, response.json())
    tone = (await client.get("/modules")).json()["items"][0]
    turned = await client.put(f"/modules/{tone['id']}", json={"stage": "after"})
    assert turned.status_code == 422, "an update must leave a module that holds together"


async def test_plugin_functions_describe_the_ctx_api(client: httpx.AsyncClient) -> None:
    described = (await client.get("/modules/plugin-functions")).json()
    functions = {f["name"]: f for f in described["functions"]}
    assert {"get_var", "set_var", "set_output", "messages", "ask_model"} <= set(functions)
    assert functions["ask_model"]["needs_uses_model"] is True
    assert (
        functions["messages"]["signature"]
        == "ctx.messages(n: int | None = None) -> list[dict[str, str]]"
    )
    assert described["max_model_calls"] == 8 and described["limits"]["memory_mb"] == 256


async def test_a_script_runs_in_the_sandbox_on_a_sample(client: httpx.AsyncClient) -> None:
    script = (
        "print('last:', ctx.messages(1)[0]['content'])\n"
        "ctx.set_var('count', ctx.get_var('count') + 1)\n"
        "ctx.set_output('shout', ctx.sample['word'].upper())\n"
    )
    sample = {
        "messages": [{"role": "user", "content": "héllo"}],
        "variables": {"count": 1},
        "data": {"word": "quiet"},
    }
    ran = await client.post("/modules/test-script", json={"script": script, "sample": sample})
    assert ran.status_code == 200, ran.text
    body = ran.json()
    assert body["ok"] and body["text"] == "last: héllo\n"
    assert (body["variables"], body["outputs"]) == ({"count": 2}, {"shout": "QUIET"})
    assert body["isolation"] == "bubblewrap" or body["isolation"]
    failed = (await client.post("/modules/test-script", json={"script": "import nope"})).json()
    assert not failed["ok"] and "ModuleNotFoundError" in failed["error"]
    slow = await client.post(
        "/modules/test-script", json={"script": "while True: pass", "limits": {"timeout_s": 0.5}}
    )
    assert slow.json()["killed_reason"] == "timeout"


async def test_a_test_script_may_ask_the_model_and_the_call_is_recorded(
    client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    await create_stub_model(client, stub)
    stub.script(Script(chunks=("four",), purpose="module"))
    body = {"script": "print(ctx.ask_model('2+2?'))", "uses_model": True}
    ran = (await client.post("/modules/test-script", json=body)).json()
    assert ran["ok"] and ran["text"] == "four\n" and ran["model_calls"] == 1
    assert stub.requests[-1].purpose == "module"
    usage = (await client.get("/usage", params={"group_by": "role"})).json()
    assert [g["key"] for g in usage["groups"]] == ["module"]
    refused = (await client.post("/modules/test-script", json={**body, "uses_model": False})).json()
    assert not refused["ok"] and "uses_model" in refused["error"]


async def test_another_users_modules_are_not_found(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient
) -> None:
    tone = await make(client)
    url = f"/modules/{tone['id']}"
    assert (await other_client.get(url)).status_code == 404
    assert (await other_client.put(url, json={"content": "mine"})).status_code == 404
    assert (await other_client.delete(url)).status_code == 404
    assert (await other_client.get("/modules")).json()["items"] == []
    assert (await other_client.post("/modules", json={"name": "tone"})).status_code == 201
    assert (await client.get(url)).json()["content"] == "Be kind."
