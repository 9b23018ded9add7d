"""Projects as archives: export any version as a zip or a tarball (streamed), import one."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import StreamingResponse

from vibeforge.api.attachment_schemas import ImportOut, SkippedFile
from vibeforge.api.deps import CurrentUser, ServicesDep
from vibeforge.api.routing import AuthFirstRoute
from vibeforge.api.schemas import ProjectOut
from vibeforge.api.uploads import MultipartUpload, multipart_body
from vibeforge.errors import InvalidInput
from vibeforge.workspace.archives import ImportLimits
from vibeforge.workspace.transfer import export_project, import_project

router = APIRouter(tags=["projects"], route_class=AuthFirstRoute)

IMPORT_BODY = multipart_body(
    {
        "name": {"type": "string", "description": "default: the archive's name"},
        "main_file": {"type": "string"},
        "strip_top_dir": {"type": "boolean", "default": False},
    }
)


@router.get(
    "/projects/{project_id}/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}, "application/gzip": {}}}},
)
async def export(
    project_id: str,
    user: CurrentUser,
    services: ServicesDep,
    format: Literal["zip", "tar.gz"] = Query(default="zip"),
    version_id: str | None = Query(default=None, max_length=64, description="default: newest"),
) -> StreamingResponse:
    """A version of the project as an archive, streamed as it is written."""
    found = await export_project(services.projects, user, project_id, version_id, format)
    return StreamingResponse(
        found.chunks,
        media_type=found.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{found.filename}"',
            "X-Vibeforge-Version": found.version_id,
        },
    )


def _archive_stem(filename: str | None) -> str:
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    for suffix in (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar", ".zip"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


@router.post("/projects/import", status_code=status.HTTP_201_CREATED, openapi_extra=IMPORT_BODY)
async def import_archive(request: Request, user: CurrentUser, services: ServicesDep) -> ImportOut:
    """A new project from a zip or (compressed) tar archive, as one version: paths are
    checked as every project path is, links and bombs are refused, files that are not UTF-8
    text or are over the file size cap are skipped and listed."""
    settings = services.settings
    upload = MultipartUpload(request)
    received = await services.attachments.receive(upload.file(), settings.import_max_bytes)
    try:
        name = upload.field("name") or _archive_stem(upload.filename) or "imported"
        strip = (upload.field("strip_top_dir") or "false").lower()
        if strip not in ("true", "false", "1", "0"):
            raise InvalidInput("strip_top_dir is true or false")
        limits = ImportLimits(
            max_files=settings.import_max_files,
            max_file_bytes=settings.max_file_bytes,
            max_total_bytes=settings.import_max_total_bytes,
        )
        view, written, unpacked = await import_project(
            services.projects,
            user,
            received.path,
            name[:200],
            limits,
            main_file=upload.field("main_file"),
            strip_top_dir=strip in ("true", "1"),
        )
    finally:
        await services.attachments.discard(received)
    return ImportOut(
        project=ProjectOut.model_validate(view, from_attributes=True),
        version_id=written.version_id,
        files=len(unpacked.files),
        skipped=[SkippedFile(path=path, reason=reason) for path, reason in unpacked.skipped],
    )
