"""Attachments: uploads, their state machine, reading and deleting, scoped to their owner.

An upload is streamed into the store while it is hashed and checked; its type is told by its
bytes, and a PDF or an image is inspected by the worker before anything is kept, so a refused
file leaves nothing behind. Then the row is committed as `uploaded` and extraction runs in the
background (`extracting` → `ready` or `failed`), each change announced to the project's
subscribers as `attachment_state`. Bytes are kept once per owner (a second upload of the same
content to another session shares them; to the same place it is the same attachment).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, tuple_, update

from vibeforge.attachments.errors import InvalidAttachment, LimitReached
from vibeforge.attachments.extraction import ExtractionError, Extractor
from vibeforge.attachments.kinds import Kind, Sniffed, sniff
from vibeforge.attachments.lifecycle import CANCELLED, Extractions
from vibeforge.attachments.store import AttachmentStore, Received
from vibeforge.db.attachment_tables import Attachment
from vibeforge.db.chat_tables import ChatSession
from vibeforge.db.engine import Database
from vibeforge.db.tables import Project, User
from vibeforge.db.types import new_id, utcnow
from vibeforge.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from vibeforge.paging import Page, decode_time_cursor, encode_cursor
from vibeforge.runs.bus import EventBus
from vibeforge.statuses import PENDING_ATTACHMENT, AttachmentState

FLUSH_BYTES = 1024 * 1024  # an upload is written in pieces of about this size
MAX_NAME_CHARS = 255


@dataclass(frozen=True, slots=True)
class AttachmentLimits:
    """How much one attachment, one session and one user may hold."""

    max_bytes: int
    max_files: int
    user_bytes: int


@dataclass(frozen=True, slots=True)
class Uploaded:
    """An upload's attachment, and whether it is new (false: these bytes were already
    attached there)."""

    attachment: Attachment
    created: bool


def attachment_name(raw: str | None) -> str:
    """A display name: the last component of what the client sent, checked."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name:
        raise InvalidInput("an attachment needs a name")
    if len(name) > MAX_NAME_CHARS:
        raise InvalidInput(f"an attachment's name is at most {MAX_NAME_CHARS} characters")
    if not name.isprintable():
        raise InvalidInput("an attachment's name may not hold control or invisible characters")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("an attachment's name is not valid UTF-8 text") from None
    return name


class AttachmentService:
    """Every attachment operation; extraction tasks run in this process."""

    def __init__(
        self,
        db: Database,
        store: AttachmentStore,
        extractor: Extractor,
        limits: AttachmentLimits,
        bus: EventBus,
    ) -> None:
        self._db = db
        self.store = store
        self._extractor = extractor
        self.limits = limits
        self.extractions = Extractions(db, store, extractor, bus)
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def _owner_lock(self, owner_id: str) -> asyncio.Lock:
        lock = self._locks.get(owner_id)
        if lock is None:
            lock = self._locks[owner_id] = asyncio.Lock()
        return lock

    # -- where an attachment goes ------------------------------------------------------------

    async def target(
        self, owner: User, project_id: str | None, session_id: str | None
    ) -> tuple[str, str | None]:
        """The owner's project (and session) an attachment goes to; NotFound for others'."""
        async with self._db.transaction() as db:
            if session_id is not None:
                found = await db.execute(
                    select(ChatSession.project_id)
                    .join(Project, Project.id == ChatSession.project_id)
                    .where(
                        ChatSession.id == session_id,
                        Project.owner_id == owner.id,
                        Project.state == "ready",
                    )
                )
                project = found.scalar()
                if project is None:
                    raise NotFound(f"no session {session_id!r}")
                if project_id is not None and project_id != project:
                    raise InvalidInput("the session is not in that project")
                return project, session_id
            if project_id is None:
                raise InvalidInput("an attachment belongs to a project_id or a session_id")
            owned = await db.scalar(
                select(Project.id).where(
                    Project.id == project_id, Project.owner_id == owner.id, Project.state == "ready"
                )
            )
        if owned is None:
            raise NotFound(f"no project {project_id!r}")
        return project_id, None

    async def _check_room(self, db: Any, project_id: str, session_id: str | None) -> None:
        place = (
            Attachment.session_id == session_id
            if session_id is not None
            else (Attachment.project_id == project_id) & Attachment.session_id.is_(None)
        )
        held = await db.scalar(select(func.count()).select_from(Attachment).where(place))
        if held >= self.limits.max_files:
            where = "session" if session_id else "project"
            raise LimitReached(f"the {where} holds {held} attachments, the most it may")

    # -- uploading ---------------------------------------------------------------------------

    async def upload(
        self,
        owner: User,
        project_id: str | None,
        session_id: str | None,
        name: str | None,
        chunks: AsyncIterable[bytes],
    ) -> Uploaded:
        """Store an upload and start its extraction."""
        place = await self.prepare(owner, project_id, session_id)
        return await self.accept(owner, place, name, await self.receive(chunks))

    async def prepare(
        self, owner: User, project_id: str | None, session_id: str | None
    ) -> tuple[str, str | None]:
        """The place an upload goes (the owner's), checked to have room for it."""
        place = await self.target(owner, project_id, session_id)
        async with self._db.transaction() as db:
            await self._check_room(db, *place)
        return place

    async def accept(
        self, owner: User, place: tuple[str, str | None], name: str | None, received: Received
    ) -> Uploaded:
        """Check a received upload and keep it (its temporary file is gone either way)."""
        try:
            name = attachment_name(name)
            sniffed = sniff(received.head, name, received.is_text)
            inspected = await self._inspect(received, sniffed)
            uploaded = await self._keep(owner, *place, name, received, sniffed, inspected)
        finally:
            await self.discard(received)  # kept uploads were moved away: this is a no-op
        row = uploaded.attachment
        if uploaded.created:
            self.extractions.announce(row)
            if row.state == AttachmentState.UPLOADED:
                self.extractions.start(row)
        return uploaded

    async def receive(self, chunks: AsyncIterable[bytes], limit: int | None = None) -> Received:
        """Write an upload to a temporary file as it arrives (PayloadTooLarge over `limit`,
        by default the attachment size cap)."""
        intake = await asyncio.to_thread(self.store.intake, limit or self.limits.max_bytes)
        pending = bytearray()
        try:
            async for chunk in chunks:
                pending += chunk
                if len(pending) >= FLUSH_BYTES:
                    piece = bytes(pending)
                    pending.clear()
                    await asyncio.to_thread(intake.write, piece)
            if pending:
                await asyncio.to_thread(intake.write, bytes(pending))
            return await asyncio.to_thread(intake.finish)
        except BaseException:
            await asyncio.shield(asyncio.to_thread(intake.discard))
            raise

    async def discard(self, received: Received) -> None:
        """Drop a received upload that will not be kept."""
        await asyncio.to_thread(received.path.unlink, True)

    async def _inspect(self, received: Received, sniffed: Sniffed) -> dict[str, Any]:
        if sniffed.kind not in (Kind.PDF, Kind.IMAGE):
            return {}
        job = {
            "op": "inspect",
            "path": str(received.path),
            "kind": sniffed.kind,
            "image_format": sniffed.image_format,
        }
        try:
            return await self._extractor.run(job)
        except ExtractionError as error:
            raise InvalidAttachment(error.detail) from None

    async def _keep(
        self,
        owner: User,
        project_id: str,
        session_id: str | None,
        name: str,
        received: Received,
        sniffed: Sniffed,
        inspected: dict[str, Any],
    ) -> Uploaded:
        """Move the bytes into place and commit the row; one upload of an owner at a time,
        so the checks of room and quota hold when the row lands."""
        async with self._owner_lock(owner.id):
            async with self._db.transaction() as db:
                same = await db.scalar(
                    select(Attachment).where(
                        Attachment.owner_id == owner.id,
                        Attachment.project_id == project_id,
                        Attachment.session_id.is_(None)
                        if session_id is None
                        else Attachment.session_id == session_id,
                        Attachment.sha256 == received.sha256,
                    )
                )
                if same is not None:
                    return Uploaded(same, created=False)
                await self._check_room(db, project_id, session_id)
                twin = await db.scalar(
                    select(Attachment)
                    .where(Attachment.owner_id == owner.id, Attachment.sha256 == received.sha256)
                    .order_by((Attachment.state == AttachmentState.READY).desc())
                    .limit(1)
                )
                if twin is None:
                    await self._check_quota(db, owner, received.size)
            await asyncio.to_thread(self.store.keep, received, owner.id)
            now = utcnow()
            row = Attachment(
                id=new_id(),
                owner_id=owner.id,
                project_id=project_id,
                session_id=session_id,
                name=name,
                sha256=received.sha256,
                size=received.size,
                kind=sniffed.kind,
                media_type=sniffed.media_type,
                state=AttachmentState.UPLOADED,
                unit={Kind.PDF: "page", Kind.IMAGE: "image"}.get(sniffed.kind),
                units=inspected.get("units", 1 if sniffed.kind == Kind.IMAGE else None),
                width=inspected.get("width"),
                height=inspected.get("height"),
                created_at=now,
                updated_at=now,
            )
            if twin is not None and twin.state == AttachmentState.READY:
                # The same bytes were extracted already: what they gave is beside the blob.
                for field in ("kind", "state", "unit", "units", "tokens", "width", "height"):
                    setattr(row, field, getattr(twin, field))
            async with self._db.transaction() as db:
                db.add(row)
        return Uploaded(row, created=True)

    async def _check_quota(self, db: Any, owner: User, size: int) -> None:
        distinct = (
            select(Attachment.sha256, Attachment.size)
            .where(Attachment.owner_id == owner.id)
            .distinct()
            .subquery()
        )
        stored = await db.scalar(select(func.coalesce(func.sum(distinct.c.size), 0)))
        if stored + size > self.limits.user_bytes:
            raise PayloadTooLarge(
                f"storing {size} more bytes would take this user's attachments past "
                f"{self.limits.user_bytes} bytes ({stored} stored)"
            )

    # -- reading and changing ----------------------------------------------------------------

    async def get(self, owner: User, attachment_id: str) -> Attachment:
        """An attachment of the owner (NotFound for anyone else's)."""
        async with self._db.transaction() as db:
            row = await db.scalar(
                select(Attachment).where(
                    Attachment.id == attachment_id, Attachment.owner_id == owner.id
                )
            )
        if row is None:
            raise NotFound(f"no attachment {attachment_id!r}")
        return row

    async def list(
        self,
        owner: User,
        project_id: str | None,
        session_id: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Attachment]:
        """A project's attachments (its own and its sessions'), or one session's, oldest
        first."""
        project_id, session_id = await self.target(owner, project_id, session_id)
        query = select(Attachment).where(Attachment.project_id == project_id)
        if session_id is not None:
            query = query.where(Attachment.session_id == session_id)
        if cursor:
            after, last_id = decode_time_cursor(cursor)
            query = query.where(tuple_(Attachment.created_at, Attachment.id) > (after, last_id))
        query = query.order_by(Attachment.created_at, Attachment.id).limit(limit + 1)
        async with self._db.transaction() as db:
            rows = list(await db.scalars(query))
        if len(rows) > limit:
            rows = rows[:limit]
            return Page(rows, encode_cursor(rows[-1].created_at.isoformat(), rows[-1].id))
        return Page(rows, None)

    async def of_project(self, project_id: str) -> list[Attachment]:
        """Every attachment of a project (its caller checked the owner), oldest first."""
        async with self._db.transaction() as db:
            rows = await db.scalars(
                select(Attachment)
                .where(Attachment.project_id == project_id)
                .order_by(Attachment.created_at, Attachment.id)
            )
            return list(rows)

    async def cancel(self, owner: User, attachment_id: str) -> Attachment:
        """Stop an extraction; the attachment ends `failed` with error_code `cancelled`."""
        row = await self.get(owner, attachment_id)
        if row.state not in PENDING_ATTACHMENT:
            raise Conflict(f"the attachment is {row.state}: there is no extraction to cancel")
        if not await self.extractions.stop(row):
            # Restarted at start-up but not begun, or another process's: nothing runs here.
            await self.extractions.set(row, AttachmentState.FAILED, **CANCELLED)
        return await self.get(owner, attachment_id)

    async def rename(self, owner: User, attachment_id: str, name: str) -> Attachment:
        """Give an attachment another display name (its kind, judged at upload, stays)."""
        name = attachment_name(name)
        await self.get(owner, attachment_id)
        async with self._db.transaction() as db:
            await db.execute(
                update(Attachment)
                .where(Attachment.id == attachment_id, Attachment.owner_id == owner.id)
                .values(name=name)
            )
        return await self.get(owner, attachment_id)

    async def delete(self, owner: User, attachment_id: str) -> Attachment:
        """Remove an attachment (cancelling its extraction); its bytes go when no other
        attachment of the owner holds them."""
        row = await self.get(owner, attachment_id)
        try:
            await self.extractions.stop(row, silently=True)
            async with self._owner_lock(owner.id):
                async with self._db.transaction() as db:
                    await db.execute(delete(Attachment).where(Attachment.id == row.id))
                    others = await db.scalar(
                        select(func.count())
                        .select_from(Attachment)
                        .where(Attachment.owner_id == owner.id, Attachment.sha256 == row.sha256)
                    )
                if not others:
                    await asyncio.to_thread(self.store.remove, owner.id, row.sha256)
        finally:
            self.extractions.forget(row)
        self.extractions.announce(row, state="deleted")
        return row

    # -- start-up and shutdown ---------------------------------------------------------------

    async def recover(self) -> int:
        """At start-up: drop cut-off uploads and blobs no attachment holds, and extract again
        what a stop interrupted. Returns how many extractions were restarted."""
        await asyncio.to_thread(self.store.clean_tmp)
        async with self._db.transaction() as db:
            held = set((await db.execute(select(Attachment.owner_id, Attachment.sha256))).all())
            pending = list(
                await db.scalars(
                    select(Attachment).where(Attachment.state.in_(list(PENDING_ATTACHMENT)))
                )
            )
        for owner_id, sha256 in await asyncio.to_thread(lambda: list(self.store.blobs())):
            if (owner_id, sha256) not in held:
                await asyncio.to_thread(self.store.remove, owner_id, sha256)
        for row in pending:
            self.extractions.start(row)
        return len(pending)

    async def close(self) -> None:
        """Stop every extraction; they are restarted at the next start-up."""
        await self.extractions.close()
