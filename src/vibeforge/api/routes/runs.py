"""Runs: status and cancellation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from vibeforge.api.deps import CurrentUser, ServicesDep
from vibeforge.api.routing import AuthFirstRoute

router = APIRouter(tags=["runs"], route_class=AuthFirstRoute)


@router.get("/runs/{run_id}")
async def get_run(run_id: str, user: CurrentUser, services: ServicesDep) -> dict[str, Any]:
    """A run's status, stages and timings."""
    return await services.runs.status(user, run_id)


@router.post("/runs/{run_id}/cancel")
async def cancel_run(run_id: str, user: CurrentUser, services: ServicesDep) -> dict[str, Any]:
    """Cancel a run; answers once the upstream stream is closed."""
    return await services.runs.cancel(user, run_id)
