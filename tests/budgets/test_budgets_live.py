"""Budgets on a real server with the stub LLM and the `openai` SDK: a call that does not fit
is refused before the provider hears of it, a stream is cut where its reservation ends (the
provider's stream closed, the partial kept and billed), a run cut so ends `budget_exceeded`,
and a crossed threshold reaches the project's subscribers."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import openai
import pytest

from tests.servers import RunningServer
from tests.stubs import TOKEN, create_stub_model, until
from tests.wsclient import WsClient
from vibeforge.llm.stub import Script, StubLLMServer

HELLO = [{"role": "user", "content": "hello there"}]
# A provider that ignores max_tokens: 300 words, slowly enough to be cut mid-way.
RUNAWAY = Script(chunks=tuple(f"w{n} " for n in range(300)), chunk_delay=0.01)


def sdk(server: RunningServer) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key=TOKEN, max_retries=0)


async def admin_id(http: httpx.AsyncClient) -> str:
    return (await http.get("/me")).json()["id"]


async def budget(http: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    created = await http.post("/budgets", json=fields)
    assert created.status_code == 201, created.text
    return created.json()


@pytest.fixture
async def stub_config(http: httpx.AsyncClient, stub: StubLLMServer) -> dict[str, Any]:
    return await create_stub_model(
        http, stub, prices={"input_per_million": 1.0, "output_per_million": 2.0}
    )


async def test_a_call_that_does_not_fit_is_refused_before_the_provider_hears_of_it(
    server: RunningServer, http: httpx.AsyncClient, stub: StubLLMServer, stub_config: dict[str, Any]
) -> None:
    made = await budget(
        http,
        scope="model_config",
        subject_id=stub_config["id"],
        period="day",
        unit="tokens",
        cap=50,
        name="tiny",
    )
    async with sdk(server) as client:
        with pytest.raises(openai.RateLimitError) as refused:
            await client.chat.completions.create(model="stub", messages=HELLO, max_tokens=100)  # type: ignore[arg-type]
    assert refused.value.code == "budget_exceeded"
    assert "'tiny'" in str(refused.value.message)
    assert stub.requests == []
    after = (await http.get(f"/budgets/{made['id']}")).json()
    assert (after["spent"], after["reserved"], after["remaining"]) == (0, 0, 50)


async def test_a_stream_is_cut_where_its_reservation_ends_and_billed_for_what_came(
    server: RunningServer, http: httpx.AsyncClient, stub: StubLLMServer, stub_config: dict[str, Any]
) -> None:
    made = await budget(
        http, scope="user", subject_id=await admin_id(http), period="month", unit="usd", cap=1.0
    )
    stub.script(RUNAWAY)
    received: list[str] = []
    async with sdk(server) as client:
        stream = await client.chat.completions.create(
            model="stub",
            messages=HELLO,  # type: ignore[arg-type]
            max_tokens=20,
            stream=True,
        )
        with pytest.raises(openai.APIError) as cut:
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    received.append(chunk.choices[0].delta.content)
    assert "reserved" in str(cut.value.message)
    await stub.wait_for(lambda: stub.requests[0].client_disconnected_at is not None, within=3)
    assert 5 <= len(received) < 40, "cut near max_tokens, long before the provider's end"
    assert stub.requests[0].chunks_sent < 150
    await until_settled(http, made["id"])
    after = (await http.get(f"/budgets/{made['id']}")).json()
    assert after["reserved"] == 0
    assert 0 < after["spent"] < 1.0
    usage = (await http.get("/usage")).json()["total"]
    assert usage["calls"] == 1 and usage["completion_tokens"] > 0
    assert usage["cost_usd"] == pytest.approx(after["spent"], abs=1e-8)


async def until_settled(http: httpx.AsyncClient, budget_id: str) -> None:
    """Wait until no call holds a reservation in the budget."""
    state: dict[str, Any] = {}

    async def poll() -> None:
        state.update((await http.get(f"/budgets/{budget_id}")).json())

    await poll()
    for _ in range(100):
        if state["reserved"] == 0 and state["spent"] > 0:
            return
        await asyncio.sleep(0.02)
        await poll()


async def test_a_run_cut_by_its_project_budget_ends_budget_exceeded_with_its_partial(
    server: RunningServer, http: httpx.AsyncClient, stub: StubLLMServer, stub_config: dict[str, Any]
) -> None:
    project = (await http.post("/projects", json={"name": "capped"})).json()
    session = (await http.post(f"/projects/{project['id']}/sessions", json={})).json()
    await budget(
        http,
        scope="project",
        subject_id=project["id"],
        period="total",
        unit="tokens",
        cap=100_000,
        thresholds=[0.0001],
    )
    # The run's call reserves prompt + max_tokens and is cut past it.
    await http.patch(f"/models/{stub_config['id']}", json={"params": {"max_tokens": 30}})
    stub.script(RUNAWAY)
    ws = await WsClient.open(server.url, TOKEN)
    await ws.send("subscribe", project_id=project["id"])
    await ws.until("snapshot")
    answered = await http.post(
        f"/sessions/{session['session_id']}/messages", json={"prompt": "go", "mode": "chat"}
    )
    assert answered.json()["status"] == "error", answered.text
    run = (await http.get(f"/runs/{answered.json()['run_id']}")).json()
    assert run["status"] == "budget_exceeded"
    assert run["error_code"] == "budget_exceeded"
    messages = (await http.get(f"/sessions/{session['session_id']}/messages")).json()["items"]
    partial = messages[-1]["content"]
    assert partial.startswith("w0 w1") and len(partial.split()) < 100
    warning = await ws.until("budget_warning")
    assert warning["data"]["scope"] == "project" and warning["data"]["threshold"] == 0.0001
    await ws.close()


async def test_a_cancelled_run_is_billed_for_what_it_received(
    server: RunningServer, http: httpx.AsyncClient, stub: StubLLMServer, stub_config: dict[str, Any]
) -> None:
    made = await budget(
        http, scope="user", subject_id=await admin_id(http), period="week", unit="tokens", cap=10**6
    )
    project = (await http.post("/projects", json={"name": "cancelled"})).json()
    session = (await http.post(f"/projects/{project['id']}/sessions", json={})).json()
    stub.script(Script(chunks=tuple(f"w{n} " for n in range(400)), chunk_delay=0.02))
    started = await http.post(
        f"/sessions/{session['session_id']}/messages",
        params={"wait": "false"},
        json={"prompt": "go", "mode": "chat"},
    )
    await until(lambda: bool(stub.requests) and stub.requests[0].chunks_sent >= 10)
    assert (await http.post(f"/runs/{started.json()['run_id']}/cancel")).status_code == 200
    await stub.wait_for(lambda: stub.requests[0].client_disconnected_at is not None, within=3)
    await until_settled(http, made["id"])
    after = (await http.get(f"/budgets/{made['id']}")).json()
    usage = (await http.get("/usage")).json()["total"]
    assert after["reserved"] == 0
    assert 0 < usage["completion_tokens"] < 400
    assert after["spent"] == usage["total_tokens"]  # billed exactly what was recorded
