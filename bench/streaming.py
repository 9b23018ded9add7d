"""Benchmark streaming through the server: chunk latency added, server CPU, cancel, memory.

A real `vibeforge serve` and the stub LLM each run in their own process. For each K (1, 50,
200) concurrent runs at 20 chunks/s, one WebSocket client per run:
- the latency a chunk gains passing through the server: arrival at the client minus the
  moment the stub wrote it, beside a client reading the stub directly in the same run;
- server CPU per relayed chunk (the server process's user+system time over the phase);
- cancel → `cancelled` received, and cancel → the stub seeing its socket close (p50/p99),
  with every run cancelled at once;
then memory per idle WebSocket with 1,000 open. Prints JSON.

Runs start `--ramp` seconds apart (default 10 ms: 200 runs start over 2 s), as clients arrive
in practice; the cancel phase is measured that way and again as a storm (every run started at
once and cancelled at about the same moment). A short warm-up first keeps the provider SDK's
one-time import out of the figures.

    .venv/bin/python bench/streaming.py [--sizes 1,50,200] [--chunks 60] [--idle 1000] [--ramp 0.01]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

TOKEN = "vf_bench-streaming-token-0123456789"
CHUNK_DELAY = 0.05  # 20 chunks per second per run


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50 and p99 in milliseconds of values in seconds."""
    if not values:
        return {"p50": None, "p99": None, "n": 0}
    ordered = sorted(values)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)

    return {"p50": pick(0.5), "p99": pick(0.99), "n": len(ordered)}


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    """Resident memory of a process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def start_stub() -> tuple[subprocess.Popen[str], str]:
    """The stub LLM server in its own process, and its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "vibeforge.cli", "stub-llm", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    return process, line.strip().rsplit(" ", 1)[-1]


def spawn_server(
    data_dir: Path, extra_env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    """`vibeforge serve` on a free port with a fresh data directory (and `extra_env`)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("VIBEFORGE_")},
        "VIBEFORGE_DATA_DIR": str(data_dir),
        "VIBEFORGE_PORT": str(port),
        "VIBEFORGE_ADMIN_TOKEN": TOKEN,
        "VIBEFORGE_DEFAULT_MODEL": "offline",
        "VIBEFORGE_LOG_LEVEL": "WARNING",
        **(extra_env or {}),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "vibeforge.cli", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    return process, f"http://127.0.0.1:{port}"


async def start_server(
    data_dir: Path, extra_env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    """A server that answers /health."""
    process, url = spawn_server(data_dir, extra_env)
    async with httpx.AsyncClient() as http:
        for _ in range(600):
            try:
                if (await http.get(f"{url}/health")).status_code == 200:
                    return process, url
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError("server did not start")


class Bench:
    """One server, one stub, and the sessions the phases use."""

    def __init__(self, server: subprocess.Popen[str], url: str, stub_url: str) -> None:
        self.server, self.url, self.stub_url = server, url, stub_url
        self.http = httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
        )
        self.stub = httpx.AsyncClient(base_url=stub_url, timeout=60)
        self.project_id = ""

    async def setup(self) -> None:
        await self.http.post(
            "/models",
            json={
                "name": "stub",
                "provider": "openai-compatible",
                "model": "stub-model",
                "base_url": f"{self.stub_url}/v1",
                "api_key": "sk-bench",
                "is_default": True,
            },
        )
        self.project_id = (await self.http.post("/projects", json={"name": "bench"})).json()["id"]

    async def sessions(self, prefix: str, count: int) -> list[str]:
        ids = []
        for index in range(count):
            response = await self.http.post(
                f"/projects/{self.project_id}/sessions", json={"node_id": f"{prefix}-{index}"}
            )
            ids.append(response.json()["session_id"])
        return ids

    async def script(self, chunks: int) -> None:
        await self.stub.post("/_stub/reset")
        rule = {"chunks": [f"c{i} " for i in range(chunks)], "chunk_delay": CHUNK_DELAY}
        await self.stub.post("/_stub/script", json={"default": rule})

    async def stub_requests(self) -> list[dict[str, Any]]:
        return (await self.stub.get("/_stub/requests")).json()["requests"]

    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + f"/ws?token={TOKEN}"


def _prompt_of(record: dict[str, Any]) -> str:
    messages = record["body"].get("messages") or []
    return str(messages[-1].get("content")) if messages else ""


async def stream_phase(bench: Bench, k: int, chunks: int, ramp_s: float) -> dict[str, Any]:
    """K runs streamed to K WebSocket clients, started evenly over `ramp_s`; chunk arrival
    times and server CPU."""
    await bench.script(chunks)
    sessions = await bench.sessions(f"stream-{k}", k)
    arrivals: dict[str, list[float]] = {}

    async def client(index: int, session_id: str) -> None:
        times: list[float] = []
        await asyncio.sleep(index * ramp_s / k)
        async with connect(bench.ws_url(), max_size=None) as ws:
            await ws.send(
                json.dumps(
                    {
                        "type": "chat",
                        "data": {
                            "session_id": session_id,
                            "prompt": f"run {k}-{index}",
                            "mode": "chat",
                        },
                    }
                )
            )
            async for raw in ws:
                now = time.monotonic()
                # Envelopes start with their type: no JSON parse per chunk on the client side.
                if raw.startswith('{"type":"chunk"'):
                    if '"content":""' not in raw:
                        times.append(now)
                elif raw.startswith(('{"type":"done"', '{"type":"error"')):
                    break
        arrivals[f"run {k}-{index}"] = times

    cpu_before = cpu_seconds(bench.server.pid)
    await asyncio.gather(*(client(i, sid) for i, sid in enumerate(sessions)))
    cpu_used = cpu_seconds(bench.server.pid) - cpu_before
    latencies = []
    relayed = 0
    for record in await bench.stub_requests():
        times = arrivals.get(_prompt_of(record))
        if times is None:
            continue
        relayed += len(times)
        latencies += [got - sent for got, sent in zip(times, record["chunk_sent_at"], strict=False)]
    return {
        "through_server_ms": percentiles(latencies),
        "server_cpu_ms_per_chunk": round(cpu_used * 1000 / max(relayed, 1), 4),
        "chunks_relayed": relayed,
        "chunks_expected": k * chunks,
    }


async def direct_phase(bench: Bench, k: int, chunks: int) -> dict[str, Any]:
    """K clients reading the stub directly: the baseline chunk latency."""
    await bench.script(chunks)
    arrivals: dict[str, list[float]] = {}

    async def client(index: int, http: httpx.AsyncClient) -> None:
        prompt = f"direct {k}-{index}"
        body = {
            "model": "stub-model",
            "stream": True,
            "messages": [{"role": "user", "content": prompt}],
        }
        times = []
        async with http.stream("POST", "/v1/chat/completions", json=body) as response:
            async for line in response.aiter_lines():
                if not line.startswith("data: {"):
                    continue
                now = time.monotonic()
                choices = json.loads(line[6:]).get("choices") or [{}]
                if choices[0].get("delta", {}).get("content"):
                    times.append(now)
        arrivals[prompt] = times

    limits = httpx.Limits(max_connections=k + 10)
    async with httpx.AsyncClient(base_url=bench.stub_url, limits=limits, timeout=60) as http:
        await asyncio.gather(*(client(i, http) for i in range(k)))
    latencies = []
    for record in await bench.stub_requests():
        times = arrivals.get(_prompt_of(record))
        if times:
            latencies += [
                got - sent for got, sent in zip(times, record["chunk_sent_at"], strict=False)
            ]
    return {"direct_ms": percentiles(latencies)}


async def cancel_phase(bench: Bench, k: int, ramp_s: float) -> dict[str, Any]:
    """K long runs started over `ramp_s`, each cancelled by its client after 3 chunks (with no
    ramp: all cancels at about the same moment, a cancel storm)."""
    await bench.script(2000)
    sessions = await bench.sessions(f"cancel-{k}-{ramp_s}", k)
    cancel_sent: dict[str, float] = {}
    to_cancelled: list[float] = []
    lost = 0

    async def client(index: int, session_id: str) -> None:
        nonlocal lost
        prompt = f"run cancel {k}-{ramp_s}-{index}"
        await asyncio.sleep(index * ramp_s / k)
        async with connect(bench.ws_url(), max_size=None) as ws:
            await ws.send(
                json.dumps(
                    {
                        "type": "chat",
                        "data": {"session_id": session_id, "prompt": prompt, "mode": "chat"},
                    }
                )
            )
            seen = 0
            run_id = None
            async for raw in ws:
                event = json.loads(raw)
                if event["type"] == "chat_session_start":
                    run_id = event["data"]["run_id"]
                elif event["type"] == "chunk":
                    seen += 1
                    if seen == 3:
                        cancel_sent[prompt] = time.monotonic()
                        await ws.send(json.dumps({"type": "cancel", "data": {"run_id": run_id}}))
                elif event["type"] == "cancelled":
                    to_cancelled.append(time.monotonic() - cancel_sent[prompt])
                    return
                elif event["type"] in ("done", "error"):
                    lost += 1
                    return

    await asyncio.gather(*(client(i, sid) for i, sid in enumerate(sessions)))
    await asyncio.sleep(0.5)
    to_upstream = []
    for record in await bench.stub_requests():
        sent = cancel_sent.get(_prompt_of(record))
        if sent is None:
            continue
        if record["client_disconnected_at"] is None:
            lost += 1
        else:
            to_upstream.append(record["client_disconnected_at"] - sent)
    return {
        "cancel_to_cancelled_ms": percentiles(to_cancelled),
        "cancel_to_upstream_disconnect_ms": percentiles(to_upstream),
        "cancels_lost": lost,
    }


async def idle_memory(bench: Bench, count: int) -> dict[str, Any]:
    """Server memory per idle WebSocket, with `count` open at once."""
    before = rss_bytes(bench.server.pid)
    sockets = []
    for _ in range(count):
        ws = await connect(bench.ws_url())
        await ws.send(json.dumps({"type": "ping", "data": {}}))
        await ws.recv()
        sockets.append(ws)
    await asyncio.sleep(0.5)
    after = rss_bytes(bench.server.pid)
    await asyncio.gather(*(ws.close() for ws in sockets))
    return {
        "idle_websockets": count,
        "server_rss_delta_mb": round((after - before) / 2**20, 2),
        "kb_per_idle_websocket": round((after - before) / 1024 / max(count, 1), 2),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1,50,200")
    parser.add_argument("--chunks", type=int, default=60)
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument(
        "--ramp", type=float, default=0.01, help="seconds between run starts (0: all at once)"
    )
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))

    stub, stub_url = start_stub()
    with tempfile.TemporaryDirectory(prefix="vf-bench-") as scratch:
        server, url = await start_server(Path(scratch) / "data")
        bench = Bench(server, url, stub_url)
        try:
            await bench.setup()
            # Warm-up: the provider SDK's import and first connections are not measured.
            await stream_phase(bench, 2, 3, 0)
            await direct_phase(bench, 2, 3)
            # The client's own GC pauses would be charged to the server: freeze its heap.
            gc.collect()
            gc.freeze()
            results = []
            for k in (int(size) for size in args.sizes.split(",")):
                ramp_s = args.ramp * k
                streamed = await stream_phase(bench, k, args.chunks, ramp_s)
                direct = await direct_phase(bench, k, args.chunks)
                cancelled = await cancel_phase(bench, k, ramp_s)
                storm = await cancel_phase(bench, k, 0)
                through, baseline = streamed["through_server_ms"], direct["direct_ms"]
                added = {
                    q: round(through[q] - baseline[q], 3)
                    if through[q] is not None and baseline[q] is not None
                    else None
                    for q in ("p50", "p99")
                }
                results.append(
                    {
                        "k": k,
                        "chunks_per_run": args.chunks,
                        "chunks_per_second": 1 / CHUNK_DELAY,
                        "starts_spread_over_s": ramp_s,
                        **streamed,
                        **direct,
                        "added_chunk_latency_ms": added,
                        **cancelled,
                        "cancel_storm": storm,
                    }
                )
            memory = await idle_memory(bench, args.idle)
            print(
                json.dumps({"benchmark": "streaming", "runs": results, "memory": memory}, indent=2)
            )
        finally:
            await bench.http.aclose()
            await bench.stub.aclose()
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
            stub.terminate()
            stub.wait(timeout=10)


if __name__ == "__main__":
    import uvloop

    # The client runs on uvloop too, so that it steals less CPU from the server it measures.
    uvloop.run(main())
