"""Projects, code, versions, settings and usage in the browser, wide and 390 px narrow."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.servers import RunningServer
from tests.web.conftest import check_accessibility, new_page, shot

pytestmark = pytest.mark.asyncio(loop_scope="module")
GREET = "def greet(name):\n    # say hello\n    return 'Hello, ' + name\n"


async def make_project(http: httpx.AsyncClient, name: str) -> dict[str, Any]:
    created = await http.post("/projects", json={"name": name, "main_file": "app.py"})
    assert created.status_code == 201, created.text
    return created.json()


async def read(http: httpx.AsyncClient, project_id: str, path: str) -> str:
    found = await http.get(f"/projects/{project_id}/files/{path}")
    assert found.status_code == 200, found.text
    return found.json()["content"]


async def test_create_rename_and_delete_a_project(
    page: Page, server: RunningServer, http: httpx.AsyncClient
) -> None:
    await page.goto(server.url + "/")
    await expect(page.get_by_role("heading", name="Projects", level=1)).to_be_visible()
    await page.get_by_label("Name", exact=True).fill("Web demo")
    await page.get_by_label("Description").fill("made in the browser")
    await page.get_by_role("button", name="Create project").click()
    await expect(page).to_have_url(re.compile(r"#/p/[0-9a-f-]+/code$"))
    project_id = page.url.split("/p/")[1].split("/")[0]
    assert (await http.get(f"/projects/{project_id}")).json()["name"] == "Web demo"

    await page.get_by_role("link", name="Projects").click()
    row = page.locator(f"tr[data-project='{project_id}']")
    await expect(row.get_by_role("cell").nth(2)).to_have_text("0")  # sessions
    await check_accessibility(page, "projects")
    await shot(page, "03-projects")
    await row.get_by_role("button", name="Rename Web demo").click()
    rename = page.get_by_label("New name for Web demo")
    await rename.fill("Renamed demo")
    await rename.press("Enter")
    await expect(page.get_by_role("link", name="Renamed demo")).to_be_visible()
    assert (await http.get(f"/projects/{project_id}")).json()["name"] == "Renamed demo"

    await page.get_by_role("button", name="Delete Renamed demo").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text("removed for good")
    await dialog.get_by_role("button", name="Cancel").click()
    assert (await http.get(f"/projects/{project_id}")).status_code == 200, "cancel keeps it"
    await page.get_by_role("button", name="Delete Renamed demo").click()
    await page.get_by_role("dialog").get_by_role("button", name="Delete project").click()
    await expect(page.get_by_role("link", name="Renamed demo")).to_have_count(0)
    assert (await http.get(f"/projects/{project_id}")).status_code == 404


async def test_write_and_edit_a_file_then_view_it_highlighted_at_any_version(
    page: Page, server: RunningServer, http: httpx.AsyncClient
) -> None:
    project = await make_project(http, "files")
    await page.goto(f"{server.url}/#/p/{project['id']}/code")
    await page.get_by_role("button", name="New file").click()
    await page.get_by_label("Path").fill("pkg/greet.py")
    await page.get_by_label("Content", exact=True).fill(GREET)
    await page.get_by_label("Version message").fill("Add greet")
    await page.get_by_role("button", name="Create file").click()
    await expect(page).to_have_url(re.compile(r"/code/pkg/greet\.py$"))
    assert await read(http, project["id"], "pkg/greet.py") == GREET
    view = page.get_by_role("region", name="Content of pkg/greet.py")
    await expect(view.locator(".t-kw", has_text="def")).to_be_visible()
    await expect(view.locator(".t-com")).to_have_text("# say hello")
    await expect(view.locator(".t-str")).to_have_text("'Hello, '")
    await expect(page.get_by_role("navigation", name="Files")).to_contain_text("greet.py")

    await page.get_by_role("button", name="Edit").click()
    editor = page.get_by_label("Content of pkg/greet.py")
    await editor.fill(GREET.replace("Hello", "Hi"))
    await page.get_by_role("button", name="Save").click()
    await expect(view.locator(".t-str")).to_have_text("'Hi, '")
    assert "Hi, " in await read(http, project["id"], "pkg/greet.py")
    await check_accessibility(page, "code")
    await shot(page, "04-code")

    # The first version of the file, picked from its history.
    picker = page.get_by_label("Version of this file")
    first = (await picker.locator("option").all())[-1]
    await picker.select_option(await first.get_attribute("value"))
    await expect(view.locator(".t-str")).to_have_text("'Hello, '")
    await expect(page.get_by_role("button", name="Edit")).to_be_disabled()


async def test_diff_between_two_versions_then_revert(
    page: Page, server: RunningServer, http: httpx.AsyncClient
) -> None:
    project = await make_project(http, "history")
    base = f"/projects/{project['id']}/files"
    await http.put(f"{base}/app.py", json={"content": GREET, "message": "First greet"})
    await http.put(f"{base}/app.py", json={"content": GREET.replace("Hello", "Hey")})
    await http.put(f"{base}/notes.md", json={"content": "# Notes\n", "message": "Notes"})
    versions = (await http.get(f"/projects/{project['id']}/versions")).json()["items"]
    first_greet = next(v for v in versions if v["message"] == "First greet")

    await page.goto(f"{server.url}/#/p/{project['id']}/versions")
    await page.get_by_label("Changes in").select_option(versions[0]["id"])
    await page.get_by_label("since").select_option(first_greet["id"])
    await page.get_by_role("button", name="Show diff").click()
    diff = page.get_by_role("region", name="Diff")
    await expect(diff).to_contain_text(f"against {first_greet['id'][:8]}")
    await expect(diff.get_by_role("region", name="app.py")).to_be_visible()
    await expect(diff.get_by_role("region", name="notes.md (new)")).to_be_visible()
    await diff.get_by_role("button", name="Side by side").click()
    split = diff.locator("table.diff.split").first
    await expect(split.locator("td.dcode.del")).to_contain_text("'Hello, '")
    await expect(split.locator("td.dcode.add")).to_contain_text("return 'Hey, ' + name")
    await check_accessibility(page, "versions")
    await shot(page, "05-versions-diff-split")
    await diff.get_by_role("button", name="Unified").click()
    unified = diff.locator("table.diff.unified").first
    await expect(unified.locator("tr.del")).to_contain_text("'Hello, '")
    await expect(unified.locator("tr.add")).to_contain_text("'Hey, '")
    await shot(page, "06-versions-diff-unified")

    await page.get_by_role("button", name=f"Revert to {first_greet['id'][:8]}").click()
    await page.get_by_role("dialog").get_by_role("button", name="Revert").click()
    newest = page.locator("table.versions tbody tr td.vmsg").first
    await expect(newest).to_contain_text(f"Revert to {first_greet['id'][:8]}")
    assert "Hello, " in await read(http, project["id"], "app.py")
    tree = (await http.get(f"/projects/{project['id']}/files")).json()["items"]
    assert "notes.md" not in [entry["path"] for entry in tree]


async def test_model_settings_keep_keys_write_only(
    page: Page, server: RunningServer, http: httpx.AsyncClient, stub_model: dict[str, Any]
) -> None:
    secret = "sk-typed-in-the-browser-0123456789"
    await page.goto(server.url + "/#/settings")
    await page.get_by_label("Name", exact=True).fill("second")
    await page.get_by_label("Provider").select_option("openai-compatible")
    await page.get_by_label("Model", exact=True).fill("stub-model-2")
    await page.get_by_label("Base URL").fill(stub_model["base_url"])
    await page.get_by_label("API key", exact=True).fill(secret)
    await page.get_by_label("Input").fill("3")
    await page.get_by_label("Output").fill("4")
    await page.get_by_role("button", name="Add model").click()
    row = page.locator("tr[data-model='second']")
    await expect(row).to_contain_text("stored")
    await expect(row).to_contain_text("$3 / $4")
    assert secret not in await page.content(), "the key is never shown back"
    await row.get_by_role("button", name="Test second").click()
    await expect(row.get_by_role("status")).to_contain_text("ok in")
    await row.get_by_role("button", name="Make second the default").click()
    await expect(page.locator("tr[data-model='second'] .badge")).to_have_text(" default")
    await expect(page.get_by_role("button", name="Make second the default")).to_be_disabled()
    models = {m["name"]: m for m in (await http.get("/models")).json()["items"]}
    assert models["second"]["is_default"] and models["second"]["has_api_key"]
    await check_accessibility(page, "settings")
    await shot(page, "07-settings")
    await http.patch(f"/models/{stub_model['id']}", json={"is_default": True})


async def test_usage_screen_lists_days_models_and_roles(page: Page, server: RunningServer) -> None:
    await page.goto(server.url + "/#/usage")
    for title in ("By day (UTC)", "By model", "By role"):
        await expect(page.get_by_role("heading", name=title)).to_be_visible()
    await check_accessibility(page, "usage")
    await shot(page, "08-usage")


async def test_every_screen_fits_a_390_px_screen(
    browser: Browser, server: RunningServer, http: httpx.AsyncClient
) -> None:
    project = await make_project(http, "narrow")
    await http.put(f"/projects/{project['id']}/files/app.py", json={"content": GREET})
    context, page, guard = await new_page(browser, server, viewport={"width": 390, "height": 844})
    screens = {
        "projects": "/#/projects",
        "code": f"/#/p/{project['id']}/code/app.py",
        "versions": f"/#/p/{project['id']}/versions",
        "chat": f"/#/p/{project['id']}/chat",
        "usage": "/#/usage",
        "settings": "/#/settings",
    }
    for name, path in screens.items():
        await page.goto(server.url + path)
        await page.locator(f"[data-screen='{name}'] h1").first.wait_for()
        await page.wait_for_load_state("networkidle")
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{name} is {width} px wide at 390 px"
        await check_accessibility(page, f"{name} at 390 px")
        await shot(page, f"09-narrow-{name}")
    await context.close()
    assert not guard.foreign and not guard.errors, (guard.foreign, guard.errors)
