"""Prompt modules: stored, listed, changed and deleted per owner, checked as they are saved
(a simple module's text must parse, a pattern must compile in RE2, a post-response module must
be a script), and turned into the ModuleSpecs the resolver reads."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vibeforge.db.engine import Database
from vibeforge.db.prompt_tables import PromptModule
from vibeforge.db.tables import User
from vibeforge.db.types import new_id, utcnow
from vibeforge.errors import InvalidInput, NotFound
from vibeforge.paging import Page
from vibeforge.prompting.grammar import check
from vibeforge.prompting.named import ensure_unique, insert_named, naming, page_by_name
from vibeforge.prompting.resolver import ModuleSpec
from vibeforge.prompting.triggers import trigger_data, trigger_of

FIELDS = (
    "name",
    "description",
    "kind",
    "content",
    "trigger",
    "scan_depth",
    "stage",
    "priority",
    "token_budget",
    "essential",
    "uses_model",
    "required",
    "is_active",
    "limits",
)


def check_module(fields: dict[str, Any]) -> dict[str, Any]:
    """The module's fields as stored; InvalidInput naming what does not fit together."""
    fields = dict(fields)
    fields["trigger"] = trigger_data(trigger_of(fields.get("trigger")))
    if fields.get("kind", "simple") == "simple":
        check(fields.get("content", ""), f"module @{fields.get('name')}")
        if fields.get("stage") == "after":
            raise InvalidInput("a post-response (stage after) module must be a script")
        if fields.get("uses_model"):
            raise InvalidInput("uses_model applies to script modules only")
    return fields


def module_spec(row: PromptModule) -> ModuleSpec:
    """What the resolver needs of a stored module."""
    return ModuleSpec(
        name=row.name,
        content=row.content,
        kind="script" if row.kind == "script" else "simple",
        stage="after" if row.stage == "after" else "before",
        trigger=trigger_of(row.trigger),
        scan_depth=row.scan_depth,
        priority=row.priority,
        token_budget=row.token_budget,
        essential=row.essential,
        is_active=row.is_active,
        required=row.required,
        uses_model=row.uses_model,
    )


class ModuleService:
    """The owner's prompt modules."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, owner: User, fields: dict[str, Any]) -> PromptModule:
        """Store a new module."""
        checked = check_module(fields)
        now = utcnow()
        row = PromptModule(id=new_id(), owner_id=owner.id, created_at=now, updated_at=now)
        for key in FIELDS:
            if key in checked:
                setattr(row, key, checked[key])
        await insert_named(self._db, owner, row)
        return row

    async def list(
        self,
        owner: User,
        limit: int,
        cursor: str | None,
        *,
        kind: str | None = None,
        stage: str | None = None,
        is_active: bool | None = None,
    ) -> Page[PromptModule]:
        """The owner's modules by name, filtered."""
        query = select(PromptModule).where(PromptModule.owner_id == owner.id)
        if kind is not None:
            query = query.where(PromptModule.kind == kind)
        if stage is not None:
            query = query.where(PromptModule.stage == stage)
        if is_active is not None:
            query = query.where(PromptModule.is_active.is_(is_active))
        return await page_by_name(self._db, PromptModule, query, limit, cursor)

    async def get(self, owner: User, module_id: str) -> PromptModule:
        """One of the owner's modules."""
        async with self._db.transaction() as db:
            return await self._owned(db, owner, module_id)

    async def update(self, owner: User, module_id: str, changes: dict[str, Any]) -> PromptModule:
        """Change some fields; the module as a whole must still hold together."""
        async with naming(self._db, PromptModule, changes.get("name")) as db:
            row = await self._owned(db, owner, module_id)
            merged = {key: getattr(row, key) for key in FIELDS} | changes
            checked = check_module(merged)
            if "name" in changes:
                await ensure_unique(db, PromptModule, owner, changes["name"], row.id)
            for key in FIELDS:
                setattr(row, key, checked[key])
            row.updated_at = utcnow()
        return row

    async def delete(self, owner: User, module_id: str) -> None:
        """Remove a module (templates naming it then fail to resolve, saying so)."""
        async with self._db.transaction() as db:
            await db.delete(await self._owned(db, owner, module_id))

    async def all_of(self, db: AsyncSession, owner: User) -> dict[str, PromptModule]:
        """Every module of the owner by name, inside `db`'s transaction."""
        rows = await db.scalars(select(PromptModule).where(PromptModule.owner_id == owner.id))
        return {row.name: row for row in rows}

    async def _owned(self, db: AsyncSession, owner: User, module_id: str) -> PromptModule:
        row = await db.scalar(
            select(PromptModule).where(
                PromptModule.id == module_id, PromptModule.owner_id == owner.id
            )
        )
        if row is None:
            raise NotFound(f"no module {module_id!r}")
        return row
