"""The migrations build exactly the schema the table classes describe."""

from datetime import UTC, datetime, timedelta

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from vibeforge.db import (  # noqa: F401  (register every table)
    agent_tables,
    attachment_tables,
    chat_tables,
    prompt_tables,
    test_tables,
    usage_tables,
)
from vibeforge.db.engine import Database
from vibeforge.db.tables import Base


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, Base.metadata)


async def test_migrations_match_the_tables(empty_database_url: str) -> None:
    db = Database(empty_database_url)
    try:
        await db.upgrade()
        await db.upgrade()  # a second upgrade is a no-op
        async with db.engine.connect() as connection:
            differences = await connection.run_sync(_differences)
    finally:
        await db.dispose()
    assert differences == []


async def test_projects_that_already_share_a_name_are_renamed_oldest_first(
    empty_database_url: str,
) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from vibeforge.db.engine import MIGRATIONS_DIR

    def upgrade_to(connection: Connection, revision: str) -> None:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    db = Database(empty_database_url)
    try:
        async with db.engine.begin() as connection:
            await connection.run_sync(upgrade_to, "0005_llmcall_attempts")
            await connection.execute(
                text(
                    "INSERT INTO users (id, email, is_admin, created_at) VALUES"
                    " ('u1', 'a@x.io', false, :at), ('u2', 'b@x.io', false, :at)"
                ),
                {"at": datetime(2024, 1, 1, tzinfo=UTC)},
            )
            start = datetime(2024, 1, 1, tzinfo=UTC)
            rows = [
                ("p1", "u1", "demo", start + timedelta(seconds=1)),
                ("p2", "u1", "Demo ", start + timedelta(seconds=2)),
                ("p3", "u1", "DEMO", start + timedelta(seconds=3)),
                ("p4", "u2", "demo", start + timedelta(seconds=4)),
            ]
            for project_id, owner, name, created in rows:
                await connection.execute(
                    text(
                        "INSERT INTO projects (id, owner_id, name, description, main_file, state,"
                        " auto_apply, check_timeout_s, created_at, updated_at) VALUES"
                        " (:id, :owner, :name, '', 'main.py', 'ready', true, 60, :at, :at)"
                    ),
                    {"id": project_id, "owner": owner, "name": name, "at": created},
                )
        await db.upgrade()
        async with db.engine.connect() as connection:
            names = dict((await connection.execute(text("SELECT id, name FROM projects"))).all())
    finally:
        await db.dispose()
    assert names == {"p1": "demo", "p2": "Demo (2)", "p3": "DEMO (3)", "p4": "demo"}
