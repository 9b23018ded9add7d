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


async def test_a_wrong_answer_fails_naming_what_was_seen(client: httpx.AsyncClient) -> None:
    project_id = await make_project(client, {"main.py": ECHO})
    test = await make_test(
        client, project_id, input_prompt="hello", checks=[{"type": "equals", "value": "hello"}]
    )
    (result,) = (await run(client, test["id"]))["runs"]
    assert result["status"] == "failed"
    assert result["reason"] == "equals failed: expected 'hello', saw 'HELLO\\n'"


async def test_a_crash_fails_on_its_exit_status(client: httpx.AsyncClient) -> None:
    project_id = await make_project(client, {"main.py": "raise SystemExit('boom')\n"})
    test = await make_test(client, project_id, checks=[{"type": "contains", "value": ""}][:0])
    (result,) = (await run(client, test["id"]))["runs"]
    assert result["status"] == "failed"
    assert result["exit_code"] == 1
    assert "boom" in result["stderr"]
    assert result["checks"][0] == {
        "type": "exit_code",
        "passed": False,
        "expected": 0,
        "saw": 1,
        "detail": "implied",
    }


async def test_an_expected_exit_status_replaces_the_implied_one(client: httpx.AsyncClient) -> None:
    project_id = await make_project(client, {"main.py": "raise SystemExit(3)\n"})
    test = await make_test(client, project_id, checks=[{"type": "exit_code", "value": 3}])
    (result,) = (await run(client, test["id"]))["runs"]
    assert result["status"] == "passed", result["reason"]


async def test_a_program_past_its_time_is_stopped_and_fails(client: httpx.AsyncClient) -> None:
    project_id = await make_project(client, {"main.py": "import time\ntime.sleep(60)\n"})
    patched = await client.patch(f"/projects/{project_id}/test-settings", json={"timeout_s": 1})
    assert patched.status_code == 200, patched.text
    test = await make_test(client, project_id)
    (result,) = (await run(client, test["id"]))["runs"]
    assert result["status"] == "failed"
    assert result["killed_reason"] == "timeout"
    assert result["checks"][0]["type"] == "completed"
    assert 900 < result["duration_ms"] < 5000


async def test_an_output_flood_is_cut_off(client: httpx.AsyncClient) -> None:
    flood = "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n"
    project_id = await make_project(client, {"main.py": flood})
    test = await make_test(client, project_id)
    (result,) = (await run(client, test["id"]))["runs"]
    assert result["status"] == "failed"
    assert result["killed_reason"] == "output_limit"
    assert result["truncated"] is True
    assert len(result["output"]) == 256 * 1024


ESCAPE = r"""
import os, socket, sys
target = sys.stdin.read().strip()
def attempt(name, action):
    try:
        action()
        print(name, "ESCAPED")
    except Exception as error:
        print(name, "blocked", type(error).__name__)
attempt("read-secret", lambda: print(open(target + "/planted-secret").read()))
attempt("list-data", lambda: print(os.listdir(target)))
attempt("write-host", lambda: open("/tmp/../root/vibeforge-escape", "w").write("x"))
attempt("write-usr", lambda: open("/usr/vibeforge-escape", "w").write("x"))
attempt("network", lambda: socket.create_connection(("1.1.1.1", 80), timeout=2))
attempt("server-env", lambda: print(open("/proc/1/environ").read()[:0] or 1 / 0))
"""


async def test_a_program_that_tries_to_escape_stays_inside(
    client: httpx.AsyncClient, settings
) -> None:  # type: ignore[no-untyped-def]
    data_dir = settings.resolved_data_dir
    secret = "planted-secret-0123456789"
    (data_dir / "planted-secret").write_text(secret)
    (data_dir / "planted-secret").chmod(0o644)  # only the sandbox's view may protect it
    project_id = await make_project(client, {"main.py": ESCAPE})
    test = await make_test(
        client,
        project_id,
        input_prompt=str(data_dir),
        checks=[{"type": "not_contains", "value": "ESCAPED"}],
    )
    (result,) = (await run(client, test["id"]))["runs"]
    assert result["status"] == "passed", result["output"] + result["stderr"]
    lines = dict(line.split(" ", 1) for line in result["output"].splitlines())
    assert set(lines) == {
        "read-secret",
        "list-data",
        "write-host",
        "write-usr",
        "network",
        "server-env",
    }
    assert all(outcome.startswith("blocked") for outcome in lines.values())
    assert secret not in result["output"]
    assert not (data_dir.parent / "vibeforge-escape").exists()
