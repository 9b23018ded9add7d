"""Suite-wide fixtures: no outbound network, and a fresh database, data directory and app."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import settings as hypothesis_settings

from tests.servers import RunningServer, vibeforge_server
from tests.stubs import TOKEN, create_stub_model
from vibeforge.llm.stub import StubLLMServer

# CI replays the same examples every run, so a submission is judged on its own code; local
# runs keep exploring new ones.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_local(address: object) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = address[0] if isinstance(address, tuple) else None
    if not isinstance(host, str):
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


class OutboundNetworkBlocked(RuntimeError):
    """A test tried to reach a host other than this machine."""


def _guarded_connect(self: socket.socket, address: object) -> None:
    if not _is_local(address):
        raise OutboundNetworkBlocked(f"tests may not connect to {address!r}")
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if not _is_local(address):
        raise OutboundNetworkBlocked(f"tests may not connect to {address!r}")
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True, scope="session")
def _block_outbound_network() -> Iterator[None]:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]


# -- database, settings and app fixtures ---------------------------------------------------------


ADMIN_TOKEN = "vf_test-admin-token-0123456789"


# Tests that need a database but are about something else (transports, browsers, protocol
# translators, input fuzzing, the SQLite-only data-directory lock): the PostgreSQL leg does
# not run them again, as they would go through the same storage code at twice the cost. The
# data layer, runs and their recovery, budgets, usage, users, scale-out, the REST API's data
# behaviour, the kill -9 soak and the cross-user sweep run on both.
DATABASE_INCIDENTAL = (
    "tests/api/test_auth_first.py",
    "tests/api/test_hostile_paths",
    "tests/api/test_provider_outcomes.py",
    "tests/api/test_socket_",
    "tests/api/test_websocket.py",
    "tests/client/",
    "tests/compat/",
    "tests/prompting/test_stages_live.py",
    "tests/reliability/test_fault_matrix.py",
    "tests/reliability/test_full_disk.py",
    "tests/reliability/test_schema_fuzz.py",
    "tests/reliability/test_socket_fuzz.py",
    "tests/test_datadir.py",
    "tests/test_docs_true.py",
    "tests/web/",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests whose behaviour depends on the database, so they also run against
    PostgreSQL (`make test-postgres`: `-m db`)."""
    root = config.rootpath
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "database_url" not in names and "empty_database_url" not in names:
            continue
        if item.get_closest_marker("sqlite_only"):
            continue
        if item.path.relative_to(root).as_posix().startswith(DATABASE_INCIDENTAL):
            continue
        item.add_marker(pytest.mark.db)


def _server_url() -> str | None:
    return os.environ.get("VIBEFORGE_TEST_DATABASE_URL")


async def _migrate(url: str) -> None:
    from vibeforge.db.engine import Database

    database = Database(url)
    try:
        await database.upgrade()
    finally:
        await database.dispose()


@pytest.fixture(scope="session")
def _migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database migrated to head once per test session, which each test's database copies:
    migrating takes 0.2 s on SQLite and 0.5 s on PostgreSQL, copying a few milliseconds."""
    server_url = _server_url()
    if not server_url:
        path = tmp_path_factory.mktemp("template") / "template.db"
        asyncio.run(_migrate(f"sqlite+aiosqlite:///{path}"))
        yield str(path)
        return
    name = f"tpl_{uuid.uuid4().hex[:16]}"
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}"'))
    asyncio.run(_migrate(_database_at(server_url, name)))
    yield name
    asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _database_at(server_url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def _admin(server_url: str, statement: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    base = make_url(server_url).set(drivername="postgresql")
    admin = await asyncpg.connect(base.render_as_string(hide_password=False))
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


async def _fresh_database(tmp_path: Path, template: str | None) -> AsyncIterator[str]:
    """A database of this test alone: SQLite in tmp_path, or a new PostgreSQL database when
    VIBEFORGE_TEST_DATABASE_URL names a server; a copy of `template` when one is given."""
    server_url = _server_url()
    if not server_url:
        path = tmp_path / "test.db"
        if template is not None:
            shutil.copyfile(template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    name = f"t_{uuid.uuid4().hex[:16]}"
    copy = f' TEMPLATE "{template}"' if template is not None else ""
    await _admin(server_url, f'CREATE DATABASE "{name}"{copy}')
    yield _database_at(server_url, name)
    await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def database_url(tmp_path: Path, _migrated_template: str) -> AsyncIterator[str]:
    """A fresh database with vibeforge's schema (every migration applied) and no rows."""
    async for url in _fresh_database(tmp_path, _migrated_template):
        yield url


@pytest.fixture
async def empty_database_url(tmp_path: Path) -> AsyncIterator[str]:
    """A fresh database with no tables at all (for tests of the migrations themselves)."""
    async for url in _fresh_database(tmp_path, None):
        yield url


@pytest.fixture
def settings(tmp_path: Path, database_url: str):  # type: ignore[no-untyped-def]
    """Settings for one test: its own data directory and database, no provider keys."""
    from vibeforge.config import Settings

    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        admin_token=ADMIN_TOKEN,
        secret_key="test-secret-key",
        openai_api_key=None,
        ollama_host="127.0.0.1:9",
        default_model="offline",
        log_json=False,
    )


@pytest.fixture
async def app(settings):  # type: ignore[no-untyped-def]
    """A started application (migrations applied, admin created)."""
    from vibeforge.app import create_app

    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    """An HTTP client of the app, authenticated as the admin."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://vibeforge.test",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    ) as http:
        yield http


@pytest.fixture
async def other_client(app, client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    """An HTTP client authenticated as a second, ordinary user."""
    created = await client.post("/users", json={"email": "other@example.com"})
    assert created.status_code == 201, created.text
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://vibeforge.test",
        headers={"Authorization": f"Bearer {created.json()['token']}"},
    ) as http:
        yield http


@pytest.fixture
async def stub() -> AsyncIterator[StubLLMServer]:
    """The project's stub LLM server, speaking the real wire protocols, on a free port."""
    async with StubLLMServer() as server:
        yield server


# -- a real server, and what tests of runs build on it -------------------------------------------


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


@pytest.fixture
async def stub_model(client: httpx.AsyncClient, stub: StubLLMServer) -> dict[str, Any]:
    """A stub model config of the in-process app's admin."""
    return await create_stub_model(client, stub)


@pytest.fixture
async def project_id(client: httpx.AsyncClient) -> str:
    """A project of the in-process app's admin."""
    return (await client.post("/projects", json={"name": "runs"})).json()["id"]


@pytest.fixture
async def session_id(client: httpx.AsyncClient, project_id: str) -> str:
    """That project's global session."""
    response = await client.post(f"/projects/{project_id}/sessions", json={})
    return response.json()["session_id"]
