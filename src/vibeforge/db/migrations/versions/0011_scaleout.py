"""Scale-out: an index on runs.status, for the lease sweep that looks for running runs.

Revision ID: 0011_scaleout
Revises: 0010_usage
"""

from alembic import op

revision = "0011_scaleout"
down_revision = "0010_usage"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_runs_status", "runs", ["status"])


def downgrade() -> None:
    op.drop_index("ix_runs_status", table_name="runs")
