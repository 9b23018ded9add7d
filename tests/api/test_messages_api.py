"""Messages over REST: a run streams one answer from the model and is stored whole."""

import asyncio
import time
from typing import Any

import httpx

from tests.stubs import until
from vibeforge.llm.stub import Script, StubLLMServer

USAGE = {"prompt_tokens": 1200, "completion_tokens": 300, "cached_tokens": 200}


async def test_waited_message_returns_the_stored_answer(
    client: httpx.AsyncClient, stub: StubLLMServer, stub_model: dict[str, Any], session_id: str
) -> None:
    stub.script(Script(chunks=("Hel", "lo ", "wörld"), usage=USAGE))
    response = await client.post(
        f"/sessions/{session_id}/messages", json={"prompt": "greet", "mode": "chat"}
    )
    assert response.status_code == 200, response.text
    outcome = response.json()
    assert outcome["status"] == "success"
    assert outcome["content"] == "Hello wörld"
    assert outcome["token_usage"]["prompt_tokens"] == 1200
    assert outcome["token_usage"]["completion_tokens"] == 300
    assert len(outcome["trace_id"]) == 32

    messages = (await client.get(f"/sessions/{session_id}/messages")).json()["items"]
    assert [(m["role"], m["content"], m["status"]) for m in messages] == [
        ("user", "greet", "success"),
        ("assistant", "Hello wörld", "success"),
    ]
    full = (await client.get(f"/messages/{outcome['message_id']}/full")).json()
    (call,) = full["llm_calls"]
    assert call["raw"]["object"] == "chat.completion"
    assert call["raw"]["choices"][0]["message"]["content"] == "Hello wörld"
    assert call["raw"]["usage"]["prompt_tokens"] == 1200
    assert call["cached_tokens"] == 200
    assert call["model"] == "openai-compatible:stub-model"

    sent = stub.requests[-1]
    assert sent.headers["authorization"] == "Bearer sk-stub-secret-0123456789"
    assert sent.body["stream"] is True


async def test_history_is_sent_and_clearing_the_session_forgets_it(
    client: httpx.AsyncClient, stub: StubLLMServer, stub_model: dict[str, Any], session_id: str
) -> None:
    stub.script(Script(chunks=("first answer",)), Script(chunks=("second",)), Script(chunks=("3",)))
    await client.post(f"/sessions/{session_id}/messages", json={"prompt": "one", "mode": "chat"})
    await client.post(f"/sessions/{session_id}/messages", json={"prompt": "two", "mode": "chat"})
    contents = [m["content"] for m in stub.requests[-1].body["messages"]]
    assert contents[1:] == ["one", "first answer", "two"]

    assert (await client.delete(f"/sessions/{session_id}")).status_code == 204
    await client.post(f"/sessions/{session_id}/messages", json={"prompt": "three", "mode": "chat"})
    contents = [m["content"] for m in stub.requests[-1].body["messages"]]
    assert contents[1:] == ["three"]

    current = (await client.get(f"/sessions/{session_id}/messages")).json()["items"]
    assert [m["content"] for m in current] == ["three", "3"]
    everything = (
        await client.get(f"/sessions/{session_id}/messages", params={"include_archived": "true"})
    ).json()["items"]
    assert [m["archived"] for m in everything] == [True, True, True, True, False, False]


async def test_cancel_during_the_first_token_wait_closes_upstream(
    client: httpx.AsyncClient, stub: StubLLMServer, stub_model: dict[str, Any], session_id: str
) -> None:
    stub.script(Script(chunks=("never",), first_byte_delay=30))
    accepted = await client.post(
        f"/sessions/{session_id}/messages",
        params={"wait": "false"},
        json={"prompt": "slow", "mode": "chat"},
    )
    assert accepted.status_code == 202
    run_id = accepted.json()["run_id"]
    await stub.wait_for(lambda: len(stub.requests) == 1)
    started = time.perf_counter()
    cancelled = await client.post(f"/runs/{run_id}/cancel")
    elapsed = time.perf_counter() - started
    assert cancelled.json() == {"run_id": run_id, "status": "cancelled", "cancelled": True}
    assert elapsed < 2, "a slow first token must not delay the cancel"
    await stub.wait_for(lambda: stub.requests[0].client_disconnected_at is not None, within=2)
    await _until_stored(client, run_id, "cancelled")
    message = (await client.get(f"/messages/{accepted.json()['message_id']}/full")).json()
    assert message["message"]["status"] == "cancelled"
    assert message["llm_calls"][0]["status"] == "cancelled"


async def test_cancel_mid_stream_keeps_the_partial_answer(
    client: httpx.AsyncClient, stub: StubLLMServer, stub_model: dict[str, Any], session_id: str
) -> None:
    stub.script(Script(chunks=tuple(f"c{i} " for i in range(200)), chunk_delay=0.02))
    accepted = (
        await client.post(
            f"/sessions/{session_id}/messages",
            params={"wait": "false"},
            json={"prompt": "long", "mode": "chat"},
        )
    ).json()
    await until(lambda: bool(stub.requests) and stub.requests[0].chunks_sent >= 5)
    await client.post(f"/runs/{accepted['run_id']}/cancel")
    await stub.wait_for(lambda: stub.requests[0].client_disconnected_at is not None, within=2)
    await _until_stored(client, accepted["run_id"], "cancelled")
    messages = (await client.get(f"/sessions/{session_id}/messages")).json()["items"]
    partial = messages[-1]
    assert partial["status"] == "cancelled"
    assert partial["content"].startswith("c0 c1 c2 c3 ")
    assert len(partial["content"].split()) < 200
    assert stub.requests[0].chunks_sent < 200


async def test_a_new_message_cancels_the_active_run(
    client: httpx.AsyncClient, stub: StubLLMServer, stub_model: dict[str, Any], session_id: str
) -> None:
    stub.script(Script(chunks=("old",), first_byte_delay=30), Script(chunks=("new",)))
    first = (
        await client.post(
            f"/sessions/{session_id}/messages",
            params={"wait": "false"},
            json={"prompt": "a", "mode": "chat"},
        )
    ).json()
    await stub.wait_for(lambda: len(stub.requests) == 1)
    second = (
        await client.post(f"/sessions/{session_id}/messages", json={"prompt": "b", "mode": "chat"})
    ).json()
    assert second["status"] == "success" and second["content"] == "new"
    assert (await client.get(f"/runs/{first['run_id']}")).json()["status"] == "cancelled"
    assert stub.requests[0].client_disconnected_at is not None


async def test_run_status_has_stages_and_timings(
    client: httpx.AsyncClient, stub: StubLLMServer, stub_model: dict[str, Any], session_id: str
) -> None:
    stub.script(Script(chunks=("ok",)))
    outcome = (
        await client.post(f"/sessions/{session_id}/messages", json={"prompt": "x", "mode": "chat"})
    ).json()
    run = (await client.get(f"/runs/{outcome['run_id']}")).json()
    assert run["status"] == "succeeded"
    assert [stage["name"] for stage in run["stages"]] == ["resolve_prompt", "generate"]
    assert all(
        stage["status"] == "finished" and stage["duration_ms"] >= 0 for stage in run["stages"]
    )
    assert run["finished_at"] >= run["started_at"]


async def test_provider_error_becomes_an_error_message(
    client: httpx.AsyncClient, stub: StubLLMServer, stub_model: dict[str, Any], session_id: str
) -> None:
    stub.script(Script(status=401, error_message="bad key"))
    answer = await client.post(
        f"/sessions/{session_id}/messages", json={"prompt": "x", "mode": "chat"}
    )
    assert answer.status_code == 502, answer.text
    outcome = answer.json()
    assert outcome["status"] == "error"
    assert outcome["error"] == "provider_authentication"
    assert "HTTP 401" in outcome["detail"]
    assert STUB_SECRET not in answer.text


STUB_SECRET = "sk-stub-secret-0123456789"


async def test_message_input_errors(
    client: httpx.AsyncClient,
    other_client: httpx.AsyncClient,
    stub_model: dict[str, Any],
    session_id: str,
) -> None:
    post = f"/sessions/{session_id}/messages"
    assert (await client.post(post, json={"prompt": "", "mode": "chat"})).status_code == 422
    assert (await client.post(post, json={"prompt": "   ", "mode": "chat"})).status_code == 422
    assert (await client.post(post, json={})).status_code == 422
    assert (
        await client.post(post, json={"prompt": "x", "model": "nope", "mode": "chat"})
    ).status_code == 404
    bad_param = await client.post(
        post, json={"prompt": "x", "params": {"temperature": 9}, "mode": "chat"}
    )
    assert bad_param.status_code == 422 and "temperature" in bad_param.json()["detail"]
    unknown = await client.post(post, json={"prompt": "x", "params": {"warp": 1}, "mode": "chat"})
    assert unknown.status_code == 422 and "warp" in unknown.json()["detail"]
    assert (await client.post(post, json={"prompt": "x", "mode": "poem"})).status_code == 422
    assert (
        await client.post("/sessions/nope/messages", json={"prompt": "x", "mode": "chat"})
    ).status_code == 404
    assert (await other_client.post(post, json={"prompt": "x", "mode": "chat"})).status_code == 404
    assert (await other_client.get(f"/sessions/{session_id}/messages")).status_code == 404
    assert (await other_client.delete(f"/sessions/{session_id}")).status_code == 404
    assert (await client.post("/runs/nope/cancel")).status_code == 404
    assert (await client.get("/runs/nope")).status_code == 404


async def test_sessions_are_one_per_node(client: httpx.AsyncClient, project_id: str) -> None:
    first = await client.post(f"/projects/{project_id}/sessions", json={})
    again = await client.post(f"/projects/{project_id}/sessions", json={})
    node = await client.post(f"/projects/{project_id}/sessions", json={"node_id": "main.py"})
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["session_id"] == again.json()["session_id"]
    assert node.status_code == 201 and node.json()["type"] == "node"
    assert first.json()["type"] == "global"
    listed = (await client.get(f"/projects/{project_id}/sessions")).json()["items"]
    assert {s["session_id"] for s in listed} == {
        first.json()["session_id"],
        node.json()["session_id"],
    }
    assert (await client.post("/projects/nope/sessions", json={})).status_code == 404


async def _until_stored(client: httpx.AsyncClient, run_id: str, status: str) -> None:
    for _ in range(200):
        if (await client.get(f"/runs/{run_id}")).json()["status"] == status:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"run {run_id} never became {status}")


async def test_another_users_runs_and_messages_are_not_found(
    client: httpx.AsyncClient,
    other_client: httpx.AsyncClient,
    stub: StubLLMServer,
    stub_model: dict[str, Any],
    session_id: str,
) -> None:
    stub.script(Script(chunks=("slow",), first_byte_delay=30))
    accepted = (
        await client.post(
            f"/sessions/{session_id}/messages",
            params={"wait": "false"},
            json={"prompt": "mine", "mode": "chat"},
        )
    ).json()
    await stub.wait_for(lambda: len(stub.requests) == 1)
    run_id, message_id = accepted["run_id"], accepted["message_id"]
    assert (await other_client.get(f"/runs/{run_id}")).status_code == 404
    assert (await other_client.post(f"/runs/{run_id}/cancel")).status_code == 404
    assert (await other_client.get(f"/messages/{message_id}/full")).status_code == 404
    assert (await client.get(f"/runs/{run_id}")).json()["status"] == "running"
    assert stub.requests[0].client_disconnected_at is None, "the intruder stopped nothing"
    await client.post(f"/runs/{run_id}/cancel")


async def test_a_nul_from_the_model_is_stored_as_a_replacement_character(
    client: httpx.AsyncClient, stub: StubLLMServer, stub_model: dict[str, Any], session_id: str
) -> None:
    stub.script(Script(chunks=("a\x00", "b")))
    outcome = (
        await client.post(f"/sessions/{session_id}/messages", json={"prompt": "x", "mode": "chat"})
    ).json()
    assert outcome["status"] == "success"
    stored = (await client.get(f"/sessions/{session_id}/messages")).json()["items"][-1]
    assert stored["content"] == "a\ufffdb"
