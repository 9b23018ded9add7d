"""Projects and their versions."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response, status

from vibeforge.api.changes import publish_write
from vibeforge.api.deps import DEFAULT_PAGE, CurrentUser, Cursor, Limit, ProjectsDep, ServicesDep
from vibeforge.api.routing import AuthFirstRoute
from vibeforge.api.schemas import (
    DiffOut,
    PageOut,
    ProjectCreate,
    ProjectDetail,
    ProjectOut,
    ProjectUpdate,
    RevertRequest,
    VersionOut,
    VersionWritten,
)
from vibeforge.runs import reasons

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
    user: CurrentUser, projects: ProjectsDep, limit: Limit = DEFAULT_PAGE, cursor: Cursor = None
) -> PageOut[ProjectOut]:
    """The caller's projects, newest first."""
    page = await projects.list(user, limit, cursor)
    items = [ProjectOut.model_validate(view, from_attributes=True) for view in page.items]
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
) -> DiffOut:
    """The unified diff of a version against another (default: its parent)."""
    version, base, diff = await projects.diff(user, project_id, version_id, against)
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
    result = await projects.revert(user, project_id, body.version_id, body.message)
    return publish_write(services, project_id, result, [])
