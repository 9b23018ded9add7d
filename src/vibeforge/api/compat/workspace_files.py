"""The workspace agent system's REST routes of workspaces, files and models: `/workspace/*`,
`/file/*` and `/models/*`, over vibeforge's projects, attachments and model configs.

A workspace is a project; a file uploaded here is an attachment (of a chat's session with
`is_chat=true`, else of the project itself), extracted as every attachment is; a model is a
model config speaking an OpenAI-compatible API at `base_url` (its name is the model's).
`user_id` and `owner_id` form fields must name the caller, or the answer is 404.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, ValidationError
from starlette.datastructures import UploadFile

from vibeforge.api.chat_schemas import ModelConfigCreate
from vibeforge.api.compat.forms import (
    FileForm,
    file_chunks,
    file_form_body,
    form_body,
    form_fields,
    form_files,
)
from vibeforge.api.compat.workspace_rest import find_chat
from vibeforge.api.deps import CurrentUser, ServicesDep
from vibeforge.api.routing import AuthFirstRoute
from vibeforge.db.tables import User
from vibeforge.errors import InvalidInput, NotFound
from vibeforge.runs import reasons
from vibeforge.services import Services
from vibeforge.strict import NO_NUL, Strict, describe_errors

router = APIRouter(tags=["compat: workspace"], route_class=AuthFirstRoute)
UPLOAD_PATHS = ("/workspace/new", "/file/upload")  # bodies capped as uploads, not as JSON


def _text(longest: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": longest, "pattern": NO_NUL}


def _caller(user: User, user_id: str) -> None:
    """A `user_id` form field names the caller, or the user is not found."""
    if user_id != user.id:
        raise NotFound(f"no user {user_id!r}")


async def _renamed_404(action: Any, detail: str) -> Any:
    """`action`'s result; its NotFound worded as the reference words it."""
    try:
        return await action
    except NotFound:
        raise NotFound(detail) from None


class Done(BaseModel):
    """The reference's confirmation."""

    detail: str


class FileRef(BaseModel):
    """A file uploaded with a new workspace."""

    file_id: str
    filename: str


async def _attach(
    services: Services, user: User, place: tuple[str | None, str | None], files: list[UploadFile]
) -> list[FileRef]:
    """Each file as an attachment of `place` (project id, session id), in order; the ones
    before a refused file stay attached."""
    attachments = services.attachments
    made: list[FileRef] = []
    for upload in files:
        checked = await attachments.prepare(user, *place)
        received = await attachments.receive(file_chunks(upload))
        uploaded = await attachments.accept(user, checked, upload.filename, received)
        made.append(FileRef(file_id=uploaded.attachment.id, filename=uploaded.attachment.name))
    return made


# -- workspaces --------------------------------------------------------------------------------


class WorkspaceNewForm(Strict):
    """The text fields of `/workspace/new`."""

    owner_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)


class WorkspaceNewOut(BaseModel):
    """A workspace just made, with its files."""

    workspace_id: str
    files: list[FileRef]


@router.post(
    "/workspace/new",
    openapi_extra=file_form_body({"owner_id": _text(64), "name": _text(200)}, ["owner_id", "name"]),
    responses={
        404: {"description": "not the caller's owner_id"},
        409: {"description": "a workspace of that name exists"},
        413: {"description": "a file is over the attachment size cap"},
    },
)
async def new_workspace(
    request: Request, user: CurrentUser, services: ServicesDep
) -> WorkspaceNewOut:
    """A new project named `name`, its `files` attached to it (a refused file undoes it)."""
    form: FileForm[WorkspaceNewForm] = await form_files(request, WorkspaceNewForm)
    try:
        _caller(user, form.fields.owner_id)
        project = await services.projects.create(user, form.fields.name)
        try:
            files = await _attach(services, user, (project.id, None), form.files)
        except BaseException:
            await services.projects.delete(user, project.id)
            raise
    finally:
        await form.close()
    return WorkspaceNewOut(workspace_id=project.id, files=files)


class WorkspaceRenameForm(Strict):
    """The form of `/workspace/rename`."""

    workspace_id: str = Field(min_length=1, max_length=64)
    new_name: str = Field(min_length=1, max_length=200)


class WorkspaceRenamed(BaseModel):
    """A workspace's new name."""

    workspace_id: str
    new_name: str


@router.patch(
    "/workspace/rename",
    openapi_extra=form_body(
        {"workspace_id": _text(64), "new_name": _text(200)}, ["workspace_id", "new_name"]
    ),
    responses={
        404: {"description": "Workspace not found."},
        409: {"description": "a workspace of that name exists"},
    },
)
async def rename_workspace(
    request: Request, user: CurrentUser, services: ServicesDep
) -> WorkspaceRenamed:
    """Rename a project (`PATCH /projects/{id}` with its `name`)."""
    form = await form_fields(request, WorkspaceRenameForm)
    view = await _renamed_404(
        services.projects.update(user, form.workspace_id, {"name": form.new_name}),
        "Workspace not found.",
    )
    return WorkspaceRenamed(workspace_id=view.id, new_name=view.name)


@router.delete(
    "/workspace/delete/{workspace_id}", responses={404: {"description": "Workspace not found."}}
)
async def delete_workspace(workspace_id: str, user: CurrentUser, services: ServicesDep) -> Done:
    """Delete a project as `DELETE /projects/{id}` does (its runs cancelled first)."""

    async def stop_runs() -> None:
        await services.runs.cancel_project(workspace_id, reasons.PROJECT_DELETED)

    await _renamed_404(
        services.projects.delete(user, workspace_id, before_removal=stop_runs),
        "Workspace not found.",
    )
    return Done(detail="Workspace and all associated data deleted successfully.")


# -- files -------------------------------------------------------------------------------------


class FileUploadForm(Strict):
    """The text fields of `/file/upload`."""

    user_id: str = Field(min_length=1, max_length=64)
    target_id: str = Field(min_length=1, max_length=64)
    is_chat: Literal["true", "false", "True", "False", "1", "0"]


class FilesOut(BaseModel):
    """The ids of the files uploaded."""

    files: list[str]


@router.post(
    "/file/upload",
    openapi_extra=file_form_body(
        {
            "user_id": _text(64),
            "target_id": _text(64),
            "is_chat": {"type": "string", "enum": ["true", "false", "True", "False", "1", "0"]},
        },
        ["user_id", "target_id", "is_chat"],
    ),
    responses={
        404: {"description": "not the caller's user_id, or no such chat or workspace"},
        413: {"description": "a file is over the attachment size cap"},
    },
)
async def upload_files(request: Request, user: CurrentUser, services: ServicesDep) -> FilesOut:
    """Attach `files` to a chat's session (`is_chat` true; its workspace sees them too) or to
    a workspace (project)."""
    form: FileForm[FileUploadForm] = await form_files(request, FileUploadForm)
    try:
        fields = form.fields
        _caller(user, fields.user_id)
        if fields.is_chat.lower() in ("true", "1"):
            chat = await find_chat(services, user, fields.target_id)
            place: tuple[str | None, str | None] = (chat.project_id, chat.id)
        else:
            await _renamed_404(
                services.projects.get(user, fields.target_id), "Workspace not found."
            )
            place = (fields.target_id, None)
        made = await _attach(services, user, place, form.files)
    finally:
        await form.close()
    return FilesOut(files=[ref.file_id for ref in made])


async def _delete_file(file_id: str, user: User, services: Services) -> Done:
    await _renamed_404(services.attachments.delete(user, file_id), "File not found.")
    return Done(detail="File deleted successfully.")


@router.delete("/file/delete/{file_id}", responses={404: {"description": "File not found."}})
async def delete_file(file_id: str, user: CurrentUser, services: ServicesDep) -> Done:
    """Delete an attachment (`DELETE /attachments/{id}`)."""
    return await _delete_file(file_id, user, services)


@router.delete("/file/{file_id}", responses={404: {"description": "File not found."}})
async def delete_file_by_id(file_id: str, user: CurrentUser, services: ServicesDep) -> Done:
    """The same, at the path the reference's heading names."""
    return await _delete_file(file_id, user, services)


class FileRenameForm(Strict):
    """The form of `/file/rename`."""

    file_id: str = Field(min_length=1, max_length=64)
    new_name: str = Field(min_length=1, max_length=255)


class FileRenamed(BaseModel):
    """A file's new name and where its bytes are read."""

    file_id: str
    new_filename: str
    new_path: str


@router.patch(
    "/file/rename",
    openapi_extra=form_body(
        {"file_id": _text(64), "new_name": _text(255)}, ["file_id", "new_name"]
    ),
    responses={404: {"description": "File not found."}},
)
async def rename_file(request: Request, user: CurrentUser, services: ServicesDep) -> FileRenamed:
    """Give an attachment another name (its kind, judged at upload, stays)."""
    form = await form_fields(request, FileRenameForm)
    row = await _renamed_404(
        services.attachments.rename(user, form.file_id, form.new_name), "File not found."
    )
    return FileRenamed(
        file_id=row.id, new_filename=row.name, new_path=f"/attachments/{row.id}/content"
    )


# -- models ------------------------------------------------------------------------------------


class ModelNewForm(Strict):
    """The form of `/models/new`."""

    user_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    ak: str = Field(min_length=1, max_length=4096)
    base_url: str = Field(min_length=1, max_length=2000)


class ModelNewOut(BaseModel):
    """A model just made (never its key)."""

    id: str
    name: str
    base_url: str
    user_id: str


@router.post(
    "/models/new",
    openapi_extra=form_body(
        {"user_id": _text(64), "name": _text(200), "ak": _text(4096), "base_url": _text(2000)},
        ["user_id", "name", "ak", "base_url"],
    ),
    responses={
        404: {"description": "not the caller's user_id"},
        409: {"description": "a model of that name exists"},
    },
)
async def new_model(request: Request, user: CurrentUser, services: ServicesDep) -> ModelNewOut:
    """A model config: provider `openai-compatible` at `base_url`, model `name`, key `ak`."""
    form = await form_fields(request, ModelNewForm)
    _caller(user, form.user_id)
    values = {
        "name": form.name,
        "provider": "openai-compatible",
        "model": form.name,
        "base_url": form.base_url,
        "api_key": form.ak,
    }
    try:
        body = ModelConfigCreate.model_validate(values)
    except ValidationError as error:
        raise InvalidInput(describe_errors(error.errors())) from None
    config = await services.models.create(user, body.model_dump(mode="json"))
    return ModelNewOut(
        id=config.id, name=config.name, base_url=config.base_url or form.base_url, user_id=user.id
    )


@router.delete("/models/delete/{model_id}", responses={404: {"description": "Model not found."}})
async def delete_model(model_id: str, user: CurrentUser, services: ServicesDep) -> Done:
    """Remove a model config (`DELETE /models/{id}`)."""
    await _renamed_404(services.models.delete(user, model_id), "Model not found.")
    return Done(detail="Model deleted successfully.")
