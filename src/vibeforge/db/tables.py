"""The tables of the foundation: users, their API tokens, and projects."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, String, Text, true
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from vibeforge.db.types import UTCDateTime, new_id, utcnow


class Base(DeclarativeBase):
    """Declarative base of every vibeforge table."""


class User(Base):
    """An account; owns everything else."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiToken(Base):
    """A bearer token; only its SHA-256 digest is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Project(Base):
    """A git-backed workspace; its files and versions live in the repository."""

    __tablename__ = "projects"
    __table_args__ = (
        Index("ix_projects_owner_created", "owner_id", "created_at"),
        Index("ux_projects_owner_name_key", "owner_id", "name_key", unique=True),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    # The name as it is compared (`project_name_key`): unique per owner.
    name_key: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    main_file: Mapped[str] = mapped_column(String(1024), default="main.py")
    # "ready", or "deleting" between the start of a delete and the removal of the repository.
    state: Mapped[str] = mapped_column(String(16), default="ready")
    # Approved edits are committed at once unless this (or the session's own flag) is off.
    auto_apply: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # A command (argv) run in the sandbox on every candidate edit, e.g. the project's tests.
    check_command: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    check_timeout_s: Mapped[float] = mapped_column(Float, default=60.0, server_default="60")
    persona_id: Mapped[str | None] = mapped_column(String(36), nullable=True)  # its sessions'
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
