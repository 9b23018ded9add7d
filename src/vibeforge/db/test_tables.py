"""The tables of prompt tests: test cases, their runs, suite runs, and per-project settings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vibeforge.db.tables import Base
from vibeforge.db.types import UTCDateTime, new_id, utcnow


class TestCase(Base):
    """An input the project's program must handle, with the behaviour expected of it.
    A deleted test keeps its row (`deleted_at`), so the history of its runs stays readable."""

    __tablename__ = "test_cases"
    __test__ = False  # not a pytest class
    __table_args__ = (Index("ix_test_cases_project_created", "project_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    input_prompt: Mapped[str] = mapped_column(Text)
    expected_behavior: Mapped[str | None] = mapped_column(Text, nullable=True)
    checks: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    judge_model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class TestSuiteRun(Base):
    """One request to run tests (a suite, one test repeated, a replay): one trace."""

    __tablename__ = "test_suites"
    __test__ = False
    __table_args__ = (Index("ix_test_suites_project_created", "project_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16), default="suite")  # suite | test | replay
    status: Mapped[str] = mapped_column(String(16), default="queued")
    version_id: Mapped[str] = mapped_column(String(40))
    models: Mapped[list[str]] = mapped_column(JSON, default=list)
    tags: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    only_failed: Mapped[bool] = mapped_column(Boolean, default=False)
    trace_id: Mapped[str] = mapped_column(String(64))
    # Set when an applied proposal started the suite (run_tests_on_apply).
    proposal_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    message_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class TestRun(Base):
    """One sandboxed execution of a test: what the program did, the checks, the verdict."""

    __tablename__ = "test_runs"
    __test__ = False
    __table_args__ = (
        Index("ix_test_runs_test_created", "test_id", "created_at"),
        Index("ix_test_runs_suite", "suite_id"),
        Index("ix_test_runs_project_version", "project_id", "version_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    test_id: Mapped[str] = mapped_column(ForeignKey("test_cases.id", ondelete="CASCADE"))
    suite_id: Mapped[str] = mapped_column(String(36))
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    version_id: Mapped[str] = mapped_column(String(40))
    model: Mapped[str] = mapped_column(String(300))
    model_config_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    judge_model: Mapped[str | None] = mapped_column(String(300), nullable=True)
    repeat_index: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    input: Mapped[str] = mapped_column(Text, default="")
    stdout: Mapped[str] = mapped_column(Text, default="")
    stderr: Mapped[str] = mapped_column(Text, default="")
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    duration_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    killed_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    isolation: Mapped[str | None] = mapped_column(String(32), nullable=True)
    environment: Mapped[str | None] = mapped_column(String(100), nullable=True)
    checks: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    verdict: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    llm_calls: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float | None] = mapped_column(Float, nullable=True)
    trace_id: Mapped[str] = mapped_column(String(64))
    replay_of: Mapped[str | None] = mapped_column(String(36), nullable=True)
    regression: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ProjectTestSettings(Base):
    """How a project's program is run for its tests, and when tests run by themselves."""

    __tablename__ = "project_test_settings"
    __test__ = False

    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    run_command: Mapped[list[str]] = mapped_column(JSON)
    timeout_s: Mapped[float] = mapped_column(Float, default=10.0)
    memory_mb: Mapped[int] = mapped_column(Integer, default=512)
    judge_model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    run_tests_on_apply: Mapped[bool] = mapped_column(Boolean, default=False)
    apply_tags: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    llm_max_calls: Mapped[int] = mapped_column(Integer, default=20)
    llm_max_tokens: Mapped[int] = mapped_column(Integer, default=200_000)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
