"""Scale-out: an index on runs.status, for the lease sweep that looks for running runs.

Revision ID: 0010_scaleout
Revises: 0009_attachments
"""

from alembic import op

revision = "0010_scaleout"
down_revision = "0009_attachments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_runs_status", "runs", ["status"])


def downgrade() -> None:
    op.drop_index("ix_runs_status", table_name="runs")
