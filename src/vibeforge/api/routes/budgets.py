"""Budgets: administrators manage everyone's; users read the budgets on what they own."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from vibeforge.api.deps import CurrentUser, ServicesDep
from vibeforge.api.routing import AuthFirstRoute
from vibeforge.api.schemas import PageOut
from vibeforge.budgets.service import budget_out
from vibeforge.budgets.views import BudgetCreate, BudgetOut, BudgetUpdate

router = APIRouter(tags=["budgets"], route_class=AuthFirstRoute)


@router.get("/budgets")
async def list_budgets(user: CurrentUser, services: ServicesDep) -> PageOut[BudgetOut]:
    """The budgets the caller may see (an administrator: all), oldest first."""
    return PageOut(items=[budget_out(row) for row in await services.budgets.list(user)])


@router.post(
    "/budgets",
    status_code=status.HTTP_201_CREATED,
    responses={404: {"description": "no such user, project or model config (subject_id)"}},
)
async def create_budget(body: BudgetCreate, user: CurrentUser, services: ServicesDep) -> BudgetOut:
    """A new budget (administrators)."""
    return budget_out(await services.budgets.create(user, body.model_dump()))


@router.get("/budgets/{budget_id}")
async def get_budget(budget_id: str, user: CurrentUser, services: ServicesDep) -> BudgetOut:
    """One budget and its current period."""
    return budget_out(await services.budgets.get(user, budget_id))


@router.patch("/budgets/{budget_id}")
async def update_budget(
    budget_id: str, body: BudgetUpdate, user: CurrentUser, services: ServicesDep
) -> BudgetOut:
    """Change a budget's cap, thresholds, name or webhook (administrators)."""
    changes = body.model_dump(exclude_unset=True)
    return budget_out(await services.budgets.update(user, budget_id, changes))


@router.delete("/budgets/{budget_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_budget(budget_id: str, user: CurrentUser, services: ServicesDep) -> Response:
    """Remove a budget (administrators)."""
    await services.budgets.delete(user, budget_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
