"""Response bodies of attachments and of the workspace routes (overview, import)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from vibeforge.api.chat_schemas import SessionOut
from vibeforge.api.schemas import ProjectOut
from vibeforge.db.attachment_tables import Attachment


class AttachmentOut(BaseModel):
    """An attachment: what it is, where its extraction stands, what extraction found."""

    id: str
    project_id: str
    session_id: str | None
    name: str
    kind: str  # text | code | markdown | csv | json | pdf | image
    media_type: str
    size: int
    sha256: str
    state: str  # uploaded | extracting | ready | failed
    error: str | None
    error_code: str | None
    unit: str | None  # page | row | line | image
    units: int | None
    tokens: int | None
    width: int | None
    height: int | None
    created_at: datetime
    updated_at: datetime
    deduplicated: bool = False  # the same bytes were already attached here: this is that one


def attachment_out(row: Attachment, deduplicated: bool = False) -> AttachmentOut:
    """The public form of an attachment row."""
    out = AttachmentOut.model_validate(row, from_attributes=True)
    out.deduplicated = deduplicated
    return out


def attachment_json(row: Attachment) -> dict[str, Any]:
    """An attachment as JSON (snapshots and socket replies)."""
    return attachment_out(row).model_dump(mode="json")


class ProjectSummaryOut(ProjectOut):
    """A project in the workspace overview: its sessions, last activity and attachments."""

    sessions: list[SessionOut]
    last_activity_at: datetime
    attachments: int


class SkippedFile(BaseModel):
    """A member of an imported archive that was not imported, and why."""

    path: str
    reason: str


class ImportOut(BaseModel):
    """A project made from an archive."""

    project: ProjectOut
    version_id: str
    files: int
    skipped: list[SkippedFile]
