"""The vibecoding system's REST shapes and Socket.IO events, driven by a client written from
its document alone (no token: the local mode), against a real server and the stub LLM."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio

from tests.servers import RunningServer, vibeforge_server
from tests.stubs import TOKEN, create_stub_model
from vibeforge.llm.stub import Script, StubLLMServer

LOCAL = "dev@example.com"
ORIGIN = "http://localhost:3000"


@pytest.fixture
def local_server(tmp_path: Path, database_url: str) -> AsyncIterator[RunningServer]:
    env = {
        "VIBEFORGE_LOCAL_USER": LOCAL,
        "VIBEFORGE_ADMIN_TOKEN": TOKEN,
        "VIBEFORGE_CORS_ORIGINS": ORIGIN,
    }
    with vibeforge_server(tmp_path / "data", database_url, env=env) as running:
        yield running


class Listener:
    """A Socket.IO client keeping every event it is sent, by name."""

    def __init__(self) -> None:
        self.client = socketio.AsyncClient()
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        @self.client.on("*")
        async def any_event(name: str, data: Any = None) -> None:
            await self.events.put((name, data))

    async def until(self, name: str, within: float = 15) -> dict[str, Any]:
        while True:
            got, data = await asyncio.wait_for(self.events.get(), within)
            if got == name:
                return data


async def other_token(api: httpx.AsyncClient) -> str:
    """A token of another user, made by the admin."""
    admin = {"Authorization": f"Bearer {TOKEN}"}
    made = await api.post("/users", json={"email": "other@example.com"}, headers=admin)
    return str(made.json()["token"])


async def test_the_documented_rest_shapes_and_socket_events(
    local_server: RunningServer, stub: StubLLMServer
) -> None:
    async with httpx.AsyncClient(base_url=local_server.url, timeout=60) as api:
        await create_stub_model(api, stub)
        project = (await api.post("/projects", json={"name": "vibe"})).json()
        assert {"id", "name", "description", "created_at", "updated_at"} <= set(project)
        project_id = project["id"]
        listener = Listener()
        await listener.client.connect(
            local_server.url, transports=["websocket"], headers={"Origin": ORIGIN}
        )
        ack = await listener.client.call("subscribe", {"project_id": project_id}, timeout=10)
        assert ack["ok"] is True
        started = await api.post(f"/projects/{project_id}/sessions", json={})
        assert set(started.json()) >= {"session_id", "type", "node_id"}
        assert started.json()["type"] == "global" and started.json()["node_id"] is None
        node = (await api.post(f"/projects/{project_id}/sessions", json={"node_id": "f"})).json()
        assert node["type"] == "node" and node["node_id"] == "f"
        session_id = started.json()["session_id"]
        stub.script(Script(chunks=("Done.",), usage={"prompt_tokens": 7, "completion_tokens": 3}))
        sent = await api.post(
            f"/sessions/{session_id}/messages", json={"prompt": "explain", "mode": "chat"}
        )
        assert sent.status_code == 200, sent.text
        result = sent.json()
        assert {"message_id", "diff", "status", "trace_id"} <= set(result)
        assert result["status"] in ("success", "needs_input", "error")
        # A client subscribed to the project hears the session's events by the documented names.
        usage = await listener.until("token_usage")
        assert {"session_id", "message_id", "usage", "timestamp"} <= set(usage)
        assert usage["session_id"] == session_id
        assert usage["usage"]["prompt_tokens"] == 7 and usage["usage"]["completion_tokens"] == 3
        response = await listener.until("vibecode_response")
        assert {"session_id", "message_id", "diff", "trace_id", "token_usage"} <= set(response)
        assert response["message_id"] == result["message_id"]
        assert response["token_usage"]["total_tokens"] == 10
        full = await api.get(f"/messages/{result['message_id']}/full")
        assert full.status_code == 200 and full.json()["content"] == "Done."
        history = (await api.get(f"/sessions/{session_id}/messages")).json()["items"]
        assert [m["role"] for m in history] == ["user", "assistant"]
        # code_changed carries the new code.
        written = await api.put(
            f"/projects/{project_id}/files/main.py", json={"content": "print('hi')\n"}
        )
        assert written.status_code == 200, written.text
        changed = await listener.until("code_changed")
        assert changed["project_id"] == project_id and changed["new_code"] == "print('hi')\n"
        assert (await api.delete(f"/sessions/{session_id}")).status_code == 204
        await listener.client.disconnect()
        # Another user's project cannot be followed.
        other = await other_token(api)
        theirs = Listener()
        await theirs.client.connect(
            local_server.url, transports=["websocket"], auth={"token": other}
        )
        refused = await theirs.client.call("subscribe", {"project_id": project_id}, timeout=10)
        assert refused["ok"] is False and refused["code"] == "not_found"
        await theirs.client.disconnect()
        # A wrong token is refused even in local mode.
        wrong = socketio.AsyncClient()
        with pytest.raises(socketio.exceptions.ConnectionError):
            await wrong.connect(
                local_server.url, transports=["websocket"], auth={"token": "vf_wrong-0123456789"}
            )
    assert local_server.crashes() == []


async def test_a_socket_from_another_origin_is_refused(local_server: RunningServer) -> None:
    client = socketio.AsyncClient()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(
            local_server.url, transports=["websocket"], headers={"Origin": "https://evil.example"}
        )


@pytest.fixture
def tested_server(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Any:
    """A local-mode server whose test environments sit where sandbox users can enter."""
    import shutil
    import tempfile

    envs = Path(tempfile.mkdtemp(prefix="vibeforge-compat-envs-"))
    envs.chmod(0o755)
    data = tmp_path_factory.mktemp("vibecoding") / "data"
    env = {
        "VIBEFORGE_LOCAL_USER": LOCAL,
        "VIBEFORGE_ADMIN_TOKEN": TOKEN,
        "VIBEFORGE_TEST_ENV_DIR": str(envs / "envs"),
    }
    try:
        with vibeforge_server(data, database_url, env=env) as running:
            yield running
    finally:
        shutil.rmtree(envs, ignore_errors=True)


async def test_test_completed_over_socket_io(
    tested_server: RunningServer, stub: StubLLMServer
) -> None:
    """The documented testing routes, and `test_completed {test_id, status, output, trace_id}`
    to a client subscribed to the project."""
    async with httpx.AsyncClient(base_url=tested_server.url, timeout=120) as api:
        await create_stub_model(api, stub)
        project_id = (await api.post("/projects", json={"name": "tested"})).json()["id"]
        program = "import sys\nprint('echo: ' + sys.stdin.read().strip())\n"
        written = await api.put(f"/projects/{project_id}/files/main.py", json={"content": program})
        assert written.status_code == 200, written.text
        listener = Listener()
        await listener.client.connect(tested_server.url, transports=["websocket"])
        ack = await listener.client.call("subscribe", {"project_id": project_id}, timeout=10)
        assert ack["ok"] is True
        created = await api.post(
            f"/projects/{project_id}/tests",
            json={
                "name": "echoes",
                "input_prompt": "hello",
                "expected_behavior": "it echoes the input",
            },
        )
        assert created.status_code == 201, created.text
        case = created.json()
        assert {
            "id",
            "project_id",
            "name",
            "input_prompt",
            "expected_behavior",
            "created_at",
        } <= set(case)
        listed = (await api.get(f"/projects/{project_id}/tests")).json()
        assert [t["id"] for t in listed["items"]] == [case["id"]]
        verdict = json.dumps({"pass": True, "reason": "the output 'echo: hello' echoes it"})
        stub.rule(Script(purpose="judge", chunks=(verdict,), times=1))
        ran = await api.post(f"/tests/{case['id']}/run", json={})
        assert ran.status_code == 200, ran.text
        completed = await listener.until("test_completed", within=60)
        assert {"test_id", "status", "output", "trace_id"} <= set(completed)
        assert completed["test_id"] == case["id"] and completed["status"] == "passed"
        assert completed["output"].startswith("echo: hello")
        assert completed["trace_id"] == ran.json()["runs"][0]["trace_id"]
        # A failing verdict is told the same way.
        stub.rule(
            Script(
                purpose="judge",
                chunks=(json.dumps({"pass": False, "reason": "echo: hello is not it"}),),
            )
        )
        await api.post(f"/tests/{case['id']}/run", json={})
        failed = await listener.until("test_completed", within=60)
        assert failed["test_id"] == case["id"] and failed["status"] == "failed"
        # Another user cannot run or delete the test (nor subscribe: the test above).
        other = await other_token(api)
        their_headers = {"Authorization": f"Bearer {other}"}
        theirs = await api.post(f"/tests/{case['id']}/run", json={}, headers=their_headers)
        assert theirs.status_code == 404 and theirs.json()["error"] == "not_found"
        gone = await api.delete(f"/tests/{case['id']}", headers=their_headers)
        assert gone.status_code == 404
        bad = await api.post(f"/tests/{case['id']}/run", json={"surprise": 1})
        assert bad.status_code == 422 and set(bad.json()) == {"error", "detail"}
        assert (await api.delete(f"/tests/{case['id']}")).status_code == 204
        await listener.client.disconnect()
    assert tested_server.crashes() == []
