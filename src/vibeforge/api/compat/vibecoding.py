"""The vibecoding system's Socket.IO payloads, where they differ from vibeforge's events.

vibeforge's Socket.IO transport already speaks that system's names (`subscribe`,
`vibecode_response` as an alias of `done`, `token_usage`, `test_completed`); its one missing
field is `code_changed`'s `new_code`, the project's main file as it now is, added here (with
its `project_id`, which vibeforge's event leaves null when a project-wide write made it).
"""

from __future__ import annotations

from typing import Any

from vibeforge.db.tables import User
from vibeforge.errors import VibeforgeError
from vibeforge.runs.events import Event
from vibeforge.services import Services


async def reference_fields(services: Services, user: User, event: Event) -> dict[str, Any]:
    """The fields a reference client expects in this event beyond vibeforge's own."""
    if event.type != "code_changed" or not event.project_id:
        return {}
    try:
        project = await services.projects.get(user, event.project_id)
    except VibeforgeError:  # deleted meanwhile: the event says what changed, nothing more
        return {"project_id": event.project_id, "new_code": None}
    return {"project_id": event.project_id, "new_code": project.current_code}
