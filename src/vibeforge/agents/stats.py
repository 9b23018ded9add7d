"""Counters of one pipeline run (malformed edits, fix iterations, evaluator rejections)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from vibeforge.db.agent_tables import RunStats


@dataclass
class RunCounters:
    """How hard the run had to work for its edit."""

    malformed_edits: int = 0
    fix_iterations: int = 0
    eval_rejections: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters by name."""
        return asdict(self)

    async def save(self, ctx: Any, status: str, now: datetime) -> None:
        """Store the counters of a finished (or cancelled) run."""
        async with ctx.services.db.session() as db:
            db.add(
                RunStats(
                    run_id=ctx.run_id,
                    owner_id=ctx.owner.id,
                    project_id=ctx.project_id,
                    session_id=ctx.session.id,
                    status=status,
                    created_at=now,
                    **self.as_dict(),
                )
            )
