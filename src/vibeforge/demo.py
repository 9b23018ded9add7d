"""`vibeforge demo`: the whole coding pipeline, offline, on a temporary project, narrated.

It runs the real server stack in-process (migrations, REST API, run registry, event bus) with
the built-in offline model. The second request asks for a function whose return expression is
missing its closing parenthesis: the offline coder writes exactly that, the Python validator
reports the SyntaxError, and the fixer (the offline model again, given only that report and the
candidate file) repairs it before the evaluator approves and the edit is committed.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
from pathlib import Path
from typing import Any

import httpx

from vibeforge.runs.bus import project_topic

START = 'def greet(name):\n    return "Hello, " + name\n'
REQUESTS = (
    "rename greet to welcome",
    "add a function total that takes a, b and returns (a + b",  # the deliberate syntax error
)


def _print_event(event: Any) -> None:
    data = event.data
    if event.type == "stage_update" and data["status"] != "running":
        print(f"    stage {data['stage']:<15} {data['status']:<9} {data['duration_ms']:>8.1f} ms")
    elif event.type == "token_usage":
        usage = data["usage"]
        print(
            f"    llm   {data['role']:<9} iteration {data['iteration']}: "
            f"{usage['prompt_tokens']} prompt + {usage['completion_tokens']} completion tokens, "
            f"${usage['cost_usd'] or 0:.4f}"
        )
    elif event.type == "proposal":
        print(f"    proposal {data['proposal_id'][:8]} {data['status']}: {data['commit_message']}")
    elif event.type == "code_changed":
        print(f"    code_changed -> version {data['version_id'][:12]} ({', '.join(data['files'])})")


async def _watch(subscription: Any) -> None:
    while (event := await subscription.get()) is not None:
        _print_event(event)


def _tree(spans: list[dict[str, Any]]) -> list[str]:
    children: dict[str | None, list[dict[str, Any]]] = {}
    for span in spans:
        children.setdefault(span["parent_id"], []).append(span)
    lines: list[str] = []

    def walk(parent: str | None, depth: int) -> None:
        for span in children.get(parent, []):
            note = ""
            if span["kind"] == "validator" and span["attributes"].get("problems"):
                note = "  " + "; ".join(span["attributes"]["problems"])
            label = f"{'  ' * depth}{span['name']}"
            lines.append(f"    {label:<28} {span['duration_ms']:>8.1f} ms  {span['status']}{note}")
            walk(span["id"], depth + 1)

    walk(None, 0)
    return lines


async def _demo(root: Path) -> int:
    from vibeforge.app import create_app
    from vibeforge.config import Settings

    token = "vf_demo-" + secrets.token_hex(16)
    settings = Settings(
        data_dir=root / "data",
        database_url=None,
        admin_token=token,
        secret_key=secrets.token_hex(32),
        default_model="offline",
        openai_api_key=None,
        ollama_host=None,
        log_json=False,
    )
    app = create_app(settings)
    ok = True
    async with app.router.lifespan_context(app):
        services = app.state.services
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://demo", headers=headers
        ) as http:
            project = await http.post("/projects", json={"name": "demo", "main_file": "app.py"})
            project_id = project.json()["id"]
            await http.put(f"/projects/{project_id}/files/app.py", json={"content": START})
            model = {"name": "offline", "provider": "offline", "model": "offline"}
            model["params"] = {"extra": {"chunk_delay": 0.002}}
            await http.post("/models", json=model)
            session = await http.post(f"/projects/{project_id}/sessions", json={})
            session_id = session.json()["session_id"]
            print("vibeforge demo: the coding pipeline with the offline model (no LLM provider)")
            print(f"project {project_id}, app.py:\n{START}")
            subscription = services.bus.subscribe()
            services.bus.follow(subscription, project_topic(project_id))
            watcher = asyncio.create_task(_watch(subscription))
            for number, prompt in enumerate(REQUESTS, start=1):
                print(f"[{number}] user: {prompt}")
                answer = await http.post(
                    f"/sessions/{session_id}/messages",
                    json={"prompt": prompt, "model": "offline"},
                    timeout=60,
                )
                outcome = answer.json()
                await asyncio.sleep(0.05)  # let the watcher print the last events first
                usage = outcome["token_usage"]
                print(
                    f"    => {outcome['status']}; counters {outcome.get('counters')}; "
                    f"{usage['calls']} LLM calls, {usage['total_tokens']} tokens"
                )
                if outcome.get("diff"):
                    print(
                        "    diff:\n"
                        + "".join(f"      {line}\n" for line in outcome["diff"].splitlines())
                    )
                trace = (await http.get(f"/traces/{outcome['trace_id']}")).json()
                print(f"    trace {outcome['trace_id']}:")
                print("\n".join(_tree(trace["spans"])))
                ok = ok and outcome["status"] == "success"
            services.bus.unsubscribe(subscription)
            watcher.cancel()
            final = (await http.get(f"/projects/{project_id}/files/app.py")).json()["content"]
            print(f"\napp.py now:\n{final}")
            by_role = (await http.get("/usage", params={"group_by": "role"})).json()
            print("usage by role:")
            for group in by_role["groups"]:
                print(
                    f"    {group['key']:<10} {group['calls']} calls, {group['total_tokens']} tokens"
                )
            print(f"counters: {by_role['counters']}")
            try:
                compile(final, "app.py", "exec")
            except SyntaxError:
                ok = False
            fixed = by_role["counters"]["fix_iterations"] >= 1
            ok = ok and fixed and "def total(a, b):" in final and "def welcome" in final
    print("\ndemo " + ("succeeded" if ok else "FAILED"))
    return 0 if ok else 1


def run_demo() -> int:
    """Run the demo in a temporary directory; 0 when every step went as designed."""
    with tempfile.TemporaryDirectory(prefix="vibeforge-demo-") as scratch:
        return asyncio.run(_demo(Path(scratch)))
