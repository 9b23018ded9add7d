"""Ending test runs that no process will finish: those a stop cut off (at start-up), and those
of a server that died while others run on (a survivor's sweep, when scaled out)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from vibeforge.db.engine import Database
from vibeforge.db.test_tables import TestRun, TestSuiteRun
from vibeforge.db.types import utcnow
from vibeforge.statuses import TestStatus

STOPPED = "the server stopped before this run finished"
OWNER_DIED = "the server running this test stopped before it finished"


async def end_cut_off(
    db: Database, suite_ids: Sequence[str] | None = None, reason: str = STOPPED
) -> int:
    """Queued and running test runs (of these suites, or all) become `error` for `reason`;
    their running suites `finished`. Returns how many runs were ended."""
    runs = select(TestRun).where(TestRun.status.in_([TestStatus.QUEUED, TestStatus.RUNNING]))
    suites = select(TestSuiteRun).where(TestSuiteRun.status == TestStatus.RUNNING)
    if suite_ids is not None:
        runs = runs.where(TestRun.suite_id.in_(list(suite_ids)))
        suites = suites.where(TestSuiteRun.id.in_(list(suite_ids)))
    async with db.transaction() as session:
        ended = list(await session.scalars(runs))
        now = utcnow()
        for row in ended:
            row.status, row.reason, row.finished_at = TestStatus.ERROR, reason, now
        for suite in await session.scalars(suites):
            suite.status, suite.finished_at = TestStatus.FINISHED, now
    return len(ended)
