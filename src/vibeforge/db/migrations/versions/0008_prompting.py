"""Personas, prompt modules, per-session module state, and who names a persona.

personas and prompt_modules (unique names per owner); session_states (the variables modules
set and the last answer's post-response outputs); chat_sessions.persona_id and
projects.persona_id (the persona their runs speak as); chat_messages.module_outputs (what the
post-response modules of the message's run produced).

Revision ID: 0008_prompting
Revises: 0007_testcases
"""

import sqlalchemy as sa
from alembic import op

from vibeforge.db.types import UTCDateTime

revision = "0008_prompting"
down_revision = "0007_testcases"
branch_labels = None
depends_on = None


def _owner() -> sa.Column:
    return sa.Column(
        "owner_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "personas",
        sa.Column("id", sa.String(36), primary_key=True),
        _owner(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("template", sa.Text, nullable=False),
        sa.Column("is_active", sa.Boolean, nullable=False),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("params", sa.JSON, nullable=True),
        sa.Column("token_budget", sa.Integer, nullable=True),
        sa.Column("image_type", sa.String(32), nullable=True),
        sa.Column("image_bytes", sa.Integer, nullable=True),
        sa.Column("image_width", sa.Integer, nullable=True),
        sa.Column("image_height", sa.Integer, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ux_personas_owner_name", "personas", ["owner_id", "name"], unique=True)
    op.create_table(
        "prompt_modules",
        sa.Column("id", sa.String(36), primary_key=True),
        _owner(),
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("trigger", sa.JSON, nullable=False),
        sa.Column("scan_depth", sa.Integer, nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("token_budget", sa.Integer, nullable=True),
        sa.Column("essential", sa.Boolean, nullable=False),
        sa.Column("uses_model", sa.Boolean, nullable=False),
        sa.Column("required", sa.Boolean, nullable=False),
        sa.Column("is_active", sa.Boolean, nullable=False),
        sa.Column("limits", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index(
        "ux_prompt_modules_owner_name", "prompt_modules", ["owner_id", "name"], unique=True
    )
    op.create_table(
        "session_states",
        sa.Column(
            "session_id",
            sa.String(36),
            sa.ForeignKey("chat_sessions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("variables", sa.JSON, nullable=False),
        sa.Column("outputs", sa.JSON, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    with op.batch_alter_table("chat_sessions") as batch:
        batch.add_column(sa.Column("persona_id", sa.String(36), nullable=True))
    with op.batch_alter_table("projects") as batch:
        batch.add_column(sa.Column("persona_id", sa.String(36), nullable=True))
    with op.batch_alter_table("chat_messages") as batch:
        batch.add_column(sa.Column("module_outputs", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("chat_messages") as batch:
        batch.drop_column("module_outputs")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("persona_id")
    with op.batch_alter_table("chat_sessions") as batch:
        batch.drop_column("persona_id")
    op.drop_table("session_states")
    op.drop_table("prompt_modules")
    op.drop_table("personas")
