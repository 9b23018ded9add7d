"""Benchmark the LLM adapters against the stub server: client CPU per chunk and cancel latency.

For each adapter (and a bare `openai` SDK loop measured in the same run, as the baseline) and
each concurrency N: N streams of CHUNKS chunks at CHUNK_DELAY seconds apart, then N long streams
cancelled after their first chunk, timing cancel() to the stub seeing the socket close.
The stub runs in its own process so its CPU is not counted. Prints JSON.

    .venv/bin/python bench/llm_stream.py [--sizes 1,50,200] [--chunks 20] [--delay 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from vibeforge.llm import ChatRequest, Message, ModelSpec, TextDelta
from vibeforge.llm.factory import build_chat_model
from vibeforge.llm.stub.wire import prompt_text

# (model, prompt, called on each text chunk) -> text chunks received
Runner = Callable[[str, str, Callable[[], None] | None], Awaitable[int]]


async def start_stub() -> tuple[asyncio.subprocess.Process, str]:
    """The stub CLI in a subprocess, and its URL."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "vibeforge.llm.stub.cli", "--port", "0", stdout=subprocess.PIPE
    )
    assert process.stdout is not None
    line = (await asyncio.wait_for(process.stdout.readline(), 10)).decode()
    return process, line.strip().rsplit(" ", 1)[-1]


def adapter_runner(provider: str, url: str) -> Runner:
    """A runner streaming through vibeforge's layer (retries wrapper included)."""
    base_url = f"{url}/v1" if provider == "openai" else url
    models: dict[str, Any] = {}

    async def run(model_name: str, prompt: str, on_chunk: Callable[[], None] | None) -> int:
        if model_name not in models:
            spec = ModelSpec(provider, model_name, base_url=base_url, api_key="sk-bench")  # type: ignore[arg-type]
            models[model_name] = build_chat_model(spec)
        count = 0
        request = ChatRequest((Message("user", prompt),))
        async for event in models[model_name].stream(request):
            if isinstance(event, TextDelta):
                count += 1
                if on_chunk is not None:
                    on_chunk()
        return count

    return run


def bare_openai_runner(url: str) -> Runner:
    """The baseline: the plain SDK loop an application would write without the layer."""
    import openai

    client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="sk-bench", max_retries=0)

    async def run(model_name: str, prompt: str, on_chunk: Callable[[], None] | None) -> int:
        stream = await client.chat.completions.create(
            model=model_name,
            messages=[{"role": "user", "content": prompt}],
            stream=True,
            stream_options={"include_usage": True},
        )
        count = 0
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                count += 1
                if on_chunk is not None:
                    on_chunk()
        return count

    return run


async def control(url: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        if body is None:
            response = await client.get(path)
        else:
            response = await client.post(path, json=body)
        return response.json()


async def cpu_per_chunk(run: Runner, n: int) -> dict[str, float]:
    """N concurrent complete streams: client CPU microseconds per chunk received."""
    cpu, wall = time.process_time(), time.monotonic()
    counts = await asyncio.gather(*(run("full", f"stream {i}", None) for i in range(n)))
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    chunks = sum(counts)
    return {"chunks": chunks, "wall_s": round(wall, 3), "cpu_us_per_chunk": cpu / chunks * 1e6}


async def cancel_latency(run: Runner, url: str, n: int, tag: str) -> dict[str, float]:
    """N long streams cancelled after their first chunk: ms from cancel() to upstream close."""
    await control(url, "/_stub/reset", {})
    await control(url, "/_stub/script", {"rules": RULES})
    first = [asyncio.Event() for _ in range(n)]
    tasks = [asyncio.create_task(run("long", f"{tag}-cancel-{i}", first[i].set)) for i in range(n)]
    await asyncio.wait_for(asyncio.gather(*(event.wait() for event in first)), 60)
    cancelled_at: dict[str, float] = {}
    for i, task in enumerate(tasks):
        cancelled_at[f"{tag}-cancel-{i}"] = time.monotonic()
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await asyncio.sleep(0.3)
    records = (await control(url, "/_stub/requests"))["requests"]
    latencies = []
    for record in records:
        marker = prompt_text(record["body"])
        closed = record["client_disconnected_at"]
        if marker in cancelled_at and closed is not None:
            latencies.append((closed - cancelled_at[marker]) * 1000)
    latencies.sort()
    return {
        "cancelled": n,
        "disconnects_seen": len(latencies),
        "p50_ms": round(statistics.median(latencies), 3),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 3),
    }


RULES: list[dict[str, Any]] = []


async def main(sizes: list[int], chunks: int, delay: float) -> dict[str, Any]:
    process, url = await start_stub()
    try:
        RULES[:] = [
            {"model": "full", "chunks": [f"tok{i} " for i in range(chunks)], "chunk_delay": delay},
            {"model": "long", "chunks": [f"tok{i} " for i in range(1000)], "chunk_delay": delay},
        ]
        await control(url, "/_stub/script", {"rules": RULES})
        runners: dict[str, Runner] = {
            name: adapter_runner(name, url) for name in ("openai", "ollama", "anthropic")
        }
        runners["bare_openai_sdk"] = bare_openai_runner(url)
        results: dict[str, Any] = {}
        for name, run in runners.items():
            await run("full", "warm-up", None)  # SDK import and connection set-up are not measured
            results[name] = {}
            for n in sizes:
                figures = await cpu_per_chunk(run, n)
                figures["cancel_to_disconnect"] = await cancel_latency(run, url, n, name)
                results[name][str(n)] = figures
        baseline = results["bare_openai_sdk"]
        ratios = {
            name: {
                n: round(figures["cpu_us_per_chunk"] / baseline[n]["cpu_us_per_chunk"], 3)
                for n, figures in per_size.items()
            }
            for name, per_size in results.items()
            if name != "bare_openai_sdk"
        }
        for per_size in results.values():
            for figures in per_size.values():
                figures["cpu_us_per_chunk"] = round(figures["cpu_us_per_chunk"], 1)
        return {
            "chunks_per_stream": chunks,
            "chunk_delay_s": delay,
            "results": results,
            "cpu_per_chunk_ratio_vs_bare_openai_sdk": ratios,
        }
    finally:
        process.terminate()
        await process.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1,50,200")
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--delay", type=float, default=0.05)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    print(json.dumps(asyncio.run(main(sizes, args.chunks, args.delay)), indent=2))
