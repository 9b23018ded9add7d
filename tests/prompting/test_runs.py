"""Personas and modules in runs (REST, in-process app, stub LLM): the system prompt, the
persona's model and parameters, before- and post-response modules, state across turns."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.stubs import create_stub_model
from vibeforge.llm.stub import Script, StubLLMServer


async def module(client: httpx.AsyncClient, name: str, content: str, **fields: Any) -> dict:
    response = await client.post("/modules", json={"name": name, "content": content, **fields})
    assert response.status_code == 201, response.text
    return response.json()


async def persona(client: httpx.AsyncClient, name: str, template: str, **fields: Any) -> dict:
    response = await client.post("/personas", json={"name": name, "template": template, **fields})
    assert response.status_code == 201, response.text
    return response.json()


async def say(client: httpx.AsyncClient, session_id: str, prompt: str, **fields: Any) -> dict:
    body = {"prompt": prompt, "mode": "chat", **fields}
    response = await client.post(f"/sessions/{session_id}/messages", json=body, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def system_of(stub: StubLLMServer, purpose: str = "chat") -> str:
    request = next(r for r in reversed(stub.requests) if r.purpose == purpose)
    return str(request.body["messages"][0]["content"])


async def stages_of(client: httpx.AsyncClient, run_id: str) -> list[tuple[str, str]]:
    run = (await client.get(f"/runs/{run_id}")).json()
    return [(stage["name"], stage["status"]) for stage in run["stages"]]


async def test_the_persona_opens_the_system_prompt_in_place_of_the_agents_identity(
    client: httpx.AsyncClient, stub: StubLLMServer, stub_model: dict, session_id: str
) -> None:
    await module(client, "tone", "Answer in haiku.")
    ada = await persona(client, "Ada", "You are Ada, for ${user}. @tone")
    await client.put(f"/sessions/{session_id}/persona", json={"persona_id": ada["id"]})
    await say(client, session_id, "hello")
    system = system_of(stub)
    assert system.startswith("You are Ada, for admin@localhost. Answer in haiku.")
    assert "You are vibeforge" not in system
    assert "SEARCH/REPLACE" in system, "the chat agent keeps its instructions"

    stub.script(Script(chunks=("Which file do you mean?",), purpose="coder"))
    await say(client, session_id, "change it", mode="code")
    coder = system_of(stub, "coder")
    assert coder.startswith("You are Ada, for admin@localhost. Answer in haiku.")
    assert "You are the coder of vibeforge" not in coder
    assert "<<<<<<< SEARCH" in coder and "Make exactly the change" in coder, (
        "the coder is still told how to write edits"
    )


async def test_without_a_persona_the_prompts_are_as_before(
    client: httpx.AsyncClient, stub: StubLLMServer, stub_model: dict, session_id: str
) -> None:
    await say(client, session_id, "hello")
    assert system_of(stub).startswith(
        "You are vibeforge, a careful coding assistant working inside the user's project. "
        "Answer concisely. When you change code"
    )


async def test_message_session_and_project_name_the_persona_in_that_order(
    client: httpx.AsyncClient,
    stub: StubLLMServer,
    stub_model: dict,
    project_id: str,
    session_id: str,
) -> None:
    for name in ("Project", "Session", "Message"):
        await persona(client, name, f"I am {name}.")
    await client.put(f"/projects/{project_id}/persona", json={"persona_id": "Project"})
    await say(client, session_id, "1")
    assert system_of(stub).startswith("I am Project.")
    await client.put(f"/sessions/{session_id}/persona", json={"persona_id": "Session"})
    await say(client, session_id, "2")
    assert system_of(stub).startswith("I am Session.")
    await say(client, session_id, "3", persona_id="Message")
    assert system_of(stub).startswith("I am Message.")
    off = await persona(client, "Off", "I am off.", is_active=False)
    refused = await client.post(
        f"/sessions/{session_id}/messages", json={"prompt": "4", "persona_id": off["id"]}
    )
    assert refused.status_code == 422 and "not active" in refused.json()["detail"]
    missing = await client.post(
        f"/sessions/{session_id}/messages", json={"prompt": "5", "persona_id": "Nobody"}
    )
    assert missing.status_code == 404


async def test_the_personas_model_and_params_apply_under_the_messages(
    client: httpx.AsyncClient, stub: StubLLMServer, stub_model: dict, session_id: str
) -> None:
    await create_stub_model(client, stub, name="special", model="special-model", is_default=False)
    await persona(client, "P", "p", model="special", params={"temperature": 0.3, "seed": 7})
    await say(client, session_id, "hi", persona_id="P")
    body = stub.requests[-1].body
    assert (body["model"], body["temperature"], body["seed"]) == ("special-model", 0.3, 7)
    await say(client, session_id, "hi", persona_id="P", model="stub", params={"temperature": 1})
    body = stub.requests[-1].body
    assert (body["model"], body["temperature"], body["seed"]) == ("stub-model", 1, 7)


async def test_before_modules_run_as_stages_and_a_failure_is_reported_not_fatal(
    client: httpx.AsyncClient, stub: StubLLMServer, stub_model: dict, session_id: str
) -> None:
    await module(client, "mood", "print('calm', end='')\nctx.set_var('seen', 1)", kind="script")
    await module(client, "broken", "raise ValueError('no luck')", kind="script", priority=5)
    await persona(client, "P", "Mood: @mood. [@broken]")
    outcome = await say(client, session_id, "hi", persona_id="P")
    assert system_of(stub).startswith("Mood: calm. []")
    assert await stages_of(client, outcome["run_id"]) == [
        ("resolve_prompt", "finished"),
        ("module:broken", "failed"),
        ("module:mood", "finished"),
        ("generate", "finished"),
    ]
    run = (await client.get(f"/runs/{outcome['run_id']}")).json()
    broken = next(stage for stage in run["stages"] if stage["name"] == "module:broken")
    assert broken["error"] == "ValueError: no luck"
    state = (await client.get(f"/sessions/{session_id}/state")).json()
    assert state["variables"] == {"seen": 1}


async def test_a_required_module_that_fails_fails_the_run(
    client: httpx.AsyncClient, stub: StubLLMServer, stub_model: dict, session_id: str
) -> None:
    await module(client, "gate", "import sys; sys.exit(2)", kind="script", required=True)
    await persona(client, "P", "@gate")
    before = len(stub.requests)
    response = await client.post(
        f"/sessions/{session_id}/messages", json={"prompt": "hi", "persona_id": "P"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "module_failed" and "@gate" in response.json()["detail"]
    assert len(stub.requests) == before, "the model was never asked"


async def test_post_response_outputs_are_stored_and_read_by_the_next_turn(
    client: httpx.AsyncClient, stub: StubLLMServer, stub_model: dict, session_id: str
) -> None:
    summarise = (
        "ctx.set_output('topic', ctx.answer.split()[0])\n"
        "ctx.set_var('turns', ctx.get_var('turns', 0) + 1)\n"
        "ctx.set_output('seen', [m['role'] for m in ctx.messages()])\n"
    )
    await module(client, "memo", summarise, kind="script", stage="after")
    await module(client, "loud", "raise RuntimeError('nope')", kind="script", stage="after")
    await persona(client, "P", "Topic: ${topic:-none}. Turns: ${turns:-0}. @memo@loud")
    await client.put(f"/sessions/{session_id}/persona", json={"persona_id": "P"})
    stub.script(Script(chunks=("tea", " is good")), Script(chunks=("coffee",)))

    first = await say(client, session_id, "hi")
    assert system_of(stub).startswith("Topic: none. Turns: 0.")
    assert await stages_of(client, first["run_id"]) == [
        ("resolve_prompt", "finished"),
        ("generate", "finished"),
        ("post_response", "finished"),
        ("module:loud", "failed"),
        ("module:memo", "finished"),
    ]
    messages = (await client.get(f"/sessions/{session_id}/messages")).json()["items"]
    stored = messages[-1]["module_outputs"]
    assert stored["memo"]["ok"] and stored["memo"]["outputs"] == {
        "topic": "tea",
        "seen": ["user", "assistant"],
    }
    assert not stored["loud"]["ok"] and stored["loud"]["error"] == "RuntimeError: nope"
    state = (await client.get(f"/sessions/{session_id}/state")).json()
    assert state["variables"] == {"turns": 1}
    assert state["outputs"] == {"topic": "tea", "seen": ["user", "assistant"]}

    await say(client, session_id, "more")
    assert system_of(stub).startswith("Topic: tea. Turns: 1.")
    state = (await client.get(f"/sessions/{session_id}/state")).json()
    assert (state["variables"], state["outputs"]["topic"]) == ({"turns": 2}, "coffee")

    assert (await client.delete(f"/sessions/{session_id}/memories")).status_code == 204
    await say(client, session_id, "again")
    assert system_of(stub).startswith("Topic: none. Turns: 0.")
    assert (await client.delete(f"/sessions/{session_id}")).status_code == 204
    state = (await client.get(f"/sessions/{session_id}/state")).json()
    assert (state["variables"], state["outputs"]) == ({}, {}), "a reset forgets the state too"


async def test_a_modules_model_calls_are_recorded_as_role_module(
    client: httpx.AsyncClient, stub: StubLLMServer, stub_model: dict, session_id: str
) -> None:
    ask = "print(ctx.ask_model('a word for calm?'), end='')"
    await module(client, "muse", ask, kind="script", uses_model=True, limits={"timeout_s": 20})
    await module(
        client,
        "recap",
        "ctx.set_output('r', ctx.ask_model('recap'))",
        kind="script",
        stage="after",
        uses_model=True,
        limits={"timeout_s": 20},
    )
    await persona(client, "P", "Mood: @muse @recap")
    stub.rule(Script(chunks=("serene",), purpose="module", prompt_contains="calm"))
    stub.rule(Script(chunks=("a recap",), purpose="module", prompt_contains="recap"))
    outcome = await say(client, session_id, "hi", persona_id="P")
    assert system_of(stub).startswith("Mood: serene")
    calls = (await client.get(f"/messages/{outcome['message_id']}/full")).json()["llm_calls"]
    assert [(c["role"], c["iteration"]) for c in calls] == [
        ("module", 1),
        ("chat", 0),
        ("module", 1),
    ]
    state = (await client.get(f"/sessions/{session_id}/state")).json()
    assert state["outputs"] == {"r": "a recap"}
    assert outcome["token_usage"]["calls"] == 2, "done counts the calls made before it"


@pytest.mark.parametrize("mode", ["chat", "code"])
async def test_runs_without_after_modules_end_as_before(
    client: httpx.AsyncClient, stub: StubLLMServer, stub_model: dict, session_id: str, mode: str
) -> None:
    await persona(client, "P", "plain")
    stub.script(Script(chunks=("Which one?",)))
    outcome = await say(client, session_id, "hi", persona_id="P", mode=mode)
    stages = [name for name, _ in await stages_of(client, outcome["run_id"])]
    assert "post_response" not in stages
    messages = (await client.get(f"/sessions/{session_id}/messages")).json()["items"]
    assert messages[-1]["module_outputs"] is None
