"""Benchmark streaming through the server: chunk latency added, server CPU, cancel, bursts.

A real `vibeforge serve` and the stub LLM each run in their own process. For each K (1, 50,
200) concurrent runs at 20 chunks/s, one WebSocket client per run:
- the latency a chunk gains passing through the server: arrival at the client minus the
  moment the stub wrote it; with `--compare`, beside a client reading the stub directly in
  the same run (the floor);
- server CPU per relayed chunk: over the whole phase (run starts and finishes included), and
  at steady state (the window after the last run started and before the first finished);
- cancel → `cancelled` received, and cancel → the stub seeing its socket close (p50/p99),
  with runs started over the ramp, and again as a storm (all started and cancelled at once);
then a burst of `--burst` chats sent at once on open sockets (chat frame → the stub receiving
the request, and `/health` latency during it), and memory per idle WebSocket. Prints JSON.

Runs start `--ramp` seconds apart (default 10 ms: 200 runs start over 2 s), as clients arrive
in practice. A short warm-up first keeps the provider SDK's one-time import out of the
figures. `--profile DIR` also records a py-spy flame graph of the server per phase (py-spy
must be installed beside this Python; it slows the server, so profile in a separate run).

    .venv/bin/python bench/streaming.py [--sizes 1,50,200] [--chunks 100] [--compare]
        [--burst 100] [--idle 1000] [--ramp 0.01] [--phases stream,cancel,storm]
        [--profile bench/results/NAME]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import tempfile
import time
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
from streaming_harness import (
    Bench,
    CpuSampler,
    Profiler,
    chat_frame,
    percentiles,
    prompt_of,
    rss_bytes,
    start_server,
    start_stub,
    stop,
    wake_floor_us,
)
from websockets.asyncio.client import connect

CHUNK_DELAY = 0.05  # 20 chunks per second per run
STEADY_MARGIN_S = 0.5  # after the last start and before the first finish


async def stream_phase(bench: Bench, k: int, chunks: int, ramp_s: float) -> dict[str, Any]:
    """K runs streamed to K WebSocket clients, started evenly over `ramp_s`; chunk arrival
    times and server CPU, over the phase and at steady state."""
    await bench.script(chunks, CHUNK_DELAY)
    sessions = await bench.sessions(f"stream-{k}", k)
    arrivals: dict[str, list[float]] = {}
    sent_at: list[float] = []
    done_at: list[float] = []

    async def client(index: int, session_id: str) -> None:
        times: list[float] = []
        await asyncio.sleep(index * ramp_s / k)
        async with connect(bench.ws_url(), max_size=None) as ws:
            await ws.send(chat_frame(session_id, f"run {k}-{index}"))
            sent_at.append(time.monotonic())
            async for raw in ws:
                now = time.monotonic()
                # Envelopes start with their type: no JSON parse per chunk on the client side.
                if raw.startswith('{"type":"chunk"'):
                    if '"content":""' not in raw:
                        times.append(now)
                elif raw.startswith(('{"type":"done"', '{"type":"error"')):
                    done_at.append(now)
                    break
        arrivals[f"run {k}-{index}"] = times

    with CpuSampler(bench.server.pid) as cpu:
        await asyncio.gather(*(client(i, sid) for i, sid in enumerate(sessions)))
    (_, first_cpu), (_, last_cpu) = cpu.samples[0], cpu.samples[-1]
    latencies = []
    relayed = 0
    for record in await bench.stub_requests():
        times = arrivals.get(prompt_of(record))
        if times is None:
            continue
        relayed += len(times)
        latencies += [got - sent for got, sent in zip(times, record["chunk_sent_at"], strict=False)]
    steady: dict[str, Any] = {"server_cpu_ms_per_chunk": None}
    if sent_at and done_at:
        window = cpu.window(max(sent_at) + STEADY_MARGIN_S, min(done_at) - STEADY_MARGIN_S)
        if window is not None:
            wall, used = window
            start, end = max(sent_at) + STEADY_MARGIN_S, min(done_at) - STEADY_MARGIN_S
            counted = sum(start <= t <= end for times in arrivals.values() for t in times)
            steady = {
                "server_cpu_ms_per_chunk": round(used * 1000 / max(counted, 1), 4),
                "server_cores_busy": round(used / wall, 3),
                "window_s": round(wall, 2),
                "chunks": counted,
            }
    return {
        "through_server_ms": percentiles(latencies),
        "server_cpu_ms_per_chunk": round((last_cpu - first_cpu) * 1000 / max(relayed, 1), 4),
        "steady_state": steady,
        "chunks_relayed": relayed,
        "chunks_expected": k * chunks,
    }


async def direct_phase(bench: Bench, k: int, chunks: int, ramp_s: float) -> dict[str, Any]:
    """K clients reading the stub directly, started over the same ramp: the floor."""
    await bench.script(chunks, CHUNK_DELAY)
    arrivals: dict[str, list[float]] = {}

    async def client(index: int, http: httpx.AsyncClient) -> None:
        prompt = f"direct {k}-{index}"
        body = {
            "model": "stub-model",
            "stream": True,
            "messages": [{"role": "user", "content": prompt}],
        }
        times = []
        await asyncio.sleep(index * ramp_s / k)
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
        times = arrivals.get(prompt_of(record))
        if times:
            latencies += [
                got - sent for got, sent in zip(times, record["chunk_sent_at"], strict=False)
            ]
    return {"direct_ms": percentiles(latencies)}


async def cancel_phase(bench: Bench, k: int, ramp_s: float) -> dict[str, Any]:
    """K long runs started over `ramp_s`, each cancelled by its client after 3 chunks (with no
    ramp: all cancels at about the same moment, a cancel storm)."""
    # 200 chunks: 10 s, far past the cancel. The stub renders a request's whole answer when
    # it arrives (2,000 chunks took it 10-20 ms each), and 200 of those at once stalled its
    # loop for hundreds of milliseconds: the disconnects it recorded were late by as much.
    await bench.script(200, CHUNK_DELAY)
    sessions = await bench.sessions(f"cancel-{k}-{ramp_s}", k)
    cancel_sent: dict[str, float] = {}
    to_cancelled: list[float] = []
    lost = 0

    async def client(index: int, session_id: str) -> None:
        nonlocal lost
        prompt = f"run cancel {k}-{ramp_s}-{index}"
        await asyncio.sleep(index * ramp_s / k)
        async with connect(bench.ws_url(), max_size=None) as ws:
            await ws.send(chat_frame(session_id, prompt))
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
        sent = cancel_sent.get(prompt_of(record))
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


async def health_probe(bench: Bench, samples: list[tuple[float, float]], every: float) -> None:
    """GET /health every `every` seconds, each on its own task (open loop: a slow answer does
    not delay the next probe), recording (sent at, latency)."""

    async def one(http: httpx.AsyncClient) -> None:
        began = time.monotonic()
        await http.get("/health")
        samples.append((began, time.monotonic() - began))

    limits = httpx.Limits(max_connections=50, max_keepalive_connections=50)
    async with httpx.AsyncClient(base_url=bench.url, limits=limits, timeout=30) as http:
        tasks: set[asyncio.Task[None]] = set()
        try:
            while True:
                task = asyncio.create_task(one(http))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                await asyncio.sleep(every)
        finally:
            for task in tasks:
                task.cancel()


async def burst_phase(
    bench: Bench, n: int, chunks: int, profiling: AbstractAsyncContextManager[None]
) -> dict[str, Any]:
    """`n` chats sent at once on sockets already open: chat frame → the stub receiving the
    request, and /health latency before, while the runs start, and until they finish. Only
    the burst itself is profiled, not the sessions' creation before it."""
    await bench.script(chunks, CHUNK_DELAY)
    sessions = await bench.sessions("burst", n)
    sockets = []
    for _ in range(n):
        ws = await connect(bench.ws_url(), max_size=None)
        await ws.send(json.dumps({"type": "ping", "data": {}}))
        await ws.recv()
        sockets.append(ws)
    health: list[tuple[float, float]] = []
    probe = asyncio.create_task(health_probe(bench, health, 0.01))
    await profiling.__aenter__()
    await asyncio.sleep(1.0)
    burst_began = time.monotonic()
    frames = [chat_frame(sid, f"burst {i}") for i, sid in enumerate(sessions)]
    sent: dict[str, float] = {}

    async def send(index: int) -> None:
        sent[f"burst {index}"] = time.monotonic()
        await sockets[index].send(frames[index])

    async def until_done(ws: Any) -> None:
        async for raw in ws:
            if raw.startswith(('{"type":"done"', '{"type":"error"')):
                return

    with CpuSampler(bench.server.pid, interval=0.01) as cpu:
        await asyncio.gather(*(send(i) for i in range(n)))
        await asyncio.gather(*(until_done(ws) for ws in sockets))
    all_done = time.monotonic()
    await profiling.__aexit__(None, None, None)
    await asyncio.sleep(0.3)
    probe.cancel()
    await asyncio.gather(probe, return_exceptions=True)
    await asyncio.gather(*(ws.close() for ws in sockets))
    reached = {prompt_of(r): r["received_at"] for r in await bench.stub_requests()}
    to_upstream = [reached[p] - at for p, at in sent.items() if p in reached]
    last_start = max(reached.get(p, all_done) for p in sent)
    starts_cpu = cpu.window(burst_began, last_start + 0.011)

    def during(start: float, end: float) -> dict[str, float | None]:
        return percentiles([latency for at, latency in health if start <= at <= end])

    return {
        "chats": n,
        "chunks_per_run": chunks,
        "frame_to_upstream_ms": percentiles(to_upstream),
        "runs_reached_upstream": len(to_upstream),
        # The server's CPU from the first frame to the last run reaching the stub, per run
        # (the /health probes' share included): the floor under the burst's p99.
        "server_cpu_ms_per_start": round(starts_cpu[1] * 1000 / n, 3) if starts_cpu else None,
        "health_idle_ms": during(burst_began - 1.0, burst_began),
        "health_during_starts_ms": during(burst_began, last_start),
        "health_until_done_ms": during(burst_began, all_done),
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


def added(through: dict[str, Any], floor: dict[str, Any]) -> dict[str, float | None]:
    """The floor's percentiles subtracted from the server's."""
    return {
        q: round(through[q] - floor[q], 3)
        if through[q] is not None and floor[q] is not None
        else None
        for q in ("p50", "p99")
    }


async def measure(bench: Bench, args: argparse.Namespace, profiler: Profiler) -> dict[str, Any]:
    """Every phase asked for, per K; then the burst and idle memory."""
    phases = set(args.phases.split(","))
    results = []
    for k in (int(size) for size in args.sizes.split(",") if size):
        ramp_s = args.ramp * k
        result: dict[str, Any] = {"k": k, "chunks_per_run": args.chunks}
        result["starts_spread_over_s"] = ramp_s
        if "stream" in phases:
            async with profiler.record(f"stream-k{k}"):
                result.update(await stream_phase(bench, k, args.chunks, ramp_s))
        if args.compare:
            result.update(await direct_phase(bench, k, args.chunks, ramp_s))
            if "stream" in phases:
                result["added_chunk_latency_ms"] = added(
                    result["through_server_ms"], result["direct_ms"]
                )
        if "cancel" in phases:
            result.update(await cancel_phase(bench, k, ramp_s))
        if "storm" in phases:
            async with profiler.record(f"storm-k{k}"):
                result["cancel_storm"] = await cancel_phase(bench, k, 0)
        results.append(result)
    report: dict[str, Any] = {
        "benchmark": "streaming",
        # Idle wake-ups cost here, measured in this sitting: K = 1's CPU per chunk sits on it.
        "wake_floor_us_per_chunk_interval": wake_floor_us(CHUNK_DELAY),
        "runs": results,
    }
    if args.burst:
        report["burst"] = await burst_phase(
            bench, args.burst, args.burst_chunks, profiler.record(f"burst-{args.burst}")
        )
    if args.idle:
        report["memory"] = await idle_memory(bench, args.idle)
    return report


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1,50,200")
    parser.add_argument("--chunks", type=int, default=100)
    parser.add_argument("--compare", action="store_true", help="run the direct floor too")
    parser.add_argument("--phases", default="stream,cancel,storm")
    parser.add_argument("--burst", type=int, default=100, help="chats sent at once (0: none)")
    parser.add_argument("--burst-chunks", type=int, default=20)
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument(
        "--ramp", type=float, default=0.01, help="seconds between run starts (0: all at once)"
    )
    parser.add_argument("--profile", type=Path, default=None, help="write flame graphs here")
    parser.add_argument("--profile-rate", type=int, default=250, help="samples per second")
    parser.add_argument("--profile-format", choices=("flamegraph", "raw"), default="flamegraph")
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
            await direct_phase(bench, 2, 3, 0)
            # The client's own GC pauses would be charged to the server: freeze its heap.
            gc.collect()
            gc.freeze()
            report = await measure(
                bench,
                args,
                Profiler(
                    args.profile, server.pid, rate=args.profile_rate, form=args.profile_format
                ),
            )
            print(json.dumps(report, indent=2))
        finally:
            await bench.aclose()
            stop(server)
            stop(stub)


if __name__ == "__main__":
    import uvloop

    # The client runs on uvloop too, so that it steals less CPU from the server it measures.
    uvloop.run(main())
