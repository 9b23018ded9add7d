"""Fixtures for the coding pipeline: a stub LLM server and a project wired to it over HTTP."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from vibeforge.llm.stub import Script, StubLLMServer
from vibeforge.runs.bus import Subscription, project_topic

APP_PY = 'def greet(name):\n    return "Hello, " + name\n\n\ndef add(a, b):\n    return a + b\n'


@dataclass
class Project:
    """A project with a session whose model is the stub."""

    client: httpx.AsyncClient
    id: str
    session_id: str

    async def say(self, prompt: str, **query: Any) -> httpx.Response:
        """Post a message with the stub model and wait for the run."""
        return await self.client.post(
            f"/sessions/{self.session_id}/messages",
            json={"prompt": prompt, "model": "stub"},
            params=query,
            timeout=30,
        )

    async def read(self, path: str) -> str:
        """A file's content at the head."""
        found = await self.client.get(f"/projects/{self.id}/files/{path}")
        assert found.status_code == 200, found.text
        return found.json()["content"]

    async def write(self, path: str, content: str) -> None:
        """Commit a file as the user would."""
        written = await self.client.put(
            f"/projects/{self.id}/files/{path}", json={"content": content}
        )
        assert written.status_code == 200, written.text


async def make_project(
    client: httpx.AsyncClient,
    stub: StubLLMServer,
    files: dict[str, str] | None = None,
    node_id: str | None = None,
    prices: dict[str, float] | None = None,
) -> Project:
    """A project holding `files`, a stub model config named `stub`, and a session."""
    created = await client.post("/projects", json={"name": "demo", "main_file": "app.py"})
    assert created.status_code == 201, created.text
    project_id = created.json()["id"]
    for path, content in (files if files is not None else {"app.py": APP_PY}).items():
        written = await client.put(
            f"/projects/{project_id}/files/{path}", json={"content": content}
        )
        assert written.status_code == 200, written.text
    config = {
        "name": "stub",
        "provider": "openai-compatible",
        "model": "stub-model",
        "base_url": stub.url + "/v1",
        "api_key": "sk-test",
    }
    if prices:
        config["prices"] = prices
    model = await client.post("/models", json=config)
    assert model.status_code in (201, 409), model.text
    session = await client.post(f"/projects/{project_id}/sessions", json={"node_id": node_id})
    assert session.status_code in (200, 201), session.text
    return Project(client, project_id, session.json()["session_id"])


def sr(path: str, search: str, replace: str, intro: str = "Here is the change.") -> Script:
    """A scripted coder/fixer reply holding one SEARCH/REPLACE block."""
    text = (
        f"{intro}\n\n{path}\n```python\n<<<<<<< SEARCH\n{search}=======\n{replace}"
        ">>>>>>> REPLACE\n```\n"
    )
    return Script(chunks=tuple(piece + "\n" for piece in text.split("\n")[:-1]))


def verdict(approved: bool, reasoning: str = "Looks right.", message: str = "Do it") -> Script:
    """A scripted evaluator reply."""
    body = {"approved": approved, "reasoning": reasoning, "commit_message": message}
    return Script(chunks=(json.dumps(body),))


def roles(stub: StubLLMServer) -> list[str | None]:
    """The purpose each recorded request declared (coder, fixer, evaluator, ...)."""
    return [record.purpose for record in stub.requests]


def drain(subscription: Any) -> list[Any]:
    """Every event queued on a bus subscription so far."""
    events = []
    while (event := subscription.get_nowait()) is not None:
        events.append(event)
    return events


async def calls_of(client: httpx.AsyncClient, message_id: str) -> list[dict[str, Any]]:
    """The LLM calls behind a message, oldest first."""
    full = await client.get(f"/messages/{message_id}/full")
    assert full.status_code == 200, full.text
    return full.json()["llm_calls"]


def follow_project(app: Any, project_id: str) -> Subscription:
    """A subscription to every event of a project, as a socket client has."""
    bus = app.state.services.bus
    subscription = bus.subscribe()
    bus.follow(subscription, project_topic(project_id))
    return subscription
