"""Snapshots: the state a socket client receives when it subscribes or cannot replay.

Both kinds carry the workspace: the project's files with their versions and the unified diff
from each to the newest (the first page of `GET /projects/{id}/history`: bounded by a file
count, ten versions a file and a byte cap; `files_next` is the cursor to go on with), its
attachments with their states, the runs in progress, and the user's models.
"""

from __future__ import annotations

from typing import Any

from vibeforge.api.attachment_schemas import attachment_json
from vibeforge.api.chat_schemas import MessageOut
from vibeforge.api.routes.models import model_config_out
from vibeforge.api.routes.projects import history_out
from vibeforge.api.routes.sessions import session_out
from vibeforge.db.chat_tables import ChatSession
from vibeforge.db.tables import User
from vibeforge.projects.history import project_history
from vibeforge.runs.registry import ActiveRun
from vibeforge.services import Services

SNAPSHOT_MESSAGES = 200
# Files whose histories the snapshot holds (then `files_next`): a client shows the first
# screenful at once and pages on, and a snapshot of a large project stays fast.
SNAPSHOT_FILES = 20


def running(run: ActiveRun | None) -> dict[str, Any] | None:
    """A run in progress as a snapshot shows it."""
    if run is None:
        return None
    ctx = run.ctx
    stage = ctx.stages[-1]["name"] if ctx.stages else None
    return {
        "run_id": run.id,
        "session_id": ctx.session.id,
        "message_id": ctx.assistant_message_id,
        "model": ctx.model.label,
        "stage": stage,
        "content": "".join(ctx.content),
        "started_at": ctx.started_at.isoformat(),
    }


async def workspace(
    services: Services, user: User, project_id: str, session_id: str | None = None
) -> dict[str, Any]:
    """The project's files with their histories, its attachments (a session's snapshot: the
    session's and the project's own) and the user's models."""
    found = await project_history(services.projects, user, project_id, max_files=SNAPSHOT_FILES)
    page = history_out(found)
    rows = await services.attachments.of_project(project_id)
    if session_id is not None:
        rows = [row for row in rows if row.session_id in (None, session_id)]
    models = await services.models.list(user)
    return {
        "version_id": page.version_id,
        "files": [item.model_dump(mode="json") for item in page.items],
        "files_next": page.next,
        "attachments": [attachment_json(row) for row in rows],
        "models": [model_config_out(row, user).model_dump(mode="json") for row in models],
        "model_names": [row.name for row in models],
        "default_model": services.models.default_spec.label,
    }


async def session_snapshot(
    services: Services, user: User, session: ChatSession, reason: str = "subscribe"
) -> dict[str, Any]:
    """A session's messages, its run in progress, and the workspace."""
    page = await services.sessions.messages(user, session.id, SNAPSHOT_MESSAGES, None)
    info = session_out(session, services)
    state = await workspace(services, user, session.project_id, session.id)
    return {
        "reason": reason,
        "session": info.model_dump(mode="json"),
        "last_seq": info.last_seq,
        "messages": [
            MessageOut.model_validate(row, from_attributes=True).model_dump(mode="json")
            for row in page.items
        ],
        "running_run": running(services.runs.active_in_session(session.id)),
        **state,
    }


async def project_snapshot(services: Services, user: User, project_id: str) -> dict[str, Any]:
    """A project's sessions (each with its last `seq`), their runs in progress, and the
    workspace."""
    state = await workspace(services, user, project_id)
    sessions = await services.sessions.list(user, project_id)
    runs = [running(services.runs.active_in_session(row.id)) for row in sessions]
    return {
        "project_id": project_id,
        "sessions": [session_out(row, services).model_dump(mode="json") for row in sessions],
        "running_runs": [run for run in runs if run is not None],
        **state,
    }
