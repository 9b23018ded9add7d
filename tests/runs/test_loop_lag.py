"""Many runs streaming at once all complete in full while the loop keeps turning (its lag is
printed here and measured in bench/streaming.py, not asserted)."""

import asyncio
import statistics
import time
from typing import Any

import httpx

from vibeforge.llm.stub import Script, StubLLMServer

RUNS = 30
CHUNKS = 40


async def test_loop_lag_during_heavy_streaming(
    app: Any,
    client: httpx.AsyncClient,
    stub: StubLLMServer,
    stub_model: dict[str, Any],
    project_id: str,
) -> None:
    await app.state.warming  # the provider SDK is imported at start-up, not mid-stream
    sessions = []
    for index in range(RUNS):
        response = await client.post(
            f"/projects/{project_id}/sessions", json={"node_id": f"node-{index}"}
        )
        sessions.append(response.json()["session_id"])
    stub.rule(Script(chunks=tuple(f"t{i} " for i in range(CHUNKS)), chunk_delay=0.02))

    lags: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        interval = 0.005
        while not stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(interval)
            lags.append(time.perf_counter() - before - interval)

    watcher = asyncio.create_task(ticker())
    outcomes = await asyncio.gather(
        *(
            client.post(f"/sessions/{sid}/messages", json={"prompt": "go", "mode": "chat"})
            for sid in sessions
        )
    )
    stop.set()
    await watcher
    assert all(outcome.json()["status"] == "success" for outcome in outcomes)
    assert all(len(outcome.json()["content"].split()) == CHUNKS for outcome in outcomes)
    lags.sort()
    p99 = lags[int(len(lags) * 0.99) - 1]
    print(
        f"loop lag over {len(lags)} ticks: median {statistics.median(lags) * 1000:.2f} ms, "
        f"p99 {p99 * 1000:.2f} ms, max {lags[-1] * 1000:.2f} ms"
    )
    # The lag is reported, not asserted: on a shared 2-core machine it moves with whatever
    # else runs (speed is measured in bench/, see bench/streaming.py's /health during a
    # burst). The ticker proves the loop kept turning through the whole burst.
    assert len(lags) > 10
