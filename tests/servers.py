"""Starting a real `vibeforge serve` process on a free port for end-to-end tests."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningServer:
    """A server process and what it printed."""

    process: subprocess.Popen[str]
    url: str
    data_dir: Path
    started_in_s: float
    log_path: Path | None = None

    def output(self) -> str:
        """Everything printed on stdout so far (after the process ended)."""
        return self.process.stdout.read() if self.process.stdout else ""

    def log(self) -> str:
        """What the server has logged so far (its stderr)."""
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def crashes(self) -> list[str]:
        """Log lines that tell of an exception nobody handled."""
        markers = ("Traceback", "Task exception was never retrieved", "Exception in ASGI")
        return [line for line in self.log().splitlines() if any(m in line for m in markers)]


@contextmanager
def vibeforge_server(
    data_dir: Path, database_url: str, env: Mapping[str, str] | None = None, timeout_s: float = 30
) -> Iterator[RunningServer]:
    """Run `vibeforge serve` until the block ends; fail if /health does not answer in time."""
    port = free_port()
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("VIBEFORGE_") and key not in ("OPENAI_API_KEY", "OLLAMA_HOST")
    }
    environment.update(
        VIBEFORGE_DATA_DIR=str(data_dir),
        VIBEFORGE_DATABASE_URL=database_url,
        VIBEFORGE_PORT=str(port),
        VIBEFORGE_DEFAULT_MODEL="offline",
        OLLAMA_HOST="127.0.0.1:9",
    )
    environment.update(env or {})
    started = time.perf_counter()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    log_path = data_dir.parent / f"server-{port}.log"
    log_file = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "vibeforge.cli", "serve"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=log_file,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"server exited with {process.returncode}: {log_path.read_text()[-3000:]}"
                )
            try:
                if httpx.get(f"{url}/health", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"no /health answer: {log_path.read_text()[-3000:]}")
            time.sleep(0.02)
        yield RunningServer(process, url, data_dir, time.perf_counter() - started, log_path)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log_file.close()


@asynccontextmanager
async def serve_in_process(app: Any) -> AsyncIterator[str]:
    """Serve an already started ASGI app with a real uvicorn on a free local port, in this
    event loop (for tests that add routes to the app or need a socket to a live app object)."""
    import uvicorn

    config = uvicorn.Config(app, port=free_port(), lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()  # it failed to start: raise its error
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        await task
