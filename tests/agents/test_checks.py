"""The project's own check runs in the sandbox on every candidate edit; failures go to the
fixer, exactly as printed."""

import httpx
import pytest

from tests.agents.conftest import make_project, roles, sr, verdict
from vibeforge.llm.stub import StubLLMServer

APP = "def double(x):\n    return x * 2\n"
TESTS = (
    "import unittest\n\nfrom app import double\n\n\n"
    "class DoubleTest(unittest.TestCase):\n"
    "    def test_double(self):\n"
    "        self.assertEqual(double(21), 42)\n"
)
CHECK = ["python3", "-m", "unittest", "discover", "-q"]


async def test_a_failing_check_goes_to_the_fixer(
    client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    project = await make_project(client, stub, files={"app.py": APP, "test_app.py": TESTS})
    patched = await client.patch(f"/projects/{project.id}", json={"check_command": CHECK})
    assert patched.status_code == 200, patched.text
    assert patched.json()["check_command"] == CHECK
    stub.script(
        # The coder's edit parses but breaks the behaviour the project's test pins down.
        sr("app.py", "    return x * 2\n", "    return x * 2 + 1  # off by one\n"),
        sr("app.py", "    return x * 2 + 1  # off by one\n", "    return x + x\n"),
        verdict(True),
    )
    outcome = (await project.say("write double without multiplication")).json()
    assert outcome["status"] == "success", outcome
    assert roles(stub) == ["coder", "fixer", "evaluator"]
    fixer_prompt = stub.requests[1].body["messages"][-1]["content"]
    assert (
        "the project check `python3 -m unittest discover -q` exited with status 1" in fixer_prompt
    )
    assert "AssertionError: 43 != 42" in fixer_prompt
    assert await project.read("app.py") == "def double(x):\n    return x + x\n"
    trace = (await client.get(f"/traces/{outcome['trace_id']}")).json()
    checks = [span for span in trace["spans"] if span["name"] == "validate.check"]
    assert [span["status"] for span in checks] == ["error", "ok"]


async def test_a_passing_check_lets_the_edit_through(
    client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    project = await make_project(client, stub, files={"app.py": APP, "test_app.py": TESTS})
    await client.patch(f"/projects/{project.id}", json={"check_command": CHECK})
    stub.script(sr("app.py", "    return x * 2\n", "    return 2 * x\n"), verdict(True))
    outcome = (await project.say("swap the operands")).json()
    assert outcome["status"] == "success", outcome
    assert roles(stub) == ["coder", "evaluator"]


async def test_a_check_that_hangs_is_stopped_and_reported(
    client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    project = await make_project(client, stub, files={"app.py": APP})
    await client.patch(
        f"/projects/{project.id}",
        json={
            "check_command": ["python3", "-c", "while True: pass"],
            "check_timeout_s": 1,
        },
    )
    stub.script(sr("app.py", "    return x * 2\n", "    return 2 * x\n"))
    stub.rule(sr("app.py", "    return 2 * x\n", "    return 2 * x\n"))
    outcome = (await project.say("swap")).json()
    assert outcome["status"] == "error"
    assert "was stopped (timeout)" in outcome["error"] or "was stopped (cpu)" in outcome["error"]
    assert (await project.read("app.py")) == APP, "nothing unchecked is committed"


@pytest.mark.parametrize(
    "body",
    [
        {"check_command": []},
        {"check_command": [""]},
        {"check_command": "python3 -m unittest"},
        {"check_command": ["python3", 5]},
        {"check_command": ["a\u0000b"]},
        {"check_timeout_s": 0},
        {"check_timeout_s": 10_000},
        {"name": ""},
        {"main_file": "../x.py"},
        {"surprise": 1},
    ],
)
async def test_invalid_project_updates_are_422(
    client: httpx.AsyncClient, body: dict[str, object]
) -> None:
    project = (await client.post("/projects", json={"name": "p"})).json()
    response = await client.patch(f"/projects/{project['id']}", json=body)
    assert response.status_code == 422, response.text


async def test_project_update_is_private_and_reversible(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient
) -> None:
    project = (await client.post("/projects", json={"name": "p"})).json()
    assert (
        await other_client.patch(f"/projects/{project['id']}", json={"name": "stolen"})
    ).status_code == 404
    updated = await client.patch(
        f"/projects/{project['id']}",
        json={"name": "renamed", "description": "d", "auto_apply": False, "check_command": CHECK},
    )
    body = updated.json()
    assert (body["name"], body["description"], body["auto_apply"]) == ("renamed", "d", False)
    cleared = await client.patch(f"/projects/{project['id']}", json={"check_command": None})
    assert cleared.json()["check_command"] is None
    assert cleared.json()["name"] == "renamed"
