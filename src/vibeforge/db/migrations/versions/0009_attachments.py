"""Attachments, the context report of messages, and models that take no images.

attachments (uploaded context files: their content lives in the attachment store under its
SHA-256); chat_messages.context_report (which attachments, pages and rows a run's prompt held
and which it left out); model_configs.accepts_images (null: what the provider's API accepts).

Revision ID: 0009_attachments
Revises: 0008_prompting
"""

import sqlalchemy as sa
from alembic import op

from vibeforge.db.types import UTCDateTime

revision = "0009_attachments"
down_revision = "0008_prompting"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attachments",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "owner_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "project_id",
            sa.String(36),
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "session_id",
            sa.String(36),
            sa.ForeignKey("chat_sessions.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("media_type", sa.String(100), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("unit", sa.String(16), nullable=True),
        sa.Column("units", sa.Integer, nullable=True),
        sa.Column("tokens", sa.Integer, nullable=True),
        sa.Column("width", sa.Integer, nullable=True),
        sa.Column("height", sa.Integer, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_attachments_owner_sha", "attachments", ["owner_id", "sha256"])
    op.create_index("ix_attachments_project_created", "attachments", ["project_id", "created_at"])
    op.create_index("ix_attachments_session", "attachments", ["session_id"])
    with op.batch_alter_table("chat_messages") as batch:
        batch.add_column(sa.Column("context_report", sa.JSON, nullable=True))
    with op.batch_alter_table("model_configs") as batch:
        batch.add_column(sa.Column("accepts_images", sa.Boolean, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("model_configs") as batch:
        batch.drop_column("accepts_images")
    with op.batch_alter_table("chat_messages") as batch:
        batch.drop_column("context_report")
    op.drop_index("ix_attachments_session", table_name="attachments")
    op.drop_index("ix_attachments_project_created", table_name="attachments")
    op.drop_index("ix_attachments_owner_sha", table_name="attachments")
    op.drop_table("attachments")
