"""A suite run's summary: counts, and each test × model with its pass rate and cost."""

from __future__ import annotations

from collections.abc import Sequence

from vibeforge.db.test_tables import TestRun
from vibeforge.statuses import TestStatus
from vibeforge.testcases.stats import rate_of
from vibeforge.testcases.views import SuiteSummary, TestSummary


def _group_status(statuses: list[str], flaky: bool) -> str:
    """One word for a test's runs: passed, failed, error, flaky, cancelled or running."""
    if flaky:
        return "flaky"
    for status in (TestStatus.QUEUED, TestStatus.RUNNING):
        if status in statuses:
            return TestStatus.RUNNING
    for status in (TestStatus.FAILED, TestStatus.ERROR, TestStatus.CANCELLED):
        if status in statuses:
            return status
    return TestStatus.PASSED


def _sum(values: Sequence[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return round(sum(known), 10) if known else None


def summarize(rows: Sequence[TestRun], names: dict[str, str]) -> SuiteSummary:
    """The summary of a suite's runs (`names`: test id -> name)."""
    groups: dict[tuple[str, str], list[TestRun]] = {}
    for row in sorted(rows, key=lambda r: (r.created_at, r.repeat_index)):
        groups.setdefault((row.test_id, row.model), []).append(row)
    tests = []
    for (test_id, model), runs in groups.items():
        statuses = [run.status for run in runs]
        rate = rate_of(statuses)
        durations = [run.duration_ms for run in runs if run.duration_ms is not None]
        tests.append(
            TestSummary(
                test_id=test_id,
                name=names.get(test_id, test_id),
                model=model,
                status=_group_status(statuses, bool(rate["flaky"])),
                cost_usd=_sum([run.cost_usd for run in runs]),
                duration_ms=round(sum(durations) / len(durations), 2) if durations else None,
                **rate,  # type: ignore[arg-type]
            )
        )
    statuses = [row.status for row in rows]
    return SuiteSummary(
        total=len(rows),
        passed=statuses.count(TestStatus.PASSED),
        failed=statuses.count(TestStatus.FAILED),
        error=statuses.count(TestStatus.ERROR),
        cancelled=statuses.count(TestStatus.CANCELLED),
        flaky=sum(test.flaky for test in tests),
        cost_usd=_sum([row.cost_usd for row in rows]),
        tests=tests,
    )
