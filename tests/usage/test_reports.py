"""Usage reports: totals equal the sum of the calls, groups by project and by user (admins
only), another user's usage invisible, and the exports (CSV, Parquet, DuckDB) agreeing with
/usage; the `vibeforge usage` command against a real server."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import httpx
import openai
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from tests.conftest import ADMIN_TOKEN
from tests.servers import RunningServer
from tests.stubs import TOKEN, app_openai_client, create_stub_model
from vibeforge.db.chat_tables import LLMCall
from vibeforge.llm.stub import Script, StubLLMServer
from vibeforge.usage.export import export_duckdb

PRICES = {"input_per_million": 1.0, "output_per_million": 2.0, "cached_input_per_million": 0.5}


sdk = app_openai_client


@pytest.fixture
async def calls(
    app: FastAPI,
    client: httpx.AsyncClient,
    other_client: httpx.AsyncClient,
    stub: StubLLMServer,
    project_id: str,
) -> list[LLMCall]:
    """Calls of the admin (two over /v1, one run in a project) and one of another user."""
    await create_stub_model(client, stub, prices=PRICES)
    await create_stub_model(other_client, stub, name="mine")
    stub.rule(Script(usage={"prompt_tokens": 1000, "completion_tokens": 100, "cached_tokens": 400}))
    hello = [{"role": "user", "content": "hi"}]
    async with sdk(app, ADMIN_TOKEN) as admin:
        for _ in range(2):
            await admin.chat.completions.create(model="stub", messages=hello)  # type: ignore[arg-type]
    other_token = other_client.headers["authorization"].split()[1]
    async with sdk(app, other_token) as other:
        await other.chat.completions.create(model="mine", messages=hello)  # type: ignore[arg-type]
    session = (await client.post(f"/projects/{project_id}/sessions", json={})).json()
    ran = await client.post(
        f"/sessions/{session['session_id']}/messages", json={"prompt": "hi", "mode": "chat"}
    )
    assert ran.status_code == 200, ran.text
    await app.state.openai.drain()
    async with app.state.services.db.transaction() as db:
        return list(await db.scalars(select(LLMCall)))


async def test_totals_are_the_sum_of_the_calls_and_groups_split_them(
    client: httpx.AsyncClient, calls: list[LLMCall], project_id: str
) -> None:
    mine = [call for call in calls if call.cost_usd is not None]
    assert len(mine) == 3
    report = (await client.get("/usage", params={"group_by": "project"})).json()
    total = report["total"]
    assert total["calls"] == 3
    assert total["prompt_tokens"] == sum(call.prompt_tokens for call in mine)
    assert total["cached_tokens"] == 1200
    assert total["cost_usd"] == pytest.approx(sum(call.cost_usd for call in mine))  # type: ignore[misc]
    # 600 uncached at $1, 400 cached at $0.50, 100 out at $2 per million, three times.
    assert total["cost_usd"] == pytest.approx(3 * (600 + 200 + 200) / 1e6)
    groups = {group["key"]: group["calls"] for group in report["groups"]}
    assert groups == {"(none)": 2, project_id: 1}
    by_role = (await client.get("/usage", params={"group_by": "role"})).json()
    assert {group["key"]: group["calls"] for group in by_role["groups"]} == {"api": 2, "chat": 1}


async def test_usage_by_user_is_for_administrators_and_users_see_only_their_own(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, calls: list[LLMCall]
) -> None:
    by_user = (await client.get("/usage", params={"group_by": "user"})).json()
    users = {group["key"]: group for group in by_user["groups"]}
    assert users["admin@localhost"]["calls"] == 3
    assert users["other@example.com"]["calls"] == 1
    assert users["other@example.com"]["unpriced_calls"] == 1
    assert by_user["total"]["calls"] == 4
    refused = await other_client.get("/usage", params={"group_by": "user"})
    assert refused.status_code == 403
    theirs = (await other_client.get("/usage")).json()["total"]
    assert (theirs["calls"], theirs["unpriced_calls"], theirs["cost_usd"]) == (1, 1, None)
    exported = await other_client.get("/usage/export")
    assert len(exported.text.strip().splitlines()) == 2  # the header and their one call


async def test_csv_and_parquet_exports_hold_the_calls_of_the_report(
    client: httpx.AsyncClient, calls: list[LLMCall], tmp_path: Path
) -> None:
    total = (await client.get("/usage")).json()["total"]
    exported = await client.get("/usage/export", params={"format": "csv"})
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == total["calls"]
    assert sum(float(row["cost_usd"]) for row in rows) == pytest.approx(total["cost_usd"])
    assert {row["price_version_id"] for row in rows} != {""}
    parquet = await client.get("/usage/export", params={"format": "parquet"})
    assert parquet.status_code == 200
    path = tmp_path / "calls.parquet"
    path.write_bytes(parquet.content)
    with duckdb.connect() as connection:
        query = f"SELECT count(*), sum(cost_usd) FROM '{path}'"
        count, cost = connection.execute(query).fetchone()  # type: ignore[misc]
    assert count == total["calls"] and cost == pytest.approx(total["cost_usd"])


async def test_the_duckdb_export_opens_and_its_totals_match_usage(
    app: FastAPI, client: httpx.AsyncClient, calls: list[LLMCall], tmp_path: Path
) -> None:
    path = tmp_path / "usage.duckdb"
    counts = await export_duckdb(app.state.services.db, path)
    assert counts["llm_calls"] == 4 and counts["runs"] == 1 and counts["model_prices"] == 1
    by_user = (await client.get("/usage", params={"group_by": "user"})).json()["total"]
    with duckdb.connect(str(path), read_only=True) as connection:
        calls_count, tokens, cost, unpriced = connection.execute(
            "SELECT count(*), sum(prompt_tokens + completion_tokens), sum(cost_usd),"
            " count(*) FILTER (WHERE cost_usd IS NULL) FROM llm_calls"
        ).fetchone()  # type: ignore[misc]
        run_status = connection.execute("SELECT status FROM runs").fetchone()
        columns = [row[0] for row in connection.execute("DESCRIBE messages").fetchall()]
    assert (calls_count, tokens) == (by_user["calls"], by_user["total_tokens"])
    assert cost == pytest.approx(by_user["cost_usd"])
    assert unpriced == by_user["unpriced_calls"]
    assert run_status == ("succeeded",)
    assert "content" not in columns  # metadata only


async def test_the_usage_command_prints_the_report_of_a_real_server(
    server: RunningServer,
    http: httpx.AsyncClient,
    stub: StubLLMServer,
    database_url: str,
    tmp_path: Path,
) -> None:
    await create_stub_model(http, stub, prices=PRICES)
    stub.rule(Script(usage={"prompt_tokens": 1000, "completion_tokens": 100}))
    async with openai.AsyncOpenAI(
        base_url=f"{server.url}/v1", api_key=TOKEN, max_retries=0
    ) as client:
        await client.chat.completions.create(
            model="stub", messages=[{"role": "user", "content": "x"}]
        )
    env = {**os.environ, "VIBEFORGE_URL": server.url, "VIBEFORGE_TOKEN": TOKEN}
    command = [sys.executable, "-m", "vibeforge.cli", "usage"]

    def run(*args: str) -> str:
        done = subprocess.run(
            [*command, *args], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    table = run("--by", "role", "--since", "2020-01-01").splitlines()
    assert table[0].split()[:3] == ["role", "calls", "prompt"]
    assert table[1].split()[:3] == ["api", "1", "1000"]
    assert table[-1].split()[:2] == ["TOTAL", "1"]
    rows = list(csv.DictReader(io.StringIO(run("--csv"))))
    assert rows[-1]["key"] == "TOTAL" and float(rows[-1]["cost_usd"]) == pytest.approx(0.0012)
    exported = tmp_path / "out.duckdb"
    env["VIBEFORGE_DATABASE_URL"] = database_url
    env["VIBEFORGE_DATA_DIR"] = str(server.data_dir)
    assert "1 llm_calls" in run("export", "--duckdb", str(exported))
    with duckdb.connect(str(exported), read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM llm_calls").fetchone() == (1,)
