"""Session titles: a name a person gives a session (a chat's or a conversation's title).

Revision ID: 0012_session_title
Revises: 0011_scaleout
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_session_title"
down_revision = "0011_scaleout"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chat_sessions") as batch:
        batch.add_column(sa.Column("title", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("chat_sessions") as batch:
        batch.drop_column("title")
