"""Restoring one file as it was at an earlier version (the whole tree: ProjectService.revert)."""

from __future__ import annotations

from vibeforge.db.tables import User
from vibeforge.errors import NotFound
from vibeforge.projects.paths import normalize_path
from vibeforge.projects.service import ProjectService
from vibeforge.projects.views import WriteResult


async def revert_path(
    projects: ProjectService, owner: User, project_id: str, version_id: str, path: str
) -> WriteResult:
    """A new version in which `path` is as it was at `version_id` (deleted, if it did not
    exist then); no version when it already is."""
    path = normalize_path(path)
    # The old version is immutable, so reading it apart from the write loses no race; the
    # write itself compares against the head under the project's lock.
    try:
        old = await projects.read_file(owner, project_id, path, version_id)
    except NotFound as missing:
        if not missing.detail.startswith("no file"):
            raise  # no such project or version
        old = None
    message = f"Revert {path} to {version_id[:12]}"
    if old is None:
        return await projects.write_files(owner, project_id, {path: None}, message)
    return await projects.write_files(owner, project_id, {path: old.content}, message)
