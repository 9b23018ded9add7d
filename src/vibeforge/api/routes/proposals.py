"""Proposals (accept, reject) and the auto_apply settings of projects and sessions."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from vibeforge.api.deps import DEFAULT_PAGE, CurrentUser, Cursor, Limit, ServicesDep
from vibeforge.api.routing import AuthFirstRoute
from vibeforge.api.schemas import PageOut, Strict
from vibeforge.proposals.views import ProposalAccepted, ProposalOut
from vibeforge.statuses import ProposalStatus

router = APIRouter(tags=["proposals"], route_class=AuthFirstRoute)


class ProjectAutoApply(Strict):
    """Whether approved edits of the project's sessions are committed at once."""

    auto_apply: bool


class SessionAutoApply(Strict):
    """A session's own auto_apply; null inherits the project's."""

    auto_apply: bool | None


@router.get("/projects/{project_id}/proposals")
async def list_proposals(
    project_id: str,
    user: CurrentUser,
    services: ServicesDep,
    status: ProposalStatus | None = None,
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> PageOut[ProposalOut]:
    """The project's proposals, newest first; `?status=pending` for those awaiting a decision
    (with auto_apply off, every approved edit waits there)."""
    page = await services.proposals.list(user, project_id, status, limit, cursor)
    return PageOut(items=[ProposalOut.of(row) for row in page.items], next=page.next)


@router.get("/sessions/{session_id}/proposals")
async def list_session_proposals(
    session_id: str,
    user: CurrentUser,
    services: ServicesDep,
    status: ProposalStatus | None = None,
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> PageOut[ProposalOut]:
    """The proposals of one session's runs, newest first (`?status=pending`: those awaiting a
    decision), so a client can show a conversation's edits beside it."""
    page = await services.proposals.list_for_session(user, session_id, status, limit, cursor)
    return PageOut(items=[ProposalOut.of(row) for row in page.items], next=page.next)


@router.get("/proposals/{proposal_id}")
async def get_proposal(proposal_id: str, user: CurrentUser, services: ServicesDep) -> ProposalOut:
    """One proposal with its files and diff."""
    return ProposalOut.of(await services.proposals.get(user, proposal_id))


@router.post("/proposals/{proposal_id}/accept")
async def accept_proposal(
    proposal_id: str, user: CurrentUser, services: ServicesDep
) -> ProposalAccepted:
    """Commit a pending proposal (merged three-way if the project moved; 409 on a conflict)."""
    outcome = await services.proposals.accept(user, proposal_id)
    view = ProposalOut.of(outcome.proposal)
    return ProposalAccepted(**view.model_dump(), merged=outcome.merged)


@router.post("/proposals/{proposal_id}/reject")
async def reject_proposal(
    proposal_id: str, user: CurrentUser, services: ServicesDep
) -> ProposalOut:
    """Decline a pending proposal."""
    return ProposalOut.of(await services.proposals.reject(user, proposal_id))


@router.put("/projects/{project_id}/auto_apply", status_code=status.HTTP_204_NO_CONTENT)
async def set_project_auto_apply(
    project_id: str, body: ProjectAutoApply, user: CurrentUser, services: ServicesDep
) -> Response:
    """Set whether the project's approved edits are committed at once (default true)."""
    await services.proposals.set_project_auto_apply(user, project_id, body.auto_apply)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/sessions/{session_id}/auto_apply", status_code=status.HTTP_204_NO_CONTENT)
async def set_session_auto_apply(
    session_id: str, body: SessionAutoApply, user: CurrentUser, services: ServicesDep
) -> Response:
    """Override the project's auto_apply for one session (null: inherit)."""
    await services.proposals.set_session_auto_apply(user, session_id, body.auto_apply)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
