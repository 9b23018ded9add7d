"""What the project service hands out: projects, file contents, write results."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from vibeforge.db.tables import Project
from vibeforge.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class ProjectView:
    """A project as the API shows it; `current_code` only where it was read."""

    id: str
    name: str
    description: str
    main_file: str
    created_at: datetime
    updated_at: datetime
    current_code: str | None = None
    auto_apply: bool = True
    check_command: list[str] | None = None
    check_timeout_s: float = 60.0


@dataclass(frozen=True, slots=True)
class FileContent:
    """A file's text at a version."""

    path: str
    content: str
    version_id: str


@dataclass(frozen=True, slots=True)
class WriteResult:
    """The version a change produced (or the unchanged head when nothing changed)."""

    version_id: str
    changed: bool


def project_view(project: Project, current_code: str | None = None) -> ProjectView:
    """The view of a project row."""
    return ProjectView(
        id=project.id,
        name=project.name,
        description=project.description,
        main_file=project.main_file,
        created_at=project.created_at,
        updated_at=project.updated_at,
        current_code=current_code,
        auto_apply=project.auto_apply if project.auto_apply is not None else True,
        check_command=project.check_command,
        check_timeout_s=project.check_timeout_s or 60.0,
    )


UPDATABLE_FIELDS = (
    "name",
    "description",
    "main_file",
    "auto_apply",
    "check_command",
    "check_timeout_s",
)
MAX_ARGV = 64
MAX_ARG_CHARS = 4096


def check_argv(argv: object) -> None:
    """Refuse a check command that is not a short list of short, non-empty strings."""
    if (
        not isinstance(argv, list)
        or not 1 <= len(argv) <= MAX_ARGV
        or not all(isinstance(arg, str) and arg and len(arg) <= MAX_ARG_CHARS for arg in argv)
        or any("\x00" in arg for arg in argv)
    ):
        raise InvalidInput(
            f"check_command is an argv list of 1 to {MAX_ARGV} non-empty strings without NUL"
        )
