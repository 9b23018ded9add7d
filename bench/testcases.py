"""A suite of N prompt tests of a small program, through the real service and sandbox.

Runs the suite three ways on an in-process app (a temporary data directory, SQLite): with
checks only, with the stub LLM as judge of every test, then replays each run of the judged
suite (the judge answered from the recording too). Prints JSON: wall time, server CPU per test
(this process and its children: the sandbox and git), the sandbox's start-to-exit p50/p99 as
the runs recorded it, and the replays' wall time. Goals: checks-only suite of 50 under 5 s on
a 2-core machine; replay under 1 s per 10 tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from vibeforge.app import create_app
from vibeforge.config import Settings
from vibeforge.llm.stub import Script, StubLLMServer

TOKEN = "vf_bench-admin-token-0123456789"
PROGRAM = "import sys\nprint(sys.stdin.read()[::-1])\n"
# Every output ends with "rebmun tupni" (the inputs reversed): the reason quotes it.
VERDICT = json.dumps({"pass": True, "reason": 'It printed "... rebmun tupni", reversed.'})


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _percentiles(values: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50_ms": round(cuts[49], 2), "p99_ms": round(cuts[98], 2)}


async def _timed(client: httpx.AsyncClient, method: str, url: str, body: Any) -> tuple:
    started_wall, started_cpu = time.perf_counter(), _cpu()
    response = await client.request(method, url, json=body, timeout=600)
    assert response.status_code == 200, response.text
    return response.json(), time.perf_counter() - started_wall, _cpu() - started_cpu


def _figures(suite: dict[str, Any], wall: float, cpu: float, count: int) -> dict[str, Any]:
    statuses = [run["status"] for run in suite["runs"]]
    durations = [run["duration_ms"] for run in suite["runs"] if run["duration_ms"] is not None]
    return {
        "tests": count,
        "passed": statuses.count("passed"),
        "wall_s": round(wall, 3),
        "wall_ms_per_test": round(wall * 1000 / count, 2),
        "cpu_ms_per_test": round(cpu * 1000 / count, 2),
        "sandbox_start_to_exit": _percentiles(durations),
    }


async def bench(count: int, concurrency: int) -> dict[str, Any]:
    """Measure the three suites; everything in temporary directories."""
    root = Path(tempfile.mkdtemp(prefix="vibeforge-bench-"))
    envs = Path(tempfile.mkdtemp(prefix="vibeforge-bench-envs-"))
    os.chmod(envs, 0o755)  # the sandbox's uids must reach the environments inside
    settings = Settings(
        data_dir=root / "data",
        admin_token=TOKEN,
        secret_key="bench-secret-key",
        default_model="offline",
        ollama_host="127.0.0.1:9",
        log_json=False,
        log_level="WARNING",
        test_env_dir=envs / "envs",
        test_concurrency=concurrency,
    )
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app), StubLLMServer() as stub:
            stub.rule(Script(purpose="judge", chunks=(VERDICT,)))
            transport = httpx.ASGITransport(app=app)
            headers = {"Authorization": f"Bearer {TOKEN}"}
            async with httpx.AsyncClient(
                transport=transport, base_url="http://bench", headers=headers
            ) as client:
                return await _run(client, stub, count)
    finally:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(envs, ignore_errors=True)


async def _run(client: httpx.AsyncClient, stub: StubLLMServer, count: int) -> dict[str, Any]:
    model = {
        "name": "stub",
        "provider": "openai-compatible",
        "model": "stub-model",
        "base_url": f"{stub.url}/v1",
        "api_key": "sk-bench-0123456789",
        "is_default": True,
    }
    assert (await client.post("/models", json=model)).status_code == 201
    project_id = (await client.post("/projects", json={"name": "bench"})).json()["id"]
    await client.put(f"/projects/{project_id}/files/main.py", json={"content": PROGRAM})
    tests = []
    for number in range(count):
        text = f"input number {number}"
        body = {
            "name": f"test {number}",
            "input_prompt": text,
            "checks": [{"type": "equals", "value": text[::-1]}, {"type": "stderr_empty"}],
        }
        tests.append((await client.post(f"/projects/{project_id}/tests", json=body)).json())
    # Warm up: the base environment is built once and cached (not part of the figures).
    await _timed(client, "POST", f"/tests/{tests[0]['id']}/run", {})
    suite_url = f"/projects/{project_id}/tests:run"
    plain, wall, cpu = await _timed(client, "POST", suite_url, {})
    checks_only = _figures(plain, wall, cpu, count)
    for test in tests:
        await client.patch(f"/tests/{test['id']}", json={"expected_behavior": "reverses it"})
    judged, wall, cpu = await _timed(client, "POST", suite_url, {})
    with_judge = _figures(judged, wall, cpu, count)
    asked = len(stub.requests)
    replay_url = f"/projects/{project_id}/test-suites/{judged['id']}/replay"
    replayed, wall, cpu = await _timed(client, "POST", replay_url, {})
    replay = _figures(replayed, wall, cpu, count)
    replay["wall_s_per_10_tests"] = round(wall * 10 / count, 3)
    replay["model_requests_during_replay"] = len(stub.requests) - asked
    return {
        "tests": count,
        "cores": os.cpu_count(),
        "isolation": plain["runs"][0]["isolation"],
        "checks_only": checks_only,
        "with_stub_judge": with_judge,
        "replay": replay,
        "goals": {
            "checks_only_suite_under_5_s": checks_only["wall_s"] < 5.0,
            "replay_under_1_s_per_10_tests": replay["wall_s_per_10_tests"] < 1.0,
        },
    }


def main() -> None:
    """Parse arguments, run, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tests", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(bench(args.tests, args.concurrency)), indent=2))


if __name__ == "__main__":
    main()
