"""Rows of the test tables as the API shows them."""

from __future__ import annotations

from collections.abc import Sequence

from vibeforge.db.chat_tables import LLMCall
from vibeforge.db.test_tables import ProjectTestSettings, TestCase, TestRun, TestSuiteRun
from vibeforge.db.types import utcnow
from vibeforge.statuses import TestStatus
from vibeforge.testcases.summary import summarize
from vibeforge.testcases.views import (
    DEFAULT_RUN_COMMAND,
    CallOut,
    CheckResult,
    SuiteOut,
    SuiteSummary,
    TestOut,
    TestRunOut,
    TestSettingsOut,
    VersionTests,
)


def test_out(row: TestCase) -> TestOut:
    """A test case."""
    return TestOut(
        id=row.id,
        project_id=row.project_id,
        name=row.name,
        input_prompt=row.input_prompt,
        expected_behavior=row.expected_behavior,
        checks=list(row.checks or []),
        tags=list(row.tags or []),
        judge_model=row.judge_model,
        created_at=row.created_at,
        updated_at=row.updated_at,
        deleted=row.deleted_at is not None,
    )


def default_settings(project_id: str) -> ProjectTestSettings:
    """A project's test settings before anyone changed them."""
    return ProjectTestSettings(
        project_id=project_id,
        run_command=list(DEFAULT_RUN_COMMAND),
        timeout_s=10.0,
        memory_mb=512,
        judge_model=None,
        run_tests_on_apply=False,
        apply_tags=None,
        llm_max_calls=20,
        llm_max_tokens=200_000,
        updated_at=utcnow(),
    )


def settings_out(project_id: str, row: ProjectTestSettings | None) -> TestSettingsOut:
    """A project's test settings."""
    row = row or default_settings(project_id)
    return TestSettingsOut(
        project_id=project_id,
        run_command=list(row.run_command),
        timeout_s=row.timeout_s,
        memory_mb=row.memory_mb,
        judge_model=row.judge_model,
        run_tests_on_apply=row.run_tests_on_apply,
        apply_tags=row.apply_tags,
        llm_max_calls=row.llm_max_calls,
        llm_max_tokens=row.llm_max_tokens,
    )


def call_out(call: LLMCall) -> CallOut:
    """One LLM call of a test run."""
    return CallOut(
        id=call.id,
        role=call.role,
        model=call.model,
        iteration=call.iteration,
        attempt=call.attempt,
        status=call.status,
        prompt_tokens=call.prompt_tokens,
        completion_tokens=call.completion_tokens,
        cost_usd=call.cost_usd,
        latency_ms=call.latency_ms,
        error=call.error,
    )


def run_out(row: TestRun, calls: Sequence[LLMCall] | None = None) -> TestRunOut:
    """A test run (with its calls, when they were read)."""
    return TestRunOut(
        id=row.id,
        test_id=row.test_id,
        suite_id=row.suite_id,
        project_id=row.project_id,
        version_id=row.version_id,
        model=row.model,
        judge_model=row.judge_model,
        repeat_index=row.repeat_index,
        status=row.status,
        reason=row.reason,
        input=row.input,
        output=row.stdout,
        stderr=row.stderr,
        exit_code=row.exit_code,
        duration_ms=row.duration_ms,
        killed_reason=row.killed_reason,
        truncated=row.truncated,
        isolation=row.isolation,
        environment=row.environment,
        checks=[CheckResult(**check) for check in row.checks or []],
        verdict=row.verdict,
        llm_calls=row.llm_calls,
        cost_usd=row.cost_usd,
        trace_id=row.trace_id,
        replay_of=row.replay_of,
        regression=row.regression,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        calls=[call_out(call) for call in calls] if calls is not None else None,
    )


def suite_out(suite: TestSuiteRun, rows: Sequence[TestRun], names: dict[str, str]) -> SuiteOut:
    """A suite run; its summary is recomputed while it runs."""
    summary = (
        SuiteSummary.model_validate(suite.summary)
        if suite.status == TestStatus.FINISHED and suite.summary
        else summarize(rows, names)
    )
    return SuiteOut(
        id=suite.id,
        project_id=suite.project_id,
        kind=suite.kind,
        status=suite.status,
        version_id=suite.version_id,
        models=list(suite.models),
        tags=suite.tags,
        only_failed=suite.only_failed,
        trace_id=suite.trace_id,
        proposal_id=suite.proposal_id,
        message_id=suite.message_id,
        summary=summary,
        runs=[run_out(row) for row in rows],
        created_at=suite.created_at,
        finished_at=suite.finished_at,
    )


def version_tests(rows: Sequence[TestRun]) -> dict[str, VersionTests]:
    """Per version: the newest ended run of each test (rows oldest first)."""
    latest: dict[str, dict[tuple[str, str], TestRun]] = {}
    for row in rows:
        latest.setdefault(row.version_id, {})[(row.test_id, row.model)] = row
    summaries = {}
    for version, runs in latest.items():
        statuses = [run.status for run in runs.values()]
        newest = max(runs.values(), key=lambda run: run.created_at)
        summaries[version] = VersionTests(
            total=len(statuses),
            passed=statuses.count(TestStatus.PASSED),
            failed=statuses.count(TestStatus.FAILED),
            error=statuses.count(TestStatus.ERROR),
            suite_id=newest.suite_id,
        )
    return summaries
