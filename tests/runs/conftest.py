"""Fixtures for runs: the stub LLM server and a model config pointing at it."""

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers import RunningServer, vibeforge_server
from vibeforge.llm.stub import StubLLMServer

STUB_KEY = "sk-stub-secret-0123456789"
# The admin token of the real server the `server` fixture starts.
TOKEN = "vf_runs-test-token-0123456789"


async def until(predicate: Callable[[], bool], within: float = 5.0) -> None:
    """Poll a condition (the stub notifies only on requests and disconnects, not chunks)."""
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.005)


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[RunningServer]:
    """A real `vibeforge serve` process whose admin token is TOKEN."""
    with vibeforge_server(
        tmp_path / "data", database_url, env={"VIBEFORGE_ADMIN_TOKEN": TOKEN}
    ) as running:
        yield running


@pytest.fixture
async def http(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the real server, authenticated as its admin."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as client:
        yield client


async def create_stub_model(
    client: httpx.AsyncClient, stub: StubLLMServer, name: str = "stub", **extra: Any
) -> dict[str, Any]:
    body = {
        "name": name,
        "provider": "openai-compatible",
        "model": "stub-model",
        "base_url": f"{stub.url}/v1",
        "api_key": STUB_KEY,
        "is_default": True,
        **extra,
    }
    response = await client.post("/models", json=body)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
async def stub_model(client: httpx.AsyncClient, stub: StubLLMServer) -> dict[str, Any]:
    return await create_stub_model(client, stub)


@pytest.fixture
async def project_id(client: httpx.AsyncClient) -> str:
    return (await client.post("/projects", json={"name": "runs"})).json()["id"]


@pytest.fixture
async def session_id(client: httpx.AsyncClient, project_id: str) -> str:
    response = await client.post(f"/projects/{project_id}/sessions", json={})
    return response.json()["session_id"]
