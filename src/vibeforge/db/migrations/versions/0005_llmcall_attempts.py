"""LLM call attempts, estimated usage and error codes.

llm_calls.attempt (1-based: retried attempts are rows of their own), llm_calls.usage_source
(`provider` or `estimated`; null when the call has no usage) and llm_calls.error_code;
chat_messages.error_code and runs.error_code keep the code of the error a run failed with.

Revision ID: 0005_llmcall_attempts
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_llmcall_attempts"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("llm_calls") as batch:
        batch.add_column(sa.Column("attempt", sa.Integer, nullable=False, server_default="1"))
        batch.add_column(sa.Column("usage_source", sa.String(16), nullable=True))
        batch.add_column(sa.Column("error_code", sa.String(64), nullable=True))
    with op.batch_alter_table("chat_messages") as batch:
        batch.add_column(sa.Column("error_code", sa.String(64), nullable=True))
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("error_code", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("error_code")
    with op.batch_alter_table("chat_messages") as batch:
        batch.drop_column("error_code")
    with op.batch_alter_table("llm_calls") as batch:
        batch.drop_column("error_code")
        batch.drop_column("usage_source")
        batch.drop_column("attempt")
