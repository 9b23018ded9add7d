"""The workspace overview: for a page of a user's projects, their sessions, when anything
last happened in them (a message, a version, an upload) and how many attachments they hold,
in three queries whatever the page size."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select

from vibeforge.db.attachment_tables import Attachment
from vibeforge.db.chat_tables import ChatMessage, ChatSession
from vibeforge.db.engine import Database
from vibeforge.projects.views import ProjectView


@dataclass
class Activity:
    """What a project holds besides its files."""

    sessions: list[ChatSession] = field(default_factory=list)
    last_activity_at: datetime | None = None
    attachments: int = 0


async def activity(db: Database, projects: Sequence[ProjectView]) -> dict[str, Activity]:
    """Each project's sessions, last activity and attachment count (the caller owns them)."""
    found = {project.id: Activity(last_activity_at=project.updated_at) for project in projects}
    if not found:
        return found
    ids = list(found)

    def later(project_id: str, moment: datetime | None) -> None:
        current = found[project_id].last_activity_at
        if moment is not None and (current is None or moment > current):
            found[project_id].last_activity_at = moment

    async with db.transaction() as session:
        rows = await session.scalars(
            select(ChatSession)
            .where(ChatSession.project_id.in_(ids))
            .order_by(ChatSession.created_at, ChatSession.id)
        )
        for row in rows:
            found[row.project_id].sessions.append(row)
        messages = await session.execute(
            select(ChatSession.project_id, func.max(ChatMessage.created_at))
            .join(ChatMessage, ChatMessage.session_id == ChatSession.id)
            .where(ChatSession.project_id.in_(ids))
            .group_by(ChatSession.project_id)
        )
        for project_id, moment in messages.all():
            later(project_id, _aware(moment))
        uploads = await session.execute(
            select(Attachment.project_id, func.count(), func.max(Attachment.updated_at))
            .where(Attachment.project_id.in_(ids))
            .group_by(Attachment.project_id)
        )
        for project_id, count, moment in uploads.all():
            found[project_id].attachments = count
            later(project_id, _aware(moment))
    return found


def _aware(moment: datetime | str | None) -> datetime | None:
    """An aggregate's time: SQLite hands back `max()` of a UTC column as naive text."""
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
