"""The tables of the coding pipeline: proposals, trace spans and per-run counters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vibeforge.db.tables import Base
from vibeforge.db.types import UTCDateTime, new_id, utcnow


class Proposal(Base):
    """An approved edit of a run, against `base_version`: pending, applied, rejected, conflict."""

    __tablename__ = "proposals"
    __table_args__ = (Index("ix_proposals_project_created", "project_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    run_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    session_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    message_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    base_version: Mapped[str] = mapped_column(String(40))
    # path -> new content, or None for a deletion
    files: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    diff: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    version_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    commit_message: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)  # why a conflict, etc.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Span(Base):
    """One timed step of a run's trace: a stage, an LLM call, a tool, a validator, an edit."""

    __tablename__ = "spans"
    __table_args__ = (Index("ix_spans_trace_started", "trace_id", "started_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    trace_id: Mapped[str] = mapped_column(String(64))
    parent_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    run_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    duration_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="ok")


class RunStats(Base):
    """Counters of one pipeline run: malformed edits, fix iterations, evaluator rejections."""

    __tablename__ = "run_stats"
    __table_args__ = (Index("ix_run_stats_owner_created", "owner_id", "created_at"),)

    run_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    project_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    session_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="running")
    malformed_edits: Mapped[int] = mapped_column(Integer, default=0)
    fix_iterations: Mapped[int] = mapped_column(Integer, default=0)
    eval_rejections: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
