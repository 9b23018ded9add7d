"""Every run that hands out a trace id has a trace: chat mode and `/ask` too, however the run
ends (answered, cancelled, failed), readable by its owner and by nobody else."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from tests.agents.conftest import Project, calls_of, follow_project, make_project
from tests.conftest import ADMIN_TOKEN
from tests.servers import serve_in_process
from tests.wsclient import WsClient
from vibeforge.db.engine import Database
from vibeforge.llm.stub import Script, StubLLMServer


async def _start(project: Project, prompt: str, mode: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"prompt": prompt, "model": "stub"}
    if mode:
        body["mode"] = mode
    started = await project.client.post(
        f"/sessions/{project.session_id}/messages", json=body, params={"wait": "false"}
    )
    assert started.status_code == 202, started.text
    return started.json()


async def _finished(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    for _ in range(500):
        run = (await client.get(f"/runs/{run_id}")).json()
        if run["status"] != "running":
            return run
        await asyncio.sleep(0.02)
    raise TimeoutError(f"run {run_id} did not finish")


async def _trace(
    client: httpx.AsyncClient, other: httpx.AsyncClient, trace_id: str
) -> dict[str, dict[str, Any]]:
    """The trace's spans by name, after checking that only its owner can read it."""
    assert (await other.get(f"/traces/{trace_id}")).status_code == 404
    found = await client.get(f"/traces/{trace_id}")
    assert found.status_code == 200, found.text
    spans = found.json()["spans"]
    by_name = {span["name"]: span for span in spans}
    assert len(by_name) == len(spans), [span["name"] for span in spans]
    return by_name


def _assert_chat_shape(spans: dict[str, dict[str, Any]], run_id: str) -> None:
    assert set(spans) == {"run", "resolve_prompt", "generate", "llm.chat"}
    root = spans["run"]
    assert root["parent_id"] is None and root["kind"] == "run"
    assert root["attributes"]["run_id"] == run_id and root["attributes"]["agent"] == "chat"
    assert spans["resolve_prompt"]["parent_id"] == root["id"]
    assert spans["generate"]["parent_id"] == root["id"]
    assert spans["llm.chat"]["parent_id"] == spans["generate"]["id"]
    assert spans["llm.chat"]["kind"] == "llm"


async def test_a_chat_mode_run_has_a_trace_with_its_stages_and_llm_call(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    project = await make_project(client, stub)
    stub.script(Script(chunks=("Hel", "lo"), usage={"prompt_tokens": 7, "completion_tokens": 2}))
    answered = await client.post(
        f"/sessions/{project.session_id}/messages",
        json={"prompt": "hi", "model": "stub", "mode": "chat"},
    )
    outcome = answered.json()
    assert outcome["status"] == "success" and outcome["content"] == "Hello", outcome
    spans = await _trace(client, other_client, outcome["trace_id"])
    _assert_chat_shape(spans, outcome["run_id"])
    assert {span["status"] for span in spans.values()} == {"ok"}
    assert spans["run"]["attributes"]["status"] == "success"
    (call,) = await calls_of(client, outcome["message_id"])
    llm = spans["llm.chat"]["attributes"]
    assert llm["llm_call_id"] == call["id"] and llm["role"] == "chat" == call["role"]
    assert (llm["prompt_tokens"], llm["completion_tokens"]) == (7, 2)
    assert llm["stop_reason"] == "stop"


async def test_an_ask_prompt_in_code_mode_has_the_chat_trace(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    project = await make_project(client, stub)
    stub.script(Script(chunks=("It adds two numbers.",)))
    outcome = (await project.say("/ask what does add do?")).json()
    assert outcome["status"] == "success", outcome
    assert len(stub.requests) == 1  # no evaluator: the pipeline handed it to the chat agent
    spans = await _trace(client, other_client, outcome["trace_id"])
    _assert_chat_shape(spans, outcome["run_id"])
    assert spans["run"]["attributes"]["status"] == "success"


async def test_a_cancelled_chat_run_keeps_its_trace(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    project = await make_project(client, stub)
    stub.script(Script(chunks=tuple(f"w{i} " for i in range(100)), chunk_delay=0.05))
    started = await _start(project, "talk slowly", mode="chat")
    await stub.wait_for(lambda: len(stub.requests) == 1)
    while stub.requests[0].chunks_sent < 2:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    cancelled = await client.post(f"/runs/{started['run_id']}/cancel")
    assert cancelled.json()["cancelled"] is True
    spans = await _trace(client, other_client, started["trace_id"])
    _assert_chat_shape(spans, started["run_id"])
    status = {name: span["status"] for name, span in spans.items()}
    assert status == {
        "run": "cancelled",
        "resolve_prompt": "ok",
        "generate": "cancelled",
        "llm.chat": "cancelled",
    }
    (call,) = await calls_of(client, started["message_id"])
    assert call["status"] == "cancelled"
    assert spans["llm.chat"]["attributes"]["llm_call_id"] == call["id"]


@asynccontextmanager
async def _writers_held(db: Database) -> AsyncIterator[None]:
    """Nobody else can store spans until the block ends: SQLite's writers of this process
    wait for their turn, PostgreSQL's for the table lock."""
    async with db.transaction(writes=True) as session:
        if db.dialect != "sqlite":
            await session.execute(text("LOCK TABLE spans IN EXCLUSIVE MODE"))
        yield


async def test_cancelled_goes_out_before_the_trace_is_stored(
    app: FastAPI, client: httpx.AsyncClient, other_client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    # Under a cancel storm, runs waited hundreds of milliseconds for their turn at the
    # database before saying `cancelled`: the write now follows it.
    project = await make_project(client, stub)
    stub.script(Script(chunks=tuple(f"w{i} " for i in range(100)), chunk_delay=0.05))
    subscription = follow_project(app, project.id)
    started = await _start(project, "talk slowly", mode="chat")
    await stub.wait_for(lambda: len(stub.requests) == 1)
    while stub.requests[0].chunks_sent < 2:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    async with _writers_held(app.state.services.db):
        cancelling = asyncio.create_task(client.post(f"/runs/{started['run_id']}/cancel"))
        async with asyncio.timeout(5):
            while (event := await subscription.get()) is not None and event.type != "cancelled":
                pass
        assert event is not None and event.type == "cancelled"
        record = stub.requests[0]
        await stub.wait_for(lambda: record.client_disconnected_at is not None, within=2)
        await asyncio.sleep(0.2)
        assert not cancelling.done(), "the cancel answers once the trace is stored"
    assert (await cancelling).json()["cancelled"] is True
    spans = await _trace(client, other_client, started["trace_id"])
    assert spans["run"]["status"] == "cancelled"


async def test_a_failed_chat_run_keeps_its_trace(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    project = await make_project(client, stub)
    stub.rule(Script(status=400, error_message="the model refuses this request"))
    for prompt, mode in [("hi", "chat"), ("/ask why?", None)]:
        started = await _start(project, prompt, mode=mode)
        assert (await _finished(client, started["run_id"]))["status"] == "failed"
        spans = await _trace(client, other_client, started["trace_id"])
        _assert_chat_shape(spans, started["run_id"])
        assert spans["run"]["status"] == spans["generate"]["status"] == "error"
        assert spans["llm.chat"]["status"] == "error"
        assert spans["resolve_prompt"]["status"] == "ok"
        assert "400" in spans["llm.chat"]["attributes"]["error"]
        calls = await calls_of(client, started["message_id"])
        assert calls and calls[-1]["status"] == "error"
        assert spans["llm.chat"]["attributes"]["llm_call_id"] == calls[-1]["id"]


async def test_a_chat_run_started_over_the_socket_has_a_trace(
    app: FastAPI, client: httpx.AsyncClient, other_client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    project = await make_project(client, stub)
    stub.script(Script(chunks=("over ", "the socket")))
    async with serve_in_process(app) as url:
        ws = await WsClient.open(url, ADMIN_TOKEN)
        try:
            await ws.send(
                "chat", session_id=project.session_id, prompt="hi", mode="chat", model="stub"
            )
            started = await ws.until("chat_session_start")
            done = await ws.until("done")
        finally:
            await ws.close()
    assert done["data"]["status"] == "success"
    trace_id = started["data"]["trace_id"]
    assert done["data"]["trace_id"] == trace_id
    _assert_chat_shape(await _trace(client, other_client, trace_id), started["data"]["run_id"])
