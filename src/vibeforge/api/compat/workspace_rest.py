"""The workspace agent system's REST routes of users and chats: `/auth/login` and `/chat/*`,
over vibeforge's users, projects (workspaces) and sessions (chats); `workspace_files.py` has
the workspace, file and model routes.

The reference logs anyone in by email alone; here `/auth/login` needs the email **and** one of
that user's API tokens, and answers 401 otherwise. Its `user_id` form fields must name the
caller, or the answer is 404 (as for anything of another user).
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from vibeforge.api.compat.conversations import DETACHED_PREFIX
from vibeforge.api.compat.forms import form_body, form_fields
from vibeforge.api.deps import CurrentUser, ServicesDep
from vibeforge.api.routing import AuthFirstRoute
from vibeforge.db.chat_tables import ChatSession
from vibeforge.db.tables import User
from vibeforge.errors import NotFound, Unauthorized
from vibeforge.paging import MAX_LIMIT
from vibeforge.runs import reasons
from vibeforge.services import Services
from vibeforge.strict import NO_NUL, Strict

router = APIRouter(tags=["compat: workspace"], route_class=AuthFirstRoute)
GLOBAL_CHAT = "General Chat"  # the name of a project's global session
DELETED_PREFIX = "deleted-chat/"  # the node of a deleted chat's session
RETIRED_PREFIXES = (DELETED_PREFIX, DETACHED_PREFIX)


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
    """A session's name as a chat: its title, else its node id (`General Chat` for the
    global one)."""
    return session.title or session.node_id or GLOBAL_CHAT


def is_retired(session: ChatSession) -> bool:
    """Whether the session is a deleted chat or conversation (kept for its archived messages)."""
    return (session.node_id or "").startswith(RETIRED_PREFIXES)


async def find_chat(services: Services, user: User, chat_id: str) -> ChatSession:
    """One of the caller's chats; `Chat not found.` for anyone else's, or a deleted one."""
    try:
        session = await services.sessions.get(user, chat_id)
    except NotFound:
        session = None
    if session is None or is_retired(session):
        raise NotFound("Chat not found.")
    return session


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
                if not is_retired(s)
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


class ChatDeleted(BaseModel):
    """The reference's confirmation."""

    detail: str


@router.delete("/chat/{chat_id}", responses={404: {"description": "Chat not found."}})
async def delete_chat(chat_id: str, user: CurrentUser, services: ServicesDep) -> ChatDeleted:
    """Delete a chat: its run is cancelled, its messages archived, and it is listed and found
    no more (its session keeps the archived messages for vibeforge's own API)."""
    await find_chat(services, user, chat_id)
    await services.runs.cancel_session(chat_id, reasons.SESSION_CLEARED)
    await services.sessions.clear(user, chat_id)
    await services.sessions.retire(user, chat_id, DELETED_PREFIX)
    return ChatDeleted(detail="Chat deleted successfully.")


class ChatRenameForm(Strict):
    """The form of `/chat/rename`."""

    chat_id: str = Field(min_length=1, max_length=64)
    new_name: str = Field(min_length=1, max_length=200)


CHAT_RENAME_BODY = form_body(
    {
        name: {"type": "string", "minLength": 1, "maxLength": longest, "pattern": NO_NUL}
        for name, longest in (("chat_id", 64), ("new_name", 200))
    },
    ["chat_id", "new_name"],
)


@router.patch(
    "/chat/rename",
    openapi_extra=CHAT_RENAME_BODY,
    responses={404: {"description": "Chat not found."}},
)
async def rename_chat(request: Request, user: CurrentUser, services: ServicesDep) -> ChatNewOut:
    """Rename a chat (form fields `chat_id`, `new_name`): its session's title."""
    form = await form_fields(request, ChatRenameForm)
    await find_chat(services, user, form.chat_id)
    session = await services.sessions.rename(user, form.chat_id, form.new_name)
    return ChatNewOut(
        chat_id=session.id,
        name=session_chat_name(session),
        last_updated=_iso(session.created_at) or "",
    )
