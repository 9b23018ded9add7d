"""The Python client against a real server and the stub LLM: runs in flight, cancels, params."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.servers import RunningServer
from tests.stubs import TOKEN, create_stub_model, until
from vibeforge.client import ApiError, Client
from vibeforge.llm.stub import Script, StubLLMServer
from vibeforge.runs.protocol import (
    Cancelled,
    ChatSessionStart,
    Chunk,
    Done,
    PostResponseComplete,
    StageUpdate,
)


async def _sessions(http: httpx.AsyncClient, count: int) -> list[str]:
    ids = []
    for index in range(count):
        project = (await http.post("/projects", json={"name": f"client-{index}"})).json()
        session = await http.post(f"/projects/{project['id']}/sessions", json={})
        ids.append(session.json()["session_id"])
    return ids


@pytest.fixture
async def client(server: RunningServer) -> Any:
    async with Client(server.url, TOKEN) as connected:
        yield connected


async def test_several_runs_in_flight_each_get_their_own_events_in_order(
    http: httpx.AsyncClient, stub: StubLLMServer, client: Client
) -> None:
    await create_stub_model(http, stub)
    sessions = await _sessions(http, 4)
    for index in range(4):
        chunks = tuple(f"[{index}:{i}]" for i in range(25))
        stub.rule(Script(chunks=chunks, chunk_delay=0.005, prompt_contains=f"run {index}"))
    runs = await asyncio.gather(
        *(client.send(session, f"run {i}", mode="chat") for i, session in enumerate(sessions))
    )
    assert len({run.id for run in runs}) == 4
    assert set(client.runs) == {run.id for run in runs}, "all four are in flight"

    async def collect(run: Any) -> list[Any]:
        return [event async for event in run]

    streams = await asyncio.gather(*(collect(run) for run in runs))
    for index, (run, events) in enumerate(zip(runs, streams, strict=True)):
        text = "".join(event.content for event in events if isinstance(event, Chunk))
        assert text == "".join(f"[{index}:{i}]" for i in range(25))
        assert isinstance(events[0], ChatSessionStart)
        assert isinstance(events[-1], PostResponseComplete)
        done = await run.result()
        assert done.status == "success" and done.content == text and done.run_id == run.id
        seqs = [run.last_seq]
        assert seqs[0] > 0
    assert client.runs == {}, "finished runs leave the client"


async def test_cancel_one_run_closes_its_upstream_and_leaves_the_others(
    http: httpx.AsyncClient, stub: StubLLMServer, client: Client
) -> None:
    await create_stub_model(http, stub)
    slow, fast = await _sessions(http, 2)
    stub.rule(
        Script(chunks=tuple(f"s{i}" for i in range(400)), chunk_delay=0.02, prompt_contains="slow")
    )
    stub.rule(
        Script(chunks=tuple(f"f{i}" for i in range(20)), chunk_delay=0.01, prompt_contains="fast")
    )
    doomed = await client.send(slow, "slow one", mode="chat")
    kept = await client.send(fast, "fast one", mode="chat")
    async for event in doomed:
        if isinstance(event, Chunk):
            break
    answer = await doomed.cancel()
    assert answer == {"run_id": doomed.id, "status": "cancelled", "cancelled": True}
    rest = [event async for event in doomed]
    assert isinstance(rest[-1], Cancelled)
    outcome = await doomed.result()
    assert outcome.status == "cancelled" and outcome.content == doomed.content
    full = "".join(f"s{i}" for i in range(400))
    assert outcome.content and full.startswith(outcome.content) and outcome.content != full
    slow_request = next(r for r in stub.requests if "slow one" in str(r.body))
    await until(lambda: slow_request.client_disconnected_at is not None)
    assert slow_request.completed_at is None, "the upstream stream was closed, not finished"
    done = await kept.result()
    assert done.status == "success" and done.content == "".join(f"f{i}" for i in range(20))
    stored = (await http.get(f"/sessions/{slow}/messages")).json()["items"][-1]
    assert stored["status"] == "cancelled" and stored["content"] == outcome.content


async def test_cancel_all_stops_every_run_in_flight(
    http: httpx.AsyncClient, stub: StubLLMServer, client: Client
) -> None:
    await create_stub_model(http, stub)
    sessions = await _sessions(http, 3)
    stub.rule(Script(chunks=tuple(f"x{i}" for i in range(400)), chunk_delay=0.02))
    runs = [await client.send(session, "go", mode="chat") for session in sessions]
    await until(lambda: all(run.text for run in runs), within=10)
    answers = await client.cancel_all()
    assert sorted(answer["run_id"] for answer in answers) == sorted(run.id for run in runs)
    outcomes = await asyncio.gather(*(run.result() for run in runs))
    assert [outcome.status for outcome in outcomes] == ["cancelled"] * 3
    await until(lambda: client.runs == {})
    await until(lambda: all(r.client_disconnected_at for r in stub.requests))


async def test_callbacks_see_partials_stages_and_the_outcome(
    http: httpx.AsyncClient, stub: StubLLMServer, server: RunningServer
) -> None:
    await create_stub_model(http, stub)
    (session,) = await _sessions(http, 1)
    stub.script(Script(chunks=("a", "b", "c")))
    seen: dict[str, list[Any]] = {"partial": [], "status": [], "done": [], "error": []}

    async def on_done(run: Any, done: Done) -> None:  # async callbacks are awaited too
        seen["done"].append(done)

    async with Client(
        server.url,
        TOKEN,
        on_partial=lambda run, chunk: seen["partial"].append(chunk.content),
        on_status=lambda run, event: seen["status"].append(type(event).__name__),
        on_error=lambda run, error: seen["error"].append(error),
        on_done=on_done,
    ) as client:
        run = await client.send(session, "hello", mode="chat")
        await run.result()
        await until(lambda: len(seen["done"]) == 1)
    assert seen["partial"] == ["a", "b", "c"]
    assert seen["status"][0] == "ChatSessionStart" and "StageUpdate" in seen["status"]
    assert seen["done"][0].content == "abc" and seen["error"] == []


async def test_a_provider_failure_reaches_on_error_and_the_outcome(
    http: httpx.AsyncClient, stub: StubLLMServer, client: Client
) -> None:
    await create_stub_model(http, stub)
    (session,) = await _sessions(http, 1)
    stub.script(Script(status=400, error_message="bad request, scripted"))
    errors: list[Any] = []
    run = await client.send(session, "fail", mode="chat", on_error=lambda r, e: errors.append(e))
    events = [event async for event in run]
    done = await run.result()
    assert done.status == "error" and done.error_code == "provider_bad_request"
    assert errors and errors[0].code == "provider_bad_request"
    assert any(isinstance(event, StageUpdate) for event in events)


async def test_params_are_refused_before_sending_exactly_as_the_server_refuses_them(
    http: httpx.AsyncClient, stub: StubLLMServer, client: Client
) -> None:
    await create_stub_model(http, stub)
    await http.post(
        "/models",
        json={"name": "claude", "provider": "anthropic", "model": "c", "api_key": "sk-x"},
    )
    (session,) = await _sessions(http, 1)
    cases = [
        (None, {"temperature": 9}),
        (None, {"no_such_parameter": 1}),
        ("claude", {"seed": 3}),  # Anthropic's adapter takes no seed
        ("claude", {"top_p": "high"}),
    ]
    for model, params in cases:
        with pytest.raises(ApiError) as refused:
            await client.send(session, "hi", model=model, params=params, mode="chat")
        body = {"prompt": "hi", "params": params, "mode": "chat"}
        if model:
            body["model"] = model
        server = await http.post(f"/sessions/{session}/messages?wait=false", json=body)
        assert server.status_code == refused.value.status == 422
        assert server.json() == {"error": refused.value.code, "detail": refused.value.detail}
    assert stub.requests == [], "nothing refused reached the model"
    run = await client.send(session, "fine", params={"temperature": 0.5, "seed": 1}, mode="chat")
    assert (await run.result()).status == "success"
    assert stub.requests[-1].body["temperature"] == 0.5


async def test_another_users_session_is_not_found(
    http: httpx.AsyncClient, server: RunningServer
) -> None:
    (session,) = await _sessions(http, 1)
    other = (await http.post("/users", json={"email": "someone@example.com"})).json()["token"]
    async with Client(server.url, other) as stranger:
        with pytest.raises(ApiError) as refused:
            await stranger.send(session, "hello")
        assert refused.value.status == 404 and refused.value.code == "not_found"
        with pytest.raises(ApiError):
            await stranger.get_session(session)


async def test_a_bad_token_is_an_api_error(server: RunningServer) -> None:
    async with Client(server.url, "vf_wrong") as client:
        with pytest.raises(ApiError) as refused:
            await client.list_projects()
        assert refused.value.status == 401
