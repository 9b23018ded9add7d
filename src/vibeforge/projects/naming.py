"""Project names: how two are compared (`project_name_key`), and the rule that one owner's
projects have different names. The unique index on (owner_id, name_key) settles races."""

from __future__ import annotations

import unicodedata

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vibeforge.db.tables import Project, User
from vibeforge.errors import Conflict, InvalidInput


def project_name_key(name: str) -> str:
    """A project name as it is compared for uniqueness: `Demo`, ` demo ` and `DEMO` are one
    name, as are `my  app` and `my app` (Unicode compatibility forms and case folded, runs of
    white space made one space)."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def project_name(name: str) -> str:
    """A project name as stored: trimmed, never blank."""
    name = name.strip()
    if not name:
        raise InvalidInput("name must not be blank")
    return name


def name_taken(name: str) -> Conflict:
    """The error for a name the owner already uses."""
    return Conflict(
        f"you already have a project named {name!r} (names are compared ignoring case and"
        " repeated spaces); choose another name"
    )


async def ensure_unique_name(
    session: AsyncSession, owner: User, name: str, except_id: str | None
) -> None:
    """Refuse a name the owner's other projects already have, as `project_name_key` sees it."""
    found = await session.scalar(
        select(Project.id).where(
            Project.owner_id == owner.id, Project.name_key == project_name_key(name)
        )
    )
    if found is not None and found != except_id:
        raise name_taken(name)
