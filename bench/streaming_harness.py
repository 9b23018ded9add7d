"""The processes and meters `bench/streaming.py` drives: the stub, the server, CPU, py-spy.

Not a benchmark of its own: run as a script it checks that py-spy can attach here and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

TOKEN = "vf_bench-streaming-token-0123456789"


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50, p99 and the largest, in milliseconds, of values in seconds (a goal that says
    "every" is about the largest)."""
    if not values:
        return {"p50": None, "p99": None, "max": None, "n": 0}
    ordered = sorted(values)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)

    return {"p50": pick(0.5), "p99": pick(0.99), "max": pick(1.0), "n": len(ordered)}


def thread_cpu(pid: int) -> dict[int, int]:
    """CPU nanoseconds of each live thread of a process, to the nanosecond: the scheduler's
    own count (`/proc/PID/stat` counts 10 ms ticks, too coarse for one run's chunks)."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found[int(task.name)] = int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # the thread ended meanwhile
    return found


def cpu_seconds(pid: int) -> float:
    """CPU time of a process's live threads (see `CpuSampler` for threads that end)."""
    return sum(thread_cpu(pid).values()) / 1e9


def rss_bytes(pid: int) -> int:
    """Resident memory of a process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class CpuSampler:
    """The server's CPU time sampled every `interval` seconds, to cut any window out later."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, float]] = []
        self._task: asyncio.Task[None] | None = None
        self._threads: dict[int, int] = {}
        self._gone_ns = 0  # what threads that ended had used when last seen

    def _sample(self) -> None:
        # A thread that ends takes its CPU time out of the live threads' sum (the server's
        # database connections are threads, closed after a burst): keep what it had used.
        threads = thread_cpu(self.pid)
        self._gone_ns += sum(used for tid, used in self._threads.items() if tid not in threads)
        self._threads = threads
        self.samples.append((time.monotonic(), (self._gone_ns + sum(threads.values())) / 1e9))

    async def _run(self) -> None:
        while True:
            self._sample()
            await asyncio.sleep(self.interval)

    def __enter__(self) -> CpuSampler:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        self._sample()

    def window(self, start: float, end: float) -> tuple[float, float] | None:
        """(seconds of wall time, seconds of CPU) between the samples nearest inside
        [start, end]; None when the window holds fewer than two samples."""
        inside = [sample for sample in self.samples if start <= sample[0] <= end]
        if len(inside) < 2:
            return None
        (t0, c0), (t1, c1) = inside[0], inside[-1]
        return t1 - t0, c1 - c0


_WAKE_LOOP = """
import asyncio, sys, time, uvloop
async def main(interval, seconds):
    wakes, began, cpu = 0, time.monotonic(), time.thread_time()
    while time.monotonic() - began < seconds:
        await asyncio.sleep(interval)
        wakes += 1
    print((time.thread_time() - cpu) / wakes)
uvloop.run(main(float(sys.argv[1]), float(sys.argv[2])))
"""


def wake_floor_us(interval: float, seconds: float = 3.0) -> float:
    """CPU microseconds a process doing nothing spends per wake-up, waking every `interval`
    seconds on uvloop: the floor under the CPU per chunk of one stream (a wake-up per chunk)
    on this machine, where a wake-up from idle is far from free (a VM's idle exits, cold
    caches)."""
    done = subprocess.run(
        [sys.executable, "-c", _WAKE_LOOP, str(interval), str(seconds)],
        capture_output=True,
        text=True,
        check=True,
    )
    return round(float(done.stdout) * 1e6, 1)


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


def stop(process: subprocess.Popen[str], sig: int = signal.SIGTERM) -> None:
    """Stop a process this bench started and wait for it."""
    process.send_signal(sig)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


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

    async def script(self, chunks: int, delay: float) -> None:
        await self.stub.post("/_stub/reset")
        rule = {"chunks": [f"c{i} " for i in range(chunks)], "chunk_delay": delay}
        await self.stub.post("/_stub/script", json={"default": rule})

    async def stub_requests(self) -> list[dict[str, Any]]:
        return (await self.stub.get("/_stub/requests")).json()["requests"]

    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + f"/ws?token={TOKEN}"

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.stub.aclose()


def prompt_of(record: dict[str, Any]) -> str:
    """The last user prompt of a request the stub recorded."""
    messages = record["body"].get("messages") or []
    return str(messages[-1].get("content")) if messages else ""


def chat_frame(session_id: str, prompt: str) -> str:
    """A `chat` command in chat mode (one plain answer)."""
    data = {"session_id": session_id, "prompt": prompt, "mode": "chat"}
    return json.dumps({"type": "chat", "data": data})


def py_spy() -> str | None:
    """The py-spy command beside this Python, or on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Profiler:
    """py-spy sampling the server while a phase runs: one flame graph (SVG) per phase, or
    its collapsed stacks (`raw`, one line per stack with its sample count) to read as text."""

    def __init__(
        self, directory: Path | None, pid: int, rate: int = 250, form: str = "flamegraph"
    ) -> None:
        self.directory, self.pid, self.rate, self.form = directory, pid, rate, form

    @contextlib.asynccontextmanager
    async def record(self, name: str) -> AsyncIterator[None]:
        command = py_spy()
        if self.directory is None or command is None:
            yield
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        output = self.directory / f"{name}.{'svg' if self.form == 'flamegraph' else 'txt'}"
        process = await asyncio.create_subprocess_exec(
            command,
            "record",
            "--pid",
            str(self.pid),
            "--rate",
            str(self.rate),
            "--nonblocking",
            # Only the thread holding the GIL: idle threads (aiosqlite's workers waiting on
            # their queues) are otherwise sampled as if busy.
            *(["--gil"] if os.environ.get("BENCH_PROFILE_GIL", "1") == "1" else ["--threads"]),
            "--format",
            self.form,
            "--output",
            str(output),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        await asyncio.sleep(0.5)  # attached before the phase begins
        try:
            yield
        finally:
            process.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            await process.wait()


if __name__ == "__main__":
    found = py_spy()
    print(json.dumps({"py_spy": found}))
