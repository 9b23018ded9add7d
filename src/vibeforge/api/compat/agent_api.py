"""The code-editing agent system's API under `/api/v1/`, over vibeforge's projects and runs.

`create-session` makes a project and its global session; the stream socket of a project turns
each `{message, model, provider}` into a `Chat` in that session, executed by the same
`ClientConnection` as `/ws`, whose events it sends as they are (vibeforge's envelopes: the
reference streams "agent responses" without fixing their shape). Messages with a `type` are
vibeforge commands (`cancel`, `ping`, ...), so a client can also stop a run.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, WebSocket, status
from pydantic import BaseModel, Field, ValidationError

from vibeforge.api.chat_schemas import MessageOut
from vibeforge.api.compat.models import pick_model
from vibeforge.api.compat.sockets import (
    accept_caller,
    json_or_none,
    serve,
)
from vibeforge.api.connection import ClientConnection
from vibeforge.api.deps import CurrentUser, ServicesDep
from vibeforge.api.routes import files, projects
from vibeforge.api.routing import AuthFirstRoute
from vibeforge.api.schemas import ProjectOut
from vibeforge.api.websocket import WebSocketOutlet
from vibeforge.db.types import new_id
from vibeforge.errors import InvalidInput, VibeforgeError
from vibeforge.paging import MAX_LIMIT
from vibeforge.runs.events import envelope
from vibeforge.runs.protocol import MAX_PROMPT_CHARS, Chat, ErrorReply
from vibeforge.services import Services
from vibeforge.strict import Strict, describe_errors

router = APIRouter(prefix="/api/v1", tags=["compat: agent API"], route_class=AuthFirstRoute)
MAX_MESSAGES = 500  # of one conversation, in a project's conversations


class CreateSession(Strict):
    """A first message: it names the new project."""

    message: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)


class SessionCreated(BaseModel):
    """The project and session made for a message."""

    session_id: str
    project_id: str
    project_name: str
    message: str


class StreamMessage(Strict):
    """A message on the stream socket."""

    message: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    model: str | None = Field(default=None, max_length=200)
    provider: str | None = Field(default=None, max_length=64)


class ConversationOut(BaseModel):
    """A session of the project, with its messages (the newest MAX_MESSAGES)."""

    id: str
    scope: str
    node_id: str | None
    created_at: datetime
    messages: list[MessageOut]


def _project_name(message: str) -> str:
    words = " ".join(message.split())[:60].strip() or "project"
    return f"{words} ({new_id()[:8]})"  # unique: a user's project names are


@router.post("/chat/create-session", status_code=status.HTTP_201_CREATED)
async def create_session(
    body: CreateSession, user: CurrentUser, services: ServicesDep
) -> SessionCreated:
    """A new project named after the message (which is its description) and its global
    session; the message is not sent to the agent (send it on the stream)."""
    project = await services.projects.create(user, _project_name(body.message), body.message)
    session, _ = await services.sessions.open(user, project.id, None)
    return SessionCreated(
        session_id=session.id,
        project_id=project.id,
        project_name=project.name,
        message=body.message,
    )


router.add_api_route(
    "/projects", projects.create_project, methods=["POST"], status_code=status.HTTP_201_CREATED
)
router.add_api_route(
    "/projects/",
    projects.create_project,
    methods=["POST"],
    status_code=status.HTTP_201_CREATED,
    include_in_schema=False,
)


async def list_projects(user: CurrentUser, services: ServicesDep) -> list[ProjectOut]:
    """The caller's projects, newest first, as one array."""
    found: list[ProjectOut] = []
    cursor: str | None = None
    while len(found) < 5000:
        page = await services.projects.list(user, MAX_LIMIT, cursor)
        found += [ProjectOut.model_validate(v, from_attributes=True) for v in page.items]
        if page.next is None:
            break
        cursor = page.next
    return found


router.add_api_route("/projects", list_projects, methods=["GET"])
router.add_api_route("/projects/", list_projects, methods=["GET"], include_in_schema=False)
router.add_api_route("/projects/{project_id}", projects.get_project, methods=["GET"])
router.add_api_route("/projects/{project_id}/files", files.list_files, methods=["GET"])


@router.get("/projects/{project_id}/conversations")
async def project_conversations(
    project_id: str, user: CurrentUser, services: ServicesDep
) -> list[ConversationOut]:
    """The project's sessions with their messages, oldest first."""
    out = []
    for session in await services.sessions.list(user, project_id):
        page = await services.sessions.messages(user, session.id, MAX_MESSAGES, None)
        messages = [MessageOut.model_validate(row, from_attributes=True) for row in page.items]
        out.append(
            ConversationOut(
                id=session.id,
                scope=session.scope,
                node_id=session.node_id,
                created_at=session.created_at,
                messages=messages,
            )
        )
    return out


class Stream:
    """One stream socket: the project's global session and its connection."""

    def __init__(self, services: Services, connection: ClientConnection, session_id: str):
        self.services = services
        self.connection = connection
        self.session_id = session_id

    async def handle(self, message: Any) -> None:
        """`{message, model?, provider?}` starts a run; a `{type, data}` is a command."""
        connection = self.connection
        if isinstance(message, dict) and "type" in message:
            await connection.handle(message)
            return
        try:
            if not isinstance(message, dict):
                raise InvalidInput('a message is {"message": TEXT, "model"?, "provider"?}')
            try:
                asked = StreamMessage.model_validate(message)
            except ValidationError as error:
                raise InvalidInput(describe_errors(error.errors())) from None
            settings: dict[str, Any] = {"model": asked.model} if asked.model else {}
            model = await pick_model(self.services, connection.user, asked.provider, settings)
            chat = Chat(session_id=self.session_id, prompt=asked.message, model=model)
            await connection.execute(chat)
        except VibeforgeError as error:
            await connection.refuse(error)


@router.websocket("/chat/stream/{project_id}")
async def stream(socket: WebSocket, project_id: str) -> None:
    """A project's agent stream: vibeforge's events of its global session."""
    services: Services = socket.app.state.services
    refusal = envelope("error", {"code": "unauthorized", "detail": "no token"})
    user = await accept_caller(socket, refusal)
    if user is None:
        return
    try:
        session, _ = await services.sessions.open(user, project_id, None)
    except VibeforgeError as error:
        await socket.send_text(envelope("error", {"code": error.code, "detail": error.detail}))
        await socket.close(4404)
        return
    connection = ClientConnection(services, user, WebSocketOutlet(socket), "agent-api")
    client = Stream(services, connection, session.id)

    async def handle(text: str) -> None:
        message = json_or_none(text)
        if message is None:
            await connection.reply(ErrorReply("malformed_json", "not valid JSON"))
        else:
            await client.handle(message)

    async def refuse(detail: str) -> None:
        await connection.reply(ErrorReply("invalid_input", detail))

    await serve(socket, connection, handle, refuse)
