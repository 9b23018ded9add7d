"""The database handle: an async engine, a session factory, and migrations at start-up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from vibeforge.db.health import DatabaseHealth

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_POOL_SIZE = 20


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers proceed while a writer commits; the busy timeout rides out short locks.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class Database:
    """One engine and its session factory; create once per app and dispose on shutdown."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        options: dict[str, Any] = {"echo": echo}
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            # Each aiosqlite connection is a thread: keep enough of them that a burst of runs
            # reuses connections instead of opening (and closing) overflow ones.
            options.update(pool_size=SQLITE_POOL_SIZE, max_overflow=20)
        else:
            options.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **options)
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self._sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time. Writers that meet at its file lock wait in its busy
        # handler, which sleeps 1, 2, 5 ... up to 100 ms a try however soon the lock frees:
        # a burst of 100 run starts took seconds that way, holding pooled connections while
        # it slept. Writers of this process take turns here instead (one process per SQLite
        # database: the data-dir lock), before they check a connection out.
        self._write_turns = asyncio.Lock() if self.dialect == "sqlite" else None
        self.health = DatabaseHealth(self.ping)

    @asynccontextmanager
    async def transaction(self, *, writes: bool = False) -> AsyncIterator[AsyncSession]:
        """A database session in one transaction: committed on success, rolled back on error.
        (Not to be confused with a conversation session, `ChatSession`.) `writes`: the
        transaction writes, and on SQLite waits for its turn among this process's writers;
        hot paths that write (run starts and finishes) say so. Such a transaction must not
        open another `writes=True` one inside it: that one would wait for it forever."""
        if writes and self._write_turns is not None:
            async with self._write_turns, self._sessionmaker() as session, session.begin():
                yield session
            return
        async with self._sessionmaker() as session, session.begin():
            yield session

    async def ping(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    async def warm(self, connections: int) -> None:
        """Open pooled connections ahead of a burst: each aiosqlite connection starts a
        thread, and starting threads under load stalls the event loop."""
        held = [await self.engine.connect() for _ in range(connections)]
        for connection in held:
            await connection.close()

    async def has_schema(self) -> bool:
        """Whether vibeforge's tables are there (migrations have run on this database)."""
        async with self.engine.connect() as connection:
            return await connection.run_sync(lambda sync: inspect(sync).has_table("users"))

    async def upgrade(self) -> None:
        """Apply every pending migration."""
        async with self.engine.begin() as connection:
            await connection.run_sync(_upgrade_to_head)

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.health.close()
        await self.engine.dispose()


def _upgrade_to_head(connection: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
