"""Runs: status and cancellation."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from vibeforge.api.deps import CurrentUser, ServicesDep
from vibeforge.api.routing import AuthFirstRoute
from vibeforge.runs.store import RunStatusOut

router = APIRouter(tags=["runs"], route_class=AuthFirstRoute)


class CancelOut(BaseModel):
    """What a cancel found: the run's status, and whether this request stopped it."""

    run_id: str
    status: str
    cancelled: bool


@router.get("/runs/{run_id}")
async def get_run(run_id: str, user: CurrentUser, services: ServicesDep) -> RunStatusOut:
    """A run's status, stages and timings."""
    return await services.runs.status(user, run_id)


@router.post("/runs/{run_id}/cancel")
async def cancel_run(run_id: str, user: CurrentUser, services: ServicesDep) -> CancelOut:
    """Cancel a run; answers once the upstream stream is closed and the partial answer is
    stored."""
    outcome = await services.runs.cancel(user, run_id)
    return CancelOut(run_id=outcome.run_id, status=outcome.status, cancelled=outcome.cancelled)
