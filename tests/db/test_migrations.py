"""The migrations build exactly the schema the table classes describe."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from vibeforge.db import agent_tables, attachment_tables, chat_tables  # noqa: F401  (every table)
from vibeforge.db.engine import Database
from vibeforge.db.tables import Base


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, Base.metadata)


async def test_migrations_match_the_tables(database_url: str) -> None:
    db = Database(database_url)
    try:
        await db.upgrade()
        await db.upgrade()  # a second upgrade is a no-op
        async with db.engine.connect() as connection:
            differences = await connection.run_sync(_differences)
    finally:
        await db.dispose()
    assert differences == []
