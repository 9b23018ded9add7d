"""Cold start of `vibeforge serve`: process start until /health answers, on a fresh data dir
(first start: migrations and admin bootstrap) and on an existing one. Prints JSON.

    .venv/bin/python bench/startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def start_once(data_dir: Path) -> float:
    """Seconds from spawning the server to its first 200 from /health."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("VIBEFORGE_")},
        "VIBEFORGE_DATA_DIR": str(data_dir),
        "VIBEFORGE_PORT": str(port),
        "VIBEFORGE_ADMIN_TOKEN": "vf_bench-startup-token-0123456789",
        "OLLAMA_HOST": "127.0.0.1:9",
    }
    env.pop("OPENAI_API_KEY", None)
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "vibeforge.cli", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5).status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            if process.poll() is not None:
                raise RuntimeError("server exited")
            time.sleep(0.01)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    fresh, warm = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="vf-start-") as scratch:
            data_dir = Path(scratch) / "data"
            fresh.append(start_once(data_dir))
            warm.append(start_once(data_dir))
    print(
        json.dumps(
            {
                "benchmark": "startup",
                "runs": args.runs,
                "first_start_s": {
                    "median": round(statistics.median(fresh), 3),
                    "max": round(max(fresh), 3),
                },
                "restart_s": {
                    "median": round(statistics.median(warm), 3),
                    "max": round(max(warm), 3),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
