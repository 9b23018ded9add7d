"""Personas: stored, listed, changed, deleted, given an image, and chosen for sessions and
projects; every query is scoped to the owner (another user's persona is not found)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from vibeforge.db.batching import KeyedBatch
from vibeforge.db.chat_tables import ChatSession
from vibeforge.db.engine import Database
from vibeforge.db.prompt_tables import Persona
from vibeforge.db.tables import Project, User
from vibeforge.db.types import new_id, utcnow
from vibeforge.errors import InvalidInput, NotFound
from vibeforge.llm import Capabilities, validate_params
from vibeforge.llm.params import PARAMETER_NAMES
from vibeforge.paging import Page
from vibeforge.prompting.grammar import check
from vibeforge.prompting.images import ImageInfo, check_image, image_path, remove_image, store_image
from vibeforge.prompting.named import ensure_unique, insert_named, naming, page_by_name

ANY_MODEL = Capabilities(parameters=PARAMETER_NAMES)


def _check_fields(fields: dict[str, Any]) -> None:
    if "template" in fields:
        check(fields["template"], "template")
    if fields.get("params"):
        validate_params(ANY_MODEL, fields["params"])  # names and types; the model is per run


class PersonaService:
    """The owner's personas and their images."""

    def __init__(self, db: Database, images_dir: Path) -> None:
        self._db = db
        self.images_dir = images_dir
        # (owner, session's persona, project) -> the persona: a burst of run starts asks
        # together.
        self._for_runs: KeyedBatch[tuple[str, str | None, str], Persona] = KeyedBatch(
            self._fetch_for_runs
        )

    async def create(self, owner: User, fields: dict[str, Any]) -> Persona:
        """Store a new persona; its template must parse."""
        _check_fields(fields)
        now = utcnow()
        row = Persona(id=new_id(), owner_id=owner.id, created_at=now, updated_at=now, **fields)
        await insert_named(self._db, owner, row)
        return row

    async def list(
        self,
        owner: User,
        limit: int,
        cursor: str | None,
        is_active: bool | None = None,
        mode: str | None = None,
    ) -> Page[Persona]:
        """The owner's personas by name, filtered by activity and mode."""
        query = select(Persona).where(Persona.owner_id == owner.id)
        if is_active is not None:
            query = query.where(Persona.is_active.is_(is_active))
        if mode is not None:
            query = query.where(Persona.mode == mode)
        return await page_by_name(self._db, Persona, query, limit, cursor)

    async def get(self, owner: User, persona_id: str) -> Persona:
        """One of the owner's personas."""
        async with self._db.transaction() as db:
            return await self.owned(db, owner, persona_id)

    async def owned(self, db: AsyncSession, owner: User, persona_id: str) -> Persona:
        """The persona inside `db`'s transaction; NotFound for anyone else's."""
        row = await db.scalar(
            select(Persona).where(Persona.id == persona_id, Persona.owner_id == owner.id)
        )
        if row is None:
            raise NotFound(f"no persona {persona_id!r}")
        return row

    async def named(self, db: AsyncSession, owner: User, ref: str) -> Persona:
        """The owner's persona with this id, else with this name."""
        try:
            return await self.owned(db, owner, ref)
        except NotFound:
            row = await db.scalar(
                select(Persona).where(Persona.name == ref, Persona.owner_id == owner.id)
            )
            if row is None:
                raise
            return row

    async def update(self, owner: User, persona_id: str, changes: dict[str, Any]) -> Persona:
        """Change some fields."""
        _check_fields(changes)
        async with naming(self._db, Persona, changes.get("name")) as db:
            row = await self.owned(db, owner, persona_id)
            if "name" in changes:
                await ensure_unique(db, Persona, owner, changes["name"], row.id)
            for key, value in changes.items():
                setattr(row, key, value)
            row.updated_at = utcnow()
        return row

    async def delete(self, owner: User, persona_id: str) -> None:
        """Remove a persona, its image, and every session's and project's choice of it."""
        async with self._db.transaction() as db:
            row = await self.owned(db, owner, persona_id)
            await db.delete(row)
            for table in (ChatSession, Project):
                await db.execute(
                    update(table)
                    .where(table.persona_id == persona_id, table.owner_id == owner.id)
                    .values(persona_id=None)
                )
        await asyncio.to_thread(remove_image, self.images_dir, persona_id)

    async def set_image(self, owner: User, persona_id: str, data: bytes) -> Persona:
        """Check an image by its content and keep it as the persona's."""
        await self.get(owner, persona_id)
        info: ImageInfo = await asyncio.to_thread(check_image, data)
        await asyncio.to_thread(store_image, self.images_dir, persona_id, data)
        async with self._db.transaction() as db:
            row = await self.owned(db, owner, persona_id)
            row.image_type, row.image_bytes = info.content_type, info.size
            row.image_width, row.image_height = info.width, info.height
            row.updated_at = utcnow()
        return row

    async def image(self, owner: User, persona_id: str) -> tuple[bytes, str]:
        """A persona's image and its content type."""
        row = await self.get(owner, persona_id)
        path = image_path(self.images_dir, persona_id)
        if row.image_type is None:
            raise NotFound(f"persona {persona_id!r} has no image")
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise NotFound(f"persona {persona_id!r} has no image") from None
        return data, row.image_type

    async def delete_image(self, owner: User, persona_id: str) -> None:
        """Remove a persona's image."""
        async with self._db.transaction() as db:
            row = await self.owned(db, owner, persona_id)
            row.image_type = row.image_bytes = row.image_width = row.image_height = None
            row.updated_at = utcnow()
        await asyncio.to_thread(remove_image, self.images_dir, persona_id)

    async def choose(
        self,
        owner: User,
        table: type[ChatSession] | type[Project],
        row_id: str,
        persona: str | None,
    ) -> str | None:
        """Name the persona (id or name; None: none) a session's or a project's runs speak
        as; returns its id."""
        async with self._db.transaction() as db:
            if persona is not None:
                persona = (await self.named(db, owner, persona)).id
            query = update(table).where(table.id == row_id, table.owner_id == owner.id)
            if table is Project:
                query = query.where(Project.state == "ready")
            changed = await db.execute(query.values(persona_id=persona))
            if changed.rowcount == 0:  # type: ignore[attr-defined]
                kind = "session" if table is ChatSession else "project"
                raise NotFound(f"no {kind} {row_id!r}")
        return persona

    async def for_run(self, owner: User, named: str | None, session: ChatSession) -> Persona | None:
        """The persona a run speaks as: the message's (an id or name; it must exist and be
        active), else the session's, else its project's (left out if inactive)."""
        if named is not None:
            async with self._db.transaction() as db:
                row = await self.named(db, owner, named)
            if not row.is_active:
                raise InvalidInput(f"persona {named!r} is not active")
            return row
        row = await self._for_runs.get((owner.id, session.persona_id, session.project_id))
        return row if row is not None and row.is_active else None

    async def _fetch_for_runs(
        self, keys: set[tuple[str, str | None, str]]
    ) -> dict[tuple[str, str | None, str], Persona]:
        """The persona of each (owner, session's persona, project): the session's if it names
        one, else its project's; an owner sees only their own."""
        ids = {persona_id for _, persona_id, _ in keys if persona_id is not None}
        projects = {project_id for _, persona_id, project_id in keys if persona_id is None}
        by_id: dict[str, Persona] = {}
        by_project: dict[str, Persona] = {}
        async with self._db.transaction() as db:
            if ids:
                by_id = {
                    row.id: row
                    for row in await db.scalars(select(Persona).where(Persona.id.in_(ids)))
                }
            if projects:
                query = select(Project.id, Persona).join(Persona, Project.persona_id == Persona.id)
                for project_id, row in await db.execute(query.where(Project.id.in_(projects))):
                    by_project[project_id] = row
        found = {}
        for key in keys:
            owner_id, persona_id, project_id = key
            row = by_id.get(persona_id) if persona_id is not None else by_project.get(project_id)
            if row is not None and row.owner_id == owner_id:
                found[key] = row
        return found
