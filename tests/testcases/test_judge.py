"""The LLM judge through the stub LLM: pass, fail, malformed (an error, never a pass), slow."""

from __future__ import annotations

import asyncio
import json

import httpx

from tests.stubs import create_stub_model, until
from tests.testcases.conftest import make_project, make_test, run
from vibeforge.llm.stub import Script, StubLLMServer

PROGRAM = "print('The capital of France is Paris.')\n"
EXPECTED = "names the capital of France"


def verdict(passed: bool, reason: str) -> Script:
    return Script(purpose="judge", chunks=(json.dumps({"pass": passed, "reason": reason}),))


async def test_the_judge_passes_a_run_with_a_quoting_reason(
    client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    await create_stub_model(client, stub)
    await create_stub_model(client, stub, name="judge-b", model="judge-model", is_default=False)
    stub.script(verdict(True, 'It printed "The capital of France is Paris."'))
    project_id = await make_project(client, {"main.py": PROGRAM})
    test = await make_test(client, project_id, expected_behavior=EXPECTED, judge_model="judge-b")
    (result,) = (await run(client, test["id"]))["runs"]
    assert result["status"] == "passed", result["reason"]
    assert result["reason"] == 'It printed "The capital of France is Paris."'
    assert result["verdict"]["attempts"] == 1
    assert result["judge_model"] == "openai-compatible:judge-model"
    (request,) = [r for r in stub.requests if r.purpose == "judge"]
    assert request.body["model"] == "judge-model"
    assert "The capital of France is Paris." in request.body["messages"][1]["content"]
    full = (await client.get(f"/test-runs/{result['id']}")).json()
    (call,) = full["calls"]
    assert (call["role"], call["status"]) == ("judge", "success")
    assert call["prompt_tokens"] > 0


async def test_the_judge_fails_a_run(client: httpx.AsyncClient, stub: StubLLMServer) -> None:
    await create_stub_model(client, stub)
    stub.script(verdict(False, "It said 'The capital of France is Paris.' but in English only"))
    project_id = await make_project(client, {"main.py": PROGRAM})
    test = await make_test(client, project_id, expected_behavior="answers in French")
    (result,) = (await run(client, test["id"]))["runs"]
    assert result["status"] == "failed"
    assert "in English only" in result["reason"]


async def test_an_unreadable_verdict_is_retried_once_then_an_error(
    client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    await create_stub_model(client, stub)
    stub.rule(Script(purpose="judge", chunks=("Looks good to me, it passes!",)))
    project_id = await make_project(client, {"main.py": PROGRAM})
    test = await make_test(client, project_id, expected_behavior=EXPECTED)
    (result,) = (await run(client, test["id"]))["runs"]
    assert result["status"] == "error"
    assert result["reason"].startswith("could not judge: the judge gave no usable verdict")
    assert result["verdict"]["pass"] is None
    judged = [r for r in stub.requests if r.purpose == "judge"]
    assert len(judged) == 2
    retry = judged[1].body["messages"]
    assert retry[-2] == {"role": "assistant", "content": "Looks good to me, it passes!"}
    assert "cannot be used" in retry[-1]["content"]
    full = (await client.get(f"/test-runs/{result['id']}")).json()
    assert [(c["role"], c["iteration"]) for c in full["calls"]] == [("judge", 1), ("judge", 2)]


async def test_a_verdict_that_quotes_nothing_is_not_a_pass(
    client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    await create_stub_model(client, stub)
    stub.rule(verdict(True, "Correct."))
    project_id = await make_project(client, {"main.py": PROGRAM})
    test = await make_test(client, project_id, expected_behavior=EXPECTED)
    (result,) = (await run(client, test["id"]))["runs"]
    assert result["status"] == "error"
    assert "does not quote the program's output" in result["reason"]


async def test_the_judge_runs_only_when_the_checks_pass(
    client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    await create_stub_model(client, stub)
    project_id = await make_project(client, {"main.py": PROGRAM})
    test = await make_test(
        client,
        project_id,
        expected_behavior=EXPECTED,
        checks=[{"type": "contains", "value": "Berlin"}],
    )
    (result,) = (await run(client, test["id"]))["runs"]
    assert result["status"] == "failed"
    assert result["verdict"] is None
    assert not [r for r in stub.requests if r.purpose == "judge"]


async def test_a_slow_judge_is_cancelled_with_its_run(
    client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    await create_stub_model(client, stub)
    stub.rule(Script(purpose="judge", chunks=("{",), first_byte_delay=30))
    project_id = await make_project(client, {"main.py": PROGRAM})
    test = await make_test(client, project_id, expected_behavior=EXPECTED)
    started = await client.post(f"/tests/{test['id']}/run?wait=false", json={})
    assert started.status_code == 202, started.text
    run_id = started.json()["runs"][0]["id"]
    await until(lambda: any(r.purpose == "judge" for r in stub.requests), within=30)
    asked_at = asyncio.get_running_loop().time()
    cancelled = await client.post(f"/test-runs/{run_id}/cancel")
    assert asyncio.get_running_loop().time() - asked_at < 5
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert body["status"] == "cancelled"
    assert [(c["role"], c["status"]) for c in body["calls"]] == [("judge", "cancelled")]
    (request,) = [r for r in stub.requests if r.purpose == "judge"]
    await stub.wait_for(lambda: request.client_disconnected_at is not None, within=5)
