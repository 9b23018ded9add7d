"""Benchmark the terminal client: start-up, and the Python client's CPU per streamed chunk.

- `vibeforge --help`: wall time of the whole command, over repeated runs (goal: 150 ms);
- time to the chat prompt: `vibeforge chat PROJECT` in a pseudo-terminal against a running
  server, from spawn until the prompt is drawn (goal: 300 ms);
  both also as CPU time of the command's process, which other load on the machine barely
  moves (the wall time grows with the load average, printed beside them);
- client CPU per streamed chunk: this process's CPU time while `Client.send` streams a run,
  beside a bare `websockets` loop (send `chat` on /ws, `json.loads` every frame until the run's
  last event) reading the same server and stub, alternated run by run (goal: 1.2 times the
  bare loop). The server and the stub LLM run in their own processes, so this process's CPU
  is the client's alone.

    .venv/bin/python bench/cli.py [--repeat 15] [--chunks 2000] [--runs 6]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pexpect
from streaming_harness import TOKEN, cpu_seconds, start_server, start_stub
from websockets.asyncio.client import connect

from vibeforge.client import Client
from vibeforge.runs.protocol import Chunk


def summary(values: list[float]) -> dict[str, float]:
    """Median, p90 and minimum, in milliseconds, of durations in seconds."""
    ordered = sorted(values)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 1),
        "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))] * 1000, 1),
        "min_ms": round(ordered[0] * 1000, 1),
        "n": len(ordered),
    }


def command_env(url: str, home: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIBEFORGE_")}
    env.update(
        VIBEFORGE_URL=url,
        VIBEFORGE_TOKEN=TOKEN,
        XDG_DATA_HOME=home,
        PROMPT_TOOLKIT_NO_CPR="1",
        TERM="xterm-256color",
    )
    return env


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's waited-for children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_help(repeat: int) -> dict[str, Any]:
    """Wall and CPU time of `vibeforge --help` (the console script, as a user runs it)."""
    script = str(Path(sys.executable).with_name("vibeforge"))
    times, cpu = [], []
    for _ in range(repeat):
        started, used = time.perf_counter(), children_cpu()
        subprocess.run([script, "--help"], check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
        cpu.append(children_cpu() - used)
    return {"wall": summary(times), "cpu": summary(cpu)}


def time_prompt(url: str, home: str, repeat: int) -> dict[str, Any]:
    """From spawning `vibeforge chat bench` in a pty to its prompt being drawn: wall time,
    and the CPU the chat process had used by then (steady when the machine is loaded)."""
    script = str(Path(sys.executable).with_name("vibeforge"))
    env = command_env(url, home)
    times, cpu = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        child = pexpect.spawn(script, ["chat", "bench"], env=env, encoding="utf-8", timeout=30)
        child.expect("you›")
        times.append(time.perf_counter() - started)
        cpu.append(cpu_seconds(child.pid))
        child.sendeof()
        child.expect(pexpect.EOF)
        child.close()
    return {"wall": summary(times), "cpu": summary(cpu)}


async def client_run(client: Client, session: str) -> tuple[float, int]:
    """CPU seconds and chunks of one run streamed through the Python client."""
    started = time.process_time()
    run = await client.send(session, "go", mode="chat")
    chunks = 0
    async for event in run:
        if isinstance(event, Chunk):
            chunks += 1
    return time.process_time() - started, chunks


async def bare_run(url: str, session: str) -> tuple[float, int]:
    """CPU seconds and chunks of one run read by a bare websockets loop."""
    ws_url = url.replace("http://", "ws://") + "/ws"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with connect(ws_url, additional_headers=headers, max_size=None, compression=None) as ws:
        started = time.process_time()
        message = {"type": "chat", "data": {"session_id": session, "prompt": "go", "mode": "chat"}}
        await ws.send(json.dumps(message))
        chunks = 0
        async for frame in ws:
            event = json.loads(frame)
            if event["type"] == "chunk":
                chunks += 1
            elif event["type"] in ("post_response_complete", "cancelled", "interrupted"):
                break
        return time.process_time() - started, chunks


async def cpu_per_chunk(url: str, stub_url: str, chunks: int, runs: int) -> dict[str, Any]:
    """Client CPU per chunk, ours beside the bare loop, alternated run by run."""
    import httpx

    async with httpx.AsyncClient(base_url=stub_url) as stub:
        await stub.post("/_stub/reset")
        rule = {"chunks": [f"c{i} " for i in range(chunks)], "chunk_delay": 0.0005}
        await stub.post("/_stub/script", json={"default": rule})
    ours: list[float] = []
    bare: list[float] = []
    async with Client(url, TOKEN) as client:
        project = await client.create_project("cpu")
        session = (await client.open_session(project["id"]))["session_id"]
        other = (await client.open_session(project["id"], "bare"))["session_id"]
        await client_run(client, session)  # warm-up: connections, first imports
        await bare_run(url, other)
        for _ in range(runs):
            cpu, count = await client_run(client, session)
            ours.append(cpu / count)
            cpu, count = await bare_run(url, other)
            bare.append(cpu / count)
    ours_us = statistics.median(ours) * 1e6
    bare_us = statistics.median(bare) * 1e6
    return {
        "chunks_per_run": chunks,
        "runs": runs,
        "client_us_per_chunk": round(ours_us, 2),
        "bare_websockets_us_per_chunk": round(bare_us, 2),
        "ratio": round(ours_us / bare_us, 3),
        "client_runs_us": [round(value * 1e6, 2) for value in ours],
        "bare_runs_us": [round(value * 1e6, 2) for value in bare],
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--chunks", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=6)
    args = parser.parse_args()
    results: dict[str, Any] = {"load_average_1m": os.getloadavg()[0]}
    results["help"] = time_help(args.repeat)
    stub, stub_url = start_stub()
    with tempfile.TemporaryDirectory() as scratch:
        server, url = await start_server(Path(scratch) / "data")
        try:
            async with Client(url, TOKEN) as client:
                await client.create_project("bench")
                await client.create_model(
                    name="stub",
                    provider="openai-compatible",
                    model="stub-model",
                    base_url=f"{stub_url}/v1",
                    api_key="sk-bench",
                    is_default=True,
                )
            home = str(Path(scratch) / "home")
            prompt = await asyncio.to_thread(time_prompt, url, home, args.repeat)
            results["chat_prompt"] = prompt
            results["cpu"] = await cpu_per_chunk(url, stub_url, args.chunks, args.runs)
        finally:
            server.terminate()
            server.wait()
            stub.terminate()
            stub.wait()
    results["load_average_1m_after"] = os.getloadavg()[0]
    results["goals"] = {"help_ms": 150, "chat_prompt_ms": 300, "cpu_ratio": 1.2}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
