"""Traces: the spans of a run (stages, LLM calls, tools, validators, edit application)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from vibeforge.agents.traces import load_trace
from vibeforge.api.deps import CurrentUser, ServicesDep
from vibeforge.api.routing import AuthFirstRoute

router = APIRouter(tags=["traces"], route_class=AuthFirstRoute)


@router.get("/traces/{trace_id}")
async def get_trace(trace_id: str, user: CurrentUser, services: ServicesDep) -> dict[str, Any]:
    """A trace's spans in start order, each with its parent, kind, timing and attributes."""
    return await load_trace(services.db, user, trace_id)
