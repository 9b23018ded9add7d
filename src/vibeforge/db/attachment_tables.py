"""The table of attachments: uploaded files used as context, stored outside the repositories."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vibeforge.db.tables import Base
from vibeforge.db.types import UTCDateTime, new_id, utcnow


class Attachment(Base):
    """An uploaded file of a project or of one of its sessions; its bytes live in the
    attachment store under their SHA-256 (one copy per owner however often uploaded)."""

    __tablename__ = "attachments"
    __table_args__ = (
        Index("ix_attachments_owner_sha", "owner_id", "sha256"),
        Index("ix_attachments_project_created", "project_id", "created_at"),
        Index("ix_attachments_session", "session_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    # None: the project's own (every session sees it); else only that session's runs do.
    session_id: Mapped[str | None] = mapped_column(
        ForeignKey("chat_sessions.id", ondelete="CASCADE"), nullable=True
    )
    name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))
    media_type: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # What extraction found: pages (PDF), rows (CSV) or lines (text), and their tokens.
    unit: Mapped[str | None] = mapped_column(String(16), nullable=True)
    units: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
