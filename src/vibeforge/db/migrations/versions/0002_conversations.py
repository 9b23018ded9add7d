"""Model configs, sessions, messages, runs and LLM calls.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from vibeforge.db.types import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_configs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "owner_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("base_url", sa.String(2000), nullable=True),
        sa.Column("api_key_encrypted", sa.Text, nullable=True),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("prices", sa.JSON, nullable=True),
        sa.Column("edit_format", sa.String(32), nullable=False),
        sa.Column("is_default", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index(
        "ux_model_configs_owner_name", "model_configs", ["owner_id", "name"], unique=True
    )
    op.create_table(
        "chat_sessions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "project_id",
            sa.String(36),
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "owner_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("node_id", sa.String(1024), nullable=True),
        sa.Column("model_config_id", sa.String(36), nullable=True),
        sa.Column("auto_apply", sa.Boolean, nullable=True),
        sa.Column("last_seq", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("cleared_at", UTCDateTime, nullable=True),
    )
    op.create_index(
        "ix_chat_sessions_project", "chat_sessions", ["project_id", "node_id"], unique=False
    )
    op.create_table(
        "chat_messages",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "session_id",
            sa.String(36),
            sa.ForeignKey("chat_sessions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("run_id", sa.String(36), nullable=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("thinking", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("diff", sa.Text, nullable=True),
        sa.Column("trace_id", sa.String(64), nullable=True),
        sa.Column("model", sa.String(300), nullable=True),
        sa.Column("token_usage", sa.JSON, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("archived", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_chat_messages_run_id", "chat_messages", ["run_id"], unique=False)
    op.create_index(
        "ix_chat_messages_session_position",
        "chat_messages",
        ["session_id", "position"],
        unique=False,
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "session_id",
            sa.String(36),
            sa.ForeignKey("chat_sessions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("user_message_id", sa.String(36), nullable=False),
        sa.Column("assistant_message_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("model", sa.String(300), nullable=True),
        sa.Column("stages", sa.JSON, nullable=False),
        sa.Column("trace_id", sa.String(64), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime, nullable=True),
    )
    op.create_table(
        "llm_calls",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "owner_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("project_id", sa.String(36), nullable=True),
        sa.Column("session_id", sa.String(36), nullable=True),
        sa.Column("run_id", sa.String(36), nullable=True),
        sa.Column("message_id", sa.String(36), nullable=True),
        sa.Column("model", sa.String(300), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("iteration", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("prompt_tokens", sa.Integer, nullable=False),
        sa.Column("completion_tokens", sa.Integer, nullable=False),
        sa.Column("cached_tokens", sa.Integer, nullable=False),
        sa.Column("reasoning_tokens", sa.Integer, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=True),
        sa.Column("cost_source", sa.String(16), nullable=True),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("first_token_ms", sa.Float, nullable=True),
        sa.Column("raw", sa.JSON, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_llm_calls_message_id", "llm_calls", ["message_id"], unique=False)
    op.create_index(
        "ix_llm_calls_owner_created", "llm_calls", ["owner_id", "created_at"], unique=False
    )
    op.create_index("ix_llm_calls_run_id", "llm_calls", ["run_id"], unique=False)


def downgrade() -> None:
    op.drop_table("llm_calls")
    op.drop_table("runs")
    op.drop_table("chat_messages")
    op.drop_table("chat_sessions")
    op.drop_table("model_configs")
