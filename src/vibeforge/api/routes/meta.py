"""Unauthenticated routes: the service description and its health."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from vibeforge import __version__
from vibeforge.api.deps import ServicesDep
from vibeforge.api.routing import AuthFirstRoute
from vibeforge.api.web import index_page, wants_html

router = APIRouter(tags=["meta"], route_class=AuthFirstRoute)

FEATURES = [
    "projects: git-backed workspaces with versions, diffs and revert",
    "users and revocable bearer tokens",
    "model configs for OpenAI, OpenRouter, Ollama, Anthropic, OpenAI-compatible servers "
    "and a built-in offline model; API keys encrypted at rest",
    "sessions (global or per node) with persistent history",
    "agent runs streamed live over WebSocket (/ws) and Socket.IO (/socket.io), "
    "cancellable, replayable, recovered after a crash",
    "coding pipeline: coder, validators, fixer, evaluator, proposals that become versions",
    "per-call token usage, cost and raw provider responses; traces",
]


def _git_version() -> str | None:
    if shutil.which("git") is None:
        return None
    result = subprocess.run(["git", "--version"], capture_output=True, text=True, check=False)
    return result.stdout.strip().removeprefix("git version ") or None


@router.get(
    "/",
    response_model=None,
    responses={200: {"content": {"text/html": {}}, "description": "the web client (browsers)"}},
)
async def index(request: Request) -> dict[str, Any] | HTMLResponse:
    """The web client for a browser; for anything else, what this server is and where its API
    documentation lives."""
    if wants_html(request):
        return index_page()
    return {"name": "vibeforge", "version": __version__, "features": FEATURES, "docs": "/docs"}


@router.get("/health")
async def health(request: Request, services: ServicesDep) -> dict[str, Any]:
    """Whether the database and git answer; extra checks are contributed by other services.
    The database's answer is at most about a second old (`database_checked_ms_ago`): a poll
    does not wait behind the database's queue."""
    database = await services.db.health.state()
    database_ok = database.ok
    # Starlette's State keeps attributes in its own dict, not __dict__: read it as one.
    cache = getattr(request.app.state, "git_version", None)
    git = cache or await asyncio.to_thread(_git_version)
    request.app.state.git_version = git
    report: dict[str, Any] = {
        "status": "ok" if database_ok and git else "degraded",
        "database": "ok" if database_ok else "unavailable",
        "database_checked_ms_ago": database.checked_ms_ago,
        "database_backend": services.db.dialect,
        "git": git or "missing",
        "version": __version__,
    }
    for name, probe in request.app.state.health_probes.items():
        report[name] = await probe()
        # A part that cannot work (e.g. the event bus of a scale-out) degrades the whole.
        if isinstance(report[name], dict) and report[name].get("status") == "unavailable":
            report["status"] = "degraded"
    return report
