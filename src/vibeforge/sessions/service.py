"""Opening, listing and clearing sessions; reading messages and their raw provider responses."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import delete, func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from vibeforge.db.batching import KeyedBatch
from vibeforge.db.chat_tables import ChatMessage, ChatSession, LLMCall
from vibeforge.db.engine import Database
from vibeforge.db.prompt_tables import SessionState
from vibeforge.db.tables import Project, User
from vibeforge.db.types import new_id, utcnow
from vibeforge.errors import Conflict, InvalidInput, NotFound
from vibeforge.paging import Page, decode_cursor, encode_cursor
from vibeforge.statuses import MessageStatus

MAX_NODE_ID = 1024
MAX_TITLE = 200


def _check_node_id(node_id: str | None) -> str | None:
    if node_id is None:
        return None
    node_id = node_id.strip()
    if not node_id:
        return None
    if len(node_id) > MAX_NODE_ID or "\x00" in node_id:
        raise InvalidInput(f"node_id must be at most {MAX_NODE_ID} characters of text")
    return node_id


class SessionService:
    """Sessions and their messages, each scoped to the owner of the project."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._lookups: KeyedBatch[tuple[str, str], ChatSession] = KeyedBatch(self._fetch)

    async def open(
        self, owner: User, project_id: str, node_id: str | None
    ) -> tuple[ChatSession, bool]:
        """The project's session for `node_id` (None: the global one), created if missing."""
        node_id = _check_node_id(node_id)
        async with self._db.transaction() as session:
            project = await session.scalar(
                select(Project.id).where(
                    Project.id == project_id, Project.owner_id == owner.id, Project.state == "ready"
                )
            )
            if project is None:
                raise NotFound(f"no project {project_id!r}")
            node_match = (
                ChatSession.node_id.is_(None) if node_id is None else ChatSession.node_id == node_id
            )
            existing = await session.scalar(
                select(ChatSession).where(ChatSession.project_id == project_id, node_match)
            )
            if existing is not None:
                return existing, False
            created = ChatSession(
                id=new_id(),
                project_id=project_id,
                owner_id=owner.id,
                scope="global" if node_id is None else "node",
                node_id=node_id,
                last_seq=0,
                created_at=utcnow(),
            )
            session.add(created)
        return created, True

    async def list(self, owner: User, project_id: str) -> list[ChatSession]:
        """The project's sessions, oldest first."""
        async with self._db.transaction() as session:
            owned = await session.scalar(
                select(Project.id).where(
                    Project.id == project_id, Project.owner_id == owner.id, Project.state == "ready"
                )
            )
            if owned is None:
                raise NotFound(f"no project {project_id!r}")
            rows = await session.scalars(
                select(ChatSession)
                .where(ChatSession.project_id == project_id)
                .order_by(ChatSession.created_at, ChatSession.id)
            )
            return list(rows)

    async def get(self, owner: User, session_id: str) -> ChatSession:
        """One of the owner's sessions (lookups made together share one query)."""
        found = await self._lookups.get((session_id, owner.id))
        if found is None:
            raise NotFound(f"no session {session_id!r}")
        return found

    async def _fetch(self, keys: set[tuple[str, str]]) -> dict[tuple[str, str], ChatSession]:
        """Sessions by (id, owner id), in projects that are ready."""
        async with self._db.transaction() as session:
            rows = await session.scalars(
                select(ChatSession)
                .join(Project, Project.id == ChatSession.project_id)
                .where(
                    tuple_(ChatSession.id, ChatSession.owner_id).in_(keys),
                    Project.state == "ready",
                )
            )
            return {(row.id, row.owner_id): row for row in rows}

    async def clear(self, owner: User, session_id: str) -> None:
        """Archive every message and forget the modules' state: the next message starts
        afresh."""
        await self.get(owner, session_id)
        async with self._db.transaction() as session:
            await session.execute(
                update(ChatMessage)
                .where(ChatMessage.session_id == session_id, ChatMessage.archived.is_(False))
                .values(archived=True)
            )
            await session.execute(
                update(ChatSession).where(ChatSession.id == session_id).values(cleared_at=utcnow())
            )
            await session.execute(delete(SessionState).where(SessionState.session_id == session_id))

    async def rename(self, owner: User, session_id: str, title: str | None) -> ChatSession:
        """Give one of the owner's sessions a title (None: none); its node id is unchanged."""
        if title is not None:
            title = title.strip() or None
        if title is not None and (len(title) > MAX_TITLE or "\x00" in title):
            raise InvalidInput(f"a title is at most {MAX_TITLE} characters of text")
        await self.get(owner, session_id)
        async with self._db.transaction() as session:
            await session.execute(
                update(ChatSession).where(ChatSession.id == session_id).values(title=title)
            )
        return await self.get(owner, session_id)

    async def retire(self, owner: User, session_id: str, prefix: str) -> None:
        """Make a (cleared) session one about the node `prefix + id`, so its old node (or the
        global place) is free and it is no longer found there; its archived messages stay."""
        await self.get(owner, session_id)
        async with self._db.transaction() as session:
            await session.execute(
                update(ChatSession)
                .where(ChatSession.id == session_id, ChatSession.owner_id == owner.id)
                .values(node_id=prefix + session_id, scope="node")
            )

    async def add_message(
        self, owner: User, session_id: str, values: dict[str, Any]
    ) -> ChatMessage:
        """A message written by hand (not by a run) at the end of one of the owner's sessions;
        `values` are its role, content and optionally thinking and token_usage."""
        await self.get(owner, session_id)
        async with self._db.transaction() as session:
            position = (await self.next_positions(session, [session_id]))[session_id]
            row = ChatMessage(
                id=new_id(),
                session_id=session_id,
                position=position,
                status=MessageStatus.SUCCESS,
                archived=False,
                created_at=utcnow(),
                **values,
            )
            session.add(row)
        return row

    async def owned_message(self, owner: User, message_id: str) -> ChatMessage:
        """One of the owner's messages that is not archived."""
        async with self._db.transaction() as session:
            row = await session.scalar(
                select(ChatMessage)
                .join(ChatSession, ChatSession.id == ChatMessage.session_id)
                .where(
                    ChatMessage.id == message_id,
                    ChatSession.owner_id == owner.id,
                    ChatMessage.archived.is_(False),
                )
            )
        if row is None:
            raise NotFound(f"no message {message_id!r}")
        return row

    async def edit_message(
        self, owner: User, message_id: str, changes: dict[str, Any]
    ) -> ChatMessage:
        """Change a finished message's content, thinking or token usage (a message its run
        is still writing is a conflict: the run would overwrite the change)."""
        await self._finished(owner, message_id)
        if changes:
            async with self._db.transaction() as session:
                await session.execute(
                    update(ChatMessage).where(ChatMessage.id == message_id).values(**changes)
                )
        return await self.owned_message(owner, message_id)

    async def archive_message(self, owner: User, message_id: str) -> None:
        """Take a finished message out of the history (it stays readable as archived)."""
        await self._finished(owner, message_id)
        async with self._db.transaction() as session:
            await session.execute(
                update(ChatMessage).where(ChatMessage.id == message_id).values(archived=True)
            )

    async def _finished(self, owner: User, message_id: str) -> ChatMessage:
        row = await self.owned_message(owner, message_id)
        if row.status == MessageStatus.STREAMING:
            raise Conflict("its run is still writing the message")
        return row

    async def messages(
        self,
        owner: User,
        session_id: str,
        limit: int,
        cursor: str | None,
        include_archived: bool = False,
    ) -> Page[ChatMessage]:
        """Messages oldest first."""
        await self.get(owner, session_id)
        query = select(ChatMessage).where(ChatMessage.session_id == session_id)
        if not include_archived:
            query = query.where(ChatMessage.archived.is_(False))
        if cursor:
            (after,) = decode_cursor(cursor, 1)
            if not isinstance(after, int):
                raise InvalidInput("cursor is not valid")
            query = query.where(ChatMessage.position > after)
        query = query.order_by(ChatMessage.position).limit(limit + 1)
        async with self._db.transaction() as session:
            rows = list(await session.scalars(query))
        if len(rows) > limit:
            rows = rows[:limit]
            return Page(rows, encode_cursor(rows[-1].position))
        return Page(rows, None)

    async def message_with_calls(
        self, owner: User, message_id: str
    ) -> tuple[ChatMessage, list[LLMCall]]:
        """A message and the LLM calls made to produce it, raw responses included."""
        async with self._db.transaction() as session:
            message = await session.scalar(
                select(ChatMessage)
                .join(ChatSession, ChatSession.id == ChatMessage.session_id)
                .where(ChatMessage.id == message_id, ChatSession.owner_id == owner.id)
            )
            if message is None:
                raise NotFound(f"no message {message_id!r}")
            calls = list(
                await session.scalars(
                    select(LLMCall)
                    .where(LLMCall.message_id == message_id, LLMCall.owner_id == owner.id)
                    .order_by(LLMCall.created_at)
                )
            )
        return message, calls

    async def history(
        self,
        session_id: str,
        exclude_run: str | None = None,
        *,
        db_session: AsyncSession | None = None,
    ) -> list[ChatMessage]:
        """The messages that make up the conversation so far (archived ones excluded); inside
        `db_session`'s transaction when given."""
        query = select(ChatMessage).where(
            ChatMessage.session_id == session_id, ChatMessage.archived.is_(False)
        )
        if exclude_run is not None:
            query = query.where((ChatMessage.run_id != exclude_run) | ChatMessage.run_id.is_(None))
        query = query.order_by(ChatMessage.position)
        if db_session is not None:
            return list(await db_session.scalars(query))
        async with self._db.transaction() as session:
            return list(await session.scalars(query))

    async def histories(
        self, db_session: AsyncSession, session_ids: Collection[str]
    ) -> dict[str, list[ChatMessage]]:
        """`history` of several sessions in one query, inside `db_session`'s transaction."""
        found: dict[str, list[ChatMessage]] = {session_id: [] for session_id in session_ids}
        rows = await db_session.scalars(
            select(ChatMessage)
            .where(ChatMessage.session_id.in_(found), ChatMessage.archived.is_(False))
            .order_by(ChatMessage.session_id, ChatMessage.position)
        )
        for message in rows:
            found[message.session_id].append(message)
        return found

    async def next_positions(
        self, db_session: AsyncSession, session_ids: Collection[str]
    ) -> dict[str, int]:
        """`next_position` of several sessions in one query (inside the writing transaction)."""
        rows = await db_session.execute(
            select(ChatMessage.session_id, func.max(ChatMessage.position))
            .where(ChatMessage.session_id.in_(set(session_ids)))
            .group_by(ChatMessage.session_id)
        )
        current: dict[str, int | None] = {session_id: top for session_id, top in rows}
        return {session_id: int(current.get(session_id) or 0) + 1 for session_id in session_ids}
