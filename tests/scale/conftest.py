"""Fixtures of the scale-out tests: a real Redis (the one `make test` started, or one of our
own) and, for the servers, a real PostgreSQL: scale-out refuses SQLite."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scale.cluster import two_servers
from tests.scale.redis_server import RedisServer
from tests.servers import RunningServer


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis server: VIBEFORGE_TEST_REDIS_URL (scripts/with-redis.sh), else one started
    here. Never skipped: without redis-server the tests fail."""
    configured = os.environ.get("VIBEFORGE_TEST_REDIS_URL")
    if configured:
        yield configured
        return
    server = RedisServer().start()
    try:
        yield server.url
    finally:
        server.close()


@pytest.fixture
def redis_prefix() -> str:
    """Keys and channels of this test alone (the tests share one Redis)."""
    return f"vft{uuid.uuid4().hex[:10]}"


@pytest.fixture
def postgres_url(database_url: str) -> str:
    """The test's database, which must be PostgreSQL: `make test-postgres` runs these (with
    Redis); the SQLite run of the suite leaves them to it, saying so."""
    if database_url.startswith("sqlite"):
        if os.environ.get("VIBEFORGE_REQUIRE_POSTGRES"):
            pytest.fail("scale-out tests need VIBEFORGE_TEST_DATABASE_URL (PostgreSQL)")
        pytest.skip("scale-out needs PostgreSQL: these run in `make test-postgres`")
    return database_url


@pytest.fixture
def pair(
    tmp_path: Path, postgres_url: str, redis_url: str, redis_prefix: str
) -> Iterator[tuple[RunningServer, RunningServer]]:
    """Servers A and B of one deployment; neither may log an unhandled exception."""
    with two_servers(tmp_path / "data", postgres_url, redis_url, redis_prefix) as servers:
        yield servers
        for server in servers:
            assert not server.crashes(), server.log()[-3000:]
