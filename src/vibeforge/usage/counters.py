"""Counters of one pipeline run (malformed edits, fix iterations, evaluator rejections)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from vibeforge.db.agent_tables import RunStats
from vibeforge.db.engine import Database
from vibeforge.db.types import utcnow


@dataclass
class RunCounters:
    """How hard the run had to work for its edit."""

    malformed_edits: int = 0
    fix_iterations: int = 0
    eval_rejections: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters by name."""
        return asdict(self)

    async def save(
        self,
        db: Database,
        *,
        run_id: str,
        owner_id: str,
        project_id: str,
        session_id: str,
        status: str,
    ) -> None:
        """Store the counters of a finished (or cancelled) run."""
        async with db.transaction() as session:
            session.add(
                RunStats(
                    run_id=run_id,
                    owner_id=owner_id,
                    project_id=project_id,
                    session_id=session_id,
                    status=status,
                    created_at=utcnow(),
                    **self.as_dict(),
                )
            )
