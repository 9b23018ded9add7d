"""Telling project subscribers that files changed outside a run (REST and socket edits)."""

from __future__ import annotations

from vibeforge.api.schemas import VersionWritten
from vibeforge.projects.views import WriteResult
from vibeforge.runs.protocol import CodeChanged
from vibeforge.services import Services


def publish_write(
    services: Services, project_id: str, result: WriteResult, paths: list[str]
) -> VersionWritten:
    """Publish `code_changed` to the project's subscribers when a version was made, and
    answer with the version written."""
    if result.changed:
        changed = CodeChanged(version_id=result.version_id, files=paths, changed=True)
        services.streams.emit_project(project_id, changed)
    return VersionWritten(version_id=result.version_id, changed=result.changed)
