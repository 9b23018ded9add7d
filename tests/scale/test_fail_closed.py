"""Failing closed: Redis stopped mid-run (the run ends interrupted with what was shown, new
runs are refused with a clear error, /health says so, all of it recovering when Redis is back);
a process joining never touches live runs; SQLite refuses a second process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.scale.cluster import (
    HEADERS,
    chunks,
    cluster_env,
    conversation,
    get,
    start_chat,
    two_servers,
)
from tests.scale.redis_server import RedisServer
from tests.servers import free_port, vibeforge_server
from tests.stubs import TOKEN
from vibeforge.llm.stub import Script, StubLLMServer
from vibeforge.scale.cluster import BUS_LOST


async def test_redis_stopped_mid_run(
    tmp_path: Path, postgres_url: str, redis_prefix: str, stub: StubLLMServer
) -> None:
    redis = RedisServer().start()
    try:
        with two_servers(tmp_path / "data", postgres_url, redis.url, redis_prefix) as (a, b):
            talk = await conversation(a, stub)
            stub.script(Script(chunks=tuple(f"r{i} " for i in range(2000)), chunk_delay=0.01))
            on_a = await start_chat(a, talk.session_id, "go")
            for _ in range(15):
                await on_a.until("chunk")
            redis.stop()
            # Every event A's client saw stays; the run stops, its upstream closed.
            await stub.wait_for(lambda: stub.requests[0].client_disconnected_at is not None, 10)
            for server in (a, b):
                health = await get(server, "/health")
                assert health["status"] == "degraded"
                assert health["scale"]["status"] == "unavailable"
                assert health["scale"]["bus"]["error"]
            messages = (await get(b, f"/sessions/{talk.session_id}/messages"))["items"]
            assert messages[-1]["status"] == "interrupted"
            assert messages[-1]["reason"] == BUS_LOST
            assert messages[-1]["content"].startswith(chunks(on_a.events))
            async with httpx.AsyncClient(base_url=b.url, headers=HEADERS, timeout=30) as http:
                refused = await http.post(
                    f"/sessions/{talk.session_id}/messages?wait=false", json={"prompt": "more"}
                )
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"] == "bus_unavailable"
            assert "refuses new runs" in refused.json()["detail"]
            assert "Traceback" not in a.log() + b.log()

            redis.start()

            for server in (a, b):
                for _ in range(300):
                    if (await get(server, "/health"))["scale"]["status"] == "ok":
                        break
                    await asyncio.sleep(0.1)
                else:
                    raise AssertionError(f"{server.url} did not reconnect to Redis")
            stub.script(Script(chunks=("back",)))
            on_b = await start_chat(b, talk.session_id, "back")
            assert (await on_b.until("done"))["data"]["content"] == "back"
            await on_b.close()
    finally:
        redis.close()


async def test_a_process_joining_leaves_live_runs_alone(
    tmp_path: Path, postgres_url: str, redis_url: str, redis_prefix: str, stub: StubLLMServer
) -> None:
    env = cluster_env(redis_url, redis_prefix)
    data_dir = tmp_path / "data"
    with vibeforge_server(data_dir, postgres_url, env=env) as a:
        talk = await conversation(a, stub)
        stub.script(Script(chunks=tuple(f"j{i} " for i in range(4000)), chunk_delay=0.01))
        on_a = await start_chat(a, talk.session_id, "long")
        run_id = (await on_a.until("chat_session_start"))["data"]["run_id"]
        await on_a.until("chunk")
        with vibeforge_server(data_dir, postgres_url, env=env) as c:
            assert "start-up recovery: 0 runs of dead servers were closed" in c.log()
            assert (await get(c, f"/runs/{run_id}"))["status"] == "running"
            before = len(on_a.events)
            await on_a.until("chunk")
            await on_a.until("chunk")
            assert len(on_a.events) > before
            async with httpx.AsyncClient(base_url=c.url, headers=HEADERS, timeout=30) as http:
                cancelled = (await http.post(f"/runs/{run_id}/cancel")).json()
            assert cancelled["cancelled"] is True
        await on_a.close()


def serve_once(**env: str) -> subprocess.CompletedProcess[str]:
    """`vibeforge serve` with only `env` (and a free port) set, expected to exit by itself."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("VIBEFORGE_")}
    environment.update(VIBEFORGE_PORT=str(free_port()), VIBEFORGE_DEFAULT_MODEL="offline", **env)
    return subprocess.run(
        [sys.executable, "-m", "vibeforge.cli", "serve"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=90,
    )


def test_serve_refuses_a_second_process_on_one_sqlite_database(tmp_path: Path) -> None:
    database = tmp_path / "shared.db"
    url = f"sqlite+aiosqlite:///{database}"
    env = {"VIBEFORGE_ADMIN_TOKEN": TOKEN}
    with vibeforge_server(tmp_path / "one", url, env=env):
        # Another data directory, the same SQLite file: refused, saying what to use instead.
        second = serve_once(VIBEFORGE_DATA_DIR=str(tmp_path / "two"), VIBEFORGE_DATABASE_URL=url)
    assert second.returncode == 1
    assert "in use by process" in second.stderr
    assert "PostgreSQL" in second.stderr and "VIBEFORGE_REDIS_URL" in second.stderr


def test_scale_out_refuses_sqlite(tmp_path: Path, redis_url: str) -> None:
    refused = serve_once(VIBEFORGE_DATA_DIR=str(tmp_path / "data"), VIBEFORGE_REDIS_URL=redis_url)
    assert refused.returncode == 1
    assert "VIBEFORGE_REDIS_URL" in refused.stderr and "PostgreSQL" in refused.stderr


def test_a_process_refuses_to_start_without_its_redis(tmp_path: Path, postgres_url: str) -> None:
    refused = serve_once(
        VIBEFORGE_DATA_DIR=str(tmp_path / "data"),
        VIBEFORGE_DATABASE_URL=postgres_url,
        VIBEFORGE_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
    )
    assert refused.returncode != 0
    assert "VIBEFORGE_REDIS_URL is set but Redis does not answer" in refused.stderr
