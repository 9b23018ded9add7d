"""Benchmark budgets and the OpenAI-compatible endpoint. Prints JSON.

1. The time a budget adds to an LLM call: the lookup of the budgets that apply (cached), the
   reservation (one transaction of conditional UPDATEs) and the settlement, each p50/p99
   over `--calls` sequential calls, on SQLite (a file in a temporary directory) and, when
   VIBEFORGE_TEST_DATABASE_URL names one (`scripts/with-postgres.sh`), PostgreSQL; and a
   burst of `--burst` concurrent calls against a small cap (final spend vs cap).
2. `/v1/chat/completions` on a real `vibeforge serve` relaying streams from the stub LLM (its
   own process), beside a client reading the stub directly: the latency a chunk gains (its
   arrival minus the moment the stub wrote it), and the server's CPU per relayed chunk, at
   1 and 50 concurrent streams, without a budget and with one (metered per chunk).

    .venv/bin/python bench/budgets.py [--calls 2000] [--burst 1000] [--sizes 1,50] [--chunks 60]
    bash scripts/with-postgres.sh .venv/bin/python bench/budgets.py
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import delete, select

sys.path.insert(0, str(Path(__file__).resolve().parent))
from streaming import CHUNK_DELAY, direct_phase
from streaming_harness import (
    TOKEN,
    Bench,
    cpu_seconds,
    percentiles,
    prompt_of,
    start_server,
    start_stub,
)

from vibeforge.budgets.amounts import NANO, Amount, to_nano
from vibeforge.budgets.ledger import BudgetExceeded, BudgetLedger, CallScope
from vibeforge.budgets.periods import period_start
from vibeforge.db.engine import Database
from vibeforge.db.tables import User
from vibeforge.db.types import new_id, utcnow
from vibeforge.db.usage_tables import Budget

USER = "bench-user"


async def _budget(db: Database, cap: int, unit: str = "usd") -> None:
    now = utcnow()
    async with db.transaction() as session:
        session.add(
            Budget(
                id=new_id(),
                owner_id=USER,
                scope="user",
                subject_id=USER,
                name="bench",
                period="month",
                unit=unit,
                cap=cap,
                thresholds=[0.8, 0.95],
                warned=0,
                spent=0,
                reserved=0,
                period_start=period_start("month", now),
                created_by=USER,
                created_at=now,
                updated_at=now,
            )
        )


async def ledger_phase(url: str, calls: int, burst: int) -> dict[str, Any]:
    """Reservation and settlement timings on one database."""
    db = Database(url)
    await db.upgrade()
    try:
        async with db.transaction() as session:
            session.add(
                User(id=USER, email="bench@example.com", is_admin=False, created_at=utcnow())
            )
        ledger = BudgetLedger(db)
        scope = CallScope(USER, None, None)
        unbudgeted = []
        for _ in range(200):
            started = time.perf_counter()
            await ledger.applicable(scope)
            unbudgeted.append(time.perf_counter() - started)
        await _budget(db, 1_000_000 * NANO)
        ledger.changed()
        call = Amount(to_nano(0.01), 2000)
        lookups, reserves, settles = [], [], []
        cpu_started = time.process_time()
        for _ in range(calls):
            t0 = time.perf_counter()
            budgets = await ledger.applicable(scope)
            t1 = time.perf_counter()
            held = await ledger.reserve(budgets, call)
            t2 = time.perf_counter()
            await ledger.settle(held, Amount(to_nano(0.008), 1500))
            t3 = time.perf_counter()
            lookups.append(t1 - t0)
            reserves.append(t2 - t1)
            settles.append(t3 - t2)
        # The process's CPU (the event loop and the driver's thread): less swayed than wall
        # time by other work on the machine.
        cpu_ms = (time.process_time() - cpu_started) * 1000 / calls
        totals = [a + b + c for a, b, c in zip(lookups, reserves, settles, strict=True)]
        # A burst against a $5 cap: how many got through, and whether the cap held.
        async with db.transaction() as session:
            await session.execute(delete(Budget))
        await _budget(db, 5 * NANO)
        ledger.changed()
        budgets = await ledger.applicable(scope)
        admitted = 0

        async def one() -> None:
            nonlocal admitted
            try:
                held = await ledger.reserve(budgets, Amount(to_nano(0.07), 100))
            except BudgetExceeded:
                return
            admitted += 1
            await ledger.settle(held, Amount(to_nano(0.06), 90))

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(burst)))
        burst_s = time.perf_counter() - started
        async with db.transaction() as session:
            spent = int(await session.scalar(select(Budget.spent)) or 0)
        return {
            "database": db.dialect,
            "calls": calls,
            "no_budget_lookup_ms": percentiles(unbudgeted),
            "lookup_ms": percentiles(lookups),
            "reserve_ms": percentiles(reserves),
            "settle_ms": percentiles(settles),
            "added_per_call_ms": percentiles(totals),
            "cpu_ms_per_call": round(cpu_ms, 4),
            "load_average": os.getloadavg()[0],
            "burst": {
                "concurrent_calls": burst,
                "cap_usd": 5.0,
                "worst_case_usd": 0.07,
                "admitted": admitted,
                "spent_usd": spent / NANO,
                "within_cap": spent <= 5 * NANO,
                "seconds": round(burst_s, 3),
            },
        }
    finally:
        await db.dispose()


async def endpoint_phase(bench: Bench, k: int, chunks: int) -> dict[str, Any]:
    """K streams through /v1/chat/completions: chunk arrival times and server CPU."""
    await bench.script(chunks, CHUNK_DELAY)
    arrivals: dict[str, list[float]] = {}

    async def client(index: int, http: httpx.AsyncClient) -> None:
        prompt = f"v1 {k}-{index}"
        body = {"model": "stub", "stream": True, "messages": [{"role": "user", "content": prompt}]}
        times = []
        async with http.stream("POST", "/v1/chat/completions", json=body) as response:
            async for line in response.aiter_lines():
                if (
                    line.startswith("data: {")
                    and '"content":"' in line
                    and '"content":""' not in line
                ):
                    times.append(time.monotonic())
        arrivals[prompt] = times

    headers = {"Authorization": f"Bearer {TOKEN}"}
    limits = httpx.Limits(max_connections=k + 10)
    async with httpx.AsyncClient(
        base_url=bench.url, headers=headers, limits=limits, timeout=60
    ) as http:
        cpu_before = cpu_seconds(bench.server.pid)
        await asyncio.gather(*(client(i, http) for i in range(k)))
        cpu_used = cpu_seconds(bench.server.pid) - cpu_before
    latencies, relayed = [], 0
    for record in await bench.stub_requests():
        times = arrivals.get(prompt_of(record))
        if times is None:
            continue
        relayed += len(times)
        latencies += [got - sent for got, sent in zip(times, record["chunk_sent_at"], strict=False)]
    return {
        "through_v1_ms": percentiles(latencies),
        "server_cpu_ms_per_chunk": round(cpu_used * 1000 / max(relayed, 1), 4),
        "chunks_relayed": relayed,
        "chunks_expected": k * chunks,
    }


async def endpoint_runs(sizes: list[int], chunks: int) -> list[dict[str, Any]]:
    """Every size, without and with a budget."""
    stub, stub_url = start_stub()
    results = []
    with tempfile.TemporaryDirectory(prefix="vf-bench-budgets-") as scratch:
        server, url = await start_server(Path(scratch) / "data")
        bench = Bench(server, url, stub_url)
        try:
            await bench.setup()
            prices = {"input_per_million": 1.0, "output_per_million": 2.0}
            config = (await bench.http.get("/models/stub")).json()
            await bench.http.patch(f"/models/{config['id']}", json={"prices": prices})
            await endpoint_phase(bench, 2, 3)  # warm-up: SDK import, first connections
            await direct_phase(bench, 2, 3, 0.0)
            gc.collect()
            gc.freeze()
            for budgeted in (False, True):
                if budgeted:
                    me = (await bench.http.get("/me")).json()["id"]
                    await bench.http.post(
                        "/budgets",
                        json={
                            "scope": "user",
                            "subject_id": me,
                            "period": "month",
                            "unit": "usd",
                            "cap": 1000,
                        },
                    )
                for k in sizes:
                    through = await endpoint_phase(bench, k, chunks)
                    direct = await direct_phase(bench, k, chunks, 0.0)
                    relayed, baseline = through["through_v1_ms"], direct["direct_ms"]
                    added = {
                        q: round(relayed[q] - baseline[q], 3)
                        if relayed[q] is not None and baseline[q] is not None
                        else None
                        for q in ("p50", "p99")
                    }
                    results.append(
                        {
                            "k": k,
                            "budget": budgeted,
                            "chunks_per_stream": chunks,
                            **through,
                            **direct,
                            "added_chunk_latency_ms": added,
                        }
                    )
        finally:
            await bench.http.aclose()
            await bench.stub.aclose()
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
            stub.terminate()
            stub.wait(timeout=10)
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--sizes", default="1,50")
    parser.add_argument("--chunks", type=int, default=60)
    args = parser.parse_args()
    ledgers = []
    with tempfile.TemporaryDirectory(prefix="vf-bench-ledger-") as scratch:
        ledgers.append(
            await ledger_phase(f"sqlite+aiosqlite:///{scratch}/ledger.db", args.calls, args.burst)
        )
    postgres = os.environ.get("VIBEFORGE_TEST_DATABASE_URL")
    if postgres:
        ledgers.append(await ledger_phase(postgres, args.calls, args.burst))
    sizes = [int(size) for size in args.sizes.split(",")]
    endpoint = await endpoint_runs(sizes, args.chunks)
    print(json.dumps({"benchmark": "budgets", "ledger": ledgers, "endpoint": endpoint}, indent=2))


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
