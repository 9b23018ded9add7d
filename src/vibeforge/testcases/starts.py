"""Starting test runs: one test `repeat` times, a suite per model, replays, and the suite
that `run_tests_on_apply` starts. Each stores a suite run with its queued test runs, then hands
the plan to the `TestRunner`. The half of `TestService` that plans; the other half
(`testcases.service`) owns the rows it reads here.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import func, select

from vibeforge.db.chat_tables import LLMCall
from vibeforge.db.engine import Database
from vibeforge.db.tables import User
from vibeforge.db.test_tables import ProjectTestSettings, TestCase, TestRun, TestSuiteRun
from vibeforge.db.types import new_id, utcnow
from vibeforge.modelconfigs.service import ModelConfigService, ResolvedModel
from vibeforge.projects.service import ProjectService
from vibeforge.relay import RelayCaps
from vibeforge.statuses import TEST_ENDED, TestStatus
from vibeforge.testcases import outputs
from vibeforge.testcases.checks import Check
from vibeforge.testcases.program import ProgramModel, command
from vibeforge.testcases.replay import ReplayModel
from vibeforge.testcases.runner import JudgeModel, RunPlan, SuitePlan, TestRunner
from vibeforge.testcases.views import DEFAULT_RUN_COMMAND, SuiteOut

log = logging.getLogger("vibeforge.testcases")
CHECKS = TypeAdapter(list[Check])


def stored_checks(raw: list[dict[str, Any]]) -> list[Any]:
    """Stored checks as check objects."""
    return list(CHECKS.validate_python(raw))


def _model_program(resolved: ResolvedModel, caps: RelayCaps) -> ProgramModel:
    spec = resolved.spec
    return ProgramModel(resolved.chat, spec.model, resolved.label, spec.prices, caps)


class RunStarts(ABC):
    """Starting runs; `TestService` provides the lookups declared abstract here."""

    _db: Database
    _projects: ProjectService
    _models: ModelConfigService
    runner: TestRunner

    @abstractmethod
    async def _test(self, owner: User, test_id: str, *, deleted: bool = False) -> TestCase:
        """The caller's test (a deleted one too with `deleted`), else NotFound."""

    @abstractmethod
    async def _run(self, owner: User, run_id: str) -> TestRun:
        """The caller's test run, else NotFound."""

    @abstractmethod
    async def _settings_row(self, project_id: str) -> ProjectTestSettings | None:
        """The project's test settings row, if it has one."""

    @abstractmethod
    async def suite(self, owner: User, project_id: str, suite_id: str) -> SuiteOut:
        """The caller's suite run with its test runs, else NotFound."""

    async def run_test(
        self,
        owner: User,
        test_id: str,
        *,
        version_id: str | None,
        model: str | None,
        judge_model: str | None,
        repeat: int,
    ) -> TestSuiteRun:
        """Run one test `repeat` times."""
        test = await self._test(owner, test_id)
        plan = await self._plan(owner, test.project_id, "test", version_id, [model], judge_model)
        for resolved, index in ((r, i) for r in plan.models for i in range(repeat)):
            await self._add_run(owner, plan, test, resolved, index)
        return await self._start(plan)

    async def run_suite(
        self,
        owner: User,
        project_id: str,
        *,
        version_id: str | None,
        tags: Sequence[str] | None,
        only_failed: bool,
        models: Sequence[str] | None,
        judge_model: str | None,
        proposal_id: str | None = None,
        message_id: str | None = None,
    ) -> TestSuiteRun:
        """Run the project's tests (those with any of `tags`), once per model."""
        refs: list[str | None] = list(models) if models else [None]
        plan = await self._plan(owner, project_id, "suite", version_id, refs, judge_model)
        plan.suite.tags = list(tags) if tags else None
        plan.suite.only_failed = only_failed
        plan.suite.proposal_id, plan.suite.message_id = proposal_id, message_id
        tests = await self._selected(project_id, tags, only_failed)
        for test in tests:
            for resolved in plan.models:
                await self._add_run(owner, plan, test, resolved, 0)
        return await self._start(plan)

    async def replay(self, owner: User, run_id: str, judge: str) -> TestSuiteRun:
        """Re-run a recorded run at its version, its LLM calls answered from the recording."""
        source = await self._run(owner, run_id)
        origin = await self._run(owner, source.replay_of) if source.replay_of else source
        plan = await self._plan(owner, origin.project_id, "replay", origin.version_id, [], None)
        await self._add_replays(owner, plan, [origin], judge)
        return await self._start(plan)

    async def replay_suite(
        self, owner: User, project_id: str, suite_id: str, judge: str
    ) -> TestSuiteRun:
        """Replay every run of a suite run, as one new suite run."""
        found = await self.suite(owner, project_id, suite_id)
        origins = []
        for run in found.runs:
            source = await self._run(owner, run.id)
            origins.append(await self._run(owner, source.replay_of) if source.replay_of else source)
        plan = await self._plan(owner, project_id, "replay", found.version_id, [], None)
        await self._add_replays(owner, plan, origins, judge)
        return await self._start(plan)

    async def _add_replays(
        self, owner: User, plan: _Planning, origins: Sequence[TestRun], judge: str
    ) -> None:
        """A replay run for each recorded run: its input, the test's current checks and judge."""
        async with self._db.transaction() as db:
            calls = list(
                await db.scalars(
                    select(LLMCall)
                    .where(
                        LLMCall.run_id.in_([origin.id for origin in origins]),
                        LLMCall.status == "success",
                    )
                    .order_by(LLMCall.role, LLMCall.iteration, LLMCall.attempt)
                )
            )
        caps = dataclasses.replace(plan.caps, clamp=False)
        for origin in origins:
            test = await self._test(owner, origin.test_id, deleted=True)
            mine = [c for c in calls if c.run_id == origin.id and c.exchange]
            what = f"recorded run {origin.id}"
            program = [c.exchange for c in mine if c.role == "program"]
            replayed = ProgramModel(ReplayModel(program, what), "replay", "replay", None, caps)
            judge_model = None
            if test.expected_behavior and judge == "live":
                judge_model = await self._judge_model(owner, test, plan.judge_ref, None)
            elif test.expected_behavior:
                judged = ReplayModel([c.exchange for c in mine if c.role == "judge"], what)
                judge_model = JudgeModel(judged, "replay", None, record=False)
            row = self._run_row(owner, plan, test, replayed, origin.repeat_index)
            row.replay_of, row.input = origin.id, origin.input
            row.judge_model = judge_model.label if judge_model else None
            checks = stored_checks(test.checks)
            expected = test.expected_behavior
            plan.runs.append(
                RunPlan(row, test.name, checks, expected, replayed, judge_model, replayed.chat)  # type: ignore[arg-type]
            )

    async def after_apply(
        self,
        owner: User,
        project_id: str,
        version_id: str,
        proposal_id: str,
        message_id: str | None,
    ) -> None:
        """Run the project's tests on a version an applied proposal made, if it asks for it."""
        settings = await self._settings_row(project_id)
        if settings is None or not settings.run_tests_on_apply:
            return
        try:
            await self.run_suite(
                owner,
                project_id,
                version_id=version_id,
                tags=settings.apply_tags,
                only_failed=False,
                models=None,
                judge_model=None,
                proposal_id=proposal_id,
                message_id=message_id,
            )
        except Exception:
            log.exception("could not start the tests of version %s", version_id)

    async def _plan(
        self,
        owner: User,
        project_id: str,
        kind: str,
        version_id: str | None,
        refs: Sequence[str | None],
        judge_ref: str | None,
    ) -> _Planning:
        project = await self._projects.owned(owner, project_id)
        settings = await self._settings_row(project_id) or outputs.default_settings(project_id)
        version, files = await self._projects.read_tree(owner, project_id, version_id)
        models = [await self._models.resolve(owner, ref) for ref in refs]
        suite = TestSuiteRun(
            id=new_id(),
            project_id=project_id,
            owner_id=owner.id,
            kind=kind,
            status=TestStatus.RUNNING,
            version_id=version,
            models=[m.label for m in models] or ["replay"],
            only_failed=False,
            trace_id=secrets.token_hex(16),
            summary={},
            created_at=utcnow(),
        )
        caps = RelayCaps(settings.llm_max_calls, settings.llm_max_tokens)
        run_command = settings.run_command or DEFAULT_RUN_COMMAND
        plan = SuitePlan(
            owner,
            suite,
            command(run_command, project.main_file),
            files,
            settings.timeout_s,
            settings.memory_mb,
        )
        return _Planning(plan, models, caps, judge_ref or settings.judge_model)

    async def _judge_model(
        self, owner: User, test: TestCase, judge_ref: str | None, fallback: ResolvedModel | None
    ) -> JudgeModel:
        ref = test.judge_model or judge_ref
        resolved = await self._models.resolve(owner, ref) if ref or not fallback else fallback
        return JudgeModel(resolved.chat, resolved.label, resolved.spec.prices)

    def _run_row(
        self, owner: User, plan: _Planning, test: TestCase, model: ProgramModel, index: int
    ) -> TestRun:
        suite = plan.suite
        return TestRun(
            id=new_id(),
            test_id=test.id,
            suite_id=suite.id,
            project_id=suite.project_id,
            owner_id=owner.id,
            version_id=suite.version_id,
            model=model.label,
            repeat_index=index,
            status=TestStatus.QUEUED,
            input=test.input_prompt,
            stdout="",
            stderr="",
            truncated=False,
            checks=[],
            llm_calls=0,
            trace_id=suite.trace_id,
            # Apart by a microsecond each, so a suite's runs list in the order planned.
            created_at=suite.created_at + timedelta(microseconds=len(plan.runs)),
        )

    async def _add_run(
        self, owner: User, plan: _Planning, test: TestCase, resolved: ResolvedModel, index: int
    ) -> None:
        program = _model_program(resolved, plan.caps)
        judge_model = None
        if test.expected_behavior:
            judge_model = await self._judge_model(owner, test, plan.judge_ref, resolved)
        row = self._run_row(owner, plan, test, program, index)
        row.model_config_id = resolved.config_id
        row.judge_model = judge_model.label if judge_model else None
        checks = stored_checks(test.checks)
        plan.runs.append(
            RunPlan(row, test.name, checks, test.expected_behavior, program, judge_model)
        )

    async def _start(self, planning: _Planning) -> TestSuiteRun:
        plan = planning.plan
        if not plan.runs:
            plan.suite.status = TestStatus.FINISHED
            plan.suite.finished_at = utcnow()
        async with self._db.transaction() as db:
            db.add(plan.suite)
            db.add_all([run.row for run in plan.runs])
        if plan.runs:
            self.runner.start(plan)
        return plan.suite

    async def _selected(
        self, project_id: str, tags: Sequence[str] | None, only_failed: bool
    ) -> list[TestCase]:
        async with self._db.transaction() as db:
            tests = list(
                await db.scalars(
                    select(TestCase)
                    .where(TestCase.project_id == project_id, TestCase.deleted_at.is_(None))
                    .order_by(TestCase.created_at, TestCase.id)
                )
            )
            if tags:
                tests = [test for test in tests if set(tags) & set(test.tags)]
            if not only_failed:
                return tests
            last = await _last_statuses(db, [test.id for test in tests])
        return [test for test in tests if last.get(test.id) != TestStatus.PASSED]


class _Planning:
    """A suite plan while its runs are added."""

    def __init__(
        self, plan: SuitePlan, models: list[ResolvedModel], caps: RelayCaps, judge: str | None
    ) -> None:
        self.plan, self.models, self.caps, self.judge_ref = plan, models, caps, judge

    @property
    def suite(self) -> TestSuiteRun:
        """The suite run's row."""
        return self.plan.suite

    @property
    def runs(self) -> list[RunPlan]:
        """The planned test runs."""
        return self.plan.runs


async def _last_statuses(db: Any, test_ids: list[str]) -> dict[str, str]:
    """Per test, how its newest suite run (not a replay) went: `passed` only if every run of
    the test in it passed (repeats included)."""
    if not test_ids:
        return {}
    ended = (
        TestRun.test_id.in_(test_ids),
        TestRun.status.in_(list(TEST_ENDED)),
        TestRun.replay_of.is_(None),
    )
    newest = (
        select(TestRun.test_id, func.max(TestRun.created_at).label("at"))
        .where(*ended)
        .group_by(TestRun.test_id)
        .subquery()
    )
    latest = await db.execute(
        select(TestRun.test_id, TestRun.suite_id).join(
            newest, (TestRun.test_id == newest.c.test_id) & (TestRun.created_at == newest.c.at)
        )
    )
    suites = dict(latest.all())
    rows = await db.execute(
        select(TestRun.test_id, TestRun.suite_id, TestRun.status).where(
            *ended, TestRun.suite_id.in_(set(suites.values()))
        )
    )
    found: dict[str, str] = {}
    for test_id, suite_id, status in rows.all():
        if suites.get(test_id) == suite_id and found.get(test_id) in (None, TestStatus.PASSED):
            found[test_id] = status
    return found
