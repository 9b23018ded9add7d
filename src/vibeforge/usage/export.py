"""Usage for analysis elsewhere: the LLM calls as CSV or Parquet, and a DuckDB database of the
calls, runs, messages' metadata (never their text) and prices. DuckDB is an optional extra
(`vibeforge[duckdb]`), imported only here, when an export asks for it."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from vibeforge.db.chat_tables import ChatMessage, ChatSession, LLMCall, ModelConfig, Run
from vibeforge.db.engine import Database
from vibeforge.db.usage_tables import ModelPrice
from vibeforge.errors import Unavailable

Columns = tuple[tuple[str, str], ...]  # (name, DuckDB type)
CALLS: Columns = (
    ("id", "VARCHAR"),
    ("created_at", "TIMESTAMPTZ"),
    ("owner_id", "VARCHAR"),
    ("project_id", "VARCHAR"),
    ("session_id", "VARCHAR"),
    ("run_id", "VARCHAR"),
    ("model", "VARCHAR"),
    ("role", "VARCHAR"),
    ("iteration", "INTEGER"),
    ("attempt", "INTEGER"),
    ("status", "VARCHAR"),
    ("prompt_tokens", "BIGINT"),
    ("completion_tokens", "BIGINT"),
    ("cached_tokens", "BIGINT"),
    ("cache_write_tokens", "BIGINT"),
    ("reasoning_tokens", "BIGINT"),
    ("cost_usd", "DOUBLE"),
    ("cost_source", "VARCHAR"),
    ("price_version_id", "VARCHAR"),
    ("usage_source", "VARCHAR"),
    ("latency_ms", "DOUBLE"),
    ("first_token_ms", "DOUBLE"),
    ("error_code", "VARCHAR"),
)
RUNS: Columns = (
    ("id", "VARCHAR"),
    ("session_id", "VARCHAR"),
    ("project_id", "VARCHAR"),
    ("owner_id", "VARCHAR"),
    ("status", "VARCHAR"),
    ("model", "VARCHAR"),
    ("error_code", "VARCHAR"),
    ("started_at", "TIMESTAMPTZ"),
    ("finished_at", "TIMESTAMPTZ"),
)
MESSAGES: Columns = (
    ("id", "VARCHAR"),
    ("session_id", "VARCHAR"),
    ("run_id", "VARCHAR"),
    ("role", "VARCHAR"),
    ("status", "VARCHAR"),
    ("model", "VARCHAR"),
    ("token_usage", "JSON"),
    ("error_code", "VARCHAR"),
    ("created_at", "TIMESTAMPTZ"),
)
PRICES: Columns = (
    ("id", "VARCHAR"),
    ("model_config_id", "VARCHAR"),
    ("config_name", "VARCHAR"),
    ("owner_id", "VARCHAR"),
    ("version", "INTEGER"),
    ("effective_from", "TIMESTAMPTZ"),
    ("input_per_million", "DOUBLE"),
    ("output_per_million", "DOUBLE"),
    ("cached_input_per_million", "DOUBLE"),
    ("cache_write_per_million", "DOUBLE"),
    ("reasoning_per_million", "DOUBLE"),
)
Rows = list[tuple[Any, ...]]


async def call_rows(
    db: Database,
    owner_id: str | None,
    project_id: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Rows:
    """The LLM calls of one owner (None: everyone's) in [start, end), oldest first."""
    filters = [] if owner_id is None else [LLMCall.owner_id == owner_id]
    if project_id:
        filters.append(LLMCall.project_id == project_id)
    if start:
        filters.append(LLMCall.created_at >= start)
    if end:
        filters.append(LLMCall.created_at < end)
    columns = [getattr(LLMCall, name) for name, _ in CALLS]
    async with db.transaction() as session:
        result = await session.execute(
            select(*columns).where(*filters).order_by(LLMCall.created_at, LLMCall.id)
        )
        return [tuple(row) for row in result]


async def _other_tables(db: Database) -> dict[str, tuple[Columns, Rows]]:
    async with db.transaction() as session:
        runs = await session.execute(
            select(
                Run.id,
                Run.session_id,
                ChatSession.project_id,
                ChatSession.owner_id,
                Run.status,
                Run.model,
                Run.error_code,
                Run.started_at,
                Run.finished_at,
            ).join(ChatSession, ChatSession.id == Run.session_id)
        )
        messages = await session.execute(
            select(*(getattr(ChatMessage, name) for name, _ in MESSAGES))
        )
        prices = await session.execute(
            select(ModelPrice, ModelConfig.name, ModelConfig.owner_id).join(
                ModelConfig, ModelConfig.id == ModelPrice.model_config_id
            )
        )
        price_rows = [
            (
                price.id,
                price.model_config_id,
                name,
                owner,
                price.version,
                price.effective_from,
                *((price.prices or {}).get(column) for column, _ in PRICES[6:]),
            )
            for price, name, owner in prices
        ]
        message_rows = [
            (*row[:6], json.dumps(row[6]) if row[6] is not None else None, *row[7:])
            for row in messages
        ]
        return {
            "runs": (RUNS, [tuple(row) for row in runs]),
            "messages": (MESSAGES, message_rows),
            "model_prices": (PRICES, price_rows),
        }


def csv_text(columns: Columns, rows: Rows) -> str:
    """Rows as CSV with a header line (timestamps in ISO 8601)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([name for name, _ in columns])
    for row in rows:
        writer.writerow(
            [value.isoformat() if isinstance(value, datetime) else value for value in row]
        )
    return out.getvalue()


def _duckdb() -> Any:
    try:
        import duckdb
    except ImportError:
        raise Unavailable(
            "DuckDB is not installed: pip install 'vibeforge[duckdb]' to export for analysis"
        ) from None
    return duckdb


def _fill(connection: Any, table: str, columns: Columns, rows: Rows) -> None:
    names = ", ".join(f"{name} {kind}" for name, kind in columns)
    connection.execute(f"CREATE TABLE {table} ({names})")
    if rows:
        marks = ", ".join("?" for _ in columns)
        connection.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)


def _parquet(columns: Columns, rows: Rows) -> bytes:
    duckdb = _duckdb()
    with tempfile.TemporaryDirectory(prefix="vibeforge-parquet-") as directory:
        path = Path(directory) / "llm_calls.parquet"
        connection = duckdb.connect()
        try:
            _fill(connection, "llm_calls", columns, rows)
            connection.execute(f"COPY llm_calls TO '{path}' (FORMAT PARQUET)")
        finally:
            connection.close()
        return path.read_bytes()


async def parquet_bytes(rows: Rows) -> bytes:
    """LLM call rows as one Parquet file (built off the event loop)."""
    return await asyncio.to_thread(_parquet, CALLS, rows)


def _write_database(path: Path, tables: dict[str, tuple[Columns, Rows]]) -> None:
    duckdb = _duckdb()
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    connection = duckdb.connect(str(partial))
    try:
        for table, (columns, rows) in tables.items():
            _fill(connection, table, columns, rows)
    finally:
        connection.close()
    partial.replace(path)  # a reader never opens a half-written database


async def export_duckdb(db: Database, path: Path) -> dict[str, int]:
    """Write every user's calls, runs, messages' metadata and prices to a DuckDB database
    at `path` (replaced whole); the number of rows of each table."""
    _duckdb()  # refuse before reading anything
    tables = {"llm_calls": (CALLS, await call_rows(db, None)), **await _other_tables(db)}
    await asyncio.to_thread(_write_database, path, tables)
    return {table: len(rows) for table, (_, rows) in tables.items()}
