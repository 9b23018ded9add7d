"""Test cases and their runs, scoped to their owner: storing tests and settings, reading
results, cancelling; starting runs is `testcases.starts`."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, tuple_

from vibeforge.db.chat_tables import LLMCall
from vibeforge.db.engine import Database
from vibeforge.db.tables import User
from vibeforge.db.test_tables import ProjectTestSettings, TestCase, TestRun, TestSuiteRun
from vibeforge.db.types import new_id, utcnow
from vibeforge.errors import InvalidInput, NotFound
from vibeforge.modelconfigs.service import ModelConfigService
from vibeforge.paging import Page, decode_cursor, encode_cursor
from vibeforge.projects.service import ProjectService
from vibeforge.statuses import TEST_ENDED
from vibeforge.testcases import outputs
from vibeforge.testcases.recovery import end_cut_off
from vibeforge.testcases.runner import TestRunner
from vibeforge.testcases.starts import RunStarts
from vibeforge.testcases.views import (
    SuiteOut,
    TestCreate,
    TestOut,
    TestRunOut,
    TestSettingsOut,
    VersionTests,
)


class TestService(RunStarts):
    """Every test operation: test cases, settings and results here, starting runs in
    `RunStarts` (`testcases.starts`)."""

    __test__ = False

    def __init__(
        self,
        db: Database,
        projects: ProjectService,
        models: ModelConfigService,
        runner: TestRunner,
    ) -> None:
        self._db = db
        self._projects = projects
        self._models = models
        self.runner = runner

    # -- test cases ---------------------------------------------------------------------------

    async def create(self, owner: User, project_id: str, body: TestCreate) -> TestOut:
        """A new test of the owner's project."""
        return (await self.create_many(owner, project_id, [body]))[0]

    async def create_many(
        self, owner: User, project_id: str, bodies: Sequence[TestCreate], *, replace: bool = False
    ) -> list[TestOut]:
        """New tests in one transaction (all or none); `replace` deletes the others first."""
        await self._projects.owned(owner, project_id)
        if replace:
            await self.delete_all(owner, project_id)
        now = utcnow()
        rows = [
            TestCase(
                id=new_id(),
                project_id=project_id,
                owner_id=owner.id,
                name=body.name,
                input_prompt=body.input_prompt,
                expected_behavior=body.expected_behavior,
                checks=[check.model_dump(mode="json") for check in body.checks],
                tags=list(dict.fromkeys(body.tags)),
                judge_model=body.judge_model,
                # Apart by a microsecond each: the list is ordered by creation, as imported.
                created_at=now + timedelta(microseconds=number),
                updated_at=now,
            )
            for number, body in enumerate(bodies)
        ]
        async with self._db.transaction() as db:
            db.add_all(rows)
        return [outputs.test_out(row) for row in rows]

    async def _test(self, owner: User, test_id: str, *, deleted: bool = False) -> TestCase:
        async with self._db.transaction() as db:
            row = await db.scalar(
                select(TestCase).where(TestCase.id == test_id, TestCase.owner_id == owner.id)
            )
        if row is None or (row.deleted_at is not None and not deleted):
            raise NotFound(f"no test {test_id!r}")
        return row

    async def get(self, owner: User, test_id: str) -> TestOut:
        """One test."""
        return outputs.test_out(await self._test(owner, test_id))

    async def list(
        self, owner: User, project_id: str, limit: int, cursor: str | None, tag: str | None
    ) -> Page[TestOut]:
        """The project's tests, oldest first."""
        await self._projects.owned(owner, project_id)
        query = select(TestCase).where(
            TestCase.project_id == project_id, TestCase.deleted_at.is_(None)
        )
        if cursor:
            stamp, last = decode_cursor(cursor, 2)
            query = query.where(tuple_(TestCase.created_at, TestCase.id) > (_stamp(stamp), last))
        query = query.order_by(TestCase.created_at, TestCase.id)
        async with self._db.transaction() as db:
            rows = [row for row in await db.scalars(query) if tag is None or tag in row.tags]
        page, more = rows[:limit], len(rows) > limit
        after = encode_cursor(page[-1].created_at.isoformat(), page[-1].id) if more else None
        return Page([outputs.test_out(row) for row in page], after)

    async def update(self, owner: User, test_id: str, changes: dict[str, Any]) -> TestOut:
        """Change a test's fields (checks are validated by the body model)."""
        await self._test(owner, test_id)
        async with self._db.transaction() as db:
            row = await db.get(TestCase, test_id)
            assert row is not None
            for name, value in changes.items():
                if name == "tags":
                    value = list(dict.fromkeys(value))
                setattr(row, name, value)
            row.updated_at = utcnow()
        return outputs.test_out(row)

    async def delete(self, owner: User, test_id: str) -> None:
        """Delete a test: its runs in flight are cancelled; its history stays readable."""
        row = await self._test(owner, test_id)
        async with self._db.transaction() as db:
            stored = await db.get(TestCase, row.id)
            if stored is not None:
                stored.deleted_at = utcnow()
        await self.runner.cancel_runs(sorted(self.runner.runs_of_test.get(test_id, set())))

    async def delete_all(self, owner: User, project_id: str) -> None:
        """Delete every test of a project (an import with `replace`)."""
        async with self._db.transaction() as db:
            ids = list(
                await db.scalars(
                    select(TestCase.id).where(
                        TestCase.project_id == project_id,
                        TestCase.owner_id == owner.id,
                        TestCase.deleted_at.is_(None),
                    )
                )
            )
        for test_id in ids:
            await self.delete(owner, test_id)

    # -- settings -----------------------------------------------------------------------------

    async def settings(self, owner: User, project_id: str) -> TestSettingsOut:
        """The project's test settings (defaults until changed)."""
        await self._projects.owned(owner, project_id)
        return outputs.settings_out(project_id, await self._settings_row(project_id))

    async def _settings_row(self, project_id: str) -> ProjectTestSettings | None:
        async with self._db.transaction() as db:
            return await db.get(ProjectTestSettings, project_id)

    async def update_settings(
        self, owner: User, project_id: str, changes: dict[str, Any]
    ) -> TestSettingsOut:
        """Change the project's test settings."""
        await self._projects.owned(owner, project_id)
        async with self._db.transaction() as db:
            row = await db.get(ProjectTestSettings, project_id)
            if row is None:
                row = outputs.default_settings(project_id)
                db.add(row)
            for name, value in changes.items():
                setattr(row, name, value)
            row.updated_at = utcnow()
        return outputs.settings_out(project_id, row)

    # -- reading ------------------------------------------------------------------------------

    async def _run(self, owner: User, run_id: str) -> TestRun:
        async with self._db.transaction() as db:
            row = await db.scalar(
                select(TestRun).where(TestRun.id == run_id, TestRun.owner_id == owner.id)
            )
        if row is None:
            raise NotFound(f"no test run {run_id!r}")
        return row

    async def get_run(self, owner: User, run_id: str) -> TestRunOut:
        """One test run with its LLM calls."""
        row = await self._run(owner, run_id)
        async with self._db.transaction() as db:
            calls = list(
                await db.scalars(
                    select(LLMCall)
                    .where(LLMCall.run_id == row.id, LLMCall.owner_id == owner.id)
                    .order_by(LLMCall.created_at)
                )
            )
        return outputs.run_out(row, calls)

    async def cancel_run(self, owner: User, run_id: str) -> TestRunOut:
        """Cancel a queued or running test run (an ended one is returned as it is)."""
        row = await self._run(owner, run_id)
        if row.status not in TEST_ENDED:
            await self.runner.cancel_runs([row.id])
        return await self.get_run(owner, run_id)

    async def runs_of(
        self, owner: User, test_id: str, limit: int, cursor: str | None
    ) -> Page[TestRunOut]:
        """A test's runs, newest first (also of a deleted test)."""
        test = await self._test(owner, test_id, deleted=True)
        query = select(TestRun).where(TestRun.test_id == test.id)
        if cursor:
            stamp, last = decode_cursor(cursor, 2)
            query = query.where(tuple_(TestRun.created_at, TestRun.id) < (_stamp(stamp), last))
        query = query.order_by(TestRun.created_at.desc(), TestRun.id.desc()).limit(limit + 1)
        async with self._db.transaction() as db:
            rows = list(await db.scalars(query))
        page = rows[:limit]
        more = len(rows) > limit
        after = encode_cursor(page[-1].created_at.isoformat(), page[-1].id) if more else None
        return Page([outputs.run_out(row) for row in page], after)

    async def suite(self, owner: User, project_id: str, suite_id: str) -> SuiteOut:
        """One suite run with its test runs."""
        async with self._db.transaction() as db:
            suite = await db.scalar(
                select(TestSuiteRun).where(
                    TestSuiteRun.id == suite_id,
                    TestSuiteRun.project_id == project_id,
                    TestSuiteRun.owner_id == owner.id,
                )
            )
            if suite is None:
                raise NotFound(f"no test suite run {suite_id!r}")
            rows = list(
                await db.scalars(
                    select(TestRun)
                    .where(TestRun.suite_id == suite.id)
                    .order_by(TestRun.created_at, TestRun.test_id, TestRun.repeat_index)
                )
            )
            names = dict(
                (
                    await db.execute(
                        select(TestCase.id, TestCase.name).where(
                            TestCase.id.in_({row.test_id for row in rows})
                        )
                    )
                ).all()
            )
        return outputs.suite_out(suite, rows, names)

    async def wait(self, owner: User, suite: TestSuiteRun) -> SuiteOut:
        """The suite run once it has finished (a dropped request does not stop it)."""
        task = self.runner.suites.get(suite.id)
        if task is not None:
            await asyncio.shield(task)
        return await self.suite(owner, suite.project_id, suite.id)

    async def version_tests(
        self, owner: User, project_id: str, version_ids: Sequence[str]
    ) -> dict[str, VersionTests]:
        """The latest result of each test at each version."""
        if not version_ids:
            return {}
        async with self._db.transaction() as db:
            rows = list(
                await db.scalars(
                    select(TestRun)
                    .where(
                        TestRun.project_id == project_id,
                        TestRun.owner_id == owner.id,
                        TestRun.version_id.in_(list(version_ids)),
                        TestRun.replay_of.is_(None),
                        TestRun.status.in_(list(TEST_ENDED)),
                    )
                    .order_by(TestRun.created_at)
                )
            )
        return outputs.version_tests(rows)

    async def recover(self) -> int:
        """At start-up: runs a stop cut off become `error`, their suites `finished`."""
        return await end_cut_off(self._db)


def _stamp(value: Any) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise InvalidInput("cursor is not valid") from None
