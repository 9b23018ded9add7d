"""The services of one running server, built once at start-up and shared by every route."""

from __future__ import annotations

from dataclasses import dataclass

from vibeforge.config import Settings
from vibeforge.crypto import SecretBox
from vibeforge.db.engine import Database
from vibeforge.projects.service import ProjectService
from vibeforge.users.service import UserService


@dataclass
class Services:
    """Everything a request handler may need; nothing here is a module-level global."""

    settings: Settings
    db: Database
    users: UserService
    projects: ProjectService
    secrets: SecretBox

    @classmethod
    def build(cls, settings: Settings, secret_key: str) -> Services:
        """Wire the services for `settings`; no I/O happens here."""
        db = Database(settings.resolved_database_url)
        return cls(
            settings=settings,
            db=db,
            users=UserService(db),
            projects=ProjectService(db, settings.projects_dir, settings.max_file_bytes),
            secrets=SecretBox(secret_key),
        )

    async def close(self) -> None:
        """Release connections."""
        await self.db.dispose()
