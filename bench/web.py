"""Benchmark the web client in Debian's Chromium (Playwright) against a real server.

Measures, on localhost:
- initial JS and CSS transferred (compressed bytes on the wire) and uncompressed, for a
  signed-in first load with an empty cache;
- first contentful paint, and "interactive": the moment the projects screen shows its data
  (the app has loaded, asked the API and rendered controls that respond), median of runs;
- opening a 1,000-message session: from the in-app navigation (and from a full page load)
  until the newest message is painted, median of runs;
- paint lag while streaming at 200 chunks/s: a chunk's arrival on the socket (its
  MessageEvent's timestamp) to the first moment after the frame that painted it.
Prints JSON with the goals (JS <= 250 KB gzip, FCP <= 1 s, 1,000 messages <= 1.5 s,
paint lag p99 <= 100 ms).

    .venv/bin/python bench/web.py [--runs 5] [--chunks 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Browser, async_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.servers import vibeforge_server
from tests.web.conftest import AUTH_KEY, CHROMIUM, CHROMIUM_ARGS
from vibeforge.llm.stub import Script, StubLLMServer

TOKEN = "vf_bench-web-token-0123456789"
AUTH = json.dumps({"token": TOKEN, "minted": False, "email": "admin@localhost"})
SIGNED_IN = f"localStorage.setItem({AUTH_KEY!r}, {AUTH!r});"
# Records when the projects screen shows its data (or says there is none).
INTERACTIVE = """
new MutationObserver((_, observer) => {
  if (document.querySelector('[data-screen="projects"] table, [data-screen="projects"] .empty')) {
    window.__interactive = performance.now();
    observer.disconnect();
  }
}).observe(document, {subtree: true, childList: true});
"""
# The app calls __vfProbe(items) in the frame that appends chunks; a message posted from
# there is handled after that frame is painted.
PAINT_PROBE = """
window.__lags = [];
const channel = new MessageChannel();
let waiting = [];
channel.port1.onmessage = () => {
  const now = performance.now();
  for (const item of waiting.shift()) window.__lags.push(now - item.arrivedAt);
};
window.__vfProbe = (items) => { waiting.push(items); channel.port2.postMessage(0); };
"""
OPEN_SESSION = """
async (target) => {
  const started = performance.now();
  location.hash = target.hash;
  await new Promise((resolve) => {
    const check = () => {
      const found = [...document.querySelectorAll('.msg.user')].some(
        (el) => el.textContent.includes(target.text));
      if (found) requestAnimationFrame(() => setTimeout(resolve, 0));
      else requestAnimationFrame(check);
    };
    check();
  });
  return performance.now() - started;
}
"""


def summary(values: list[float]) -> dict[str, float | int | None]:
    """Median, p50, p99 and max in milliseconds."""
    if not values:
        return {"n": 0, "p50": None, "p99": None, "max": None}
    ordered = sorted(values)
    pick = lambda q: round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)  # noqa: E731
    return {"n": len(ordered), "p50": pick(0.5), "p99": pick(0.99), "max": round(ordered[-1], 2)}


async def load_once(browser: Browser, url: str) -> tuple[float, float, dict[str, Any]]:
    """One cold, signed-in load: FCP, interactive, and bytes per resource kind."""
    context = await browser.new_context()
    await context.add_init_script(SIGNED_IN + INTERACTIVE)
    page = await context.new_page()
    responses: list[Any] = []
    page.on("response", lambda response: responses.append(response))
    await page.goto(url + "/#/projects", wait_until="load")
    await page.wait_for_function("() => window.__interactive !== undefined")
    await page.wait_for_load_state("networkidle")
    fcp = await page.evaluate("performance.getEntriesByName('first-contentful-paint')[0].startTime")
    interactive = await page.evaluate("window.__interactive")
    sizes: dict[str, dict[str, int]] = {}
    for response in responses:
        kind = response.request.resource_type
        if kind not in ("script", "stylesheet"):
            continue
        wire = (await response.request.sizes())["responseBodySize"]
        raw = len(await response.body())
        entry = sizes.setdefault(kind, {"files": 0, "transferred": 0, "uncompressed": 0})
        entry["files"] += 1
        entry["transferred"] += wire
        entry["uncompressed"] += raw
    await context.close()
    return fcp, interactive, sizes


async def first_load(browser: Browser, url: str, runs: int) -> dict[str, Any]:
    """Transfer sizes of a cold load, FCP and interactive times (medians of runs)."""
    loads = [await load_once(browser, url) for _ in range(runs)]
    sizes = loads[0][2]
    return {
        "js": sizes.get("script"),
        "css": sizes.get("stylesheet"),
        "first_contentful_paint_ms": round(statistics.median(load[0] for load in loads), 1),
        "interactive_ms": round(statistics.median(load[1] for load in loads), 1),
        "runs": runs,
    }


async def seed_session(http: httpx.AsyncClient, stub: StubLLMServer) -> tuple[str, str]:
    """A project whose global session holds 1,000 messages (500 turns)."""
    project = (await http.post("/projects", json={"name": "thousand"})).json()
    session = (await http.post(f"/projects/{project['id']}/sessions", json={})).json()
    stub.rule(Script(chunks=("ok, noted.",), usage={"prompt_tokens": 5, "completion_tokens": 3}))
    for i in range(500):
        answer = await http.post(
            f"/sessions/{session['session_id']}/messages",
            json={"prompt": f"message number {i}", "mode": "chat"},
            timeout=60,
        )
        answer.raise_for_status()
    stub.reset()
    return project["id"], session["session_id"]


async def open_thousand(browser: Browser, url: str, project_id: str, runs: int) -> dict[str, Any]:
    """In-app navigation to the session, and a full load of its URL, until painted."""
    context = await browser.new_context()
    await context.add_init_script(SIGNED_IN)
    page = await context.new_page()
    await page.goto(url + "/#/projects")
    await page.wait_for_selector("[data-screen='projects'] table")
    target = {"hash": f"#/p/{project_id}/chat", "text": "message number 499"}
    navigations, loads, rendered = [], [], 0
    for _ in range(runs):
        navigations.append(await page.evaluate(OPEN_SESSION, target))
        rendered = await page.locator(".vl-item").count()
        await page.evaluate("location.hash = '#/projects'")
        await page.wait_for_selector("[data-screen='projects'] table")
    for _ in range(runs):
        started = time.perf_counter()
        await page.goto(url + "/" + target["hash"])
        await page.get_by_text("message number 499").wait_for()
        await page.evaluate("new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)))")
        loads.append((time.perf_counter() - started) * 1000)
        await page.goto("about:blank")
    await context.close()
    return {
        "open_in_app_ms": round(statistics.median(navigations), 1),
        "open_by_page_load_ms": round(statistics.median(loads), 1),
        "messages": 1000,
        "message_elements_in_dom": rendered,
        "runs": runs,
    }


async def paint_lag(
    browser: Browser, url: str, http: httpx.AsyncClient, stub: StubLLMServer, chunks: int
) -> dict[str, Any]:
    """Stream `chunks` chunks at 200 a second and time each from socket to paint."""
    project = (await http.post("/projects", json={"name": "paint"})).json()
    context = await browser.new_context()
    await context.add_init_script(SIGNED_IN + PAINT_PROBE)
    page = await context.new_page()
    await page.goto(f"{url}/#/p/{project['id']}/chat")
    await page.get_by_label("Message", exact=True).wait_for()
    await page.get_by_role("radio", name="Chat").check()
    words = tuple(f"t{i} " for i in range(chunks))
    stub.script(Script(chunks=words, chunk_delay=1 / 200))
    started = time.perf_counter()
    await page.get_by_label("Message", exact=True).fill("stream fast")
    await page.keyboard.press("Enter")
    await page.locator(".msg.assistant .badge[data-status='success']").wait_for(timeout=60_000)
    elapsed = time.perf_counter() - started
    lags = await page.evaluate("window.__lags")
    await context.close()
    request = stub.requests[-1]
    sent = request.chunk_sent_at
    rate = (len(sent) - 1) / (sent[-1] - sent[0]) if len(sent) > 1 else None
    return {
        "chunks": chunks,
        "stub_rate_per_s": round(rate, 1) if rate else None,
        "lag_ms": summary(lags),
        "run_s": round(elapsed, 2),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--chunks", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vibeforge-bench-web-") as scratch:
        root = Path(scratch)
        database = f"sqlite+aiosqlite:///{root / 'bench.db'}"
        env = {"VIBEFORGE_ADMIN_TOKEN": TOKEN}
        async with StubLLMServer() as stub:
            with vibeforge_server(root / "data", database, env=env) as server:
                headers = {"Authorization": f"Bearer {TOKEN}"}
                async with httpx.AsyncClient(base_url=server.url, headers=headers) as http:
                    await http.post(
                        "/models",
                        json={
                            "name": "stub",
                            "provider": "openai-compatible",
                            "model": "stub-model",
                            "base_url": f"{stub.url}/v1",
                            "api_key": "sk-bench",
                            "is_default": True,
                        },
                    )
                    seeded = time.perf_counter()
                    project_id, _ = await seed_session(http, stub)
                    seed_s = time.perf_counter() - seeded
                    async with async_playwright() as playwright:
                        browser = await playwright.chromium.launch(
                            executable_path=CHROMIUM, args=CHROMIUM_ARGS
                        )
                        load = await first_load(browser, server.url, args.runs)
                        thousand = await open_thousand(browser, server.url, project_id, args.runs)
                        lag = await paint_lag(browser, server.url, http, stub, args.chunks)
                        version = browser.version
                        await browser.close()
    js = (load["js"] or {}).get("transferred", 0)
    result = {
        "browser": f"chromium {version} (headless)",
        "initial_load": load,
        "thousand_message_session": {**thousand, "seeded_in_s": round(seed_s, 1)},
        "streaming_200_per_s": lag,
        "goals": {
            "initial_js_gzip_le_250kb": js <= 250 * 1024,
            "fcp_le_1s": load["first_contentful_paint_ms"] <= 1000,
            "thousand_messages_le_1_5s": max(
                thousand["open_in_app_ms"], thousand["open_by_page_load_ms"]
            )
            <= 1500,
            "paint_lag_p99_le_100ms": (lag["lag_ms"]["p99"] or 1e9) <= 100,
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
