"""The cross-user sweep: one user makes one of every resource; another calls every operation
of the OpenAPI schema with those ids. Generated from the schema, so a new route is swept
without editing this file (a new path parameter needs its resource in `_make_everything`)."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.servers import RunningServer
from tests.stubs import STUB_KEY

MARKER = "owner-only-content-5c2e"
ADMIN_ONLY = {("POST", "/users")}


async def _user(http: httpx.AsyncClient, email: str) -> httpx.AsyncClient:
    created = (await http.post("/users", json={"email": email})).json()
    return httpx.AsyncClient(
        base_url=str(http.base_url),
        headers={"Authorization": f"Bearer {created['token']}"},
        timeout=60,
    )


async def _make_everything(owner: httpx.AsyncClient) -> dict[str, str]:
    """One of every resource the API addresses by id, named by its path parameter."""

    async def ok(response: httpx.Response) -> dict[str, Any]:
        assert response.status_code < 300, (response.request.url, response.text)
        return response.json() if response.content else {}

    model = await ok(
        await owner.post(
            "/models",
            json={
                "name": f"m-{MARKER}",
                "provider": "offline",
                "model": "offline",
                "api_key": STUB_KEY,
                "is_default": True,
            },
        )
    )
    project = await ok(await owner.post("/projects", json={"name": f"p-{MARKER}"}))
    pid = project["id"]
    await ok(await owner.patch(f"/projects/{pid}", json={"auto_apply": False}))
    written = await ok(
        await owner.put(f"/projects/{pid}/files/main.py", json={"content": f"x = '{MARKER}'\n"})
    )
    session = await ok(await owner.post(f"/projects/{pid}/sessions", json={}))
    run = await ok(
        await owner.post(
            f"/sessions/{session['session_id']}/messages",
            json={"prompt": "rename x to y", "mode": "code"},
        )
    )
    test = await ok(
        await owner.post(
            f"/projects/{pid}/tests",
            json={"name": f"t-{MARKER}", "input_prompt": MARKER, "checks": []},
        )
    )
    suite = await ok(await owner.post(f"/tests/{test['id']}/run", json={}))
    token = await ok(await owner.post("/auth/tokens", json={"name": MARKER}))
    ids = {
        "config_id": model["id"],
        "project_id": pid,
        "path": "main.py",
        "version_id": written["version_id"],
        "session_id": session["session_id"],
        "message_id": run["message_id"],
        "run_id": run["run_id"],
        "trace_id": run.get("trace_id") or "",
        "proposal_id": run.get("proposal_id") or "",
        "test_id": test["id"],
        "suite_id": suite["id"],
        "token_id": token["id"],
    }
    runs = (await owner.get(f"/tests/{test['id']}/runs")).json()["items"]
    ids["test_run_id"] = runs[0]["id"]
    assert all(ids.values()), ids
    return ids


def _body(schema: dict[str, Any], components: dict[str, Any], name: str = "value") -> Any:
    """A minimal value of a request body's schema (its required fields, simple values)."""
    if "$ref" in schema:
        return _body(components[schema["$ref"].rsplit("/", 1)[1]], components, name)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return _body(schema[key][0], components, name)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        return {
            name: _body(properties[name], components, name) for name in schema.get("required", [])
        }
    if "enum" in schema:
        return schema["enum"][0]
    return {"string": f"{name}.py", "integer": 1, "number": 1, "boolean": False, "array": []}.get(
        kind or "string"
    )


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    ]


def _concrete(path: str, ids: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "run_id" and path.startswith("/test-runs/"):
            return ids["test_run_id"]
        return ids[name]

    return re.sub(r"\{(\w+)\}", value, path)


async def test_another_user_gets_404_on_every_operation_and_none_of_the_owners_data(
    server: RunningServer, http: httpx.AsyncClient
) -> None:
    owner = await _user(http, "owner@example.com")
    intruder = await _user(http, "intruder@example.com")
    ids = await _make_everything(owner)
    secrets = {MARKER, STUB_KEY} | {value for name, value in ids.items() if name != "path"}
    schema = (await http.get("/openapi.json")).json()
    components = schema.get("components", {}).get("schemas", {})
    swept = 0
    for method, path, operation in _operations(schema):
        body = None
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" in content:
            body = _body(content["application/json"]["schema"], components)
        params = (
            {"wait": "false"}
            if any(p["name"] == "wait" for p in operation.get("parameters", []))
            else None
        )
        response = await intruder.request(method, _concrete(path, ids), json=body, params=params)
        swept += 1
        # An id the intruder sent may be echoed back ("no project 'ID'"); nothing else may.
        sent = str(response.request.url)
        leaked = [secret for secret in secrets if secret in response.text and secret not in sent]
        assert not leaked, (method, path, response.status_code, leaked, response.text[:500])
        if (method, path) in ADMIN_ONLY:
            assert response.status_code == 403, (method, path, response.text)
        elif "{" in path:
            assert response.status_code == 404, (method, path, response.status_code, response.text)
        else:
            assert response.status_code < 500, (method, path, response.text)
    # What the intruder could reach did not change the owner's world.
    me = await owner.get(f"/projects/{ids['project_id']}/files/main.py")
    assert me.status_code == 200 and MARKER in me.json()["content"]
    assert (await owner.get("/auth/tokens")).status_code == 200
    print(f"cross-user sweep: {swept} operations")
    assert swept == sum(len(methods) for methods in schema["paths"].values())
    assert server.crashes() == [], server.crashes()
    await owner.aclose()
    await intruder.aclose()
