"""The socket's workspace actions: writing, deleting, renaming and reverting project files
(each a new version, reflected to the project's subscribers as `code_changed`), and storing
or deleting attachments. Each answers with its reply event and the acknowledgement's fields."""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from vibeforge.api.attachment_schemas import attachment_json
from vibeforge.api.changes import publish_write
from vibeforge.db.tables import User
from vibeforge.errors import InvalidInput, NotFound
from vibeforge.projects.revert import revert_path
from vibeforge.projects.views import WriteResult
from vibeforge.runs.protocol import (
    DeleteFile,
    FileDeleted,
    FileRenamed,
    FileUploaded,
    RenameFile,
    RevertComplete,
    RevertVersion,
    ServerEvent,
    UploadFile,
)
from vibeforge.services import Services

WorkspaceAction = UploadFile | DeleteFile | RevertVersion | RenameFile


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an action did: its reply, its acknowledgement's fields, and the version it wrote
    (announced as `code_changed`) with the paths it touched."""

    reply: ServerEvent
    ack: dict[str, Any]
    project_id: str
    written: WriteResult | None = None
    paths: tuple[str, ...] = ()


def decoded(data: str) -> bytes:
    """Strict base64 (InvalidInput for anything else: no characters are skipped)."""
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("data is not valid base64") from None


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def perform(services: Services, user: User, command: WorkspaceAction) -> Outcome:
    """Carry out one workspace action."""
    match command:
        case UploadFile(name=str()):
            return await _store_attachment(services, user, command)
        case UploadFile(path=str(path), project_id=str(project_id)):
            content = command.content
            if command.data is not None:
                try:
                    content = decoded(command.data).decode("utf-8")
                except UnicodeDecodeError:
                    raise InvalidInput("a project file's data must decode to UTF-8 text") from None
            assert content is not None
            result = await services.projects.write_files(
                user, project_id, {path: content}, command.message or ""
            )
            reply = FileUploaded(project_id, path, result.version_id, result.changed)
            return _written(reply, project_id, result, (path,))
        case DeleteFile(attachment_id=str(attachment_id)):
            if command.project_id is not None:
                await services.attachments.target(user, command.project_id, None)
            row = await services.attachments.get(user, attachment_id)
            if command.project_id is not None and row.project_id != command.project_id:
                raise NotFound(f"no attachment {attachment_id!r} in that project")
            await services.attachments.delete(user, attachment_id)
            reply = FileDeleted(row.project_id, attachment_id=attachment_id)
            return Outcome(reply, {"attachment_id": attachment_id}, row.project_id)
        case DeleteFile(path=str(path), project_id=str(project_id)):
            result = await services.projects.write_files(user, project_id, {path: None}, "")
            reply = FileDeleted(project_id, path, result.version_id)
            return _written(reply, project_id, result, (path,))
        case RevertVersion(path=str(path)):
            result = await revert_path(
                services.projects, user, command.project_id, command.version_id, path
            )
            reply = RevertComplete(
                command.project_id, result.version_id, command.version_id, result.changed, path
            )
            return _written(reply, command.project_id, result, (path,))
        case RevertVersion():
            result = await services.projects.revert(user, command.project_id, command.version_id)
            reply = RevertComplete(
                command.project_id, result.version_id, command.version_id, result.changed
            )
            return _written(reply, command.project_id, result, ())
        case RenameFile():
            result = await services.projects.rename_file(
                user, command.project_id, command.source, command.target, command.message
            )
            reply = FileRenamed(
                command.project_id, command.source, command.target, result.version_id
            )
            return _written(reply, command.project_id, result, (command.source, command.target))
    raise AssertionError(f"no action for {command!r}")  # pragma: no cover


def _written(
    reply: ServerEvent, project_id: str, result: WriteResult, paths: tuple[str, ...]
) -> Outcome:
    ack = {"version_id": result.version_id, "changed": result.changed}
    return Outcome(reply, ack, project_id, result, paths)


async def _store_attachment(services: Services, user: User, command: UploadFile) -> Outcome:
    if command.data is not None:
        data = decoded(command.data)
    else:
        assert command.content is not None
        try:
            data = command.content.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput("content is not valid UTF-8 text") from None
    uploaded = await services.attachments.upload(
        user, command.project_id, command.session_id, command.name, _once(data)
    )
    row = uploaded.attachment
    reply = FileUploaded(row.project_id, attachment=attachment_json(row))
    ack = {"attachment_id": row.id, "state": row.state, "created": uploaded.created}
    return Outcome(reply, ack, row.project_id)


def announce(services: Services, outcome: Outcome) -> None:
    """Tell the project's subscribers of the version an action wrote (if it wrote one)."""
    if outcome.written is not None:
        publish_write(services, outcome.project_id, outcome.written, list(outcome.paths))
