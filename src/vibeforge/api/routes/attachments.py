"""Attachments: upload (multipart, streamed to the store), read, list, cancel, delete."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import FileResponse, JSONResponse

from vibeforge.api.attachment_schemas import AttachmentOut, attachment_out
from vibeforge.api.deps import DEFAULT_PAGE, CurrentUser, Cursor, Limit, ServicesDep
from vibeforge.api.routing import AuthFirstRoute
from vibeforge.api.schemas import PageOut
from vibeforge.api.uploads import MultipartUpload, multipart_body
from vibeforge.attachments.kinds import TEXT_KINDS
from vibeforge.errors import NotFound

router = APIRouter(tags=["attachments"], route_class=AuthFirstRoute)


def _target_id(place: str) -> Any:
    return Query(default=None, max_length=64, description=f"the {place} the attachment is of")


UPLOAD_BODY = multipart_body(
    {
        "project_id": {"type": "string"},
        "session_id": {"type": "string"},
        "name": {"type": "string", "description": "default: the file's name"},
    }
)


@router.post(
    "/attachments",
    status_code=status.HTTP_201_CREATED,
    response_model=AttachmentOut,
    responses={
        200: {"model": AttachmentOut, "description": "these bytes were attached already"},
        404: {"description": "no such project or session, or another user's"},
    },
    openapi_extra=UPLOAD_BODY,
)
async def upload_attachment(
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    project_id: str | None = _target_id("project"),
    session_id: str | None = _target_id("session"),
    name: str | None = Query(default=None, max_length=255),
) -> JSONResponse:
    """Attach a file to a session (every run of it sees the file) or to a project (every
    session's runs do). The target may be given in the query, checked before the body is
    read, or as form fields. Extraction follows: watch `state` (or `attachment_state`)."""
    attachments = services.attachments
    upload = MultipartUpload(request)
    place = None
    if project_id or session_id:
        place = await attachments.prepare(user, project_id, session_id)
    received = await attachments.receive(upload.file())
    if place is None:
        try:
            place = await attachments.prepare(
                user, upload.field("project_id"), upload.field("session_id")
            )
        except BaseException:
            await attachments.discard(received)
            raise
    chosen = name or upload.field("name") or upload.filename
    uploaded = await attachments.accept(user, place, chosen, received)
    body = attachment_out(uploaded.attachment, deduplicated=not uploaded.created)
    code = status.HTTP_201_CREATED if uploaded.created else status.HTTP_200_OK
    return JSONResponse(body.model_dump(mode="json"), status_code=code)


@router.get(
    "/attachments",
    responses={404: {"description": "no such project or session, or another user's"}},
)
async def list_attachments(
    user: CurrentUser,
    services: ServicesDep,
    project_id: str | None = _target_id("project"),
    session_id: str | None = _target_id("session"),
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> PageOut[AttachmentOut]:
    """A project's attachments (its own and its sessions'), or one session's, oldest first."""
    page = await services.attachments.list(user, project_id, session_id, limit, cursor)
    return PageOut(items=[attachment_out(row) for row in page.items], next=page.next)


@router.get("/attachments/{attachment_id}")
async def get_attachment(
    attachment_id: str, user: CurrentUser, services: ServicesDep
) -> AttachmentOut:
    """One attachment and where its extraction stands."""
    return attachment_out(await services.attachments.get(user, attachment_id))


@router.get(
    "/attachments/{attachment_id}/content",
    response_class=FileResponse,
    responses={
        200: {
            "description": "text/plain for text kinds, else the media type stored at upload",
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def attachment_content(
    attachment_id: str, user: CurrentUser, services: ServicesDep
) -> FileResponse:
    """The bytes as uploaded, as a download (never rendered by a browser)."""
    row = await services.attachments.get(user, attachment_id)
    media_type = "text/plain; charset=utf-8" if row.kind in TEXT_KINDS else row.media_type
    path = services.attachments.store.content_path(row.owner_id, row.sha256)
    if not await asyncio.to_thread(path.is_file):
        raise NotFound(f"the content of attachment {attachment_id!r} is missing")
    return FileResponse(
        path,
        media_type=media_type,
        filename=row.name,
        headers={"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"},
    )


@router.post("/attachments/{attachment_id}/cancel")
async def cancel_extraction(
    attachment_id: str, user: CurrentUser, services: ServicesDep
) -> AttachmentOut:
    """Stop the attachment's extraction; it ends `failed` with error_code `cancelled`."""
    return attachment_out(await services.attachments.cancel(user, attachment_id))


@router.delete("/attachments/{attachment_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_attachment(
    attachment_id: str, user: CurrentUser, services: ServicesDep
) -> Response:
    """Remove an attachment (its extraction is cancelled first)."""
    await services.attachments.delete(user, attachment_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
