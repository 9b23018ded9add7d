"""Background work across processes: a killed server's test suite is ended by a survivor, its
attachment extraction is done by a survivor, and a process starting beside a live one leaves
that one's work alone."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx

from tests.attachments.conftest import extracting_pdf, settled
from tests.scale.cluster import HEADERS, cluster_env, get
from tests.servers import RunningServer, vibeforge_server
from tests.testcases.conftest import env_dir, make_project, make_test  # noqa: F401 (fixture)
from vibeforge.testcases.recovery import OWNER_DIED

SLOW_PROGRAM = {"main.py": "import time\ntime.sleep(600)\n"}


async def _start_slow_suite(server: RunningServer) -> tuple[str, str]:
    """A running suite of one test whose program sleeps; (suite id, project id)."""
    async with httpx.AsyncClient(base_url=server.url, headers=HEADERS, timeout=60) as http:
        project_id = await make_project(http, SLOW_PROGRAM)
        settings = {"timeout_s": 600}
        patched = await http.patch(f"/projects/{project_id}/test-settings", json=settings)
        assert patched.status_code == 200, patched.text
        test = await make_test(http, project_id)
        started = await http.post(f"/tests/{test['id']}/run", params={"wait": "false"}, json={})
        assert started.status_code == 202, started.text
        return started.json()["id"], project_id


async def _suite_status(server: RunningServer, project_id: str, suite_id: str) -> dict:
    return await get(server, f"/projects/{project_id}/test-suites/{suite_id}")


async def _until_ended(server: RunningServer, project_id: str, suite_id: str) -> dict:
    for _ in range(150):
        suite = await _suite_status(server, project_id, suite_id)
        if suite["status"] != "running":
            return suite
        await asyncio.sleep(0.1)
    raise AssertionError(f"suite {suite_id} still running: {suite}")


async def test_a_killed_servers_suite_is_ended_by_a_survivor_and_a_new_process_spares_live_ones(
    tmp_path: Path,
    postgres_url: str,
    redis_url: str,
    redis_prefix: str,
    env_dir: Path,  # noqa: F811
) -> None:
    env = {**cluster_env(redis_url, redis_prefix), "VIBEFORGE_TEST_ENV_DIR": str(env_dir)}
    data = tmp_path / "data"
    with (
        vibeforge_server(data, postgres_url, env=env) as a,
        vibeforge_server(data, postgres_url, env=env) as b,
    ):
        doomed, doomed_project = await _start_slow_suite(a)
        alive, alive_project = await _start_slow_suite(b)
        await asyncio.sleep(2)  # past one lease (1.5 s): both are held, not merely young
        # A third process starting up runs its recovery: the live suites stay running.
        with vibeforge_server(data, postgres_url, env=env) as c:
            assert (await _suite_status(c, doomed_project, doomed))["status"] == "running"
            assert (await _suite_status(c, alive_project, alive))["status"] == "running"
        a.process.send_signal(signal.SIGKILL)
        a.process.wait(timeout=10)
        ended = await _until_ended(b, doomed_project, doomed)
        assert ended["status"] == "finished"
        (run,) = ended["runs"]
        assert run["status"] == "error" and run["reason"] == OWNER_DIED
        assert (await _suite_status(b, alive_project, alive))["status"] == "running"
        health = await get(b, "/health")
        assert health["scale"]["leases"]["dead_suites_closed"] == 1
        assert not b.crashes(), b.log()[-3000:]


async def test_a_killed_servers_extraction_is_finished_by_a_survivor(
    tmp_path: Path, postgres_url: str, redis_url: str, redis_prefix: str
) -> None:
    env = cluster_env(redis_url, redis_prefix)
    data = tmp_path / "data"
    with (
        vibeforge_server(data, postgres_url, env=env) as a,
        vibeforge_server(data, postgres_url, env=env) as b,
    ):
        async with httpx.AsyncClient(base_url=a.url, headers=HEADERS, timeout=30) as on_a:
            project = (await on_a.post("/projects", json={"name": "p"})).json()["id"]
            attachment = await extracting_pdf(on_a, project)
        a.process.send_signal(signal.SIGKILL)
        a.process.wait(timeout=10)
        async with httpx.AsyncClient(base_url=b.url, headers=HEADERS, timeout=30) as on_b:
            found = await settled(on_b, attachment, within=60)
        assert found["state"] == "ready" and found["units"] == 1000
        health = await get(b, "/health")
        assert health["scale"]["leases"]["dead_extractions_restarted"] == 1
        assert not b.crashes(), b.log()[-3000:]
