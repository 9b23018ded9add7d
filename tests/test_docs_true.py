"""The docs say what exists: every REST route and field is in docs/protocol.md, every file the
docs name is in the repository, and the README's commands, run literally, do what it says."""

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import httpx

from tests.servers import vibeforge_server

ROOT = Path(__file__).resolve().parent.parent
PROTOCOL = (ROOT / "docs" / "protocol.md").read_text()
# The reference systems' routes (api/compat/) are documented with their mapping instead.
COMPAT = (ROOT / "docs" / "compat.md").read_text()
COMPAT_PREFIXES = ("/api/", "/workspace/", "/file/", "/chat/")
# The workspace system's, among vibeforge's own.
COMPAT_PATHS = ("/auth/login", "/models/new", "/models/delete/{}")  # shapes
README = (ROOT / "README.md").read_text()
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _shape(path: str) -> str:
    """A route path with its parameters unnamed: `/projects/{id}` ~ `/projects/{project_id}`."""
    return re.sub(r"\{[^}]+\}", "{}", path)


def _is_compat(path: str) -> bool:
    """Whether a route is a reference system's (documented in docs/compat.md)."""
    return path.startswith(COMPAT_PREFIXES) or _shape(path) in COMPAT_PATHS


def _documented_routes(text: str = PROTOCOL) -> set[tuple[str, str]]:
    """(METHOD, shape) of every row of the endpoint table."""
    rows = re.findall(r"^\| ([A-Z, ]+) \| `([^`]+)` \|", text, re.M)
    return {
        (method.strip(), _shape(path)) for methods, path in rows for method in methods.split(",")
    }


async def test_every_route_and_no_other_is_in_the_endpoint_table(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    routes = {
        (method.upper(), _shape(path))
        for path, operations in schema["paths"].items()
        for method in operations
    }
    compat = {route for route in routes if _is_compat(route[1])}
    documented = _documented_routes()
    assert routes - compat - documented == set(), "routes missing from docs/protocol.md"
    assert documented - routes == set(), "docs/protocol.md lists routes that do not exist"
    in_compat = _documented_routes(COMPAT)
    assert compat - in_compat == set(), "compat routes missing from docs/compat.md"
    assert in_compat - compat == set(), "docs/compat.md lists routes that do not exist"


async def test_every_body_field_and_query_parameter_is_named_in_the_protocol(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/openapi.json")).json()
    components = schema["components"]["schemas"]
    missing = set()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            ref = body.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1]
            names += list(components.get(ref, {}).get("properties", {}))
            # A compat route re-using a body of vibeforge's own has its fields in either page.
            text = COMPAT + PROTOCOL if _is_compat(path) else PROTOCOL
            missing |= {
                f"{method.upper()} {path}: {name}"
                for name in names
                if f"`{name}" not in text and f"`?{name}" not in text
            }
    assert missing == set()


def test_the_docs_name_only_files_inside_the_repository() -> None:
    outside, absent = [], []
    for doc in DOCS:
        text = doc.read_text()
        links = [t for t in re.findall(r"\]\(([^)#\s]+)", text) if not re.match(r"[a-z]+:", t)]
        named = re.findall(r"`((?:\.\./|docs/|src/|bench/|tests/|scripts/)[\w./-]+)`", text)
        targets = [(doc.parent, t) for t in links]
        targets += [(doc.parent if t.startswith("../") else ROOT, t) for t in named]
        for base, target in targets:
            resolved = (base / target).resolve()
            if ROOT not in resolved.parents:
                outside.append(f"{doc.name}: {target}")
            elif not resolved.exists():
                absent.append(f"{doc.name}: {target}")
        for name in re.findall(r"`([\w-]+\.md)`", text):
            if not ((ROOT / "docs" / name).exists() or (ROOT / name).exists()):
                absent.append(f"{doc.name}: {name}")
    assert outside == [], "docs must not point outside the repository"
    assert absent == []


def _json_values(text: str) -> list[Any]:
    """The JSON values curl printed one after another (with no newline between them)."""
    decoder, values, position = json.JSONDecoder(), [], 0
    while (start := text.find("{", position)) != -1:
        value, position = decoder.raw_decode(text, start)
        values.append(value)
    return values


def _blocks(section: str) -> list[str]:
    """The shell blocks of a README section, in order."""
    part = README.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```\n(.*?)^```$", part, re.M | re.S)


def test_the_readme_quick_start_and_using_it_run_literally(
    tmp_path: Path, database_url: str
) -> None:
    quick = _blocks("Quick start")
    assert quick[0].split() == ["make", "run", "make", "test"]
    token_line = next(b for b in quick if b.startswith("TOKEN=$(cat data/admin-token)"))
    using = _blocks("Using it")
    with vibeforge_server(tmp_path / "data", database_url) as server:
        port = server.url.rsplit(":", 1)[1]
        script = "set -eu\n" + token_line + "\n" + using[0]
        script = script.replace("localhost:8000", f"127.0.0.1:{port}")
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIBEFORGE_")}
        done = subprocess.run(
            ["bash", "-c", script],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        outputs = _json_values(done.stdout)
        hello, write, answer = outputs[0], outputs[1], outputs[-1]
        assert hello["name"] == "hello", "the quick start's project"
        assert write["changed"] is True
        assert answer["status"] == "success", answer
        assert "+def welcome(name):" in answer["diff"]
        assert all(output.get("error") is None for output in outputs), outputs
        assert server.crashes() == []
    first_start: dict[str, Any] = {"output": server.output()}
    assert "created user admin@localhost" in first_start["output"]
