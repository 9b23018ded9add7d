"""Cancelling the pipeline, usage summed over iterations, traces, tools and context."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import httpx

from tests.agents.conftest import APP_PY, calls_of, make_project, sr, verdict
from vibeforge.llm.stub import Script, ScriptedToolCall, StubLLMServer

BROKEN = "def welcome(name:\n"


def costing(script: Script, prompt: int, completion: int, cost: float) -> Script:
    """A script reporting fixed usage, as a provider would."""
    usage = {"prompt_tokens": prompt, "completion_tokens": completion, "cost": cost}
    return dataclasses.replace(script, usage=usage)


async def test_cancel_during_the_fixer_keeps_the_calls_and_the_trace(
    app, client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    project = await make_project(client, stub)
    slow_fix = Script(chunks=tuple(f"word{i} " for i in range(50)), chunk_delay=0.1)
    stub.script(sr("app.py", "def greet(name):\n", BROKEN), slow_fix)
    started = await project.say("rename greet to welcome", wait="false")
    run_id, message_id = started.json()["run_id"], started.json()["message_id"]
    await stub.wait_for(lambda: len(stub.requests) == 2)
    # The stub notifies per request, not per chunk: poll for the fixer's first words.
    while stub.requests[1].chunks_sent < 2:  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    cancelled = await client.post(f"/runs/{run_id}/cancel")
    assert cancelled.json() == {"run_id": run_id, "status": "cancelled", "cancelled": True}
    assert stub.requests[1].client_disconnected_at is not None
    messages = (await client.get(f"/sessions/{project.session_id}/messages")).json()["items"]
    assert messages[-1]["status"] == "cancelled"
    assert "word0" in messages[-1]["content"]  # the partial fixer text the client saw
    calls = await calls_of(client, message_id)
    assert [(c["role"], c["status"]) for c in calls] == [
        ("coder", "success"),
        ("fixer", "cancelled"),
    ]
    trace = (await client.get(f"/traces/{started.json()['trace_id']}")).json()
    status = {span["name"]: span["status"] for span in trace["spans"]}
    assert status["run"] == status["fix"] == status["llm.fixer"] == "cancelled"
    assert status["llm.coder"] == "ok"
    usage = (await client.get("/usage")).json()
    assert usage["runs"][0]["status"] == "cancelled"
    assert usage["runs"][0]["fix_iterations"] == 1
    assert await project.read("app.py") == APP_PY
    assert (await client.get(f"/runs/{run_id}")).json()["status"] == "cancelled"


async def test_usage_is_summed_over_every_call_and_grouped(
    client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    project = await make_project(client, stub)
    stub.script(
        costing(sr("app.py", "def greet(name):\n", BROKEN), 100, 10, 0.001),
        costing(sr("app.py", BROKEN, "def welcome(name):\n"), 200, 20, 0.002),
        costing(verdict(True), 50, 5, 0.0005),
    )
    outcome = (await project.say("rename greet to welcome")).json()
    assert outcome["status"] == "success", outcome
    usage = outcome["token_usage"]
    assert usage["prompt_tokens"] == 350 and usage["completion_tokens"] == 35
    assert usage["total_tokens"] == 385 and usage["calls"] == 3
    assert abs(usage["cost_usd"] - 0.0035) < 1e-12
    messages = (await client.get(f"/sessions/{project.session_id}/messages")).json()["items"]
    assert messages[-1]["token_usage"] == usage
    by_role = (await client.get("/usage", params={"group_by": "role"})).json()
    groups = {
        g["key"]: (g["calls"], g["prompt_tokens"], g["completion_tokens"])
        for g in by_role["groups"]
    }
    assert groups == {"coder": (1, 100, 10), "fixer": (1, 200, 20), "evaluator": (1, 50, 5)}
    assert by_role["total"]["total_tokens"] == 385
    assert by_role["counters"] == {
        "runs": 1,
        "malformed_edits": 0,
        "fix_iterations": 1,
        "eval_rejections": 0,
    }
    by_model = (
        await client.get("/usage", params={"group_by": "model", "project_id": project.id})
    ).json()
    assert [g["key"] for g in by_model["groups"]] == ["openai-compatible:stub-model"]
    by_day = (await client.get("/usage", params={"group_by": "day"})).json()
    assert len(by_day["groups"]) == 1 and by_day["groups"][0]["calls"] == 3
    later = (await client.get("/usage", params={"from": "2999-01-01T00:00:00Z"})).json()
    assert later["total"]["calls"] == 0 and later["counters"]["runs"] == 0
    bad = await client.get("/usage", params={"group_by": "week"})
    assert bad.status_code == 422 and bad.json()["error"]


async def test_the_trace_holds_every_span_with_its_parent(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    project = await make_project(client, stub)
    read = ScriptedToolCall("read_file", json.dumps({"path": "app.py"}), id="call_1")
    stub.script(
        Script(chunks=(), tool_calls=(read,)),
        sr("app.py", "def greet(name):\n", BROKEN),
        sr("app.py", BROKEN, "def welcome(name):\n"),
        verdict(True),
    )
    outcome = (await project.say("rename greet to welcome")).json()
    assert outcome["status"] == "success", outcome
    # The tool's answer reached the coder's next request.
    tool_turn = stub.requests[1].body["messages"][-1]
    assert tool_turn["role"] == "tool" and tool_turn["content"] == APP_PY
    assert stub.requests[0].body["tools"][0]["function"]["name"] == "list_files"
    trace = (await client.get(f"/traces/{outcome['trace_id']}")).json()
    spans = trace["spans"]
    by_id = {span["id"]: span for span in spans}
    names = [span["name"] for span in spans]
    assert names == [
        "run",
        "resolve_prompt",
        "generate",
        "llm.coder",
        "tool.read_file",
        "llm.coder",
        "validate",
        "edit.apply",
        "validate.py",
        "fix",
        "llm.fixer",
        "validate",
        "edit.apply",
        "validate.py",
        "evaluate",
        "llm.evaluator",
        "apply",
        "proposal.apply",
    ]
    parent = {span["name"]: by_id[span["parent_id"]]["name"] for span in spans if span["parent_id"]}
    assert parent["llm.fixer"] == "fix" and parent["tool.read_file"] == "generate"
    assert parent["generate"] == "run" and parent["proposal.apply"] == "apply"
    assert all(span["duration_ms"] is not None and span["duration_ms"] >= 0 for span in spans)
    failing = [s for s in spans if s["name"] == "validate.py" and s["status"] == "error"]
    assert "SyntaxError" in failing[0]["attributes"]["problems"][0]
    coder = next(s for s in spans if s["name"] == "llm.coder")
    assert coder["attributes"]["role"] == "coder" and coder["attributes"]["llm_call_id"]
    assert trace["run_id"] == outcome["run_id"]
    assert (await other_client.get(f"/traces/{outcome['trace_id']}")).status_code == 404
    assert (await client.get("/traces/nope")).status_code == 404


async def test_a_node_session_sees_its_file_and_a_global_one_the_repo_map(
    client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    big = {f"pkg/mod{i}.py": f"def f{i}(x):\n    return x\n" + "#" * 2000 + "\n" for i in range(15)}
    project = await make_project(client, stub, files={"app.py": APP_PY, **big})
    stub.script(Script(chunks=("What should change?",)))
    await project.say("tidy up app.py")
    coder_turn = stub.requests[-1].body["messages"][0]["content"]
    assert "pkg/mod3.py: def f3(x)" in coder_turn  # the map
    assert "app.py: def greet(name), def add(a, b)" in coder_turn
    assert "app.py\n```python\n" + APP_PY in coder_turn  # named in the request: shown
    assert "pkg/mod3.py\n```" not in coder_turn  # not named, too big to show: map only
    node = await client.post(f"/projects/{project.id}/sessions", json={"node_id": "app.py::add"})
    stub.script(Script(chunks=("What should change?",)))
    answer = await client.post(
        f"/sessions/{node.json()['session_id']}/messages", json={"prompt": "tidy", "model": "stub"}
    )
    assert answer.json()["status"] == "needs_input"
    coder_turn = stub.requests[-1].body["messages"][0]["content"]
    assert "Repository map" not in coder_turn
    assert "app.py\n```python\n" + APP_PY in coder_turn
    assert "The user is working on `add` in app.py." in coder_turn


async def test_ask_prefix_is_plain_chat(client: httpx.AsyncClient, stub: StubLLMServer) -> None:
    project = await make_project(client, stub)
    stub.script(Script(chunks=("It greets.",)))
    outcome = (await project.say("/ask what does greet do?")).json()
    assert outcome["status"] == "success" and outcome["content"] == "It greets."
    assert outcome["proposal_id"] is None
    assert stub.requests[0].body["messages"][-1]["content"] == "what does greet do?"
