"""The test cases screen: create, edit, run one and the suite (results polled live), flaky runs,
the version that broke a test, delete; wide and 390 px narrow."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.servers import RunningServer
from tests.web.conftest import check_accessibility, check_narrow, shot

pytestmark = pytest.mark.asyncio(loop_scope="module")
REVERSE = "import sys\nprint(sys.stdin.read()[::-1])\n"
SHOUT = "import sys\nprint(sys.stdin.read().upper())\n"
COIN = "import os\nimport sys\nprint('heads' if os.urandom(1)[0] % 2 else 'tails')\n"
SLOW = "import time\ntime.sleep(5)\nprint('late')\n"
FIRST_RUN_MS = 90_000  # the first run builds the sandbox's base Python environment


async def project_with(http: httpx.AsyncClient, name: str, program: str) -> str:
    created = await http.post("/projects", json={"name": name, "main_file": "app.py"})
    assert created.status_code == 201, created.text
    project_id = created.json()["id"]
    written = await http.put(f"/projects/{project_id}/files/app.py", json={"content": program})
    assert written.status_code == 200, written.text
    return project_id


async def test_create_run_edit_break_and_delete_a_test(
    page: Page, server: RunningServer, http: httpx.AsyncClient
) -> None:
    project_id = await project_with(http, "tested", REVERSE)
    await page.goto(f"{server.url}/#/p/{project_id}/tests")
    await expect(page.get_by_role("heading", name="Tests", level=2)).to_be_visible()
    await expect(page.get_by_text("No tests yet")).to_be_visible()
    await page.get_by_role("button", name="New test").click()
    await expect(page.get_by_label("Name", exact=True)).to_be_focused()
    await page.get_by_label("Name", exact=True).fill("reverses")
    await page.get_by_label("Input", exact=True).fill("abc")
    await page.get_by_label("Expected behaviour").fill("")
    checks = page.get_by_label("Checks (JSON)")
    await checks.fill("{not json")
    await page.get_by_role("button", name="Create test").click()
    await expect(page.get_by_role("alert")).to_contain_text("Checks must be a JSON list")
    await checks.fill(json.dumps([{"type": "equals", "value": "cba"}]))
    await page.get_by_label("Tags").fill("smoke")
    await page.get_by_role("button", name="Create test").click()
    row = page.locator("table.tests tbody tr")
    await expect(row).to_have_count(1)
    await expect(row.locator(".last-result")).to_have_text("not run")
    stored = (await http.get(f"/projects/{project_id}/tests")).json()["items"]
    assert [(t["name"], t["input_prompt"], t["tags"]) for t in stored] == [
        ("reverses", "abc", ["smoke"])
    ]
    assert stored[0]["checks"][0]["value"] == "cba"
    test_id = stored[0]["id"]

    # A bad field answers the API's error in the form, and nothing is stored.
    await page.get_by_role("button", name="Edit reverses").click()
    await page.get_by_label("Checks (JSON)").fill(json.dumps([{"type": "no_such_check"}]))
    await page.get_by_role("button", name="Save test").click()
    await expect(page.get_by_role("alert")).not_to_be_empty()
    assert (await http.get(f"/tests/{test_id}")).json()["checks"][0]["type"] == "equals"
    await page.get_by_label("Checks (JSON)").fill(json.dumps([{"type": "equals", "value": "cba"}]))
    await page.get_by_label("Tags").fill("smoke, core")
    await page.get_by_role("button", name="Save test").click()
    await expect(page.get_by_role("form", name="Edit reverses")).to_have_count(0)
    assert (await http.get(f"/tests/{test_id}")).json()["tags"] == ["smoke", "core"]

    await page.get_by_role("button", name="Run reverses").click()
    suite = page.locator("section.suite")
    await expect(suite).to_have_attribute("data-status", "finished", timeout=FIRST_RUN_MS)
    result = suite.locator(f"table.suite-tests tr[data-test='{test_id}']")
    await expect(result.locator(".badge").first).to_have_text("passed")
    await expect(result.locator(".pass-rate")).to_have_text("100 %")
    await expect(suite.get_by_label("Output").first).to_have_text("cba")
    await expect(row.locator(".last-result")).to_have_text("passed")
    await check_accessibility(page, "tests with a run")
    await shot(page, "15-tests")

    # A replay runs the program again with the recorded LLM answers (this one makes none).
    await suite.get_by_role("button", name="Replay reverses run 1").click()
    await expect(suite).to_have_attribute("data-kind", "replay")
    await expect(suite).to_have_attribute("data-status", "finished")
    await expect(suite.locator(".suite-summary")).to_contain_text("1 passed")

    # A new version breaks the test: the suite's run names that version.
    await http.put(f"/projects/{project_id}/files/app.py", json={"content": SHOUT})
    head = (await http.get(f"/projects/{project_id}/versions")).json()["items"][0]["id"]
    await page.get_by_role("button", name="Run all tests").click()
    await expect(suite.locator(".suite-summary")).to_contain_text("0 passed, 1 failed")
    await expect(suite.locator(".regression")).to_contain_text(f"Broken by version {head[:8]}")
    await expect(suite.get_by_label("Output").first).to_have_text("ABC")
    await expect(row.locator(".last-result")).to_contain_text(f"failed broken by {head[:8]}")
    runs = (await http.get(f"/tests/{test_id}/runs")).json()["items"]
    assert [(r["status"], bool(r["replay_of"])) for r in runs] == [
        ("failed", False),
        ("passed", True),
        ("passed", False),
    ]

    await check_narrow(page, "tests", "16-tests-narrow")

    # The versions screen shows the latest results at each version.
    await page.get_by_role("link", name="Versions").click()
    await expect(page.locator(f"tr[data-version='{head}'] .tests-badge")).to_have_text("tests 0/1")
    passed_at = runs[2]["version_id"]
    await expect(page.locator(f"tr[data-version='{passed_at}'] .tests-badge")).to_have_text(
        "tests 1/1"
    )
    await page.get_by_role("link", name="Tests", exact=True).click()

    await page.get_by_role("button", name="Delete reverses").click()
    await page.get_by_role("dialog").get_by_role("button", name="Delete test").click()
    await expect(page.get_by_text("No tests yet")).to_be_visible()
    assert (await http.get(f"/tests/{test_id}")).status_code == 404


async def test_repeated_runs_show_pass_rate_interval_and_flakiness(
    page: Page, server: RunningServer, http: httpx.AsyncClient
) -> None:
    project_id = await project_with(http, "coin", COIN)
    body = {"name": "coin", "input_prompt": "", "checks": [{"type": "contains", "value": "heads"}]}
    created = await http.post(f"/projects/{project_id}/tests", json=body)
    assert created.status_code == 201, created.text
    await page.goto(f"{server.url}/#/p/{project_id}/tests")
    await page.get_by_label("Runs per test").fill("20")
    await page.get_by_role("button", name="Run coin").click()
    suite = page.locator("section.suite")
    # While it runs, the summary counts what is done (polled).
    await expect(suite.locator(".suite-summary")).to_contain_text("of 20 done")
    await expect(suite).to_have_attribute("data-status", "finished", timeout=FIRST_RUN_MS)
    # 20 coin flips all alike: one chance in half a million.
    await expect(suite.locator(".badge.flaky")).to_have_text("flaky")
    rate = await suite.locator(".pass-rate").text_content()
    assert rate and "%" in rate and "–" in rate, rate
    assert await suite.locator("details.run-box").count() == 20


async def test_test_settings_change_how_the_program_runs(
    page: Page, server: RunningServer, http: httpx.AsyncClient
) -> None:
    project_id = await project_with(http, "slow", SLOW)
    body = {"name": "slow", "input_prompt": "", "checks": [{"type": "contains", "value": "late"}]}
    created = await http.post(f"/projects/{project_id}/tests", json=body)
    assert created.status_code == 201, created.text
    await page.goto(f"{server.url}/#/p/{project_id}/tests")
    # The program sleeps 5 s of its 10 s limit: stopped by hand instead.
    await page.get_by_role("button", name="Run slow").click()
    suite = page.locator("section.suite")
    await suite.get_by_role("button", name="Stop runs").click()
    await expect(suite).to_have_attribute("data-status", re.compile("finished|cancelled"))
    await expect(suite.locator("details.run-box summary")).to_contain_text("cancelled")
    runs = (await http.get(f"/tests/{created.json()['id']}/runs")).json()["items"]
    assert [r["status"] for r in runs] == ["cancelled"]
    await page.get_by_text("Test settings").click()
    form = page.get_by_role("form", name="Test settings")
    command = form.get_by_label("Run command")
    await expect(command).to_have_value('["python3","{main_file}"]')
    await check_accessibility(page, "test settings")
    await command.fill("[python3")
    await form.get_by_role("button", name="Save settings").click()
    await expect(form.get_by_role("alert")).to_contain_text("Run command:")
    await command.fill("python3 -u {main_file}")
    await form.get_by_label("Time limit (s)").fill("0.5")
    await form.get_by_label("Run the tests on every applied proposal").check()
    await form.get_by_role("button", name="Save settings").click()
    await expect(page.get_by_text("Test settings saved")).to_be_visible()
    stored = (await http.get(f"/projects/{project_id}/test-settings")).json()
    assert stored["run_command"] == ["python3", "-u", "{main_file}"]
    assert stored["timeout_s"] == 0.5 and stored["run_tests_on_apply"] is True

    await page.get_by_role("button", name="Run slow").click()
    await expect(suite).to_have_attribute("data-status", "finished", timeout=FIRST_RUN_MS)
    await expect(suite.locator(".test-run")).to_contain_text("stopped:")
    await expect(suite.locator(".suite-summary")).to_contain_text("0 passed")
