"""Suite runs, repeats and flakiness, deleting tests in flight, other users, regressions named
by version, test_completed on both sockets, and the versions' test summaries."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN
from tests.servers import serve_in_process
from tests.testcases.conftest import make_project, make_test, run
from tests.wsclient import SioClient, WsClient

COIN = "import random\nprint(random.choice(['heads', 'tails']))\n"


async def test_repeated_runs_give_a_pass_rate_and_flag_flakiness(client: httpx.AsyncClient) -> None:
    project_id = await make_project(client, {"main.py": COIN})
    test = await make_test(client, project_id, checks=[{"type": "contains", "value": "heads"}])
    suite = await run(client, test["id"], repeat=20)
    assert len(suite["runs"]) == 20
    (summary,) = suite["summary"]["tests"]
    assert summary["flaky"] is True and summary["status"] == "flaky"
    assert summary["passed"] + summary["failed"] == 20
    assert summary["pass_rate"] == summary["passed"] / 20
    assert summary["ci_low"] < summary["pass_rate"] < summary["ci_high"]
    assert suite["summary"]["flaky"] == 1
    assert sorted(r["repeat_index"] for r in suite["runs"]) == list(range(20))


async def test_a_suite_selects_by_tag_and_by_last_failure(client: httpx.AsyncClient) -> None:
    project_id = await make_project(client, {"main.py": "print('ok')\n"})
    good = await make_test(client, project_id, name="good", tags=["fast"])
    bad = await make_test(
        client, project_id, name="bad", tags=["slow"], checks=[{"type": "contains", "value": "x"}]
    )
    everything = await client.post(f"/projects/{project_id}/tests:run", json={}, timeout=120)
    assert [r["status"] for r in everything.json()["runs"]] == ["passed", "failed"]
    tagged = await client.post(f"/projects/{project_id}/tests:run", json={"tags": ["fast"]})
    assert [r["test_id"] for r in tagged.json()["runs"]] == [good["id"]]
    failed = await client.post(f"/projects/{project_id}/tests:run", json={"only_failed": True})
    assert [r["test_id"] for r in failed.json()["runs"]] == [bad["id"]]
    suite_id = failed.json()["id"]
    stored = await client.get(f"/projects/{project_id}/test-suites/{suite_id}")
    assert stored.json()["summary"]["failed"] == 1 and stored.json()["status"] == "finished"
    history = (await client.get(f"/tests/{bad['id']}/runs")).json()["items"]
    assert history[0]["suite_id"] == suite_id and len(history) == 2


async def until_status(client: httpx.AsyncClient, run_id: str, status: str) -> dict:
    for _ in range(600):
        body = (await client.get(f"/test-runs/{run_id}")).json()
        if body["status"] == status:
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"run {run_id} never became {status}: {body}")


async def test_deleting_a_test_cancels_its_runs_and_keeps_their_history(
    client: httpx.AsyncClient,
) -> None:
    project_id = await make_project(client, {"main.py": "import time\ntime.sleep(60)\n"})
    await client.patch(f"/projects/{project_id}/test-settings", json={"timeout_s": 120})
    test = await make_test(client, project_id)
    started = await client.post(f"/tests/{test['id']}/run?wait=false", json={"repeat": 2})
    assert started.status_code == 202
    run_ids = [r["id"] for r in started.json()["runs"]]
    await until_status(client, run_ids[0], "running")
    deleted = await client.delete(f"/tests/{test['id']}")
    assert deleted.status_code == 204
    for run_id in run_ids:
        body = (await client.get(f"/test-runs/{run_id}")).json()
        assert body["status"] == "cancelled"
    assert (await client.get(f"/tests/{test['id']}")).status_code == 404
    history = await client.get(f"/tests/{test['id']}/runs")
    assert history.status_code == 200 and len(history.json()["items"]) == 2
    listed = (await client.get(f"/projects/{project_id}/tests")).json()["items"]
    assert listed == []


async def test_another_users_tests_are_not_found(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient
) -> None:
    project_id = await make_project(client, {"main.py": "print(1)\n"})
    test = await make_test(client, project_id)
    suite = await run(client, test["id"])
    run_id, suite_id = suite["runs"][0]["id"], suite["id"]
    attempts = [
        other_client.get(f"/tests/{test['id']}"),
        other_client.patch(f"/tests/{test['id']}", json={"name": "mine"}),
        other_client.delete(f"/tests/{test['id']}"),
        other_client.post(f"/tests/{test['id']}/run", json={}),
        other_client.get(f"/tests/{test['id']}/runs"),
        other_client.get(f"/test-runs/{run_id}"),
        other_client.post(f"/test-runs/{run_id}/cancel"),
        other_client.post(f"/test-runs/{run_id}/replay", json={}),
        other_client.get(f"/projects/{project_id}/tests"),
        other_client.post(f"/projects/{project_id}/tests", json={"name": "x", "input_prompt": ""}),
        other_client.post(f"/projects/{project_id}/tests:run", json={}),
        other_client.get(f"/projects/{project_id}/test-suites/{suite_id}"),
        other_client.get(f"/projects/{project_id}/test-settings"),
        other_client.patch(f"/projects/{project_id}/test-settings", json={"timeout_s": 1}),
        other_client.post(f"/projects/{project_id}/tests:import", json={"yaml": "tests: []"}),
        other_client.get(f"/projects/{project_id}/tests:export"),
    ]
    for response in await asyncio.gather(*attempts):
        assert response.status_code == 404, (response.request.url, response.text)
        assert response.json()["error"] == "not_found"
    assert (await client.get(f"/tests/{test['id']}")).json()["name"] == "a test"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"name": "x", "input_prompt": "", "checks": [{"type": "regex", "pattern": "("}]},
            "checks",
        ),
        ({"name": "x", "input_prompt": "", "tags": ["has space"]}, "tags"),
        ({"name": "", "input_prompt": ""}, "name"),
        ({"name": "x", "input_prompt": "", "surprise": 1}, "surprise"),
    ],
)
async def test_bad_tests_are_refused_naming_the_field(
    client: httpx.AsyncClient, body: dict, field: str
) -> None:
    project_id = await make_project(client, {})
    response = await client.post(f"/projects/{project_id}/tests", json=body)
    assert response.status_code == 422
    assert response.json()["error"] == "validation_error" and field in response.json()["detail"]


async def test_an_unknown_version_or_model_is_refused(client: httpx.AsyncClient) -> None:
    project_id = await make_project(client, {"main.py": "print(1)\n"})
    test = await make_test(client, project_id)
    unknown = await client.post(f"/tests/{test['id']}/run", json={"version_id": "a" * 40})
    assert unknown.status_code == 404
    model = await client.post(f"/tests/{test['id']}/run", json={"model": "no-such-model"})
    assert model.status_code == 404


async def test_run_tests_on_apply_names_the_version_that_broke_a_test(app, client) -> None:  # type: ignore[no-untyped-def]
    services = app.state.services
    owner = await services.users.authenticate(ADMIN_TOKEN)
    project_id = await make_project(client, {"main.py": "print('ok')\n"})
    settings = await client.patch(
        f"/projects/{project_id}/test-settings", json={"run_tests_on_apply": True}
    )
    assert settings.json()["run_tests_on_apply"] is True
    test = await make_test(client, project_id, checks=[{"type": "equals", "value": "ok"}])
    (passing,) = (await run(client, test["id"]))["runs"]
    assert passing["status"] == "passed"
    good_version = passing["version_id"]
    proposal = await services.proposals.create(
        owner,
        run_id=None,
        session_id=None,
        message_id="message-that-broke-it",
        project_id=project_id,
        base_version=good_version,
        files={"main.py": "print('not ok')\n"},
        diff="",
        commit_message="Break the output",
    )
    accepted = await client.post(f"/proposals/{proposal.id}/accept")
    assert accepted.status_code == 200, accepted.text
    bad_version = accepted.json()["version_id"]
    for _ in range(400):
        history = (await client.get(f"/tests/{test['id']}/runs")).json()["items"]
        if history[0]["version_id"] == bad_version and history[0]["status"] == "failed":
            break
        await asyncio.sleep(0.05)
    failing = history[0]
    assert failing["regression"] == {
        "last_passed_run_id": passing["id"],
        "last_passed_version_id": good_version,
        "version_id": bad_version,
        "proposal_id": proposal.id,
        "message_id": "message-that-broke-it",
    }
    suite = await client.get(f"/projects/{project_id}/test-suites/{failing['suite_id']}")
    assert suite.json()["proposal_id"] == proposal.id
    assert suite.json()["message_id"] == "message-that-broke-it"
    versions = {
        v["id"]: v["tests"]
        for v in (await client.get(f"/projects/{project_id}/versions")).json()["items"]
    }
    assert versions[bad_version]["failed"] == 1 and versions[bad_version]["passed"] == 0
    assert versions[good_version]["passed"] == 1


@pytest.mark.parametrize("transport", [WsClient, SioClient])
async def test_test_completed_reaches_both_sockets(app, client, transport) -> None:  # type: ignore[no-untyped-def]
    project_id = await make_project(client, {"main.py": "print('hi')\n"})
    test = await make_test(client, project_id)
    async with serve_in_process(app) as url:
        socket = await transport.open(url, ADMIN_TOKEN)
        try:
            await socket.send("subscribe", project_id=project_id)
            await socket.until("snapshot")
            (result,) = (await run(client, test["id"]))["runs"]
            event = await socket.until("test_completed", within=30, run_id=result["id"])
        finally:
            await socket.close()
    data = event["data"]
    assert (data["test_id"], data["status"], data["output"]) == (test["id"], "passed", "hi\n")
    assert data["trace_id"] == result["trace_id"]
    assert data["suite_id"] == result["suite_id"]
