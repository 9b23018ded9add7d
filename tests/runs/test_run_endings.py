"""How runs end when something else happens: a newer message, a deleted project or a cleared
session cancel them and say why; stages, messages and logs tell what happened."""

import json
from typing import Any

import httpx
import pytest

from tests.servers import RunningServer
from tests.stubs import TOKEN, create_stub_model, until
from tests.wsclient import WsClient
from vibeforge.llm.stub import Script, StubLLMServer
from vibeforge.runs import reasons

LONG = Script(chunks=tuple(f"w{i} " for i in range(400)), chunk_delay=0.02)


@pytest.fixture
async def session(http: httpx.AsyncClient, stub: StubLLMServer) -> dict[str, Any]:
    await create_stub_model(http, stub)
    project = (await http.post("/projects", json={"name": "endings"})).json()
    return (await http.post(f"/projects/{project['id']}/sessions", json={})).json()


async def _start(http: httpx.AsyncClient, session_id: str, mode: str = "chat") -> dict[str, Any]:
    response = await http.post(
        f"/sessions/{session_id}/messages",
        params={"wait": "false"},
        json={"prompt": "go on", "mode": mode},
    )
    assert response.status_code == 202, response.text
    return response.json()


async def _streaming(stub: StubLLMServer, index: int = 0) -> None:
    await until(lambda: len(stub.requests) > index and stub.requests[index].chunks_sent >= 3)


def _log_lines(server: RunningServer) -> list[dict[str, Any]]:
    return [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]


async def test_deleting_a_project_cancels_its_runs_tells_subscribers_and_logs_it(
    server: RunningServer, http: httpx.AsyncClient, stub: StubLLMServer, session: dict[str, Any]
) -> None:
    stub.script(LONG)
    ws = await WsClient.open(server.url, TOKEN)
    await ws.send("subscribe", project_id=session["project_id"])
    await ws.until("snapshot")
    run = await _start(http, session["session_id"])
    await _streaming(stub)

    deleted = await http.delete(f"/projects/{session['project_id']}")
    assert deleted.status_code == 204
    cancelled = await ws.until("cancelled")
    assert cancelled["data"]["run_id"] == run["run_id"]
    assert cancelled["data"]["reason"] == reasons.PROJECT_DELETED
    await stub.wait_for(lambda: stub.requests[0].client_disconnected_at is not None, within=2)
    assert stub.requests[0].chunks_sent < len(LONG.chunks), "upstream closed, not streamed out"
    assert not any(e["type"] == "done" for e in ws.events), "no `done` for a cancelled run"
    await ws.close()
    await until(
        lambda: f"cancelling run {run['run_id']}: {reasons.PROJECT_DELETED}" in server.log()
    )
    assert (await http.get(f"/projects/{session['project_id']}")).status_code == 404
    assert server.crashes() == []


async def test_clearing_a_session_cancels_its_run(
    http: httpx.AsyncClient, stub: StubLLMServer, session: dict[str, Any]
) -> None:
    stub.script(LONG)
    run = await _start(http, session["session_id"])
    await _streaming(stub)
    assert (await http.delete(f"/sessions/{session['session_id']}")).status_code == 204
    stored = (await http.get(f"/runs/{run['run_id']}")).json()
    assert stored["status"] == "cancelled"
    assert stored["reason"] == reasons.SESSION_CLEARED
    message = (await http.get(f"/messages/{run['message_id']}/full")).json()["message"]
    assert message["status"] == "cancelled" and message["archived"] is True
    assert message["reason"] == reasons.SESSION_CLEARED


async def test_a_new_message_says_which_run_it_superseded_and_the_old_one_says_why(
    server: RunningServer, http: httpx.AsyncClient, stub: StubLLMServer, session: dict[str, Any]
) -> None:
    stub.script(LONG, Script(chunks=("new",)))
    ws = await WsClient.open(server.url, TOKEN)
    await ws.send("subscribe", session_id=session["session_id"])
    await ws.until("snapshot")
    first = await _start(http, session["session_id"])
    await _streaming(stub)

    second = await http.post(
        f"/sessions/{session['session_id']}/messages", json={"prompt": "b", "mode": "chat"}
    )
    answer = second.json()
    assert answer["status"] == "success" and answer["superseded_run_id"] == first["run_id"]
    why = reasons.superseded_by(answer["message_id"], answer["run_id"])
    cancelled = await ws.until("cancelled", run_id=first["run_id"])
    assert cancelled["data"]["reason"] == why
    start = await ws.until("chat_session_start", run_id=answer["run_id"])
    assert start["data"]["superseded_run_id"] == first["run_id"]
    done = await ws.until("done", run_id=answer["run_id"])
    assert done["data"]["superseded_run_id"] == first["run_id"]
    old = (await http.get(f"/messages/{first['message_id']}/full")).json()["message"]
    assert (old["status"], old["reason"]) == ("cancelled", why)
    assert (await http.get(f"/runs/{first['run_id']}")).json()["reason"] == why
    await ws.close()


async def test_if_idle_refuses_instead_of_cancelling_the_active_run(
    server: RunningServer, http: httpx.AsyncClient, stub: StubLLMServer, session: dict[str, Any]
) -> None:
    stub.script(LONG, Script(chunks=("after",)))
    first = await _start(http, session["session_id"])
    await _streaming(stub)
    refused = await http.post(
        f"/sessions/{session['session_id']}/messages",
        params={"if_idle": "true"},
        json={"prompt": "b", "mode": "chat"},
    )
    assert refused.status_code == 409
    assert refused.json()["error"] == "conflict" and first["run_id"] in refused.json()["detail"]
    ws = await WsClient.open(server.url, TOKEN)
    await ws.send("chat", session_id=session["session_id"], prompt="c", if_idle=True)
    error = await ws.until("error")
    assert error["data"]["code"] == "conflict"
    assert (await http.get(f"/runs/{first['run_id']}")).json()["status"] == "running"
    assert len(stub.requests) == 1, "the refused messages started nothing"
    await http.post(f"/runs/{first['run_id']}/cancel")
    idle = await http.post(
        f"/sessions/{session['session_id']}/messages",
        params={"if_idle": "true"},
        json={"prompt": "d", "mode": "chat"},
    )
    assert idle.status_code == 200 and idle.json()["superseded_run_id"] is None
    await ws.close()


async def test_a_cancelled_stage_is_cancelled_not_failed(
    server: RunningServer, http: httpx.AsyncClient, stub: StubLLMServer, session: dict[str, Any]
) -> None:
    stub.script(LONG)
    ws = await WsClient.open(server.url, TOKEN)
    await ws.send("subscribe", session_id=session["session_id"])
    await ws.until("snapshot")
    run = await _start(http, session["session_id"], mode="code")
    await _streaming(stub)
    cancel = await http.post(f"/runs/{run['run_id']}/cancel")
    assert cancel.json()["cancelled"] is True
    stages = (await http.get(f"/runs/{run['run_id']}")).json()["stages"]
    assert [(s["name"], s["status"]) for s in stages] == [
        ("resolve_prompt", "finished"),
        ("generate", "cancelled"),
    ]
    update = await ws.until("stage_update", stage="generate", status="cancelled")
    assert update["data"]["duration_ms"] is not None
    cancelled = await ws.until("cancelled")
    assert cancelled["data"]["reason"] == reasons.BY_USER
    await ws.close()


async def test_runs_and_socket_connections_are_logged_as_json_lines_off_a_terminal(
    server: RunningServer, http: httpx.AsyncClient, stub: StubLLMServer, session: dict[str, Any]
) -> None:
    stub.script(Script(chunks=("fine",)))
    ws = await WsClient.open(server.url, TOKEN)
    await ws.send("chat", session_id=session["session_id"], prompt="hi", mode="chat")
    done = await ws.until("done")
    await ws.close()
    run_id = done["data"]["run_id"]
    await until(lambda: any("closed" in line.get("msg", "") for line in _log_lines(server)))
    lines = _log_lines(server)
    messages = [line["msg"] for line in lines]
    assert any(
        m.startswith(f"run {run_id} started (session {session['session_id']}") for m in messages
    )
    assert any(m.startswith(f"run {run_id} ended: success") for m in messages)
    opened = next(line for line in lines if line["msg"].startswith("ws connection"))
    assert opened["connection_id"] and f"ws connection {opened['connection_id']} closed" in messages
    assert any(
        line["msg"] == "start-up recovery: 0 runs were cut off by the last stop" for line in lines
    )
