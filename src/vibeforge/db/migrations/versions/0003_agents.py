"""Proposals, trace spans, run counters, and projects.auto_apply.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from vibeforge.db.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _owner() -> sa.Column:
    return sa.Column(
        "owner_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.add_column(
            sa.Column("auto_apply", sa.Boolean, nullable=False, server_default=sa.true())
        )
    op.create_table(
        "proposals",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("run_id", sa.String(36), nullable=True),
        sa.Column("session_id", sa.String(36), nullable=True),
        sa.Column("message_id", sa.String(36), nullable=True),
        sa.Column(
            "project_id",
            sa.String(36),
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=False,
        ),
        _owner(),
        sa.Column("base_version", sa.String(40), nullable=False),
        sa.Column("files", sa.JSON, nullable=False),
        sa.Column("diff", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version_id", sa.String(40), nullable=True),
        sa.Column("commit_message", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("decided_at", UTCDateTime, nullable=True),
    )
    op.create_index("ix_proposals_run_id", "proposals", ["run_id"], unique=False)
    op.create_index(
        "ix_proposals_project_created", "proposals", ["project_id", "created_at"], unique=False
    )
    op.create_table(
        "spans",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("trace_id", sa.String(64), nullable=False),
        sa.Column("parent_id", sa.String(32), nullable=True),
        _owner(),
        sa.Column("run_id", sa.String(36), nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=True),
        sa.Column("attributes", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
    )
    op.create_index("ix_spans_trace_started", "spans", ["trace_id", "started_at"], unique=False)
    op.create_table(
        "run_stats",
        sa.Column("run_id", sa.String(36), primary_key=True),
        _owner(),
        sa.Column("project_id", sa.String(36), nullable=True),
        sa.Column("session_id", sa.String(36), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("malformed_edits", sa.Integer, nullable=False),
        sa.Column("fix_iterations", sa.Integer, nullable=False),
        sa.Column("eval_rejections", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index(
        "ix_run_stats_owner_created", "run_stats", ["owner_id", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_table("run_stats")
    op.drop_table("spans")
    op.drop_table("proposals")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("auto_apply")
