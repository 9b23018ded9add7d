"""The state machine of attachments: `uploaded → extracting → ready | failed`, one background
task per extraction, every change stored and then announced as `attachment_state` to the
project's subscribers (and the session's, for a session's attachment)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from vibeforge.attachments.extraction import ExtractionError, Extractor
from vibeforge.attachments.store import AttachmentStore
from vibeforge.db.attachment_tables import Attachment
from vibeforge.db.engine import Database
from vibeforge.db.types import utcnow
from vibeforge.errors import Unavailable
from vibeforge.runs.bus import EventBus
from vibeforge.runs.coordination import WorkLease
from vibeforge.runs.events import Event
from vibeforge.runs.protocol import AttachmentChanged, event_data
from vibeforge.statuses import AttachmentState

log = logging.getLogger("vibeforge.attachments")

IMAGE_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WEBP"}
CANCELLED = {"error": "the extraction was cancelled", "error_code": "cancelled"}
FOUND = ("kind", "unit", "units", "tokens", "width", "height")  # what extraction reports


class Extractions:
    """The extraction tasks of this process."""

    def __init__(
        self, db: Database, store: AttachmentStore, extractor: Extractor, bus: EventBus
    ) -> None:
        self._db = db
        self._store = store
        self._extractor = extractor
        self._bus = bus
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._silenced: set[str] = set()  # being deleted: no more announcements
        self._closing = False
        self.leases: WorkLease | None = None  # scaled out: the cluster's extraction leases

    def announce(self, row: Attachment, state: str | None = None) -> None:
        """Tell the attachment's project (and session) where it stands."""
        changed = AttachmentChanged(
            attachment_id=row.id,
            state=state or row.state,
            name=row.name,
            kind=row.kind,
            size=row.size,
            session_id=row.session_id,
            error=row.error,
            error_code=row.error_code,
            unit=row.unit,
            units=row.units,
            tokens=row.tokens,
        )
        # Not numbered (seq 0): it is no event of a run, and replays do not hold it.
        self._bus.publish(
            Event.make(
                changed.type,
                event_data(changed),
                project_id=row.project_id,
                session_id=row.session_id,
                seq=0,
            )
        )

    def start(self, row: Attachment) -> None:
        """Extract an attachment in the background."""
        task = asyncio.create_task(self._extract(row), name=f"extract-{row.id}")
        self._tasks[row.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(row.id, None))

    async def stop(self, row: Attachment, *, silently: bool = False) -> bool:
        """Cancel an extraction and wait for it; False if none runs here. `silently`: the
        attachment is being deleted, so nothing more is stored or announced for it."""
        task = self._tasks.get(row.id)
        if task is None:
            return False
        if silently:
            self._silenced.add(row.id)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return True

    def forget(self, row: Attachment) -> None:
        """The attachment is gone: stop ignoring its id."""
        self._silenced.discard(row.id)

    async def set(self, row: Attachment, state: AttachmentState, **values: Any) -> None:
        """Store a state change and announce it (nothing for a deleted attachment)."""
        if row.id in self._silenced:
            return
        async with self._db.transaction() as db:
            stored = await db.get(Attachment, row.id)
            if stored is None:
                return
            stored.state = state
            stored.updated_at = utcnow()
            for name, value in values.items():
                setattr(stored, name, value)
        row.state = state
        for name, value in values.items():
            setattr(row, name, value)
        self.announce(row)

    async def _extract(self, row: Attachment) -> None:
        if self.leases is None:
            await self._extract_here(row)
            return
        try:
            await self.leases.hold(row.id)
        except Unavailable:
            # Unleased, a survivor would extract it again meanwhile; it stays pending, and
            # a process takes it over once the bus is back (or the next start-up does).
            log.warning("extraction of attachment %s postponed: the event bus is down", row.id)
            return
        try:
            await self._extract_here(row)
        finally:
            self.leases.release(row.id)

    async def _extract_here(self, row: Attachment) -> None:
        await self.set(row, AttachmentState.EXTRACTING, error=None, error_code=None)
        job = {
            "op": "extract",
            "path": str(self._store.content_path(row.owner_id, row.sha256)),
            "kind": row.kind,
            "image_format": IMAGE_FORMATS.get(row.media_type),
            "out": str(self._store.blob_dir(row.owner_id, row.sha256)),
        }
        try:
            answer = await self._extractor.run(job)
        except ExtractionError as error:
            await self.set(row, AttachmentState.FAILED, error=error.detail, error_code=error.code)
            return
        except asyncio.CancelledError:
            if not self._closing:  # at shutdown it stays `extracting`, restarted at start-up
                await asyncio.shield(self.set(row, AttachmentState.FAILED, **CANCELLED))
            raise
        except Exception:
            log.exception("extraction of attachment %s failed", row.id)
            failure = {"error": "the extraction failed", "error_code": "extraction_failed"}
            await self.set(row, AttachmentState.FAILED, **failure)
            return
        await self.set(row, AttachmentState.READY, **{name: answer.get(name) for name in FOUND})

    async def close(self) -> None:
        """Stop every extraction (they are restarted at the next start-up)."""
        self._closing = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
