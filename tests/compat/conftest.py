"""What the compat tests share: a real server in local mode (the reference clients send no
token), with the admin's token set too."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import RunningServer, vibeforge_server
from tests.stubs import TOKEN

LOCAL = "dev@example.com"


@pytest.fixture
def local_server(tmp_path: Path, database_url: str) -> Iterator[RunningServer]:
    """A server whose local user is LOCAL."""
    env = {"VIBEFORGE_LOCAL_USER": LOCAL, "VIBEFORGE_ADMIN_TOKEN": TOKEN}
    with vibeforge_server(tmp_path / "data", database_url, env=env) as running:
        yield running


@pytest.fixture
async def admin(local_server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    """Another user than LOCAL: the admin, by its token."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=local_server.url, headers=headers, timeout=60) as c:
        yield c
