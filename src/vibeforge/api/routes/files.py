"""Files of a project: the tree, reading, writing, deleting, renaming, and a file's history.

The history route is declared before the catch-all file route, so a path ending in
`/versions` reads as that file's history. A `{path}` in the URL is checked as sent (its
percent-decoded bytes must be UTF-8) before the server's decoded text is used.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response

from vibeforge.api.changes import publish_write
from vibeforge.api.deps import DEFAULT_PAGE, CurrentUser, Cursor, Limit, ProjectsDep, ServicesDep
from vibeforge.api.routing import AuthFirstRoute
from vibeforge.api.schemas import (
    CommitCreate,
    EncodedContent,
    FileEntryOut,
    FileOut,
    FileRename,
    FileTreeOut,
    FileWrite,
    PageOut,
    VersionOut,
    VersionWritten,
)
from vibeforge.errors import InvalidInput
from vibeforge.projects.paths import check_url_bytes

router = APIRouter(tags=["files"], route_class=AuthFirstRoute)


def _url_path(request: Request, path: str) -> str:
    """The route's `{path}`, refused when the URL's bytes were not UTF-8.

    Called in the handlers, after authentication, so a request without a valid token is 401
    whatever its URL.
    """
    raw = request.scope.get("raw_path")
    if isinstance(raw, bytes):
        check_url_bytes(raw)
    return path


@router.get("/projects/{project_id}/files")
async def list_files(project_id: str, user: CurrentUser, projects: ProjectsDep) -> FileTreeOut:
    """Every file at the newest version, with its size in bytes."""
    head, entries = await projects.list_files(user, project_id)
    items = [FileEntryOut(path=entry.path, size=entry.size) for entry in entries]
    return FileTreeOut(items=items, version_id=head)


@router.post("/projects/{project_id}/files:rename")
async def rename_file(
    project_id: str,
    body: FileRename,
    user: CurrentUser,
    projects: ProjectsDep,
    services: ServicesDep,
) -> VersionWritten:
    """Move a file to a new path."""
    result = await projects.rename_file(user, project_id, body.source, body.target, body.message)
    return publish_write(services, project_id, result, [body.source, body.target])


@router.get("/projects/{project_id}/files/{path:path}/versions")
async def file_versions(
    request: Request,
    project_id: str,
    path: str,
    user: CurrentUser,
    projects: ProjectsDep,
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> PageOut[VersionOut]:
    """The versions that changed this file, newest first."""
    page = await projects.versions(user, project_id, limit, cursor, path=_url_path(request, path))
    items = [VersionOut.model_validate(commit, from_attributes=True) for commit in page.items]
    return PageOut(items=items, next=page.next)


@router.get(
    "/projects/{project_id}/files/{path:path}/raw",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}, "text/plain": {}}}},
)
async def download_file(
    request: Request,
    project_id: str,
    path: str,
    user: CurrentUser,
    projects: ProjectsDep,
    version_id: str | None = Query(default=None, max_length=64),
) -> Response:
    """A file's bytes as a download (binary files included), at the head or `version_id`."""
    data, path, version = await projects.read_bytes(
        user, project_id, _url_path(request, path), version_id
    )
    try:
        data.decode("utf-8")
        media_type = "text/plain; charset=utf-8"
    except UnicodeDecodeError:
        media_type = "application/octet-stream"
    name = path.rsplit("/", 1)[-1]
    return Response(
        data,
        media_type=media_type,
        headers={
            # A download, never a page of this origin (an HTML file must not run here).
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name, safe='')}",
            "X-Content-Type-Options": "nosniff",
            "X-Version-ID": version,
        },
    )


@router.post("/projects/{project_id}/commits")
async def commit_files(
    project_id: str,
    body: CommitCreate,
    user: CurrentUser,
    projects: ProjectsDep,
    services: ServicesDep,
) -> VersionWritten:
    """Write, delete and rename many files as one version (none when nothing changes)."""
    changes = {path: _decoded(path, content) for path, content in body.files.items()}
    result = await projects.write_files(
        user,
        project_id,
        changes,
        body.message or "",
        expected_head=body.expected_version,
        renames=body.renames,
    )
    paths = sorted({*body.files, *body.renames, *body.renames.values()})
    return publish_write(services, project_id, result, paths)


def _decoded(path: str, content: str | EncodedContent | None) -> str | bytes | None:
    """Text as text; base64 as the bytes it encodes (strictly: no stray characters)."""
    if not isinstance(content, EncodedContent):
        return content
    if content.encoding == "utf-8":
        return content.content
    try:
        return base64.b64decode(content.content, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"content of {path!r} is not valid base64") from None


@router.get("/projects/{project_id}/files/{path:path}")
async def read_file(
    request: Request,
    project_id: str,
    path: str,
    user: CurrentUser,
    projects: ProjectsDep,
    version_id: str | None = Query(default=None, max_length=64),
) -> FileOut:
    """A file's content at the newest version, or at `version_id`."""
    found = await projects.read_file(user, project_id, _url_path(request, path), version_id)
    return FileOut(path=found.path, content=found.content, version_id=found.version_id)


@router.put("/projects/{project_id}/files/{path:path}")
async def write_file(
    request: Request,
    project_id: str,
    path: str,
    body: FileWrite,
    user: CurrentUser,
    projects: ProjectsDep,
    services: ServicesDep,
) -> VersionWritten:
    """Create or replace a file; the change is a new version."""
    path = _url_path(request, path)
    result = await projects.write_files(user, project_id, {path: body.content}, body.message or "")
    return publish_write(services, project_id, result, [path])


@router.delete("/projects/{project_id}/files/{path:path}")
async def delete_file(
    request: Request,
    project_id: str,
    path: str,
    user: CurrentUser,
    projects: ProjectsDep,
    services: ServicesDep,
) -> VersionWritten:
    """Delete a file; the deletion is a new version."""
    path = _url_path(request, path)
    result = await projects.write_files(user, project_id, {path: None}, "")
    return publish_write(services, project_id, result, [path])
