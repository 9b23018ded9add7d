"""Snapshots: the state a socket client receives when it subscribes or cannot replay."""

from __future__ import annotations

from typing import Any

from vibeforge.api.chat_schemas import MessageOut
from vibeforge.api.routes.models import model_config_out
from vibeforge.api.routes.sessions import session_out
from vibeforge.db.chat_tables import ChatSession
from vibeforge.db.tables import User
from vibeforge.services import Services

SNAPSHOT_MESSAGES = 200


async def session_snapshot(
    services: Services, user: User, session: ChatSession, reason: str = "subscribe"
) -> dict[str, Any]:
    """A session's messages, its project's files and version, and the user's models."""
    page = await services.sessions.messages(user, session.id, SNAPSHOT_MESSAGES, None)
    head, files = await services.projects.list_files(user, session.project_id)
    models = await services.models.list(user)
    info = session_out(session, services)
    return {
        "reason": reason,
        "session": info.model_dump(mode="json"),
        "last_seq": info.last_seq,
        "messages": [
            MessageOut.model_validate(row, from_attributes=True).model_dump(mode="json")
            for row in page.items
        ],
        "version_id": head,
        "files": [{"path": entry.path, "size": entry.size} for entry in files],
        "models": [model_config_out(row, user).model_dump(mode="json") for row in models],
        "default_model": services.models.default_spec.label,
    }


async def project_snapshot(services: Services, user: User, project_id: str) -> dict[str, Any]:
    """A project's files, version and sessions."""
    head, files = await services.projects.list_files(user, project_id)
    sessions = await services.sessions.list(user, project_id)
    return {
        "project_id": project_id,
        "version_id": head,
        "files": [{"path": entry.path, "size": entry.size} for entry in files],
        "sessions": [session_out(row, services).model_dump(mode="json") for row in sessions],
    }
