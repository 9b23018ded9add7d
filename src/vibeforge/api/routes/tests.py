"""Prompt tests: test cases, running them (one, a suite, a replay), results, settings, YAML."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status

from vibeforge.api.deps import DEFAULT_PAGE, CurrentUser, Cursor, Limit, ServicesDep
from vibeforge.api.routing import AuthFirstRoute
from vibeforge.api.schemas import PageOut
from vibeforge.db.tables import User
from vibeforge.db.test_tables import TestSuiteRun
from vibeforge.services import Services
from vibeforge.testcases.interchange import export_tests, parse_tests
from vibeforge.testcases.service import TestService
from vibeforge.testcases.views import (
    ExportOut,
    ImportOut,
    ImportRequest,
    ReplayRequest,
    SuiteOut,
    SuiteRunRequest,
    TestCreate,
    TestOut,
    TestRunOut,
    TestRunRequest,
    TestSettingsOut,
    TestSettingsUpdate,
    TestUpdate,
)

router = APIRouter(tags=["tests"], route_class=AuthFirstRoute)
Wait = Annotated[bool, Query(description="false: answer 202 at once; the runs go on")]
# The answer of `?wait=false`: the same suite, still running.
ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {"model": SuiteOut, "description": "wait=false: the suite as it starts; it goes on"}
}


def get_tests(services: ServicesDep) -> TestService:
    """The test service."""
    return services.tests


TestsDep = Annotated[TestService, Depends(get_tests)]


async def _answer(
    tests: TestService, user: User, suite: TestSuiteRun, wait: bool, response: Response
) -> SuiteOut:
    if not wait:
        response.status_code = status.HTTP_202_ACCEPTED
        return await tests.suite(user, suite.project_id, suite.id)
    return await tests.wait(user, suite)


@router.post("/projects/{project_id}/tests", status_code=status.HTTP_201_CREATED)
async def create_test(
    project_id: str, body: TestCreate, user: CurrentUser, tests: TestsDep
) -> TestOut:
    """Add a test: an input, checks, and optionally a behaviour for the LLM judge."""
    return await tests.create(user, project_id, body)


@router.get("/projects/{project_id}/tests")
async def list_tests(
    project_id: str,
    user: CurrentUser,
    tests: TestsDep,
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
    tag: Annotated[str | None, Query(max_length=50)] = None,
) -> PageOut[TestOut]:
    """The project's tests, oldest first (with `tag`: only those tagged so)."""
    page = await tests.list(user, project_id, limit, cursor, tag)
    return PageOut(items=page.items, next=page.next)


@router.get("/tests/{test_id}")
async def get_test(test_id: str, user: CurrentUser, tests: TestsDep) -> TestOut:
    """One test."""
    return await tests.get(user, test_id)


@router.patch("/tests/{test_id}")
async def update_test(
    test_id: str, body: TestUpdate, user: CurrentUser, tests: TestsDep
) -> TestOut:
    """Change a test; a field left out is unchanged."""
    return await tests.update(user, test_id, body.model_dump(exclude_unset=True, mode="json"))


@router.delete("/tests/{test_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_test(test_id: str, user: CurrentUser, tests: TestsDep) -> Response:
    """Delete a test; its runs in flight are cancelled, its history stays readable."""
    await tests.delete(user, test_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/tests/{test_id}/run", responses=ACCEPTED)
async def run_test(
    test_id: str,
    body: TestRunRequest,
    user: CurrentUser,
    tests: TestsDep,
    response: Response,
    wait: Wait = True,
) -> SuiteOut:
    """Run a test (`repeat` times: a pass rate with its interval, `flaky` if runs disagree)."""
    suite = await tests.run_test(
        user,
        test_id,
        version_id=body.version_id,
        model=body.model,
        judge_model=body.judge_model,
        repeat=body.repeat,
    )
    return await _answer(tests, user, suite, wait, response)


@router.post("/projects/{project_id}/tests:run", responses=ACCEPTED)
async def run_suite(
    project_id: str,
    body: SuiteRunRequest,
    user: CurrentUser,
    tests: TestsDep,
    response: Response,
    wait: Wait = True,
) -> SuiteOut:
    """Run the project's tests; with several `models`, a test × model matrix."""
    suite = await tests.run_suite(
        user,
        project_id,
        version_id=body.version_id,
        tags=body.tags,
        only_failed=body.only_failed,
        models=body.models,
        judge_model=body.judge_model,
    )
    return await _answer(tests, user, suite, wait, response)


@router.get("/tests/{test_id}/runs")
async def list_runs(
    test_id: str,
    user: CurrentUser,
    tests: TestsDep,
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> PageOut[TestRunOut]:
    """A test's runs, newest first (a deleted test's too)."""
    page = await tests.runs_of(user, test_id, limit, cursor)
    return PageOut(items=page.items, next=page.next)


@router.get("/test-runs/{run_id}")
async def get_run(run_id: str, user: CurrentUser, tests: TestsDep) -> TestRunOut:
    """One test run, with its LLM calls."""
    return await tests.get_run(user, run_id)


@router.post("/test-runs/{run_id}/cancel")
async def cancel_run(run_id: str, user: CurrentUser, tests: TestsDep) -> TestRunOut:
    """Cancel a queued or running test run; answers once it is stored."""
    return await tests.cancel_run(user, run_id)


@router.post("/test-runs/{run_id}/replay")
async def replay_run(
    run_id: str,
    user: CurrentUser,
    tests: TestsDep,
    response: Response,
    body: ReplayRequest | None = None,
    wait: Wait = True,
) -> SuiteOut:
    """Re-run a recorded run with its LLM calls answered from the recording ($0)."""
    judge = body.judge if body is not None else "recorded"
    suite = await tests.replay(user, run_id, judge)
    return await _answer(tests, user, suite, wait, response)


@router.post("/projects/{project_id}/test-suites/{suite_id}/replay", responses=ACCEPTED)
async def replay_suite(
    project_id: str,
    suite_id: str,
    user: CurrentUser,
    tests: TestsDep,
    response: Response,
    body: ReplayRequest | None = None,
    wait: Wait = True,
) -> SuiteOut:
    """Replay every run of a suite run as one new suite run ($0 with the recorded judge)."""
    judge = body.judge if body is not None else "recorded"
    suite = await tests.replay_suite(user, project_id, suite_id, judge)
    return await _answer(tests, user, suite, wait, response)


@router.get("/projects/{project_id}/test-suites/{suite_id}")
async def get_suite(project_id: str, suite_id: str, user: CurrentUser, tests: TestsDep) -> SuiteOut:
    """A suite run: its summary (per test × model) and its runs."""
    return await tests.suite(user, project_id, suite_id)


@router.get("/projects/{project_id}/test-settings")
async def get_settings(project_id: str, user: CurrentUser, tests: TestsDep) -> TestSettingsOut:
    """How the project's program is run for tests."""
    return await tests.settings(user, project_id)


@router.patch("/projects/{project_id}/test-settings")
async def update_settings(
    project_id: str, body: TestSettingsUpdate, user: CurrentUser, tests: TestsDep
) -> TestSettingsOut:
    """Change the run command, limits, judge, LLM caps, or `run_tests_on_apply`."""
    return await tests.update_settings(user, project_id, body.model_dump(exclude_unset=True))


@router.post("/projects/{project_id}/tests:import", status_code=status.HTTP_201_CREATED)
async def import_tests(
    project_id: str, body: ImportRequest, user: CurrentUser, tests: TestsDep, services: ServicesDep
) -> ImportOut:
    """Add tests from promptfoo-style YAML (all or none)."""
    await services.projects.owned(user, project_id)  # another user's project: 404 first
    parsed = parse_tests(body.yaml)
    created = await tests.create_many(user, project_id, parsed, replace=body.replace)
    return ImportOut(created=len(created), test_ids=[test.id for test in created])


@router.get("/projects/{project_id}/tests:export")
async def export(project_id: str, user: CurrentUser, services: ServicesDep) -> ExportOut:
    """The project's tests as promptfoo-style YAML."""
    every = await _all_tests(services, user, project_id)
    return ExportOut(yaml=export_tests(every), count=len(every))


async def _all_tests(services: Services, user: User, project_id: str) -> list[TestOut]:
    found: list[TestOut] = []
    cursor = None
    while True:
        page = await services.tests.list(user, project_id, 500, cursor, None)
        found += page.items
        if page.next is None:
            return found
        cursor = page.next
