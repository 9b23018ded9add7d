"""Traces: the spans of a run (stages, LLM calls, tools, validators, edit application)."""

from __future__ import annotations

from fastapi import APIRouter

from vibeforge.api.deps import CurrentUser, ServicesDep
from vibeforge.api.routing import AuthFirstRoute
from vibeforge.traces.views import TraceOut

router = APIRouter(tags=["traces"], route_class=AuthFirstRoute)


@router.get("/traces/{trace_id}")
async def get_trace(trace_id: str, user: CurrentUser, services: ServicesDep) -> TraceOut:
    """A trace's spans in start order, each with its parent, kind, timing and attributes."""
    return await services.traces.load(user, trace_id)
