"""`vibeforge usage`: the server's usage report as a table or CSV, and `vibeforge usage export
--duckdb FILE`, every user's calls, runs, messages' metadata and prices for SQL analysis."""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

COLUMNS = (
    ("calls", "calls"),
    ("prompt", "prompt_tokens"),
    ("completion", "completion_tokens"),
    ("cached", "cached_tokens"),
    ("reasoning", "reasoning_tokens"),
    ("cost_usd", "cost_usd"),
    ("unpriced", "unpriced_calls"),
)


def report_parser() -> argparse.ArgumentParser:
    """Options of `vibeforge usage`."""
    parser = argparse.ArgumentParser(
        prog="vibeforge usage",
        description="Tokens and cost of your LLM calls, from the server (VIBEFORGE_URL, "
        "VIBEFORGE_TOKEN). `vibeforge usage export --duckdb FILE` writes everything to DuckDB.",
    )
    parser.add_argument("--project", help="a project id or name")
    parser.add_argument(
        "--by", choices=("model", "role", "day", "project", "user"), default="model"
    )
    parser.add_argument("--since", type=_date, help="YYYY-MM-DD or ISO 8601 (UTC), inclusive")
    parser.add_argument("--until", type=_date, help="YYYY-MM-DD or ISO 8601 (UTC), exclusive")
    parser.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    return parser


def export_parser() -> argparse.ArgumentParser:
    """Options of `vibeforge usage export`."""
    parser = argparse.ArgumentParser(
        prog="vibeforge usage export",
        description="Write every user's LLM calls, runs, messages' metadata and prices to a "
        "DuckDB database, read from this server's database (needs vibeforge[duckdb]).",
    )
    parser.add_argument("--duckdb", type=Path, required=True, metavar="FILE")
    return parser


def _date(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6f}"
    return str(value)


def render_table(report: dict[str, Any]) -> str:
    """The report's groups and total as aligned columns."""
    header = [report["group_by"], *(title for title, _ in COLUMNS)]
    lines = [
        [group["key"], *(_cell(group[name]) for _, name in COLUMNS)] for group in report["groups"]
    ]
    lines.append(["TOTAL", *(_cell(report["total"][name]) for _, name in COLUMNS)])
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    out = []
    for row in [header, *lines]:
        first, *rest = row
        cells = [first.ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(rest, widths[1:], strict=True)
        ]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out)


def render_csv(report: dict[str, Any]) -> str:
    """The report's groups and total as CSV."""
    rows = [["key", *(name for _, name in COLUMNS)]]
    for group in [*report["groups"], {"key": "TOTAL", **report["total"]}]:
        rows.append([group["key"], *("" if group[n] is None else group[n] for _, n in COLUMNS)])
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


async def _report(args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    from vibeforge.client.terminal.cli import connection

    url, token = connection()
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as http:
        params: dict[str, str] = {"group_by": args.by}
        if args.project:
            params["project_id"] = await _project_id(http, args.project)
        if args.since:
            params["from"] = args.since.isoformat()
        if args.until:
            params["to"] = args.until.isoformat()
        response = await http.get("/usage", params=params)
        if response.status_code != 200:
            raise SystemExit(f"vibeforge usage: {response.json().get('detail', response.text)}")
        return response.json()


async def _project_id(http: Any, ref: str) -> str:
    projects = (await http.get("/projects", params={"limit": 500})).json()["items"]
    for project in projects:
        if ref in (project["id"], project["name"]):
            return project["id"]
    raise SystemExit(f"vibeforge usage: no project {ref!r}")


def _export(args: argparse.Namespace) -> int:
    from vibeforge.config import Settings
    from vibeforge.db.engine import Database
    from vibeforge.usage.export import export_duckdb

    async def run() -> dict[str, int]:
        db = Database(Settings().resolved_database_url)
        try:
            return await export_duckdb(db, args.duckdb)
        finally:
            await db.dispose()

    counts = asyncio.run(run())
    summary = ", ".join(f"{count} {table}" for table, count in counts.items())
    print(f"wrote {args.duckdb}: {summary}")
    return 0


def main(argv: Sequence[str]) -> int:
    """Entry point of `vibeforge usage`."""
    arguments = list(argv)
    if arguments[:1] == ["export"]:
        return _export(export_parser().parse_args(arguments[1:]))
    args = report_parser().parse_args(arguments)
    report = asyncio.run(_report(args))
    sys.stdout.write(render_csv(report) if args.csv else render_table(report) + "\n")
    return 0
