"""Stages of a persona's run on a real server, the same for every caller: REST, /ws and
Socket.IO; and cancellation during a before-module, during generation and during a
post-response module (no sandboxed process survives a cancel)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from tests.sandbox.conftest import survivors
from tests.servers import RunningServer
from tests.stubs import TOKEN, create_stub_model, until
from tests.wsclient import SioClient, WsClient
from vibeforge.llm.stub import Script, StubLLMServer

Client = WsClient | SioClient


def lingering(token: str, before: str = "") -> str:
    """A script that sleeps as a process whose command line carries `token` (to find it)."""
    sleeper = f"# {token}\nimport time\ntime.sleep(60)"
    return f"{before}import os\nos.execv('/usr/bin/python3', ['python3', '-c', {sleeper!r}])"


BEFORE = "print('fresh', end='')"
AFTER = "ctx.set_output('words', len(ctx.answer.split()))"
EXPECTED = [
    ("chat_session_start", None, None),
    ("stage_update", "resolve_prompt", "running"),
    ("stage_update", "module:warmup", "running"),
    ("stage_update", "module:warmup", "finished"),
    ("stage_update", "resolve_prompt", "finished"),
    ("stage_update", "generate", "running"),
    ("chunk", None, None),
    ("chunk", None, None),
    ("token_usage", None, None),
    ("stage_update", "generate", "finished"),
    ("done", None, None),
    ("stage_update", "post_response", "running"),
    ("stage_update", "module:count", "running"),
    ("stage_update", "module:count", "finished"),
    ("stage_update", "post_response", "finished"),
    ("post_response_complete", None, None),
]


async def setup(http: httpx.AsyncClient, stub: StubLLMServer, **modules: str) -> str:
    """A stub model, a persona using the modules (name: before|after script) and its session."""
    await create_stub_model(http, stub)
    names = []
    for name, spec in modules.items():
        stage, _, script = spec.partition(":")
        body = {"name": name, "kind": "script", "stage": stage, "content": script}
        created = await http.post("/modules", json={**body, "limits": {"timeout_s": 60}})
        assert created.status_code == 201, created.text
        names.append(f"@{name}")
    made = await http.post("/personas", json={"name": "P", "template": "P. " + " ".join(names)})
    assert made.status_code == 201, made.text
    project = (await http.post("/projects", json={"name": "live"})).json()
    session = (await http.post(f"/projects/{project['id']}/sessions", json={})).json()
    chosen = await http.put(f"/sessions/{session['session_id']}/persona", json={"persona_id": "P"})
    assert chosen.status_code == 200
    return str(session["session_id"])


def shape(events: list[dict[str, Any]]) -> list[tuple[str, str | None, str | None]]:
    shown = []
    for event in events:
        data = event.get("data") or {}
        if event["type"] in ("snapshot", "session_start", "vibecode_response"):
            continue
        shown.append(
            (
                event["type"],
                data.get("stage"),
                data.get("status") if event["type"] == "stage_update" else None,
            )
        )
    return shown


async def follow(client: Client, session_id: str) -> None:
    await client.send("subscribe", session_id=session_id)
    await client.until("session_start")


async def collect_run(client: Client, last: str = "post_response_complete") -> list[dict[str, Any]]:
    start = len(client.events)
    await client.until(last, within=60)
    return client.events[start:]


def gapless(events: list[dict[str, Any]]) -> None:
    numbered = [e for e in events if e["type"] not in ("snapshot", "session_start")]
    seqs = [event.get("seq") or event["data"].get("seq") for event in numbered]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs


@pytest.mark.parametrize("transport", ["ws", "socketio"])
async def test_stages_stream_in_order_over_both_sockets(
    transport: str, server: RunningServer, http: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    session_id = await setup(http, stub, warmup=f"before:{BEFORE}", count=f"after:{AFTER}")
    stub.script(Script(chunks=("one ", "two"), usage={"prompt_tokens": 5, "completion_tokens": 2}))
    opener = WsClient.open if transport == "ws" else SioClient.open
    client = await opener(server.url, TOKEN)
    try:
        await follow(client, session_id)
        await client.send("chat", session_id=session_id, prompt="count", mode="chat")
        events = await collect_run(client)
    finally:
        await client.close()
    assert shape(events) == EXPECTED
    gapless(events)
    done = next(e for e in events if e["type"] == "done")
    stored = (await http.get(f"/sessions/{session_id}/messages")).json()["items"][-1]
    assert stored["id"] == done["data"]["message_id"]
    assert stored["module_outputs"]["count"]["outputs"] == {"words": 2}
    assert server.crashes() == []


async def test_stages_are_the_same_for_a_rest_caller(
    server: RunningServer, http: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    session_id = await setup(http, stub, warmup=f"before:{BEFORE}", count=f"after:{AFTER}")
    stub.script(Script(chunks=("one ", "two"), usage={"prompt_tokens": 5, "completion_tokens": 2}))
    watcher = await WsClient.open(server.url, TOKEN)
    try:
        await follow(watcher, session_id)
        answered = await http.post(
            f"/sessions/{session_id}/messages", json={"prompt": "count", "mode": "chat"}
        )
        assert answered.status_code == 200, answered.text
        # The REST answer waited for the post-response stage: its outputs are there already.
        stored = (await http.get(f"/sessions/{session_id}/messages")).json()["items"][-1]
        assert stored["module_outputs"]["count"]["outputs"] == {"words": 2}
        events = await collect_run(watcher)
    finally:
        await watcher.close()
    assert shape(events) == EXPECTED
    run = (await http.get(f"/runs/{answered.json()['run_id']}")).json()
    assert [s["name"] for s in run["stages"]] == [
        "resolve_prompt",
        "module:warmup",
        "generate",
        "post_response",
        "module:count",
    ]


async def wait_for_stage(http: httpx.AsyncClient, run_id: str, stage: str) -> None:
    async def running() -> bool:
        stages = (await http.get(f"/runs/{run_id}")).json()["stages"]
        return any(s["name"] == stage and s["status"] == "running" for s in stages)

    for _ in range(400):
        if await running():
            return
        await asyncio.sleep(0.025)
    raise TimeoutError(f"stage {stage} never ran")


async def test_cancel_during_a_before_module_kills_it_and_never_asks_the_model(
    server: RunningServer, http: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    token = f"module-{uuid.uuid4().hex}"
    session_id = await setup(http, stub, slow=f"before:{lingering(token)}")
    client = await WsClient.open(server.url, TOKEN)
    try:
        await follow(client, session_id)
        started = await http.post(
            f"/sessions/{session_id}/messages", params={"wait": "false"}, json={"prompt": "hi"}
        )
        run_id = started.json()["run_id"]
        await wait_for_stage(http, run_id, "module:slow")
        await until(lambda: bool(survivors(token)), within=10)
        await client.send("cancel", run_id=run_id)
        events = await collect_run(client, "cancelled")
    finally:
        await client.close()
    assert ("stage_update", "module:slow", "cancelled") in shape(events)
    assert ("stage_update", "resolve_prompt", "cancelled") in shape(events)
    assert not any(e["type"] in ("done", "post_response_complete") for e in events)
    await until(lambda: not survivors(token), within=10)
    assert stub.requests == [], "the model was never asked"
    # `cancelled` reaches sockets before the partial answer is stored: read it back by polling.
    for _ in range(200):
        message = (await http.get(f"/sessions/{session_id}/messages")).json()["items"][-1]
        if message["status"] != "streaming":
            break
        await asyncio.sleep(0.025)
    assert message["status"] == "cancelled"


async def test_cancel_during_generation_with_a_persona(
    server: RunningServer, http: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    session_id = await setup(http, stub, count=f"after:{AFTER}")
    stub.script(Script(chunks=tuple(f"w{i} " for i in range(200)), chunk_delay=0.05))
    started = await http.post(
        f"/sessions/{session_id}/messages",
        params={"wait": "false"},
        json={"prompt": "talk", "mode": "chat"},
    )
    run_id = started.json()["run_id"]
    await until(lambda: bool(stub.requests) and stub.requests[-1].chunks_sent > 2, within=20)
    cancelled = await http.post(f"/runs/{run_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["cancelled"] is True
    message = (await http.get(f"/sessions/{session_id}/messages")).json()["items"][-1]
    assert message["status"] == "cancelled" and message["content"].startswith("w0 w1")
    assert message["module_outputs"] is None, "no post-response work after a cancelled answer"
    stages = [
        (s["name"], s["status"]) for s in (await http.get(f"/runs/{run_id}")).json()["stages"]
    ]
    assert ("generate", "cancelled") in stages and "post_response" not in dict(stages)


async def test_cancel_during_a_post_response_module_keeps_the_answer(
    server: RunningServer, http: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    token = f"module-{uuid.uuid4().hex}"
    slow = "after:" + lingering(token, before="ctx.set_var('x', 1)\n")
    session_id = await setup(http, stub, lingering=slow)
    stub.script(Script(chunks=("the ", "answer")))
    client = await SioClient.open(server.url, TOKEN)
    try:
        await follow(client, session_id)
        ack = await client.send("chat", session_id=session_id, prompt="hi", mode="chat")
        assert ack is not None and ack["ok"]
        run_id = ack["run_id"]
        await client.until("done", within=30)
        await wait_for_stage(http, run_id, "module:lingering")
        await until(lambda: bool(survivors(token)), within=10)
        cancel = await client.send("cancel", run_id=run_id)
        assert cancel is not None and cancel["cancelled"] is True
        events = await collect_run(client, "cancelled")
    finally:
        await client.close()
    assert ("stage_update", "module:lingering", "cancelled") in shape(events)
    assert ("stage_update", "post_response", "cancelled") in shape(events)
    assert not any(e["type"] == "post_response_complete" for e in events)
    await until(lambda: not survivors(token), within=10)
    message = (await http.get(f"/sessions/{session_id}/messages")).json()["items"][-1]
    assert (message["status"], message["content"]) == ("success", "the answer")
    assert message["module_outputs"] is None
    state = (await http.get(f"/sessions/{session_id}/state")).json()
    assert state["variables"] == {}, "a cancelled module leaves no state behind"
    run = (await http.get(f"/runs/{run_id}")).json()
    assert ("post_response", "cancelled") in [(s["name"], s["status"]) for s in run["stages"]]
    assert run["status"] == "succeeded", "the answer itself was complete"
    assert server.crashes() == []
