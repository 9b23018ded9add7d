"""Start-to-exit time of a trivial Python program in the sandbox, beside a bare subprocess.

Prints JSON: p50/p99 in milliseconds for each isolation mode this machine offers and for a
plain `asyncio.create_subprocess_exec` of the same interpreter. Goal: sandbox p50 under 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import time
from collections.abc import Awaitable, Callable

from vibeforge.sandbox import isolation_support, run

PROGRAM = ["python3", "-c", "print('hello')"]
GOAL_P50_MS = 50.0


async def _bare() -> None:
    python = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin") or "python3"
    proc = await asyncio.create_subprocess_exec(
        python, *PROGRAM[1:], stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    await proc.communicate()
    assert proc.returncode == 0


def _sandboxed(mode: str) -> Callable[[], Awaitable[None]]:
    async def once() -> None:
        result = await run(PROGRAM, isolation=mode, timeout_s=10)
        assert result.ok and result.stdout == b"hello\n", result

    return once


async def _measure(action: Callable[[], Awaitable[None]], iterations: int) -> dict[str, float]:
    await action()  # warm up: page cache, capability probe
    samples = []
    for _ in range(iterations):
        started = time.perf_counter()
        await action()
        samples.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50_ms": round(cuts[49], 2), "p99_ms": round(cuts[98], 2)}


async def main(iterations: int) -> dict[str, object]:
    """Run the benchmark and return the figures."""
    caps = await isolation_support()
    assert caps.strongest is not None, caps.missing
    modes = {mode.value: await _measure(_sandboxed(mode), iterations) for mode in caps.available}
    bare = await _measure(_bare, iterations)
    strongest = caps.strongest.value
    return {
        "benchmark": "sandbox start-to-exit, python3 -c print",
        "iterations": iterations,
        "isolation": strongest,
        "sandbox": modes[strongest],
        "bare_subprocess": bare,
        "overhead_p50_ms": round(modes[strongest]["p50_ms"] - bare["p50_ms"], 2),
        "goal_p50_ms": GOAL_P50_MS,
        "goal_met": modes[strongest]["p50_ms"] < GOAL_P50_MS,
        "all_modes": modes,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=200)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.iterations)), indent=2))
