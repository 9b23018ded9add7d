"""What personas and modules share as rows named per owner: pages by name, unique names."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import Select, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from vibeforge.db.engine import Database
from vibeforge.db.tables import User
from vibeforge.errors import Conflict, InvalidInput
from vibeforge.paging import Page, decode_cursor, encode_cursor

Row = TypeVar("Row")


async def page_by_name(
    db: Database, table: type[Row], query: Select[Any], limit: int, cursor: str | None
) -> Page[Row]:
    """One page of `query`'s rows of `table`, ordered by name then id."""
    name_column, id_column = table.name, table.id  # type: ignore[attr-defined]
    if cursor:
        name, last_id = decode_cursor(cursor, 2)
        if not isinstance(name, str) or not isinstance(last_id, str):
            raise InvalidInput("cursor is not valid")
        query = query.where(tuple_(name_column, id_column) > (name, last_id))
    query = query.order_by(name_column, id_column).limit(limit + 1)
    async with db.transaction() as session:
        rows = list(await session.scalars(query))
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        return Page(rows, encode_cursor(last.name, last.id))  # type: ignore[attr-defined]
    return Page(rows, None)


async def ensure_unique(
    session: AsyncSession, table: type[Any], owner: User, name: str, except_id: str | None
) -> None:
    """Conflict when another row of the owner already has this name."""
    found = await session.scalar(
        select(table.id).where(table.owner_id == owner.id, table.name == name)
    )
    if found is not None and found != except_id:
        raise Conflict(f"a {table.kind_label} named {name!r} exists")


@asynccontextmanager
async def naming(db: Database, table: type[Any], name: str | None) -> AsyncIterator[AsyncSession]:
    """A transaction that writes a named row: a name taken meanwhile by a concurrent write
    (the unique index refuses it) is a Conflict, as a name found taken is."""
    try:
        async with db.transaction() as session:
            yield session
    except IntegrityError:
        raise Conflict(f"a {table.kind_label} named {name!r} exists") from None


async def insert_named(db: Database, owner: User, row: Any) -> None:
    """Insert a new named row of the owner; Conflict when the name is taken."""
    async with naming(db, type(row), row.name) as session:
        await ensure_unique(session, type(row), owner, row.name, None)
        session.add(row)
