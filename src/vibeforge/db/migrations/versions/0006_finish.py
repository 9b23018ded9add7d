"""Unique project names per owner, server-wide model configs, and why a run ended.

projects.name_key: the name as it is compared (case folded, spaces collapsed), unique per
owner; names that already collide get a numbered suffix (`demo (2)`), oldest keeping its own.
model_configs.shared: an administrator's config every user may use (never see the key of).
chat_messages.reason and runs.reason: why a run was cancelled or interrupted.

Revision ID: 0006_finish
Revises: 0005_llmcall_attempts
"""

import sqlalchemy as sa
from alembic import op

from vibeforge.projects.naming import project_name_key

revision = "0006_finish"
down_revision = "0005_llmcall_attempts"
branch_labels = None
depends_on = None


def _unique_names() -> None:
    """Give every project its key; rename the younger of two projects that share one."""
    projects = sa.table(
        "projects",
        sa.column("id", sa.String),
        sa.column("owner_id", sa.String),
        sa.column("name", sa.String),
        sa.column("name_key", sa.String),
        sa.column("created_at", sa.String),
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(projects.c.id, projects.c.owner_id, projects.c.name).order_by(
            projects.c.created_at, projects.c.id
        )
    ).all()
    taken: set[tuple[str, str]] = set()
    for project_id, owner_id, name in rows:
        candidate, number = name, 1
        while (owner_id, project_name_key(candidate)) in taken:
            number += 1
            candidate = f"{name.strip()[:190]} ({number})"
        taken.add((owner_id, project_name_key(candidate)))
        connection.execute(
            sa.update(projects)
            .where(projects.c.id == project_id)
            .values(name=candidate, name_key=project_name_key(candidate))
        )


def upgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.add_column(sa.Column("name_key", sa.String(200), nullable=True))
    _unique_names()
    with op.batch_alter_table("projects") as batch:
        batch.alter_column("name_key", existing_type=sa.String(200), nullable=False)
        batch.create_index("ux_projects_owner_name_key", ["owner_id", "name_key"], unique=True)
    with op.batch_alter_table("model_configs") as batch:
        batch.add_column(sa.Column("shared", sa.Boolean, nullable=False, server_default=sa.false()))
    with op.batch_alter_table("chat_messages") as batch:
        batch.add_column(sa.Column("reason", sa.Text, nullable=True))
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("reason", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("reason")
    with op.batch_alter_table("chat_messages") as batch:
        batch.drop_column("reason")
    with op.batch_alter_table("model_configs") as batch:
        batch.drop_column("shared")
    with op.batch_alter_table("projects") as batch:
        batch.drop_index("ux_projects_owner_name_key")
        batch.drop_column("name_key")
