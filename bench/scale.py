"""Benchmark scale-out: one process against two on PostgreSQL + Redis, on this machine.

For each configuration (`single`: one process, in-process bus; `one_redis`: one process on
the Redis bus; `two`: two processes, clients spread over both) K concurrent runs stream at
20 chunks/s, K rising; the figure is the largest K whose p99 latency a chunk gains passing
through the servers (arrival at the client minus the moment the stub wrote it) stays within
20 ms. Then, on two processes:
- cancel across processes: a run on A cancelled by `POST /runs/{id}/cancel` sent to B, timed
  from the request to the stub seeing its upstream socket close, and to B's answer;
- switch: clients reading a run on A that drop after some chunks and resume on B with
  `after_seq`: chunks lost and duplicated (by seq);
- kill: A killed (SIGKILL) with live runs watched from B: chunks a client saw that the stored
  `interrupted` message lacks, and duplicated seqs.
The stub runs in its own process; PostgreSQL and Redis are started by the project's scripts
(this script re-runs itself under them when VIBEFORGE_TEST_DATABASE_URL or
VIBEFORGE_TEST_REDIS_URL is missing). Prints JSON.

    .venv/bin/python bench/scale.py [--sizes 5,10,20,50,100,200] [--cancels 50] [--switches 20]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url
from streaming_harness import TOKEN, Bench, percentiles, start_stub
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
GOAL_MS = 20.0
CHUNKS = 40  # two seconds per run at 20 chunks/s
CHUNK_DELAY = 0.05  # 20 chunks/s per stream


async def new_database(server_url: str) -> str:
    """A fresh PostgreSQL database on the test server."""
    base = make_url(server_url)
    name = f"bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(base.set(drivername="postgresql").render_as_string(False))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return base.set(database=name).render_as_string(hide_password=False)


def spawn(data_dir: Path, database_url: str, redis_url: str | None, prefix: str) -> tuple[Any, str]:
    """`vibeforge serve` on a free port (scaled out under `prefix` when `redis_url` is given)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIBEFORGE_")}
    env.update(
        VIBEFORGE_DATA_DIR=str(data_dir),
        VIBEFORGE_DATABASE_URL=database_url,
        VIBEFORGE_PORT=str(port),
        VIBEFORGE_ADMIN_TOKEN=TOKEN,
        VIBEFORGE_DEFAULT_MODEL="offline",
        VIBEFORGE_LOG_LEVEL="WARNING",
    )
    if redis_url:
        env.update(VIBEFORGE_REDIS_URL=redis_url, VIBEFORGE_REDIS_PREFIX=prefix)
    process = subprocess.Popen(
        [sys.executable, "-m", "vibeforge.cli", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, f"http://127.0.0.1:{port}"


async def wait_healthy(url: str) -> None:
    """Until the server answers /health."""
    async with httpx.AsyncClient() as http:
        for _ in range(1200):
            try:
                if (await http.get(f"{url}/health")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} did not start")


class Deployment:
    """N server processes of one configuration, and the stub."""

    def __init__(self, processes: list[Any], urls: list[str], stub_url: str) -> None:
        self.processes, self.urls = processes, urls
        self.bench = Bench(processes[0], urls[0], stub_url)
        self.http = [
            httpx.AsyncClient(
                base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
            )
            for url in urls
        ]

    @classmethod
    async def start(cls, count: int, redis_url: str | None, stub_url: str) -> Deployment:
        """Start `count` processes sharing one data directory and database."""
        data_dir = Path(tempfile.mkdtemp(prefix="vibeforge-bench-scale-")) / "data"
        database = await new_database(os.environ["VIBEFORGE_TEST_DATABASE_URL"])
        prefix = f"b{uuid.uuid4().hex[:8]}"
        processes, urls = [], []
        for _ in range(count):
            process, url = spawn(data_dir, database, redis_url, prefix)
            await wait_healthy(url)
            processes.append(process)
            urls.append(url)
        deployment = cls(processes, urls, stub_url)
        await deployment.bench.setup()
        return deployment

    def ws(self, index: int) -> str:
        """The /ws URL of process `index` (modulo their number)."""
        url = self.urls[index % len(self.urls)]
        return url.replace("http://", "ws://") + f"/ws?token={TOKEN}"

    def stop(self) -> None:
        """Stop every process."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def chat(session_id: str, prompt: str) -> str:
    """A chat command's envelope."""
    data = {"session_id": session_id, "prompt": prompt, "mode": "chat"}
    return json.dumps({"type": "chat", "data": data})


async def streams(deployment: Deployment, k: int) -> dict[str, Any]:
    """K runs at 20 chunks/s, client i on process i mod N; the latency chunks gain."""
    bench = deployment.bench
    await bench.script(CHUNKS, CHUNK_DELAY)
    sessions = await bench.sessions(f"stream-{k}-{uuid.uuid4().hex[:6]}", k)
    arrivals: dict[str, list[float]] = {}

    async def client(index: int, session_id: str) -> None:
        prompt, times = f"run {k}-{index}-{session_id}", []
        await asyncio.sleep(index * 0.01)
        async with connect(deployment.ws(index), max_size=None) as ws:
            await ws.send(chat(session_id, prompt))
            async for raw in ws:
                now = time.monotonic()
                if raw.startswith('{"type":"chunk"') and '"content":""' not in raw:
                    times.append(now)
                elif raw.startswith(('{"type":"done"', '{"type":"error"')):
                    break
        arrivals[prompt] = times

    await asyncio.gather(*(client(i, sid) for i, sid in enumerate(sessions)))
    latencies, relayed = [], 0
    for record in await bench.stub_requests():
        messages = record["body"].get("messages") or []
        times = arrivals.get(str(messages[-1].get("content")) if messages else "")
        if times is None:
            continue
        relayed += len(times)
        latencies += [got - sent for got, sent in zip(times, record["chunk_sent_at"], strict=False)]
    return {
        "runs": k,
        "added_ms": percentiles(latencies),
        "chunks_relayed": relayed,
        "chunks_expected": k * CHUNKS,
    }


async def sustained(deployment: Deployment, sizes: list[int]) -> dict[str, Any]:
    """Rising K: the largest K whose p99 added latency is within the goal; the steps go on
    (to show the curve) until p99 passes five times the goal or chunks go missing."""
    steps, best = [], 0
    for k in sizes:
        step = await streams(deployment, k)
        steps.append(step)
        p99 = step["added_ms"]["p99"]
        complete = step["chunks_relayed"] == step["chunks_expected"]
        if p99 is not None and p99 <= GOAL_MS and complete:
            best = max(best, k)
        if p99 is None or p99 > 5 * GOAL_MS or not complete:
            break
    return {"max_runs_within_goal": best, "steps": steps}


async def start_run(deployment: Deployment, index: int, session_id: str, prompt: str) -> Any:
    """A socket on process `index` with a run started; (socket, run id)."""
    ws = await connect(deployment.ws(index), max_size=None)
    await ws.send(chat(session_id, prompt))
    while True:
        event = json.loads(await ws.recv())
        if event["type"] == "chat_session_start":
            return ws, event["data"]["run_id"]


async def cancels(deployment: Deployment, count: int) -> dict[str, Any]:
    """Runs on A cancelled through B: to the upstream close, and to B's answer."""
    bench = deployment.bench
    await bench.script(2000, CHUNK_DELAY)
    sessions = await bench.sessions(f"cancel-{uuid.uuid4().hex[:6]}", count)
    sent_at: dict[str, float] = {}
    answered, refused = [], 0
    for index, session_id in enumerate(sessions):
        prompt = f"cancel {index} {session_id}"
        ws, run_id = await start_run(deployment, 0, session_id, prompt)
        for _ in range(3):
            while json.loads(await ws.recv())["type"] != "chunk":
                pass
        sent_at[prompt] = time.monotonic()
        answer = await deployment.http[1].post(f"/runs/{run_id}/cancel")
        answered.append(time.monotonic() - sent_at[prompt])
        refused += not answer.json().get("cancelled")
        await ws.close()
    to_upstream, not_closed = [], 0
    for record in await bench.stub_requests():
        messages = record["body"].get("messages") or []
        sent = sent_at.get(str(messages[-1].get("content")) if messages else "")
        if sent is None:
            continue
        if record["client_disconnected_at"] is None:
            not_closed += 1
        else:
            to_upstream.append(record["client_disconnected_at"] - sent)
    return {
        "runs": count,
        "cancel_on_b_to_upstream_closed_on_a_ms": percentiles(to_upstream),
        "cancel_on_b_answered_ms": percentiles(answered),
        "not_cancelled": refused,
        "upstream_left_open": not_closed,
    }


async def read_events(ws: Any, until_types: tuple[str, ...], limit: int | None = None) -> list[Any]:
    """Numbered events until one of `until_types` (included) or `limit` chunks."""
    events, chunks = [], 0
    while True:
        event = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if event.get("seq"):
            events.append(event)
        chunks += event["type"] == "chunk"
        if event["type"] in until_types or (limit is not None and chunks >= limit):
            return events


def losses(seen: list[Any], stored: str, complete: bool) -> dict[str, int]:
    """Whether chunks a client saw are missing from `stored` (for a `complete` run: whether
    the client saw other than all of it), seq gaps, and seqs seen twice."""
    seqs = [event["seq"] for event in seen]
    text = "".join(e["data"].get("content") or "" for e in seen if e["type"] == "chunk")
    gaps = sum(b - a - 1 for a, b in itertools.pairwise(seqs) if b > a + 1)
    return {
        "lost": int(stored != text if complete else not stored.startswith(text)),
        "seq_gaps": gaps,
        "duplicated": len(seqs) - len(set(seqs)),
    }


async def switches(deployment: Deployment, count: int) -> dict[str, Any]:
    """Clients that leave A mid-stream and resume on B with after_seq."""
    bench = deployment.bench
    await bench.script(60, CHUNK_DELAY)
    sessions = await bench.sessions(f"switch-{uuid.uuid4().hex[:6]}", count)
    totals = {"lost": 0, "seq_gaps": 0, "duplicated": 0}

    async def one(index: int, session_id: str) -> None:
        ws, _ = await start_run(deployment, 0, session_id, f"switch {index} {session_id}")
        seen = await read_events(ws, ("done",), limit=10 + index % 20)
        await ws.close()
        again = await connect(deployment.ws(1), max_size=None)
        after = seen[-1]["seq"]
        subscribe = {"type": "subscribe", "data": {"session_id": session_id, "after_seq": after}}
        await again.send(json.dumps(subscribe))
        seen += await read_events(again, ("done",))
        await again.close()
        stored = (await deployment.http[1].get(f"/sessions/{session_id}/messages")).json()
        result = losses(seen, stored["items"][-1]["content"], complete=True)
        for key in totals:
            totals[key] += result[key]

    await asyncio.gather(*(one(i, sid) for i, sid in enumerate(sessions)))
    return {"clients": count, **totals}


async def kill(deployment: Deployment, count: int) -> dict[str, Any]:
    """SIGKILL A with `count` live runs watched from B; what B stores against what was seen."""
    bench = deployment.bench
    await bench.script(4000, CHUNK_DELAY)
    sessions = await bench.sessions(f"kill-{uuid.uuid4().hex[:6]}", count)
    watchers = []
    for session_id in sessions:
        ws = await connect(deployment.ws(1), max_size=None)
        await ws.send(json.dumps({"type": "subscribe", "data": {"session_id": session_id}}))
        watchers.append(ws)
    owners = [await start_run(deployment, 0, sid, f"kill {sid}") for sid in sessions]
    seen = [await read_events(ws, ("done",), limit=10) for ws in watchers]
    killed_at = time.monotonic()
    deployment.processes[0].send_signal(signal.SIGKILL)
    deployment.processes[0].wait()
    closed_in = []
    for index, ws in enumerate(watchers):
        seen[index] += await read_events(ws, ("interrupted",))
        closed_in.append(time.monotonic() - killed_at)
        await ws.close()
    totals = {"lost": 0, "seq_gaps": 0, "duplicated": 0}
    for session_id, events in zip(sessions, seen, strict=True):
        stored = (await deployment.http[1].get(f"/sessions/{session_id}/messages")).json()
        last = stored["items"][-1]
        result = losses(events, last["content"], complete=False)
        result["lost"] += last["status"] != "interrupted"
        for key in totals:
            totals[key] += result[key]
    for ws, _ in owners:
        await ws.close()
    return {"runs": count, "kill_to_interrupted_on_b_ms": percentiles(closed_in), **totals}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5,10,20,50,100,200")
    parser.add_argument("--cancels", type=int, default=50)
    parser.add_argument("--switches", type=int, default=20)
    parser.add_argument("--kills", type=int, default=10)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    redis_url = os.environ["VIBEFORGE_TEST_REDIS_URL"]
    stub, stub_url = start_stub()
    report: dict[str, Any] = {"benchmark": "scale", "cpus": os.cpu_count(), "goal_p99_ms": GOAL_MS}
    try:
        for name, count, redis in (
            ("single", 1, None),
            ("one_redis", 1, redis_url),
            ("two", 2, redis_url),
        ):
            deployment = await Deployment.start(count, redis, stub_url)
            try:
                report[name] = await sustained(deployment, sizes)
                if count == 2:
                    report["cancel_across"] = await cancels(deployment, args.cancels)
                    report["switch"] = await switches(deployment, args.switches)
                    report["kill"] = await kill(deployment, args.kills)
            finally:
                deployment.stop()
    finally:
        stub.terminate()
        stub.wait()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    if not os.environ.get("VIBEFORGE_TEST_DATABASE_URL") or not os.environ.get(
        "VIBEFORGE_TEST_REDIS_URL"
    ):
        scripts = ROOT / "scripts"
        command = [
            "bash",
            str(scripts / "with-postgres.sh"),
            "bash",
            str(scripts / "with-redis.sh"),
        ]
        os.execvp("bash", [*command, sys.executable, *sys.argv])
    asyncio.run(main())
