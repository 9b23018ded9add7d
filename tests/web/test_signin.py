"""Signing in to the web client: with a pasted token, with the link printed at first start;
signing out."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.servers import RunningServer, vibeforge_server
from tests.web.conftest import AUTH_KEY, TOKEN, check_accessibility, new_page, shot

pytestmark = pytest.mark.asyncio(loop_scope="module")
LINK = re.compile(r"open (http://\S+/#/signin\?code=(\S+)) to sign in")


async def test_sign_in_with_a_token_then_sign_out(browser: Browser, server: RunningServer) -> None:
    context, page, guard = await new_page(browser, server, signed_in=False)
    await page.goto(server.url + "/#/projects")
    await expect(page).to_have_url(re.compile(r"#/signin$"))
    token = page.get_by_label("API token")
    await expect(token).to_be_focused()
    await check_accessibility(page, "sign-in")
    await shot(page, "01-sign-in")

    await token.fill("vf_not-a-real-token-000000")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("alert")).to_contain_text("not valid")

    await token.fill(TOKEN)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Projects", level=1)).to_be_visible()
    assert await page.evaluate(f"JSON.parse(localStorage.getItem('{AUTH_KEY}')).token") == TOKEN
    await expect(page.locator("#conn")).to_have_text("live")

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_label("API token")).to_be_visible()
    assert await page.evaluate(f"localStorage.getItem('{AUTH_KEY}')") is None
    await page.goto(server.url + "/#/settings")
    await expect(page).to_have_url(re.compile(r"#/signin$"))
    await context.close()
    assert not guard.foreign and not guard.errors, (guard.foreign, guard.errors)


def _printed_link(server: RunningServer) -> tuple[str, str]:
    assert server.process.stdout is not None
    for _ in range(20):  # printed before /health answered, so it is in the pipe already
        line = server.process.stdout.readline()
        found = LINK.search(line)
        if found:
            return found.group(1), found.group(2)
    raise AssertionError("no sign-in link was printed")


async def test_the_link_printed_at_first_start_signs_in_once(
    browser: Browser, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'first.db'}"
    with vibeforge_server(tmp_path / "data", url) as first:
        link, code = _printed_link(first)
        assert link.startswith(first.url + "/")
        context, page, guard = await new_page(browser, first, signed_in=False)
        await page.goto(link)
        await expect(page.get_by_role("heading", name="Projects", level=1)).to_be_visible()
        assert code not in page.url, "the code leaves the address bar"
        auth = await page.evaluate(f"JSON.parse(localStorage.getItem('{AUTH_KEY}'))")
        assert auth["minted"] is True and auth["email"] == "admin@localhost"
        minted = {"Authorization": f"Bearer {auth['token']}"}
        async with httpx.AsyncClient(base_url=first.url) as client:
            assert (await client.get("/me", headers=minted)).status_code == 200

            again, second_page, _ = await new_page(browser, first, signed_in=False)
            await second_page.goto(link)
            await expect(second_page.get_by_role("alert")).to_contain_text("already used")
            await shot(second_page, "02-sign-in-link-used")
            await again.close()

            # Signing out revokes the token this browser got from the link.
            await page.get_by_role("button", name="Sign out").click()
            await expect(page.get_by_label("API token")).to_be_visible()
            assert (await client.get("/me", headers=minted)).status_code == 401
        await context.close()
        assert not guard.foreign and not guard.errors, (guard.foreign, guard.errors)
    port = first.url.rsplit(":", 1)[1]
    log = (tmp_path / f"server-{port}.log").read_text()
    assert code not in log and auth["token"] not in log, "neither code nor token is logged"
