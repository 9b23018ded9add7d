"""Real sandbox runs of a project's program: pass, fail, crash, timeout, flood, escape."""

from __future__ import annotations

import httpx

from tests.testcases.conftest import make_project, make_test, run

ECHO = "import sys\nprint(sys.stdin.read().upper())\n"


async def test_a_program_that_behaves_passes(client: httpx.AsyncClient) -> None:
    project_id = await make_project(client, {"main.py": ECHO})
    test = await make_test(
        client,
        project_id,
        input_prompt="hello",
        checks=[{"type": "equals", "value": "HELLO"}, {"type": "stderr_empty"}],
    )
    suite = await run(client, test["id"])
    (result,) = suite["runs"]
    assert result["status"] == "passed", result
    assert result["output"] == "HELLO\n"
    assert result["exit_code"] == 0
    assert result["isolation"] == "bubblewrap"
    assert result["environment"] == "base"
    assert [c["passed"] for c in result["checks"]] == [True, True, True]
    assert suite["summary"]["passed"] == 1
