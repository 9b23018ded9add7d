"""How the API shows a proposal."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from vibeforge.db.agent_tables import Proposal


class ProposalOut(BaseModel):
    """An approved edit of a run, against `base_version`, and what became of it."""

    id: str
    project_id: str
    session_id: str | None
    run_id: str | None
    message_id: str | None
    base_version: str
    status: str = Field(description="pending | applied | rejected | conflict")
    paths: list[str]
    files: dict[str, str | None] = Field(description="path -> new content, null: deleted")
    diff: str
    commit_message: str
    version_id: str | None = Field(description="the version it was committed as")
    detail: str | None = Field(description="why it conflicts, or how it was merged")
    created_at: datetime
    decided_at: datetime | None

    @classmethod
    def of(cls, row: Proposal) -> ProposalOut:
        """The view of a stored proposal."""
        return cls(
            id=row.id,
            project_id=row.project_id,
            session_id=row.session_id,
            run_id=row.run_id,
            message_id=row.message_id,
            base_version=row.base_version,
            status=row.status,
            paths=sorted(row.files),
            files=row.files,
            diff=row.diff,
            commit_message=row.commit_message,
            version_id=row.version_id,
            detail=row.detail,
            created_at=row.created_at,
            decided_at=row.decided_at,
        )


class ProposalAccepted(ProposalOut):
    """A proposal just committed; `merged` when it was merged onto a newer version."""

    merged: bool
