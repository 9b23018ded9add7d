"""Schemathesis against a live server: every operation of /openapi.json, every check (no
5xx, responses true to their schema, documented statuses, input the schema allows accepted and
what it forbids refused, 405 with `Allow`, auth enforced) plus the error shape on every 4xx;
its phases include stateful sequences following the links it infers (create, read, delete)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx

from tests.reliability.budget import SOAK, scaled
from tests.reliability.secrets_scan import exchanges, leaks, stored_secrets
from tests.servers import RunningServer
from tests.stubs import STUB_KEY, TOKEN

HERE = Path(__file__).parent
CLI = Path(sys.executable).parent / "schemathesis"


def run_schemathesis(server: RunningServer, examples: int, report: Path) -> str:
    """Run the CLI against the server; its whole output (the test fails on a non-zero exit)."""
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.reliability.fuzz_hooks",
        "VIBEFORGE_FUZZ_URL": server.url,
        "VIBEFORGE_FUZZ_TOKEN": TOKEN,
        "PYTHONPATH": str(HERE.parent.parent),
    }
    command = [
        str(CLI),
        "--config-file",
        str(HERE / "schemathesis.toml"),
        "run",
        f"{server.url}/openapi.json",
        "--max-examples",
        str(examples),
        "--workers",
        "2" if SOAK else "1",  # one worker in `make test`: with the seed, the same draws each run
        "--suppress-health-check",
        "too_slow",  # a slow draw on a loaded 2-core machine is not a finding
        "--request-timeout",
        "60",
        "--report",
        "junit,vcr",
        "--report-junit-path",
        str(report),
        "--report-vcr-path",
        str(report.with_suffix(".yaml")),
        "--output-sanitize",
        "false",  # the cassette keeps every token and key, for the secrets scan
    ]
    if not SOAK:
        # `make test` replays the same examples (CI judges the code, not the draw) and skips
        # the coverage phase (every boundary and negative case of the schema: over a minute
        # here); `make soak` runs every phase with fresh examples.
        command += ["--seed", "17", "--phases", "fuzzing,stateful"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600)
    output = done.stdout + done.stderr
    report.with_suffix(".log").write_text(output)  # the whole account, beside the report
    assert done.returncode == 0, output[-20000:]
    return output


def test_schemathesis_finds_no_failure_on_any_operation(
    server: RunningServer, tmp_path: Path
) -> None:
    admin = {"Authorization": f"Bearer {TOKEN}"}
    seeded = {  # a stored key the fuzzer can read the config of, for the secrets scan
        "name": "seeded",
        "provider": "openai-compatible",
        "model": "m",
        "base_url": "http://127.0.0.1:9/v1",
        "api_key": STUB_KEY,
    }
    assert httpx.post(f"{server.url}/models", json=seeded, headers=admin).status_code == 201
    output = run_schemathesis(server, scaled(8, 300), tmp_path / "junit.xml")
    generated = re.search(r"(\d+) generated", output)
    assert generated and int(generated.group(1)) > 400, output[-3000:]
    operations = re.search(r"Tested: (\d+)", output)
    schema = httpx.get(f"{server.url}/openapi.json").json()
    every = sum(len(methods) for methods in schema["paths"].values())
    assert operations and int(operations.group(1)) == every, output[-3000:]
    print(f"schemathesis: {generated.group(1)} cases on {every} operations")
    # The fuzzer revoked tokens only of the users it made for that: its own still works.
    me = httpx.get(f"{server.url}/me", headers=admin)
    assert me.status_code == 200, me.text
    assert server.crashes() == [], server.crashes()

    # Secrets: no token or key the run stored is in any later answer, the log or the database.
    every = exchanges(tmp_path / "junit.yaml")
    secrets = stored_secrets(every, TOKEN)
    secrets.keys.add(STUB_KEY)
    assert len(secrets.tokens) > 1, "the run was issued tokens: the scan is not vacuous"
    database = b"".join(path.read_bytes() for path in tmp_path.glob("test.db*"))
    assert leaks(every, secrets, server.log(), database) == []
    print(
        f"secrets scan: {len(secrets.tokens)} tokens, {len(secrets.keys)} keys, "
        f"{len(every)} answers, the log and {len(database)} database bytes"
    )
