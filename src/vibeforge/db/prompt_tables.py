"""The tables of prompting: personas, prompt modules and the state modules keep per session."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vibeforge.db.tables import Base
from vibeforge.db.types import UTCDateTime, new_id, utcnow


class Persona(Base):
    """A named system-prompt template with a mode, an optional model and an image."""

    __tablename__ = "personas"
    kind_label: ClassVar[str] = "persona"
    __table_args__ = (Index("ux_personas_owner_name", "owner_id", "name", unique=True),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    mode: Mapped[str] = mapped_column(String(16), default="reactive")
    template: Mapped[str] = mapped_column(Text, default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # The most tokens the modules of its template may take together; None: no limit.
    token_budget: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The image lives under the data directory (never in git); these describe it.
    image_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    image_bytes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    image_width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    image_height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PromptModule(Base):
    """A reusable prompt piece, `@name` in templates: text, or a script run in the sandbox."""

    __tablename__ = "prompt_modules"
    kind_label: ClassVar[str] = "module"
    __table_args__ = (Index("ux_prompt_modules_owner_name", "owner_id", "name", unique=True),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(50))
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(16), default="simple")
    content: Mapped[str] = mapped_column(Text, default="")
    trigger: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    scan_depth: Mapped[int] = mapped_column(Integer, default=2)
    stage: Mapped[str] = mapped_column(String(16), default="before")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    token_budget: Mapped[int | None] = mapped_column(Integer, nullable=True)
    essential: Mapped[bool] = mapped_column(Boolean, default=False)
    uses_model: Mapped[bool] = mapped_column(Boolean, default=False)
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Sandbox limits of a script: timeout_s, memory_mb, output_kb.
    limits: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SessionState(Base):
    """What modules remember in a session: variables they set, and the outputs of the last
    answer's post-response modules (the next turn reads both as variables)."""

    __tablename__ = "session_states"

    session_id: Mapped[str] = mapped_column(
        ForeignKey("chat_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    variables: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    outputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
