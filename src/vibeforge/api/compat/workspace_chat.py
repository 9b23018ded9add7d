"""The workspace agent system's WebSocket, `WS /ws/{chat_id}`, over vibeforge's runs.

A workspace is a project, a chat one of its sessions, a `.based` file a project file (its
versions are the project's versions), any other uploaded file an attachment of the session.
Actions are executed by the same `ClientConnection` as `/ws` (so writes are versions, runs are
the registry's); this module builds the initial payload and words the replies as the reference.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import APIRouter, WebSocket
from pydantic import Field, ValidationError

from vibeforge.api.compat.sockets import (
    CLOSE_TOO_SLOW,
    accept_caller,
    json_or_none,
    serve,
)
from vibeforge.api.compat.workspace_rest import find_chat
from vibeforge.api.connection import ClientConnection
from vibeforge.attachments.kinds import TEXT_KINDS, Kind
from vibeforge.db.attachment_tables import Attachment
from vibeforge.db.chat_tables import ChatSession
from vibeforge.db.tables import User
from vibeforge.errors import NotFound, VibeforgeError
from vibeforge.paging import MAX_LIMIT
from vibeforge.runs.events import Event, encode
from vibeforge.runs.protocol import (
    MAX_PROMPT_CHARS,
    MAX_UPLOAD_DATA_CHARS,
    Chat,
    DeleteFile,
    ErrorReply,
    RevertVersion,
    ServerEvent,
    UploadFile,
)
from vibeforge.services import Services
from vibeforge.statuses import AttachmentState, MessageStatus
from vibeforge.strict import Strict, describe_errors

router = APIRouter()
BASED = ".based"
MAX_VERSIONS = 50  # of one .based file, in the initial payload
MAX_TEXT_CHARS = 200_000  # of one text file's content, in the initial payload


class UploadAction(Strict):
    """`upload_file`."""

    action: str
    filename: str = Field(min_length=1, max_length=255)
    file_data: str = Field(max_length=MAX_UPLOAD_DATA_CHARS)


class NewMessageAction(Strict):
    """`new_message`."""

    action: str
    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    model: str | None = Field(default=None, max_length=200)
    is_first_prompt: bool = False
    is_chat_or_composer: bool = False
    selected_filename: str | None = Field(default=None, max_length=4096)


class RevertAction(Strict):
    """`revert_version`."""

    action: str
    version_id: str = Field(min_length=4, max_length=64)
    filename: str = Field(min_length=1, max_length=4096)


class DeleteAction(Strict):
    """`delete_file`."""

    action: str
    file_id: str = Field(min_length=1, max_length=4096)


ACTIONS: dict[str, type[Strict]] = {
    "upload_file": UploadAction,
    "new_message": NewMessageAction,
    "revert_version": RevertAction,
    "delete_file": DeleteAction,
}


def _message(role: str, kind: str, content: Any) -> dict[str, Any]:
    return {"role": role, "type": kind, "content": content}


async def _all(fetch: Any) -> list[Any]:
    items: list[Any] = []
    cursor = None
    while True:
        page = await fetch(cursor)
        items.extend(page.items)
        if page.next is None or len(items) >= 5000:
            return items
        cursor = page.next


async def initial_payload(services: Services, user: User, session: ChatSession) -> dict[str, Any]:
    """The chat's conversation, files, workspace files and model names."""
    project_id = session.project_id
    messages = await _all(lambda c: services.sessions.messages(user, session.id, MAX_LIMIT, c))
    attachments = await _all(
        lambda c: services.attachments.list(user, project_id, None, MAX_LIMIT, c)
    )
    texts = []
    for row in attachments:
        if row.session_id != session.id:
            continue
        kind = "image" if row.kind == Kind.IMAGE else "text"
        content = await _file_content(services, row)
        texts.append({"file_id": row.id, "name": row.name, "content": content, "type": kind})
    _, entries = await services.projects.list_files(user, project_id)
    based = [await _based_file(services, user, project_id, e.path) for e in entries]
    return {
        "chat_id": session.id,
        "conversation": [_message(m.role, "text", m.content) for m in messages],
        "chat_files_text": texts,
        "chat_files_based": [b for b in based if b is not None],
        "workspace_files": [
            {"file_id": row.id, "name": row.name} for row in attachments if row.session_id is None
        ],
        "workspace_id": project_id,
        "models": [config.name for config in await services.models.list(user)],
    }


async def _file_content(services: Services, row: Attachment) -> str:
    """A chat file's `content`: a text file's text, a PDF's extracted text ("" until its
    extraction is done, or when it failed), an image's path (the reference says "text or
    path for images": an image has no text)."""
    if row.kind == Kind.IMAGE:
        return f"/attachments/{row.id}/content"
    store = services.attachments.store
    if row.kind in TEXT_KINDS:
        path = store.content_path(row.owner_id, row.sha256)
        with contextlib.suppress(OSError):
            raw = await asyncio.to_thread(path.read_bytes)
            return raw[:MAX_TEXT_CHARS].decode("utf-8", "replace")
        return ""
    if row.state != AttachmentState.READY:
        return ""
    extract = await asyncio.to_thread(store.read_extract, row.owner_id, row.sha256)
    if extract is None:
        return ""
    return "\n".join(block.text.rstrip("\n") for block in extract.blocks)[:MAX_TEXT_CHARS]


async def _based_file(
    services: Services, user: User, project_id: str, path: str
) -> dict[str, Any] | None:
    if not path.endswith(BASED):
        return None
    projects = services.projects
    latest = await projects.read_file(user, project_id, path)
    page = await projects.versions(user, project_id, MAX_VERSIONS, None, path=path)
    versions = []
    for commit in page.items:
        _, _, diff = await projects.diff(user, project_id, latest.version_id, commit.id, path)
        versions.append(
            {"version_id": commit.id, "timestamp": commit.created_at.isoformat(), "diff": diff}
        )
    return {
        "file_id": path,
        "name": path,
        "latest_content": latest.content,
        "versions": versions,
        "type": "based",
    }


class WorkspaceOutlet:
    """Writes a chat's run endings as the reference's agent responses; errors as `{error}`."""

    def __init__(self, socket: WebSocket, session_id: str) -> None:
        self.socket = socket
        self.session_id = session_id
        self.files: dict[str, str | None] = {}  # answer (message) id -> selected .based file
        self.projects: Any = None

    async def send(self, value: Any) -> None:
        """One JSON message."""
        await self.socket.send_text(encode(value))

    async def event(self, event: Event) -> None:
        """A run's answer, failure or cancellation in this chat (the rest is not sent)."""
        data = event.data
        if event.session_id != self.session_id:
            return
        match event.type:
            case "error":
                await self.send({"error": data["detail"]})
            case "cancelled" | "interrupted":
                await self.send({"error": f"{event.type}: {data['reason']}"})
            case "done" if data["status"] != MessageStatus.ERROR:
                await self.send(await self._answer(data))

    async def _answer(self, data: dict[str, Any]) -> dict[str, Any]:
        path = self.files.get(data["message_id"])
        if data.get("version_id") and path and self.projects is not None:
            services, user, project_id = self.projects
            with contextlib.suppress(VibeforgeError):
                latest = await services.projects.read_file(user, project_id, path)
                content = {
                    "based_filename": path,
                    "based_content": latest.content,
                    "diff": data.get("diff"),
                    "message": data["content"],
                }
                return {
                    "action": "agent_response",
                    "message": _message("assistant", "file", content),
                }
        return {
            "action": "agent_response",
            "message": _message("assistant", "text", data["content"]),
        }

    async def reply(self, reply: ServerEvent) -> None:
        """Only a refused command is worded here; the actions' replies are built by the chat."""
        if isinstance(reply, ErrorReply):
            await self.send({"error": reply.detail})

    async def too_slow(self) -> None:
        """Close: the client fell a whole queue behind."""
        await self.socket.close(CLOSE_TOO_SLOW, "client too slow")


class WorkspaceChat:
    """One `/ws/{chat_id}` client."""

    def __init__(self, services: Services, user: User, session: ChatSession, socket: WebSocket):
        self.services = services
        self.user = user
        self.session = session
        self.outlet = WorkspaceOutlet(socket, session.id)
        self.outlet.projects = (services, user, session.project_id)
        self.connection = ClientConnection(services, user, self.outlet, "workspace")

    async def handle(self, text: str) -> None:
        """One client message: an action, or plain text (a chat message)."""
        message = json_or_none(text)
        try:
            if not isinstance(message, dict) or "action" not in message:
                await self.new_message(NewMessageAction(action="new_message", prompt=text))
                return
            action = message["action"]
            model = ACTIONS.get(action) if isinstance(action, str) else None
            if model is None:
                await self.outlet.send({"error": f"Unknown action: {str(action)[:200]}"})
                return
            try:
                parsed = model.model_validate(message)
            except ValidationError as error:
                await self.outlet.send({"error": f"{action}: {describe_errors(error.errors())}"})
                return
            await self._perform(parsed)
        except VibeforgeError as error:
            await self.outlet.send({"error": error.detail})

    async def _perform(self, action: Strict) -> None:
        match action:
            case NewMessageAction():
                await self.new_message(action)
            case UploadAction():
                await self.upload(action)
            case RevertAction():
                await self.revert(action)
            case DeleteAction():
                await self.delete(action)

    async def new_message(self, action: NewMessageAction) -> None:
        """Start a run in the chat; its answer is sent when it ends (a newer message
        supersedes it, and its client is told so)."""
        command = Chat(
            session_id=self.session.id,
            prompt=action.prompt,
            model=action.model,
            mode="code" if action.selected_filename else "chat",
            wait_for_attachments=True,  # the reference reads its files synchronously
        )
        ack = await self.connection.execute(command)
        self.outlet.files[ack["message_id"]] = action.selected_filename

    async def upload(self, action: UploadAction) -> None:
        """A `.based` file becomes a project file (a new version), any other an attachment."""
        project_id = self.session.project_id
        if action.filename.endswith(BASED):
            command = UploadFile(project_id=project_id, path=action.filename, data=action.file_data)
            await self.connection.execute(command)
            content = {
                "file_id": action.filename,
                "filename": action.filename,
                "path": action.filename,
            }
        else:
            command = UploadFile(
                session_id=self.session.id, name=action.filename, data=action.file_data
            )
            ack = await self.connection.execute(command)
            file_id = ack["attachment_id"]
            path = f"/attachments/{file_id}/content"
            content = {"file_id": file_id, "filename": action.filename, "path": path}
        await self.outlet.send(
            {"action": "file_uploaded", "message": _message("user", "file", content)}
        )

    async def revert(self, action: RevertAction) -> None:
        """Restore the file as it was at `version_id`, as a new version."""
        project_id = self.session.project_id
        command = RevertVersion(
            project_id=project_id, version_id=action.version_id, path=action.filename
        )
        ack = await self.connection.execute(command)
        latest = await self.services.projects.read_file(self.user, project_id, action.filename)
        said = f"Reverted to version {action.version_id}; new version is {ack['version_id']}"
        content = {
            "based_filename": action.filename,
            "based_content": latest.content,
            "message": said,
        }
        await self.outlet.send(
            {"action": "revert_complete", "message": _message("assistant", "file", content)}
        )

    async def delete(self, action: DeleteAction) -> None:
        """An attachment of this chat's project by its id, or a `.based` file by its path."""
        project_id = self.session.project_id
        services = self.services
        try:
            row = await services.attachments.get(self.user, action.file_id)
        except NotFound:
            row = None
        if row is not None and row.project_id == project_id:
            name = row.name
            command = DeleteFile(project_id=project_id, attachment_id=row.id)
        elif action.file_id.endswith(BASED):
            name = action.file_id
            await services.projects.read_file(self.user, project_id, action.file_id)  # 404 first
            command = DeleteFile(project_id=project_id, path=action.file_id)
        else:
            raise NotFound("File not found.")
        await self.connection.execute(command)
        content = {"deleted_file_id": action.file_id, "filename": name}
        await self.outlet.send(
            {"action": "file_deleted", "message": _message("system", "file", content)}
        )


@router.websocket("/ws/{chat_id}")
async def workspace_socket(socket: WebSocket, chat_id: str) -> None:
    """The workspace socket: the initial payload, then actions until the client leaves."""
    services: Services = socket.app.state.services
    user = await accept_caller(socket, encode({"error": "unauthorized"}))
    if user is None:
        return
    try:
        session = await find_chat(services, user, chat_id)
        payload = await initial_payload(services, user, session)
    except VibeforgeError:
        await socket.send_text(encode({"error": "Chat not found."}))
        await socket.close(4404)
        return
    client = WorkspaceChat(services, user, session, socket)
    await socket.send_text(encode(payload))

    async def refuse(detail: str) -> None:
        await client.outlet.send({"error": detail})

    await serve(socket, client.connection, client.handle, refuse)
