"""Attachments in runs: the check a message passes before its run opens, and the prompt
source that puts a session's attachments into the system prompt (images into the user's
message), within the budget, with the report of what it included stored on the answer.

A run sees the attachments of its session and of its project (or those its message names).
One still being extracted refuses the message (`attachment_not_ready`), unless the message
asks to wait: then the run waits in `resolve_prompt`, where a cancel stops it. A run is never
sent with an attachment's context silently missing.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections import OrderedDict
from collections.abc import Sequence

from sqlalchemy import or_, select, tuple_, update

from vibeforge.agents.prompt_parts import PromptPart
from vibeforge.attachments.blocks import Extract
from vibeforge.attachments.budget import Item, plan
from vibeforge.attachments.errors import AttachmentFailed, AttachmentNotReady
from vibeforge.attachments.store import AttachmentStore
from vibeforge.db.attachment_tables import Attachment
from vibeforge.db.batching import KeyedBatch
from vibeforge.db.chat_tables import ChatMessage, ChatSession
from vibeforge.db.engine import Database
from vibeforge.db.tables import User
from vibeforge.errors import NotFound
from vibeforge.llm import ImagePart
from vibeforge.runs.context import RunContext
from vibeforge.runs.protocol import Chat, ContextReport
from vibeforge.statuses import PENDING_ATTACHMENT, AttachmentState

SOURCE = "attachments"
POLL_S = 0.05
CACHED_EXTRACTS = 32
CACHED_EXTRACT_CHARS = 4_000_000  # a larger extract is read again each run, not kept


def _names(rows: Sequence[Attachment]) -> str:
    return ", ".join(f"{row.name!r} ({row.state})" for row in rows)


class AttachmentContext:
    """The attachments of runs: admission and the prompt source."""

    def __init__(
        self, db: Database, store: AttachmentStore, budget_tokens: int, wait_s: float
    ) -> None:
        self._db = db
        self._store = store
        self.budget_tokens = budget_tokens
        self.wait_s = wait_s
        self._extracts: OrderedDict[tuple[str, str], Extract] = OrderedDict()
        # (owner, project, session) -> its attachments: a burst of run starts asks together.
        self._lookups: KeyedBatch[tuple[str, str, str], list[Attachment]] = KeyedBatch(self._fetch)

    async def selection(
        self, owner: User, session: ChatSession, names: Sequence[str] | None
    ) -> list[Attachment]:
        """The attachments a run in `session` sees, oldest first: the session's and its
        project's own, or those of them `names` lists (NotFound for any other id)."""
        if names is not None and not names:
            return []
        rows = await self._lookups.get((owner.id, session.project_id, session.id)) or []
        if names is not None:
            wanted = set(names)
            rows = [row for row in rows if row.id in wanted]
            missing = sorted(wanted - {row.id for row in rows})
            if missing:
                raise NotFound(f"no attachment {missing[0]!r} in this session")
        return list(rows)

    async def _fetch(
        self, keys: set[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], list[Attachment]]:
        """The attachments of each (owner, project, session), oldest first, in one query."""
        projects = {(owner, project) for owner, project, _ in keys}
        sessions = {session for _, _, session in keys}
        query = (
            select(Attachment)
            .where(
                tuple_(Attachment.owner_id, Attachment.project_id).in_(projects),
                or_(Attachment.session_id.is_(None), Attachment.session_id.in_(sessions)),
            )
            .order_by(Attachment.created_at, Attachment.id)
        )
        async with self._db.transaction() as db:
            rows = list(await db.scalars(query))
        found: dict[tuple[str, str, str], list[Attachment]] = {key: [] for key in keys}
        for owner, project, session in keys:
            found[owner, project, session] = [
                row
                for row in rows
                if row.owner_id == owner
                and row.project_id == project
                and row.session_id in (None, session)
            ]
        return found

    async def admit(self, owner: User, session: ChatSession, command: Chat) -> None:
        """Refuse a message whose attachments are not ready (unless it waits for them)."""
        rows = await self.selection(owner, session, command.attachments)
        named = command.attachments is not None
        failed = [row for row in rows if row.state == AttachmentState.FAILED]
        if named and failed:
            raise AttachmentFailed(f"attachments whose extraction failed: {_names(failed)}")
        pending = [row for row in rows if row.state in PENDING_ATTACHMENT]
        if pending and not command.wait_for_attachments:
            raise AttachmentNotReady(
                f"attachments not ready yet: {_names(pending)}; send the message once they "
                "are `ready`, or with wait_for_attachments: true"
            )

    async def _settled(self, ctx: RunContext) -> list[Attachment]:
        """The run's attachments once none is still being extracted (bounded wait)."""
        deadline = time.monotonic() + self.wait_s
        while True:
            rows = await self.selection(ctx.owner, ctx.session, ctx.attachment_ids)
            pending = [row for row in rows if row.state in PENDING_ATTACHMENT]
            if not pending:
                break
            if not ctx.wait_for_attachments or time.monotonic() > deadline:
                raise AttachmentNotReady(f"attachments not ready in time: {_names(pending)}")
            await asyncio.sleep(POLL_S)
        failed = [row for row in rows if row.state == AttachmentState.FAILED]
        if ctx.attachment_ids is not None and failed:
            raise AttachmentFailed(f"attachments whose extraction failed: {_names(failed)}")
        return rows

    async def parts(self, ctx: RunContext) -> list[PromptPart]:
        """The system prompt's attachment part (PromptSource)."""
        rows = await self._settled(ctx)
        if not rows:
            return []
        items = []
        for row in rows:
            ready = row.state == AttachmentState.READY
            extract = await self.extract(row) if ready else None
            if ready and extract is None:
                lost = "its extracted text is missing"
                items.append(Item(row.id, row.name, row.kind, AttachmentState.FAILED, None, lost))
                continue
            items.append(Item(row.id, row.name, row.kind, row.state, extract, row.error))
        takes_images = ctx.model.chat.capabilities.images
        planned = plan(items, self.budget_tokens, takes_images)
        images = [await self.image(row) for row in rows if row.id in planned.image_ids]
        async with self._db.transaction() as db:
            await db.execute(
                update(ChatMessage)
                .where(ChatMessage.id == ctx.assistant_message_id)
                .values(context_report=planned.report)
            )
        ctx.emit(ContextReport(planned.report))
        return [PromptPart(planned.text, SOURCE, stable=True, images=tuple(images))]

    async def extract(self, row: Attachment) -> Extract | None:
        """What extraction wrote for an attachment (cached: it never changes)."""
        key = (row.owner_id, row.sha256)
        found = self._extracts.get(key)
        if found is not None:
            self._extracts.move_to_end(key)
            return found
        found = await asyncio.to_thread(self._store.read_extract, row.owner_id, row.sha256)
        if found is not None and sum(len(b.text) for b in found.blocks) <= CACHED_EXTRACT_CHARS:
            self._extracts[key] = found
            while len(self._extracts) > CACHED_EXTRACTS:
                self._extracts.popitem(last=False)
        return found

    async def image(self, row: Attachment) -> ImagePart:
        """An image attachment as the model is sent it (the reduced copy)."""
        extract = await self.extract(row)
        assert extract is not None and extract.image_file is not None
        path = self._store.blob_dir(row.owner_id, row.sha256) / extract.image_file
        data = await asyncio.to_thread(path.read_bytes)
        return ImagePart(
            data=base64.b64encode(data).decode("ascii"),
            media_type=extract.image_media_type or "image/png",
        )
