"""Prompt tests: test_cases, test_suites, test_runs, project_test_settings, and
llm_calls.exchange (a call's request and answer, for replay).

Revision ID: 0007_testcases
Revises: 0006_finish
"""

import sqlalchemy as sa
from alembic import op

from vibeforge.db.types import UTCDateTime

revision = "0007_testcases"
down_revision = "0006_finish"
branch_labels = None
depends_on = None


def _fk(name: str, table: str) -> sa.Column:
    return sa.Column(
        name, sa.String(36), sa.ForeignKey(f"{table}.id", ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    with op.batch_alter_table("llm_calls") as batch:
        batch.add_column(sa.Column("exchange", sa.JSON, nullable=True))
    op.create_table(
        "test_cases",
        sa.Column("id", sa.String(36), primary_key=True),
        _fk("project_id", "projects"),
        _fk("owner_id", "users"),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("input_prompt", sa.Text, nullable=False),
        sa.Column("expected_behavior", sa.Text, nullable=True),
        sa.Column("checks", sa.JSON, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("judge_model", sa.String(200), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("deleted_at", UTCDateTime, nullable=True),
    )
    op.create_index("ix_test_cases_project_created", "test_cases", ["project_id", "created_at"])
    op.create_table(
        "test_suites",
        sa.Column("id", sa.String(36), primary_key=True),
        _fk("project_id", "projects"),
        _fk("owner_id", "users"),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version_id", sa.String(40), nullable=False),
        sa.Column("models", sa.JSON, nullable=False),
        sa.Column("tags", sa.JSON, nullable=True),
        sa.Column("only_failed", sa.Boolean, nullable=False),
        sa.Column("trace_id", sa.String(64), nullable=False),
        sa.Column("proposal_id", sa.String(36), nullable=True),
        sa.Column("message_id", sa.String(36), nullable=True),
        sa.Column("summary", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime, nullable=True),
    )
    op.create_index("ix_test_suites_project_created", "test_suites", ["project_id", "created_at"])
    op.create_table(
        "test_runs",
        sa.Column("id", sa.String(36), primary_key=True),
        _fk("test_id", "test_cases"),
        sa.Column("suite_id", sa.String(36), nullable=False),
        _fk("project_id", "projects"),
        _fk("owner_id", "users"),
        sa.Column("version_id", sa.String(40), nullable=False),
        sa.Column("model", sa.String(300), nullable=False),
        sa.Column("model_config_id", sa.String(36), nullable=True),
        sa.Column("judge_model", sa.String(300), nullable=True),
        sa.Column("repeat_index", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("input", sa.Text, nullable=False),
        sa.Column("stdout", sa.Text, nullable=False),
        sa.Column("stderr", sa.Text, nullable=False),
        sa.Column("exit_code", sa.Integer, nullable=True),
        sa.Column("duration_ms", sa.Float, nullable=True),
        sa.Column("killed_reason", sa.String(32), nullable=True),
        sa.Column("truncated", sa.Boolean, nullable=False),
        sa.Column("isolation", sa.String(32), nullable=True),
        sa.Column("environment", sa.String(100), nullable=True),
        sa.Column("checks", sa.JSON, nullable=False),
        sa.Column("verdict", sa.JSON, nullable=True),
        sa.Column("llm_calls", sa.Integer, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=True),
        sa.Column("trace_id", sa.String(64), nullable=False),
        sa.Column("replay_of", sa.String(36), nullable=True),
        sa.Column("regression", sa.JSON, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=True),
        sa.Column("finished_at", UTCDateTime, nullable=True),
    )
    op.create_index("ix_test_runs_test_created", "test_runs", ["test_id", "created_at"])
    op.create_index("ix_test_runs_suite", "test_runs", ["suite_id"])
    op.create_index("ix_test_runs_project_version", "test_runs", ["project_id", "version_id"])
    op.create_table(
        "project_test_settings",
        sa.Column(
            "project_id",
            sa.String(36),
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("run_command", sa.JSON, nullable=False),
        sa.Column("timeout_s", sa.Float, nullable=False),
        sa.Column("memory_mb", sa.Integer, nullable=False),
        sa.Column("judge_model", sa.String(200), nullable=True),
        sa.Column("run_tests_on_apply", sa.Boolean, nullable=False),
        sa.Column("apply_tags", sa.JSON, nullable=True),
        sa.Column("llm_max_calls", sa.Integer, nullable=False),
        sa.Column("llm_max_tokens", sa.Integer, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("project_test_settings")
    op.drop_index("ix_test_runs_project_version", "test_runs")
    op.drop_index("ix_test_runs_suite", "test_runs")
    op.drop_index("ix_test_runs_test_created", "test_runs")
    op.drop_table("test_runs")
    op.drop_index("ix_test_suites_project_created", "test_suites")
    op.drop_table("test_suites")
    op.drop_index("ix_test_cases_project_created", "test_cases")
    op.drop_table("test_cases")
    with op.batch_alter_table("llm_calls") as batch:
        batch.drop_column("exchange")
