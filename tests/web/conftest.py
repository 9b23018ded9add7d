"""Fixtures for the web client: Debian's Chromium driven by Playwright against a real
`vibeforge serve` and the stub LLM.

One browser, one server and one stub per test module (each module runs in one event loop);
every test gets a fresh browser context, so storage never leaks between tests. Every request a
page makes must go to the server under test, and the page may throw no uncaught error.
Screenshots land in test-artifacts/web/ at the repository's root.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from tests.servers import RunningServer, vibeforge_server
from tests.stubs import create_stub_model
from vibeforge.llm.stub import StubLLMServer

CHROMIUM = "/usr/bin/chromium"
# The flags Debian's Chromium needs here: no sandbox (root), no GPU, and none of the
# background traffic a closed network refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "vf_web-test-token-0123456789"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
AUTH_KEY = "vibeforge.auth"

if not Path(CHROMIUM).exists():
    pytest.skip(
        "Debian's chromium is missing: `make system-deps` installs it", allow_module_level=True
    )

module_fixture = pytest_asyncio.fixture(scope="module", loop_scope="module")
per_test_fixture = pytest_asyncio.fixture(loop_scope="module")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say where the screenshots are (`make test` output names the folder)."""
    if ARTIFACTS.is_dir() and any(ARTIFACTS.glob("*.png")):
        count = len(list(ARTIFACTS.glob("*.png")))
        terminalreporter.write_line(f"web client screenshots ({count}): {ARTIFACTS}/")


@pytest.fixture(scope="session", autouse=True)
def _fresh_artifacts() -> Iterator[None]:
    """Screenshots of this run only."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield


@module_fixture
async def stub() -> AsyncIterator[StubLLMServer]:
    """The stub LLM, in this module's event loop."""
    async with StubLLMServer() as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A real `vibeforge serve` (SQLite) whose admin token is TOKEN."""
    root = tmp_path_factory.mktemp("web")
    url = f"sqlite+aiosqlite:///{root / 'web.db'}"
    with vibeforge_server(root / "data", url, env={"VIBEFORGE_ADMIN_TOKEN": TOKEN}) as running:
        yield running


@module_fixture
async def http(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    """The REST API of the server, as its admin."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as client:
        yield client


@module_fixture
async def stub_model(http: httpx.AsyncClient, stub: StubLLMServer) -> dict[str, Any]:
    """The admin's default model config: the stub, with a price table."""
    prices = {"input_per_million": 1.0, "output_per_million": 2.0}
    return await create_stub_model(http, stub, prices=prices)


@module_fixture
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium (Playwright's own browser download cannot work here)."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


class PageGuard:
    """What a page did that it must not: reach another host, or throw."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.foreign: list[str] = []
        self.errors: list[str] = []

    def request(self, url: str) -> None:
        if not url.startswith((self.origin + "/", "data:", "blob:", "about:")):
            self.foreign.append(url)


async def new_page(
    browser: Browser, server: RunningServer, *, signed_in: bool = True, **options: Any
) -> tuple[BrowserContext, Page, PageGuard]:
    """A fresh context (optionally holding the admin token) and a page in it."""
    context = await browser.new_context(**{"viewport": {"width": 1280, "height": 860}, **options})
    if signed_in:
        auth = json.dumps({"token": TOKEN, "minted": False, "email": "admin@localhost"})
        key = repr(AUTH_KEY)
        await context.add_init_script(
            f"localStorage.getItem({key}) || localStorage.setItem({key}, {auth!r})"
        )
    guard = PageGuard(server.url)
    page = await context.new_page()
    page.set_default_timeout(15_000)
    page.on("request", lambda request: guard.request(request.url))
    page.on("websocket", lambda socket: guard.request(socket.url.replace("ws://", "http://", 1)))
    page.on("pageerror", lambda error: guard.errors.append(str(error)))
    return context, page, guard


@per_test_fixture
async def page(browser: Browser, server: RunningServer) -> AsyncIterator[Page]:
    """A signed-in page; the test fails if it reached another host or threw."""
    context, created, guard = await new_page(browser, server)
    yield created
    await context.close()
    assert not guard.foreign, f"requests to other hosts: {guard.foreign}"
    assert not guard.errors, f"uncaught errors in the page: {guard.errors}"


async def shot(page: Page, name: str) -> Path:
    """Save a screenshot of the whole page as test-artifacts/web/NAME.png."""
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


_axe = Axe()


async def check_accessibility(page: Page, name: str) -> None:
    """axe-core finds no violation (WCAG 2 A and AA: labels, contrast, keyboard, ARIA)."""
    results = await _axe.run(
        page, options={"runOnly": ["wcag2a", "wcag2aa", "wcag21aa", "best-practice"]}
    )
    violations = results.response["violations"]
    summary = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in violations
    ]
    assert not violations, f"accessibility violations on {name}:\n" + "\n".join(summary)


async def check_narrow(page: Page, name: str, shot_name: str) -> None:
    """At 390 px the page does not scroll sideways and passes axe; then back to 1280 px."""
    await page.set_viewport_size({"width": 390, "height": 844})
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"{name} is {width} px wide at 390 px"
    await check_accessibility(page, f"{name} at 390 px")
    await shot(page, shot_name)
    await page.set_viewport_size({"width": 1280, "height": 860})
