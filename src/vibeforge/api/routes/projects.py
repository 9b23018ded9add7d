"""Projects and their versions."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response, status

from vibeforge.api.attachment_schemas import ProjectSummaryOut
from vibeforge.api.changes import publish_write
from vibeforge.api.deps import DEFAULT_PAGE, CurrentUser, Cursor, Limit, ProjectsDep, ServicesDep
from vibeforge.api.routes.sessions import session_out
from vibeforge.api.routing import AuthFirstRoute
from vibeforge.api.schemas import (
    DiffOut,
    FileHistoryOut,
    HistoryOut,
    PageOut,
    ProjectCreate,
    ProjectDetail,
    ProjectOut,
    ProjectUpdate,
    RevertRequest,
    VersionOut,
    VersionWritten,
)
from vibeforge.paging import decode_cursor, encode_cursor
from vibeforge.projects.history import MAX_FILES, HistoryPage, project_history
from vibeforge.projects.revert import revert_path
from vibeforge.runs import reasons
from vibeforge.workspace.overview import activity

router = APIRouter(tags=["projects"], route_class=AuthFirstRoute)


@router.post("/projects", status_code=status.HTTP_201_CREATED)
async def create_project(
    body: ProjectCreate, user: CurrentUser, projects: ProjectsDep
) -> ProjectDetail:
    """Create a project with an empty main file as its first version."""
    view = await projects.create(user, body.name, body.description, body.main_file)
    return ProjectDetail.model_validate(view, from_attributes=True)


@router.get("/projects")
async def list_projects(
    user: CurrentUser,
    projects: ProjectsDep,
    services: ServicesDep,
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> PageOut[ProjectSummaryOut]:
    """The caller's projects, newest first, each with its sessions, when anything last
    happened in it (a version, a message, an upload) and how many attachments it holds."""
    page = await projects.list(user, limit, cursor)
    found = await activity(services.db, page.items)
    items = [
        ProjectSummaryOut(
            **ProjectOut.model_validate(view, from_attributes=True).model_dump(),
            sessions=[session_out(row, services) for row in found[view.id].sessions],
            last_activity_at=found[view.id].last_activity_at or view.updated_at,
            attachments=found[view.id].attachments,
        )
        for view in page.items
    ]
    return PageOut(items=items, next=page.next)


@router.get("/projects/{project_id}")
async def get_project(project_id: str, user: CurrentUser, projects: ProjectsDep) -> ProjectDetail:
    """One project, with the content of its main file as `current_code`."""
    view = await projects.get(user, project_id)
    return ProjectDetail.model_validate(view, from_attributes=True)


@router.patch("/projects/{project_id}")
async def update_project(
    project_id: str, body: ProjectUpdate, user: CurrentUser, projects: ProjectsDep
) -> ProjectDetail:
    """Change a project's name, description, main file, auto_apply or check command."""
    changes = body.model_dump(exclude_unset=True)
    view = await projects.update(user, project_id, changes)
    return ProjectDetail.model_validate(view, from_attributes=True)


@router.delete("/projects/{project_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_project(
    project_id: str, user: CurrentUser, projects: ProjectsDep, services: ServicesDep
) -> Response:
    """Delete a project and its repository; its runs are cancelled first (their subscribers
    get `cancelled` with the reason)."""

    async def stop_runs() -> None:
        await services.runs.cancel_project(project_id, reasons.PROJECT_DELETED)

    await projects.delete(user, project_id, before_removal=stop_runs)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/projects/{project_id}/versions")
async def list_versions(
    project_id: str,
    user: CurrentUser,
    projects: ProjectsDep,
    services: ServicesDep,
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> PageOut[VersionOut]:
    """The project's versions, newest first, each with its test results."""
    page = await projects.versions(user, project_id, limit, cursor)
    tests = await services.tests.version_tests(user, project_id, [c.id for c in page.items])
    items = [
        VersionOut(id=c.id, message=c.message, created_at=c.created_at, parent=c.parent)
        for c in page.items
    ]
    for item in items:
        item.tests = tests.get(item.id)
    return PageOut(items=items, next=page.next)


@router.get("/projects/{project_id}/versions/{version_id}/diff")
async def diff_version(
    project_id: str,
    version_id: str,
    user: CurrentUser,
    projects: ProjectsDep,
    against: str | None = Query(default=None, max_length=64),
    path: str | None = Query(default=None, max_length=4096, description="only this file"),
) -> DiffOut:
    """The unified diff of a version against another (default: its parent)."""
    version, base, diff = await projects.diff(user, project_id, version_id, against, path)
    return DiffOut(version_id=version.id, against=base, diff=diff)


@router.post("/projects/{project_id}/revert")
async def revert(
    project_id: str,
    body: RevertRequest,
    user: CurrentUser,
    projects: ProjectsDep,
    services: ServicesDep,
) -> VersionWritten:
    """A new version whose files equal those of an earlier one."""
    if body.path is not None:
        result = await revert_path(projects, user, project_id, body.version_id, body.path)
        return publish_write(services, project_id, result, [body.path])
    result = await projects.revert(user, project_id, body.version_id, body.message)
    return publish_write(services, project_id, result, [])


@router.get("/projects/{project_id}/history")
async def file_histories(
    project_id: str,
    user: CurrentUser,
    projects: ProjectsDep,
    limit: Limit = MAX_FILES,
    cursor: Cursor = None,
) -> HistoryOut:
    """Every file at the newest version with the versions that changed it (newest first, at
    most 10 each) and the unified diff from each to the newest; a page holds whole files, up
    to `limit` of them and 256 KiB of diffs (the snapshot's first page, and the rest)."""
    after = decode_cursor(cursor, 1)[0] if cursor else None
    page = await project_history(projects, user, project_id, after, max_files=limit)
    return history_out(page)


def history_out(page: HistoryPage) -> HistoryOut:
    """The wire form of a page of file histories."""
    return HistoryOut(
        version_id=page.head,
        items=[FileHistoryOut.model_validate(item, from_attributes=True) for item in page.files],
        next=encode_cursor(page.next) if page.next else None,
    )
