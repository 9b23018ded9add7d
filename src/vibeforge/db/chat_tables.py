"""The tables of conversations: model configs, sessions, messages, runs and LLM calls."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from vibeforge.db.tables import Base
from vibeforge.db.types import UTCDateTime, new_id, utcnow


class ModelConfig(Base):
    """A provider connection a user configured; the API key is stored encrypted."""

    __tablename__ = "model_configs"
    __table_args__ = (Index("ux_model_configs_owner_name", "owner_id", "name", unique=True),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(200))
    base_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    api_key_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prices: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    edit_format: Mapped[str] = mapped_column(String(32), default="search-replace")
    # Whether the model takes images; None: whatever the provider's wire API accepts.
    accepts_images: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    # An administrator's config that every user may use (never see the key or base URL of).
    shared: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChatSession(Base):
    """A conversation in a project: `global`, or about one node (a file path or symbol)."""

    __tablename__ = "chat_sessions"
    __table_args__ = (Index("ix_chat_sessions_project", "project_id", "node_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(16))
    node_id: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    model_config_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    auto_apply: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    persona_id: Mapped[str | None] = mapped_column(String(36), nullable=True)  # its persona
    title: Mapped[str | None] = mapped_column(String(200), nullable=True)  # a person's name for it
    # The last event sequence number persisted; live numbering continues from here.
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ChatMessage(Base):
    """One turn; archived messages are readable but no longer part of the history."""

    __tablename__ = "chat_messages"
    __table_args__ = (Index("ix_chat_messages_session_position", "session_id", "position"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(ForeignKey("chat_sessions.id", ondelete="CASCADE"))
    run_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    position: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text, default="")
    thinking: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="success")
    diff: Mapped[str | None] = mapped_column(Text, nullable=True)
    trace_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    model: Mapped[str | None] = mapped_column(String(300), nullable=True)
    token_usage: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Why its run was cancelled or interrupted (superseded, project deleted, server stopped).
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # What the post-response modules of its run produced, by module name.
    module_outputs: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # Which attachments (pages, rows, lines) the run put in the prompt and which it left out.
    context_report: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Run(Base):
    """One agent turn started by a user message."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(ForeignKey("chat_sessions.id", ondelete="CASCADE"))
    user_message_id: Mapped[str] = mapped_column(String(36))
    assistant_message_id: Mapped[str] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(16), default="running")
    model: Mapped[str | None] = mapped_column(String(300), nullable=True)
    stages: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    trace_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)  # why it was cancelled
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    # Scaled out, every process looks for running runs each heartbeat (vibeforge.scale).
    __table_args__ = (Index("ix_runs_status", "status"),)


class LLMCall(Base):
    """One provider request (one attempt: a retried call is a row per attempt): who asked,
    what it cost, and the provider's whole response."""

    __tablename__ = "llm_calls"
    __table_args__ = (Index("ix_llm_calls_owner_created", "owner_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    project_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    session_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    run_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    message_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    model: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(32), default="chat")
    iteration: Mapped[int] = mapped_column(Integer, default=0)
    attempt: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    status: Mapped[str] = mapped_column(String(16), default="success")
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cached_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cache_write_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reasoning_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float | None] = mapped_column(Float, nullable=True)
    cost_source: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # The model_prices version the cost was computed from (None: the provider's cost, or none).
    price_version_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    usage_source: Mapped[str | None] = mapped_column(String(16), nullable=True)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    first_token_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    raw: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The request and the answer in vibeforge's own terms, for calls that can be replayed
    # (a test run's program and judge): {"request": {...}, "reply": {...}}.
    exchange: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
