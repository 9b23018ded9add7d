"""Request and response bodies of the REST API."""

from __future__ import annotations

from datetime import datetime
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from vibeforge.strict import Strict, has_nul, omittable
from vibeforge.testcases.views import VersionTests
from vibeforge.users.service import EMAIL_PATTERN

T = TypeVar("T")
__all__ = ["Strict", "has_nul", "omittable"]  # defined in vibeforge.strict, used by routes


class PageOut(BaseModel, Generic[T]):
    """One page of a list."""

    items: list[T]
    next: str | None = None


class UserOut(BaseModel):
    """A user as others see it."""

    id: str
    email: str
    is_admin: bool
    created_at: datetime


class UserCreate(Strict):
    """A new user (administrators only)."""

    email: str = Field(min_length=3, max_length=320, json_schema_extra={"pattern": EMAIL_PATTERN})
    is_admin: bool = False


class TokenOut(BaseModel):
    """A token's metadata; the secret itself is never shown again."""

    id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreate(Strict):
    """A request for a new token."""

    name: str = Field(default="", max_length=200)


class IssuedTokenOut(BaseModel):
    """A freshly issued token: the only time its secret appears."""

    id: str
    name: str
    token: str


class UserCreated(BaseModel):
    """A new user and its first token."""

    user: UserOut
    token: str


class ProjectCreate(Strict):
    """A new project."""

    checked_by_service = frozenset({"main_file"})  # by the path rule, as `invalid_path`

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    main_file: str = "main.py"


class ProjectOut(BaseModel):
    """A project in a list."""

    id: str
    name: str
    description: str
    main_file: str
    auto_apply: bool = True
    check_command: list[str] | None = None
    check_timeout_s: float = 60.0
    created_at: datetime
    updated_at: datetime


class ProjectUpdate(Strict):
    """Fields of a project to change: a field left out is unchanged; only `check_command`
    may be `null` (it removes the check)."""

    name: str = omittable(min_length=1, max_length=200)
    description: str = omittable(max_length=10_000)
    main_file: str = omittable(min_length=1, max_length=1024)
    auto_apply: bool = omittable()
    check_command: list[str] | None = Field(
        default=None,
        max_length=64,
        json_schema_extra={"minItems": 1, "items": {"type": "string", "minLength": 1}},
        description="argv run in the sandbox on every candidate edit, e.g. "
        '["python3", "-m", "unittest", "discover", "-q"]; a non-zero exit goes to the fixer',
    )
    check_timeout_s: float = omittable(gt=0, le=600)


class ProjectDetail(ProjectOut):
    """A project with the content of its main file."""

    current_code: str


class FileEntryOut(BaseModel):
    """A file in the tree."""

    path: str
    size: int


class FileTreeOut(PageOut[FileEntryOut]):
    """Every file at the head version."""

    version_id: str


class FileOut(BaseModel):
    """A file's content at a version."""

    path: str
    content: str
    version_id: str


class FileWrite(Strict):
    """New content for a file."""

    content: str
    message: str | None = Field(default=None, max_length=10_000)


class FileRename(Strict):
    """A move of a file to a new path."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    # Unconstrained text: the path rule checks length and characters, so a NUL or a lone
    # surrogate is refused as `invalid_path` like every other bad path.
    checked_by_service = frozenset({"source", "target"})

    source: str = Field(alias="from")
    target: str = Field(alias="to")
    message: str | None = Field(default=None, max_length=10_000)


MAX_COMMIT_FILES = 10_000


class EncodedContent(Strict):
    """A file's content with its encoding: `base64` for a binary file."""

    content: str
    encoding: Literal["utf-8", "base64"] = "utf-8"


class CommitCreate(Strict):
    """Many files written, deleted and renamed as one version."""

    # Paths and contents are checked by the path rule and the content rules (`invalid_path`,
    # `invalid_input`), which name the file.
    checked_by_service = frozenset({"files", "renames"})

    files: dict[str, str | EncodedContent | None] = Field(
        default_factory=dict,
        max_length=MAX_COMMIT_FILES,
        description="path -> text, {content, encoding: base64} for a binary file, or null to"
        " delete",
    )
    renames: dict[str, str] = Field(
        default_factory=dict, max_length=MAX_COMMIT_FILES, description="source path -> target"
    )
    message: str | None = Field(default=None, max_length=10_000)
    expected_version: str | None = Field(
        default=None,
        min_length=7,
        max_length=64,
        description="the version the change was made against: 409 if the project moved on",
    )


class VersionWritten(BaseModel):
    """The version a change produced; `changed` is false when the content was already there."""

    version_id: str
    changed: bool


class VersionOut(BaseModel):
    """One version of a project."""

    id: str
    message: str
    created_at: datetime
    parent: str | None
    tests: VersionTests | None = Field(
        default=None, description="the latest result of each test at this version"
    )


class DiffOut(BaseModel):
    """A unified diff between two versions (`against` null: the empty project)."""

    version_id: str
    against: str | None
    diff: str


class RevertRequest(Strict):
    """Restore the files of an earlier version (or only `path`) as a new version."""

    checked_by_service = frozenset({"path"})  # by the path rule, as `invalid_path`

    version_id: str = Field(min_length=1, max_length=64)
    message: str | None = Field(default=None, max_length=10_000)
    path: str | None = Field(default=None, description="restore only this file")


class FileVersionOut(BaseModel):
    """A version that changed a file, and the unified diff from the file then to the file
    at the head (null: over the page's byte cap; ask the diff route for it)."""

    version_id: str
    created_at: datetime
    message: str
    diff: str | None


class FileHistoryOut(BaseModel):
    """A file at the head version and the versions that changed it, newest first."""

    path: str
    size: int
    versions: list[FileVersionOut]
    more_versions: bool


class HistoryOut(PageOut[FileHistoryOut]):
    """Files of the head version with their versions and diffs, a page at a time."""

    version_id: str
