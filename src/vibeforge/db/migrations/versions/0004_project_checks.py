"""projects.check_command and check_timeout_s: a command run in the sandbox on each edit.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.add_column(sa.Column("check_command", sa.JSON, nullable=True))
        batch.add_column(
            sa.Column("check_timeout_s", sa.Float, nullable=False, server_default="60")
        )


def downgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("check_timeout_s")
        batch.drop_column("check_command")
