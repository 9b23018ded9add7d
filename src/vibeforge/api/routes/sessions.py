"""Sessions, their messages, and the raw responses behind a message."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import JSONResponse

from vibeforge.api.chat_schemas import (
    LLMCallOut,
    MessageCreate,
    MessageFull,
    MessageOut,
    RunAccepted,
    RunFailed,
    RunResult,
    SessionCreate,
    SessionOut,
    SessionUpdate,
)
from vibeforge.api.deps import DEFAULT_PAGE, CurrentUser, Cursor, Limit, ServicesDep
from vibeforge.api.middleware import internal_error_detail
from vibeforge.api.routing import AuthFirstRoute
from vibeforge.api.schemas import PageOut
from vibeforge.db.chat_tables import ChatSession
from vibeforge.logs import request_id
from vibeforge.runs import reasons
from vibeforge.runs.protocol import Chat, Done, event_data
from vibeforge.services import Services

router = APIRouter(tags=["sessions"], route_class=AuthFirstRoute)


def session_out(row: ChatSession, services: Services) -> SessionOut:
    """A session with its active run, if any."""
    active = services.runs.active_in_session(row.id)
    stream = services.streams.peek(row.id)
    return SessionOut(
        session_id=row.id,
        project_id=row.project_id,
        type="node" if row.scope == "node" else "global",
        node_id=row.node_id,
        title=row.title,
        created_at=row.created_at,
        cleared_at=row.cleared_at,
        last_seq=max(row.last_seq, stream.last_seq if stream else 0),
        active_run_id=active.id if active else None,
    )


@router.post(
    "/projects/{project_id}/sessions",
    status_code=status.HTTP_201_CREATED,
    response_model=SessionOut,
    responses={200: {"model": SessionOut, "description": "the session existed already"}},
)
async def open_session(
    project_id: str, body: SessionCreate, user: CurrentUser, services: ServicesDep
) -> JSONResponse:
    """The project's global session, or its session about `node_id`; 201 when created."""
    row, created = await services.sessions.open(user, project_id, body.node_id)
    return JSONResponse(
        session_out(row, services).model_dump(mode="json"),
        status_code=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
    )


@router.get("/projects/{project_id}/sessions")
async def list_sessions(
    project_id: str, user: CurrentUser, services: ServicesDep
) -> PageOut[SessionOut]:
    """The project's sessions."""
    rows = await services.sessions.list(user, project_id)
    return PageOut(items=[session_out(row, services) for row in rows])


@router.get("/sessions/{session_id}")
async def get_session(session_id: str, user: CurrentUser, services: ServicesDep) -> SessionOut:
    """One session."""
    return session_out(await services.sessions.get(user, session_id), services)


@router.patch("/sessions/{session_id}")
async def update_session(
    session_id: str, body: SessionUpdate, user: CurrentUser, services: ServicesDep
) -> SessionOut:
    """Give the session a title (`null` or blank: none); nothing else about it changes."""
    return session_out(await services.sessions.rename(user, session_id, body.title), services)


@router.delete("/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
async def clear_session(session_id: str, user: CurrentUser, services: ServicesDep) -> Response:
    """Clear the history (its active run is cancelled first): old messages stay readable as
    archived."""
    await services.sessions.get(user, session_id)
    await services.runs.cancel_session(session_id, reasons.SESSION_CLEARED)
    await services.sessions.clear(user, session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/sessions/{session_id}/messages")
async def list_messages(
    session_id: str,
    user: CurrentUser,
    services: ServicesDep,
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
    include_archived: bool = Query(default=False),
) -> PageOut[MessageOut]:
    """The session's messages, oldest first."""
    page = await services.sessions.messages(user, session_id, limit, cursor, include_archived)
    items = [MessageOut.model_validate(row, from_attributes=True) for row in page.items]
    return PageOut(items=items, next=page.next)


@router.post(
    "/sessions/{session_id}/messages",
    responses={
        202: {"model": RunAccepted},
        409: {"description": "`if_idle=true` and a run is active in the session"},
        **{code: {"model": RunFailed} for code in (500, 502, 503, 504)},
    },
    response_model=RunResult,
)
async def post_message(
    session_id: str,
    body: MessageCreate,
    user: CurrentUser,
    services: ServicesDep,
    wait: bool = Query(default=True, description="false: answer 202 at once"),
    if_idle: bool = Query(
        default=False, description="true: 409 if a run is active, instead of cancelling it"
    ),
) -> RunResult | JSONResponse:
    """Start a run; by default wait for its outcome (it streams over the sockets either way).

    A run already active in the session is cancelled (`superseded_run_id` names it; its
    `cancelled` event says `superseded by message ...`), unless `if_idle`. A run that failed
    on an error answers that error's status (502-504 for a provider's) in the error shape,
    with the ids of the stored message and run."""
    command = Chat(session_id=session_id, if_idle=if_idle, **body.model_dump())
    run = await services.runs.start(user, command)
    if not wait:
        accepted = RunAccepted(
            message_id=run.ctx.assistant_message_id,
            run_id=run.id,
            trace_id=run.ctx.trace_id,
            superseded_run_id=run.superseded_run_id,
        )
        return JSONResponse(accepted.model_dump(), status_code=status.HTTP_202_ACCEPTED)
    outcome = await services.runs.wait(run)
    if run.error_status is not None and run.error_status >= 400:
        failed = RunFailed(
            error=outcome.error_code or "error",
            detail=_detail(outcome, run.error_status),
            message_id=outcome.message_id,
            run_id=outcome.run_id,
            trace_id=outcome.trace_id,
            token_usage=outcome.token_usage,
        )
        return JSONResponse(failed.model_dump(), status_code=run.error_status)
    return RunResult(**event_data(outcome))


def _detail(outcome: Done, status: int) -> str:
    if status >= 500 and outcome.error_code == "internal_error":
        return internal_error_detail(request_id.get() or "-")  # as every 500: find it in the log
    return outcome.error or "the run failed"


@router.get("/messages/{message_id}/full")
async def message_full(message_id: str, user: CurrentUser, services: ServicesDep) -> MessageFull:
    """A message with every LLM call behind it, raw provider responses included."""
    message, calls = await services.sessions.message_with_calls(user, message_id)
    return MessageFull(
        message=MessageOut.model_validate(message, from_attributes=True),
        llm_calls=[LLMCallOut.model_validate(call, from_attributes=True) for call in calls],
        content=message.content,
        model=message.model,
        usage=message.token_usage,
    )
