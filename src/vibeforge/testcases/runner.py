"""Executing suite runs: each test run in the sandbox, then its checks, then its judge.

A suite run is one task and one trace (`test_suite` → `test.NAME` → `program` with an
`llm.program` span per relayed call, `checks`, `judge` → `llm.judge`); each test run is a task
of its own (so deleting a test cancels just its runs), at most `concurrency` at a time across
the server. A run's row, its LLM calls and its outcome are stored in one transaction however it
ends, then `test_completed` is published to the project's subscribers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from vibeforge.db.agent_tables import Proposal
from vibeforge.db.chat_tables import LLMCall
from vibeforge.db.engine import Database
from vibeforge.db.tables import User
from vibeforge.db.test_tables import TestRun, TestSuiteRun
from vibeforge.db.types import utcnow
from vibeforge.errors import Unavailable, VibeforgeError
from vibeforge.llm import ChatModel
from vibeforge.llm.usage import Prices
from vibeforge.relay import CallRecorder, CallScope, Relay
from vibeforge.relay.unix import UnixRelayServer
from vibeforge.runs.coordination import WorkLease
from vibeforge.runs.protocol import ServerEvent, TestCompleted
from vibeforge.statuses import TestStatus
from vibeforge.testcases.checks import Observed, evaluate_all
from vibeforge.testcases.environments import Environments, InstallFailed, PythonEnvironment
from vibeforge.testcases.judge import judge
from vibeforge.testcases.program import ProgramModel, ProgramSpec, run_program
from vibeforge.testcases.recovery import end_cut_off
from vibeforge.testcases.replay import ReplayModel
from vibeforge.testcases.summary import summarize
from vibeforge.traces import SpanRecord, Tracer, TraceStore

log = logging.getLogger("vibeforge.testcases")
EVENT_OUTPUT_CHARS = 4000


@dataclass(frozen=True, slots=True)
class JudgeModel:
    """Who judges: a model (live or a replay of the recorded judge) and its label."""

    chat: ChatModel
    label: str
    prices: Prices | None = None
    record: bool = True  # False for a replayed judge: no provider was asked


@dataclass
class RunPlan:
    """One queued test run and everything it needs."""

    row: TestRun
    test_name: str
    checks: list[Any]
    expected_behavior: str | None
    model: ProgramModel
    judge: JudgeModel | None
    replay: ReplayModel | None = None  # the program's calls answered from a recording


@dataclass
class SuitePlan:
    """A suite run about to start."""

    owner: User
    suite: TestSuiteRun
    argv: list[str]
    files: dict[str, bytes]
    timeout_s: float
    memory_mb: int
    runs: list[RunPlan] = field(default_factory=list)


class TestRunner:
    """Owns the tasks of suite and test runs."""

    __test__ = False

    def __init__(
        self,
        db: Database,
        traces: TraceStore,
        relay: Relay,
        server: UnixRelayServer,
        environments: Environments,
        publish_project: Callable[[str, ServerEvent], object],
        concurrency: int = 4,
    ) -> None:
        self.db, self.traces, self.relay, self.server = db, traces, relay, server
        self.environments = environments
        self.publish_project = publish_project
        self._slots = asyncio.Semaphore(concurrency)
        self.suites: dict[str, asyncio.Task[None]] = {}
        self.runs: dict[str, asyncio.Task[None]] = {}
        self.runs_of_test: dict[str, set[str]] = {}
        self.leases: WorkLease | None = None  # scaled out: the cluster's suite leases

    def start(self, plan: SuitePlan) -> asyncio.Task[None]:
        """Start a suite run whose rows are stored (queued)."""
        task = asyncio.create_task(self._suite(plan), name=f"test-suite-{plan.suite.id}")
        self.suites[plan.suite.id] = task
        task.add_done_callback(lambda _: self.suites.pop(plan.suite.id, None))
        return task

    async def cancel_runs(self, run_ids: list[str]) -> None:
        """Cancel these runs if they are in flight, and wait until they are stored."""
        tasks = [self.runs[run_id] for run_id in run_ids if run_id in self.runs]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        """Cancel every suite run (their runs are stored as cancelled)."""
        tasks = list(self.suites.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.server.close()

    async def _suite(self, plan: SuitePlan) -> None:
        if self.leases is None:
            await self._run_suite(plan)
            return
        try:
            await self.leases.hold(plan.suite.id)
        except Unavailable as error:
            # Unleased, a survivor would close it as dead while it ran: do not start it.
            await end_cut_off(self.db, [plan.suite.id], error.detail)
            return
        try:
            await self._run_suite(plan)
        finally:
            self.leases.release(plan.suite.id)

    async def _run_suite(self, plan: SuitePlan) -> None:
        suite = plan.suite
        tracer = Tracer(suite.trace_id, plan.owner.id, suite.id)
        status = TestStatus.CANCELLED
        try:
            with tracer.span(
                "test_suite",
                "suite",
                suite_id=suite.id,
                suite_kind=suite.kind,
                version=suite.version_id,
            ) as root:
                environment: PythonEnvironment | InstallFailed
                try:
                    environment = await self.environments.for_files(plan.files)
                except InstallFailed as failure:
                    environment = failure
                tasks = []
                for run in plan.runs:
                    task = asyncio.create_task(self._one(plan, run, tracer, environment))
                    self.runs[run.row.id] = task
                    self.runs_of_test.setdefault(run.row.test_id, set()).add(run.row.id)
                    task.add_done_callback(lambda _, run=run: self._forget(run.row))
                    tasks.append(task)
                for failure in await asyncio.gather(*tasks, return_exceptions=True):
                    if isinstance(failure, Exception):
                        log.error("a test run of suite %s failed", suite.id, exc_info=failure)
                status = TestStatus.FINISHED
                root.attributes["runs"] = len(tasks)
        finally:
            with contextlib.suppress(Exception):
                await self._finish_suite(plan, status)
            with contextlib.suppress(Exception):
                await self.traces.save(tracer)

    def _forget(self, row: TestRun) -> None:
        self.runs.pop(row.id, None)
        self.runs_of_test.get(row.test_id, set()).discard(row.id)

    async def _finish_suite(self, plan: SuitePlan, status: str) -> None:
        async with self.db.transaction() as db:
            rows = list(await db.scalars(select(TestRun).where(TestRun.suite_id == plan.suite.id)))
            suite = await db.get(TestSuiteRun, plan.suite.id)
            if suite is None:
                return
            names = {run.row.test_id: run.test_name for run in plan.runs}
            suite.summary = summarize(rows, names).model_dump()
            suite.status = status
            suite.finished_at = utcnow()

    async def _one(
        self,
        plan: SuitePlan,
        run: RunPlan,
        tracer: Tracer,
        environment: PythonEnvironment | InstallFailed,
    ) -> None:
        async with self._slots:
            with tracer.span(
                f"test.{run.test_name}", "test", test_id=run.row.test_id, run_id=run.row.id
            ) as span:
                outcome = await self._execute(plan, run, tracer, environment)
                span.attributes.update(status=outcome.status, model=run.model.label)
                if outcome.status == TestStatus.ERROR:
                    span.status = "error"
                    span.attributes["error"] = outcome.reason

    async def _execute(
        self,
        plan: SuitePlan,
        run: RunPlan,
        tracer: Tracer,
        environment: PythonEnvironment | InstallFailed,
    ) -> Outcome:
        outcome = Outcome()
        try:
            await self._decide(plan, run, tracer, environment, outcome)
        except asyncio.CancelledError:
            outcome.set(TestStatus.CANCELLED, "cancelled")
            await asyncio.shield(self._store(plan, run, outcome))
            raise
        except VibeforgeError as failure:
            what = "could not judge" if outcome.judging else "could not run"
            outcome.set(TestStatus.ERROR, f"{what}: {failure.detail}")
        except Exception as failure:
            log.exception("test run %s failed", run.row.id)
            outcome.set(TestStatus.ERROR, f"internal error: {type(failure).__name__}")
        await asyncio.shield(self._store(plan, run, outcome))
        return outcome

    async def _decide(
        self,
        plan: SuitePlan,
        run: RunPlan,
        tracer: Tracer,
        environment: PythonEnvironment | InstallFailed,
        outcome: Outcome,
    ) -> None:
        """Run the program, then the checks, then the judge; the outcome says how it went."""
        await self._mark_running(run.row)
        if isinstance(environment, InstallFailed):
            raise environment
        await self._run_program(plan, run, tracer, environment, outcome)
        if run.replay is not None and run.replay.divergence is not None:
            outcome.set(TestStatus.ERROR, f"the replay diverged: {run.replay.divergence}")
            return
        seen = outcome.observed()
        with tracer.span("checks", "checks") as span:
            outcome.checks = await asyncio.to_thread(evaluate_all, run.checks, seen)
            span.attributes["failed"] = [c["type"] for c in outcome.checks if not c["passed"]]
        undecided = [c for c in outcome.checks if c["passed"] is None]
        failed = [c for c in outcome.checks if c["passed"] is False]
        if undecided:
            outcome.set(TestStatus.ERROR, f"could not check: {undecided[0]['detail']}")
        elif failed:
            outcome.set(TestStatus.FAILED, _failure_reason(failed[0]))
        elif run.expected_behavior and run.judge is not None:
            outcome.judging = True
            await self._judge(run, outcome, tracer)
        else:
            outcome.set(TestStatus.PASSED, "every check passed")

    async def _run_program(
        self,
        plan: SuitePlan,
        run: RunPlan,
        tracer: Tracer,
        environment: PythonEnvironment,
        outcome: Outcome,
    ) -> None:
        row = run.row
        outcome.environment = environment.name
        scope = CallScope(
            owner_id=plan.owner.id,
            role="program",
            model_label=run.model.label,
            project_id=row.project_id,
            run_id=row.id,
            prices=run.model.prices,
        )
        model = run.model
        with tracer.span("program", "sandbox", command=" ".join(plan.argv)[:500]) as span:
            spec = ProgramSpec(plan.argv, plan.files, row.input, plan.timeout_s, plan.memory_mb)

            def on_call(call: LLMCall) -> None:
                tracer.spans.append(_call_span(call, span))

            result, session = await run_program(
                spec, environment, self.relay, self.server, model, scope, on_call
            )
            outcome.result = result
            outcome.recorders.append((session.recorder, run.replay is None))
            span.attributes.update(
                exit_code=result.exit_code,
                killed_reason=result.killed_reason,
                isolation=result.isolation,
                llm_calls=session.calls,
                refused_calls=session.refused,
            )

    async def _judge(self, run: RunPlan, outcome: Outcome, tracer: Tracer) -> None:
        chosen = run.judge
        assert chosen is not None and run.expected_behavior is not None
        scope = CallScope(
            owner_id=run.row.owner_id,
            role="judge",
            model_label=chosen.label,
            project_id=run.row.project_id,
            run_id=run.row.id,
            prices=chosen.prices,
        )
        with tracer.span("judge", "judge", model=chosen.label) as span:
            recorder = CallRecorder(
                scope, on_row=lambda call: tracer.spans.append(_call_span(call, span))
            )
            outcome.recorders.append((recorder, chosen.record))
            seen = outcome.observed()
            verdict = await judge(
                chosen.chat,
                recorder,
                prompt=run.row.input,
                expected=run.expected_behavior,
                stdout=seen.stdout,
                exit_code=seen.exit_code,
            )
            span.attributes.update(passed=verdict.passed, attempts=verdict.attempts)
        outcome.verdict = verdict.as_json()
        if isinstance(chosen.chat, ReplayModel) and chosen.chat.divergence:
            outcome.set(TestStatus.ERROR, f"the judge's replay diverged: {chosen.chat.divergence}")
        elif verdict.passed is None:
            outcome.set(TestStatus.ERROR, f"could not judge: {verdict.reason}")
        else:
            status = TestStatus.PASSED if verdict.passed else TestStatus.FAILED
            outcome.set(status, verdict.reason)

    async def _mark_running(self, row: TestRun) -> None:
        row.started_at = utcnow()
        async with self.db.transaction() as db:
            stored = await db.get(TestRun, row.id)
            if stored is not None:
                stored.status = TestStatus.RUNNING
                stored.started_at = row.started_at

    async def _store(self, plan: SuitePlan, run: RunPlan, outcome: Outcome) -> None:
        calls = [call for recorder, keep in outcome.recorders if keep for call in recorder.rows]
        counted = [call for recorder, _ in outcome.recorders for call in recorder.rows]
        async with self.db.transaction() as db:
            row = await db.get(TestRun, run.row.id)
            if row is None:
                return
            outcome.apply(row)
            row.llm_calls = len(counted)
            costs = [call.cost_usd for call in calls if call.cost_usd is not None]
            row.cost_usd = round(sum(costs), 10) if costs else (0.0 if counted else None)
            if row.status == TestStatus.FAILED and row.replay_of is None:
                row.regression = await _regression(db, row)
            db.add_all(calls)
        self.publish_project(
            row.project_id,
            TestCompleted(
                test_id=row.test_id,
                run_id=row.id,
                status=row.status,
                output=row.stdout[:EVENT_OUTPUT_CHARS],
                trace_id=row.trace_id,
                suite_id=row.suite_id,
                version_id=row.version_id,
                model=row.model,
                reason=row.reason,
            ),
        )


@dataclass
class Outcome:
    """What a test run found, gathered as it goes."""

    status: str = TestStatus.ERROR
    reason: str | None = None
    result: Any = None  # the SandboxResult
    environment: str | None = None
    checks: list[dict[str, Any]] = field(default_factory=list)
    verdict: dict[str, Any] | None = None
    recorders: list[tuple[CallRecorder, bool]] = field(default_factory=list)  # (calls, store)
    judging: bool = False  # an error from here on is the judge's

    def set(self, status: str, reason: str | None) -> None:
        """Decide the run."""
        self.status, self.reason = status, reason

    def observed(self) -> Observed:
        """What the program did, as the checks see it."""
        result = self.result
        return Observed(
            stdout=result.stdout.decode("utf-8", "replace"),
            stderr=result.stderr.decode("utf-8", "replace"),
            exit_code=result.exit_code,
            duration_ms=result.duration_s * 1000,
            killed_reason=result.killed_reason,
        )

    def apply(self, row: TestRun) -> None:
        """Write the outcome onto the run's row."""
        row.status, row.reason = self.status, self.reason
        row.environment = self.environment
        row.checks, row.verdict = self.checks, self.verdict
        row.finished_at = utcnow()
        if self.result is not None:
            seen = self.observed()
            row.stdout, row.stderr = seen.stdout, seen.stderr
            row.exit_code = seen.exit_code
            row.duration_ms = round(seen.duration_ms, 2)
            row.killed_reason, row.truncated = seen.killed_reason, self.result.truncated
            row.isolation = self.result.isolation


def _failure_reason(check: dict[str, Any]) -> str:
    detail = f" ({check['detail']})" if check.get("detail") else ""
    return f"{check['type']} failed: expected {check['expected']!r}, saw {check['saw']!r}{detail}"


def _call_span(call: LLMCall, parent: SpanRecord) -> SpanRecord:
    """A finished relayed or judge call as a span under `parent`."""
    started = call.created_at - timedelta(milliseconds=call.latency_ms)
    return SpanRecord(
        id=secrets.token_hex(8),
        parent_id=parent.id,
        name=f"llm.{call.role}",
        kind="llm",
        started_at=started,
        duration_ms=call.latency_ms,
        attributes={
            "llm_call_id": call.id,
            "model": call.model,
            "iteration": call.iteration,
            "attempt": call.attempt,
            "prompt_tokens": call.prompt_tokens,
            "completion_tokens": call.completion_tokens,
            "cost_usd": call.cost_usd,
        },
        status="ok" if call.status == "success" else call.status,
    )


async def _regression(db: Any, row: TestRun) -> dict[str, Any] | None:
    """When the test's previous decided run with this model passed: what broke it."""
    previous = await db.scalar(
        select(TestRun)
        .where(
            TestRun.test_id == row.test_id,
            TestRun.model == row.model,
            TestRun.suite_id != row.suite_id,
            TestRun.created_at <= row.created_at,
            TestRun.status.in_([TestStatus.PASSED, TestStatus.FAILED]),
            TestRun.replay_of.is_(None),
        )
        .order_by(TestRun.created_at.desc())
        .limit(1)
    )
    if previous is None or previous.status != TestStatus.PASSED:
        return None
    if previous.version_id == row.version_id:
        # It passed and failed at one version: the program is flaky, no change broke it.
        return {"last_passed_run_id": previous.id, "last_passed_version_id": row.version_id}
    proposal = await db.scalar(
        select(Proposal).where(
            Proposal.project_id == row.project_id, Proposal.version_id == row.version_id
        )
    )
    return {
        "last_passed_run_id": previous.id,
        "last_passed_version_id": previous.version_id,
        "version_id": row.version_id,
        "proposal_id": proposal.id if proposal else None,
        "message_id": proposal.message_id if proposal else None,
    }
