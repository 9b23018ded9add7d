"""The coding pipeline end to end, against the stub LLM server over real HTTP."""

from __future__ import annotations

import httpx

from tests.agents.conftest import APP_PY, make_project, roles, sr, verdict
from vibeforge.llm.stub import StubLLMServer


async def test_clean_success_commits_the_edit_with_the_evaluators_message(
    client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    project = await make_project(client, stub)
    stub.script(
        sr("app.py", "def greet(name):\n", "def welcome(name):\n"),
        verdict(True, message="Rename greet to welcome"),
    )
    answer = await project.say("rename greet to welcome")
    assert answer.status_code == 200, answer.text
    outcome = answer.json()
    assert outcome["status"] == "success", outcome
    assert outcome["proposal_status"] == "applied"
    assert outcome["diff"].startswith("--- a/app.py\n+++ b/app.py\n")
    assert "-def greet(name):\n+def welcome(name):\n" in outcome["diff"]
    assert await project.read("app.py") == APP_PY.replace("def greet", "def welcome")
    assert roles(stub) == ["coder", "evaluator"]
    versions = (await client.get(f"/projects/{project.id}/versions")).json()["items"]
    assert versions[0]["message"] == "Rename greet to welcome"
    assert versions[0]["id"] == outcome["version_id"]
    proposal = (await client.get(f"/proposals/{outcome['proposal_id']}")).json()
    assert proposal["status"] == "applied"
    assert proposal["base_version"] == versions[1]["id"]
    assert proposal["files"] == {"app.py": APP_PY.replace("def greet", "def welcome")}
    run = (await client.get(f"/runs/{outcome['run_id']}")).json()
    assert [stage["name"] for stage in run["stages"]] == [
        "resolve_prompt",
        "generate",
        "validate",
        "evaluate",
        "apply",
    ]
    assert all(stage["status"] == "finished" for stage in run["stages"])
