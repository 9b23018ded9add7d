"""The workspace agent system's REST routes: `/auth/login` and `/chat/new`, over vibeforge's
users, projects (workspaces) and sessions (chats).

The reference logs anyone in by email alone; here `/auth/login` needs the email **and** one of
that user's API tokens, and answers 401 otherwise. Its `user_id` form fields must name the
caller, or the answer is 404 (as for anything of another user).
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from vibeforge.api.compat.forms import form_body, form_fields
from vibeforge.api.deps import CurrentUser, ServicesDep
from vibeforge.api.routing import AuthFirstRoute
from vibeforge.db.chat_tables import ChatSession
from vibeforge.db.tables import User
from vibeforge.errors import NotFound, Unauthorized
from vibeforge.paging import MAX_LIMIT
from vibeforge.services import Services
from vibeforge.strict import NO_NUL, Strict

router = APIRouter(tags=["compat: workspace"], route_class=AuthFirstRoute)
GLOBAL_CHAT = "General Chat"  # the name of a project's global session


class LoginIn(Strict):
    """An email and a token of that user (the reference takes the email alone)."""

    email: str = Field(min_length=3, max_length=320)
    token: str = Field(min_length=1, max_length=512)


class ChatSummary(BaseModel):
    """A chat as the login lists it."""

    id: str
    name: str
    last_updated: str | None
    num_versions: int


class WorkspaceSummary(BaseModel):
    """A workspace (project) with its chats (sessions)."""

    id: str
    name: str
    chats: list[ChatSummary]


class LoginOut(BaseModel):
    """The user and everything it has."""

    user_id: str
    email: str
    workspaces: list[WorkspaceSummary]


class ChatNewOut(BaseModel):
    """A chat just made."""

    chat_id: str
    name: str
    last_updated: str


def session_chat_name(session: ChatSession) -> str:
    """A session's name as a chat: its node id, or `General Chat` for the global one."""
    return session.node_id or GLOBAL_CHAT


def _iso(moment: datetime | None) -> str | None:
    return moment.replace(tzinfo=None).isoformat() if moment is not None else None


async def _workspaces(services: Services, user: User) -> list[WorkspaceSummary]:
    out: list[WorkspaceSummary] = []
    cursor: str | None = None
    while True:
        page = await services.projects.list(user, MAX_LIMIT, cursor)
        for project in page.items:
            sessions = await services.sessions.list(user, project.id)
            versions = await services.projects.versions(user, project.id, MAX_LIMIT, None)
            chats = [
                ChatSummary(
                    id=s.id,
                    name=session_chat_name(s),
                    last_updated=_iso(s.created_at),
                    num_versions=len(versions.items),
                )
                for s in sessions
            ]
            out.append(WorkspaceSummary(id=project.id, name=project.name, chats=chats))
        if page.next is None:
            return out
        cursor = page.next


@router.post(
    "/auth/login",
    responses={401: {"description": "unauthorized: not a live token of that email's user"}},
)
async def login(body: LoginIn, services: ServicesDep) -> LoginOut:
    """The user an email **and** its token name, with its workspaces and chats; 401 unless
    the token is one of that email's user."""
    user = await services.users.authenticate(body.token)
    if user.email != body.email.strip().lower():
        raise Unauthorized("the token is not one of that user's")
    return LoginOut(user_id=user.id, email=user.email, workspaces=await _workspaces(services, user))


class ChatNewForm(Strict):
    """The form of `/chat/new`."""

    user_id: str = Field(min_length=1, max_length=64)
    workspace_id: str = Field(min_length=1, max_length=64)
    chat_name: str = Field(min_length=1, max_length=1024)


CHAT_NEW_BODY = form_body(
    {  # the lengths ChatNewForm checks, so the schema states them too
        name: {"type": "string", "minLength": 1, "maxLength": longest, "pattern": NO_NUL}
        for name, longest in (("user_id", 64), ("workspace_id", 64), ("chat_name", 1024))
    },
    ["user_id", "workspace_id", "chat_name"],
)


@router.post(
    "/chat/new",
    openapi_extra=CHAT_NEW_BODY,
    responses={404: {"description": "not the caller's user_id, or no such workspace"}},
)
async def new_chat(request: Request, user: CurrentUser, services: ServicesDep) -> ChatNewOut:
    """A chat in a workspace (form fields `user_id`, `workspace_id`, `chat_name`): the
    project's session named `chat_name` (made when missing; `General Chat` is the global one)."""
    form = await form_fields(request, ChatNewForm)
    if form.user_id != user.id:
        raise NotFound(f"no user {form.user_id!r}")
    node = None if form.chat_name == GLOBAL_CHAT else form.chat_name
    session, _ = await services.sessions.open(user, form.workspace_id, node)
    return ChatNewOut(
        chat_id=session.id,
        name=session_chat_name(session),
        last_updated=_iso(session.created_at) or "",
    )
