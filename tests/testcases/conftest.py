"""Fixtures of the prompt-test tests: an environment cache the sandbox can reach, shared by
the session (the base environment is built once), and helpers to make projects and tests."""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest


@pytest.fixture(scope="session")
def env_dir() -> Iterator[Path]:
    """A cache directory outside pytest's 0700 temp tree, so sandbox uids can enter it."""
    path = Path(tempfile.mkdtemp(prefix="vibeforge-test-envs-"))
    path.chmod(0o755)
    yield path / "envs"
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def settings(settings, env_dir: Path):  # type: ignore[no-untyped-def]
    """The suite's settings, with the shared environment cache."""
    return settings.model_copy(update={"test_env_dir": env_dir, "test_concurrency": 4})


_projects = itertools.count(1)


async def make_project(client: httpx.AsyncClient, files: dict[str, str]) -> str:
    """A project holding `files` (main.py among them)."""
    # Names are unique per user: a test may make several projects.
    created = await client.post("/projects", json={"name": f"tested-{next(_projects)}"})
    assert created.status_code == 201, created.text
    project_id = created.json()["id"]
    for path, content in files.items():
        written = await client.put(
            f"/projects/{project_id}/files/{path}", json={"content": content}
        )
        assert written.status_code == 200, written.text
    return project_id


async def make_test(client: httpx.AsyncClient, project_id: str, **body: Any) -> dict[str, Any]:
    """A test of the project."""
    body.setdefault("name", "a test")
    body.setdefault("input_prompt", "")
    response = await client.post(f"/projects/{project_id}/tests", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def run(client: httpx.AsyncClient, test_id: str, **body: Any) -> dict[str, Any]:
    """Run a test and wait; the single run of the answer (or all, with repeat)."""
    response = await client.post(f"/tests/{test_id}/run", json=body, timeout=120)
    assert response.status_code == 200, response.text
    return response.json()
