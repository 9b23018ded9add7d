"""The coding pipeline end to end, against the stub LLM server over real HTTP."""

from __future__ import annotations

import httpx

from tests.agents.conftest import (
    APP_PY,
    calls_of,
    drain,
    follow_project,
    make_project,
    roles,
    sr,
    verdict,
)
from vibeforge.llm.stub import Script, StubLLMServer


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


BROKEN = "def welcome(name:\n"


async def test_syntax_error_goes_to_the_fixer_whose_edit_applies_to_the_candidate(
    app, client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    project = await make_project(client, stub)
    events = follow_project(app, project.id)
    stub.script(
        sr("app.py", "def greet(name):\n", BROKEN),
        sr("app.py", BROKEN, "def welcome(name):\n", intro="Closing the parenthesis."),
        verdict(True),
    )
    outcome = (await project.say("rename greet to welcome")).json()
    assert outcome["status"] == "success", outcome
    assert outcome["counters"] == {"malformed_edits": 0, "fix_iterations": 1, "eval_rejections": 0}
    assert await project.read("app.py") == APP_PY.replace("def greet", "def welcome")
    assert roles(stub) == ["coder", "fixer", "evaluator"]
    fixer_prompt = stub.requests[1].body["messages"][-1]["content"]
    assert "app.py:1:" in fixer_prompt and "SyntaxError" in fixer_prompt
    assert BROKEN in fixer_prompt  # the candidate, not the original, is what the fixer edits
    calls = await calls_of(client, outcome["message_id"])
    assert [(c["role"], c["iteration"], c["status"]) for c in calls] == [
        ("coder", 1, "success"),
        ("fixer", 1, "success"),
        ("evaluator", 1, "success"),
    ]
    kinds = [(e.type, e.data.get("stage"), e.data.get("status")) for e in drain(events)]
    stages = [(stage, status) for kind, stage, status in kinds if kind == "stage_update"]
    assert stages == [
        (name, status)
        for name in (
            "resolve_prompt",
            "generate",
            "validate",
            "fix",
            "validate",
            "evaluate",
            "apply",
        )
        for status in ("running", "finished")
    ]
    assert [k for k, _, _ in kinds].count("token_usage") == 3
    assert ("proposal", None, "applied") in kinds
    changed = [e for e in kinds if e[0] == "code_changed"]
    assert len(changed) == 1


async def test_an_edit_that_does_not_apply_is_reported_to_the_fixer(
    client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    project = await make_project(client, stub)
    stub.script(
        sr("app.py", "def greeting(name):\n", "def welcome(name):\n"),
        sr("app.py", "def greet(name):\n", "def welcome(name):\n"),
        verdict(True),
    )
    outcome = (await project.say("rename greet to welcome")).json()
    assert outcome["status"] == "success", outcome
    assert outcome["counters"]["malformed_edits"] == 1
    fixer_prompt = stub.requests[1].body["messages"][-1]["content"]
    assert "The edit to app.py was not applied" in fixer_prompt
    assert "def greeting(name):" in fixer_prompt  # the failed search text
    assert "def greet(name):" in fixer_prompt  # the closest real lines
    assert await project.read("app.py") == APP_PY.replace("def greet", "def welcome")


async def test_fixing_gives_up_after_max_fix_iterations(
    client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    project = await make_project(client, stub)
    stub.script(sr("app.py", "def greet(name):\n", BROKEN))
    for _ in range(3):
        stub.script(sr("app.py", "no such line\n", "x\n"))
    outcome = (await project.say("rename greet to welcome")).json()
    assert outcome["status"] == "error"
    assert "after 3 fix iterations" in outcome["error"]
    assert outcome["proposal_id"] is None
    assert roles(stub) == ["coder", "fixer", "fixer", "fixer"]
    assert await project.read("app.py") == APP_PY


async def test_a_rejection_goes_back_to_the_coder_who_starts_from_the_original(
    client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    project = await make_project(client, stub)
    stub.script(
        sr("app.py", "def greet(name):\n", "def welcome(name):\n"),
        verdict(False, reasoning="The user wants the name hello."),
        sr("app.py", "def greet(name):\n", "def hello(name):\n"),
        verdict(True, message="Rename greet to hello"),
    )
    outcome = (await project.say("rename greet")).json()
    assert outcome["status"] == "success", outcome
    assert outcome["counters"]["eval_rejections"] == 1
    assert await project.read("app.py") == APP_PY.replace("def greet", "def hello")
    redo = stub.requests[2].body["messages"][-1]["content"]
    assert "The user wants the name hello." in redo
    calls = await calls_of(client, outcome["message_id"])
    assert [(c["role"], c["iteration"]) for c in calls] == [
        ("coder", 1),
        ("evaluator", 1),
        ("coder", 2),
        ("evaluator", 2),
    ]


async def test_rejected_every_round_is_an_error_without_a_commit(
    client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    project = await make_project(client, stub)
    for _ in range(2):
        stub.script(
            sr("app.py", "def greet(name):\n", "def welcome(name):\n"), verdict(False, "No.")
        )
    outcome = (await project.say("rename greet to welcome")).json()
    assert outcome["status"] == "error"
    assert "rejected the change 2 times" in outcome["error"]
    assert await project.read("app.py") == APP_PY


async def test_a_question_instead_of_an_edit_needs_input(
    client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    project = await make_project(client, stub)
    stub.script(Script(chunks=("Which function ", "should I rename?")))
    outcome = (await project.say("rename it")).json()
    assert outcome["status"] == "needs_input"
    assert outcome["content"] == "Which function should I rename?"
    assert outcome["proposal_id"] is None
    assert len(stub.requests) == 1
    messages = (await client.get(f"/sessions/{project.session_id}/messages")).json()["items"]
    assert messages[-1]["status"] == "needs_input"


async def test_an_answer_without_edits_is_a_success_without_a_proposal(
    client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    project = await make_project(client, stub)
    stub.script(
        sr("app.py", "def greet(name):\n", "def welcome(name):\n"),
        verdict(True),
        Script(chunks=("It already does that.",)),
    )
    await project.say("rename greet to welcome")
    outcome = (await project.say("make sure welcome returns a string")).json()
    assert outcome["status"] == "success" and outcome["proposal_id"] is None
    assert len(stub.requests) == 3
    sent = stub.requests[-1].body["messages"]
    assert [m["content"] for m in sent[1:]] == [
        "rename greet to welcome",
        "Here is the change.\n\napp.py\n(code omitted: see the current files)\n",
        "make sure welcome returns a string",
    ]
    assert "def welcome(name):" in sent[0]["content"]  # the current file, in the system prompt


async def test_the_model_configs_edit_format_is_asked_for_and_applied(
    client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    project = await make_project(client, stub)
    config = (await client.get("/models/stub")).json()
    changed = await client.patch(f"/models/{config['id']}", json={"edit_format": "udiff"})
    assert changed.status_code == 200, changed.text
    diff = (
        "Renaming.\n\n```diff\n--- a/app.py\n+++ b/app.py\n@@ -1,2 +1,2 @@\n"
        '-def greet(name):\n+def welcome(name):\n     return "Hello, " + name\n```\n'
    )
    stub.script(Script(chunks=(diff,)), verdict(True))
    outcome = (await project.say("rename greet to welcome")).json()
    assert outcome["status"] == "success", outcome
    assert "unified diff" in stub.requests[0].body["messages"][0]["content"]
    assert await project.read("app.py") == APP_PY.replace("def greet", "def welcome")
