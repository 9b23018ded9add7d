"""The cross-user sweep: one user makes one of every resource; another calls every operation
of the OpenAPI schema with those ids. Generated from the schema, so a new route is swept
without editing this file (a new path parameter needs its resource in `_make_everything`)."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import httpx
from PIL import Image

from tests.servers import RunningServer
from tests.stubs import STUB_KEY

MARKER = "owner-only-content-5c2e"
# The administrators' routes: making users, and managing budgets (a non-administrator is
# refused 403 whatever the id, so the answer says nothing of whether the budget exists;
# reading someone else's budget is 404, as any resource).
ADMIN_ONLY = {
    ("POST", "/users"),
    ("POST", "/budgets"),
    ("PATCH", "/budgets/{budget_id}"),
    ("DELETE", "/budgets/{budget_id}"),
}
# Body, form and query fields that name a resource: the intruder sends the owner's.
ID_FIELDS = {
    "project_id": "project_id",
    "session_id": "session_id",
    "persona_id": "persona_id",
    "module_id": "module_id",
    "config_id": "config_id",
    "user_id": "user_id",
    "workspace_id": "project_id",  # the workspace agent's workspace is a project (docs/compat.md)
    "target_id": "project_id",  # a workspace upload's target (a chat's, with is_chat)
    "owner_id": "user_id",
    "chat_id": "chat_id",  # a workspace chat is a session (docs/compat.md)
    "file_id": "attachment_id",  # a workspace file is an attachment
}


async def _user(http: httpx.AsyncClient, email: str) -> httpx.AsyncClient:
    created = (await http.post("/users", json={"email": email})).json()
    return httpx.AsyncClient(
        base_url=str(http.base_url),
        headers={"Authorization": f"Bearer {created['token']}"},
        timeout=60,
    )


async def _make_everything(owner: httpx.AsyncClient, admin: httpx.AsyncClient) -> dict[str, str]:
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
    persona = await ok(
        await owner.post("/personas", json={"name": f"pe-{MARKER}", "template": MARKER})
    )
    image = io.BytesIO()
    Image.new("RGB", (4, 4), (1, 2, 3)).save(image, "PNG")
    await ok(await owner.post(f"/personas/{persona['id']}/image", content=image.getvalue()))
    module = await ok(
        await owner.post("/modules", json={"name": "owner_module", "content": MARKER})
    )
    attachment = await ok(
        await owner.post(
            "/attachments",
            params={"session_id": session["session_id"]},
            files={"file": ("notes.txt", f"{MARKER}\n".encode(), "text/plain")},
        )
    )
    budget = await ok(
        await admin.post(
            "/budgets",
            json={
                "scope": "project",
                "subject_id": pid,
                "period": "month",
                "unit": "tokens",
                "cap": 1_000_000,
                "name": MARKER,
            },
        )
    )
    conversation = await ok(
        await owner.post("/api/conversations", json={"persona_id": persona["id"]})
    )
    said = await ok(
        await owner.post(
            f"/sessions/{conversation['id']}/messages", json={"prompt": MARKER, "mode": "chat"}
        )
    )
    chat = await ok(
        await owner.post(
            "/chat/new",
            data={
                "user_id": (await ok(await owner.get("/me")))["id"],
                "workspace_id": pid,
                "chat_name": f"c-{MARKER}",
            },
        )
    )
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
        "persona_id": persona["id"],
        "module_id": module["id"],
        "attachment_id": attachment["id"],
        "budget_id": budget["id"],
        "conversation_id": conversation["id"],
        "conversation_message_id": said["message_id"],
        "user_id": (await ok(await owner.get("/me")))["id"],
        "chat_id": chat["chat_id"],
        "file_id": attachment["id"],
        "model_id": model["id"],
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
        if name == "message_id" and path.startswith("/api/messages/"):
            return ids["conversation_message_id"]  # a message of one of the owner's conversations
        return ids[name] if name in ids else ids[ID_FIELDS[name]]  # another name for it

    return re.sub(r"\{(\w+)\}", value, path)


def _request(
    operation: dict[str, Any], components: dict[str, Any], ids: dict[str, str]
) -> dict[str, Any]:
    """The intruder's request: minimal bodies, with every field naming a resource the owner's."""
    owned = {field: ids[name] for field, name in ID_FIELDS.items()}
    query = {
        p["name"]: owned[p["name"]]
        for p in operation.get("parameters", [])
        if p["in"] == "query" and p["name"] in owned
    }
    if any(p["name"] == "wait" for p in operation.get("parameters", [])):
        query["wait"] = "false"
    content = operation.get("requestBody", {}).get("content", {})
    request: dict[str, Any] = {"params": query or None}
    if "application/json" in content:
        body = _body(content["application/json"]["schema"], components)
        if isinstance(body, dict):
            properties = content["application/json"]["schema"]
            if "$ref" in properties:
                properties = components[properties["$ref"].rsplit("/", 1)[1]]
            body |= {f: v for f, v in owned.items() if f in properties.get("properties", {})}
        request["json"] = body
    elif "multipart/form-data" in content:
        properties = content["multipart/form-data"]["schema"].get("properties", {})
        request["data"] = {
            name: owned.get(name, field["enum"][0] if "enum" in field else f"{name}-value")
            for name, field in properties.items()
            if field.get("type") == "string" and field.get("format") != "binary"
        }
        if "file" in properties:
            request["files"] = {"file": ("f.txt", b"intruder\n", "text/plain")}
    return request


async def _cross_references(intruder: httpx.AsyncClient, ids: dict[str, str]) -> None:
    """The intruder's own resources pointed at the owner's: 404, and nothing of the owner's."""
    project = (await intruder.post("/projects", json={"name": "mine"})).json()["id"]
    session = (await intruder.post(f"/projects/{project}/sessions", json={})).json()
    persona = {"persona_id": ids["persona_id"]}
    probes = [
        await intruder.put(f"/sessions/{session['session_id']}/persona", json=persona),
        await intruder.put(f"/projects/{project}/persona", json=persona),
        await intruder.post("/templates/resolve", json={"template": "@owner_module"}),
        await intruder.post(
            "/templates/resolve", json={"template": "x", "session_id": ids["session_id"]}
        ),
    ]
    # A run of the intruder's own session given the owner's persona, model config (by id or
    # by name: the owner's key would pay) or attachment.
    said = f"/sessions/{session['session_id']}/messages"
    for borrowed in (
        persona,
        {"model": ids["config_id"]},
        {"model": f"m-{MARKER}"},
        {"attachments": [ids["attachment_id"]]},
    ):
        probes.append(await intruder.post(said, json={"prompt": "hi", "mode": "chat"} | borrowed))
    # The workspace agent's login with the owner's email and the intruder's own token.
    mine = (await intruder.get("/me")).json()
    probes.append(
        await intruder.post(
            "/auth/login",
            json={"email": "owner@example.com", "token": intruder.headers["Authorization"][7:]},
        )
    )
    # The owner's workspace in the intruder's own name; a form field naming the owner's session.
    chat = {"user_id": mine["id"], "workspace_id": ids["project_id"], "chat_name": "x"}
    probes.append(await intruder.post("/chat/new", data=chat))
    probes.append(
        await intruder.post(
            "/attachments",
            data={"session_id": ids["session_id"]},
            files={"file": ("f.txt", b"intruder\n", "text/plain")},
        )
    )
    # The owner's version of main.py read through the intruder's own project (one git
    # repository each: another's commit is no version of this project).
    await intruder.put(f"/projects/{project}/files/main.py", json={"content": "x = 1\n"})
    version = {"version_id": ids["version_id"]}
    for read in ("/files/main.py", "/files/main.py/raw", "/export"):
        probes.append(await intruder.get(f"/projects/{project}{read}", params=version))
    probes.append(await intruder.get(f"/projects/{project}/versions/{ids['version_id']}/diff"))
    conversation = (await intruder.post("/api/conversations", json={})).json()["id"]
    probes.append(await intruder.put(f"/api/conversations/{conversation}", json=persona))
    statuses = [probe.status_code for probe in probes]
    # An unknown module is a template error (422, naming it), the owner's is unknown here;
    # a token that is not the email's user's is 401 (docs/compat.md).
    expected = [404, 404, 422, 404, 404, 404, 404, 404, 401, 404, 404] + [404] * 5
    assert statuses == expected, [(p.status_code, p.text[:200]) for p in probes]
    # The model name asked for is echoed back ("no model config 'NAME'"); nothing else may be.
    leaked = [
        p.text for p in probes if MARKER in p.text and MARKER.encode() not in p.request.read()
    ]
    assert not leaked, leaked


# Operations that answer the intruder something other than 404, each for its reason.
EXPECTED: dict[tuple[str, str], int] = {
    # `project_id` filters the caller's own LLM calls, which outlive their project (no foreign
    # key, so a deleted project's usage stays reportable): another user's project is the
    # caller's zero totals, and the sweep checks none of the owner's calls is in the answer.
    ("GET", "/usage"): 200,
    ("GET", "/usage/export"): 200,
}


async def test_another_user_gets_404_on_every_operation_and_none_of_the_owners_data(
    server: RunningServer, http: httpx.AsyncClient
) -> None:
    owner = await _user(http, "owner@example.com")
    intruder = await _user(http, "intruder@example.com")
    ids = await _make_everything(owner, http)
    # The owner has calls on the project, so the usage answers below could leak them.
    mine = (await owner.get("/usage", params={"project_id": ids["project_id"]})).json()
    assert mine["total"]["calls"] > 0, mine
    secrets = {MARKER, STUB_KEY} | {value for name, value in ids.items() if name != "path"}
    schema = (await http.get("/openapi.json")).json()
    components = schema.get("components", {}).get("schemas", {})
    swept = 0
    failures = []
    for method, path, operation in _operations(schema):
        request = _request(operation, components, ids)
        response = await intruder.request(method, _concrete(path, ids), **request)
        swept += 1
        # An id the intruder sent may be echoed back ("no project 'ID'"); nothing else may.
        sent = str(response.request.url) + json.dumps(request, default=str)
        leaked = [secret for secret in secrets if secret in response.text and secret not in sent]
        carries_owner_id = any(value in sent for value in ids.values() if len(value) > 8)
        if (method, path) in ADMIN_ONLY:
            expected = 403
        elif (method, path) in EXPECTED:
            expected = EXPECTED[(method, path)]
        elif "{" in path or carries_owner_id:
            expected = 404
        else:
            expected = None
        wrong = (
            response.status_code >= 500 if expected is None else response.status_code != expected
        )
        if leaked or wrong:
            failures.append((method, path, response.status_code, leaked, response.text[:300]))
    assert not failures, "\n".join(map(str, failures))
    await _cross_references(intruder, ids)
    # What the intruder could reach did not change the owner's world.
    me = await owner.get(f"/projects/{ids['project_id']}/files/main.py")
    assert me.status_code == 200 and MARKER in me.json()["content"]
    assert (await owner.get("/auth/tokens")).status_code == 200
    for kept in (
        "/personas/{persona_id}",
        "/personas/{persona_id}/image",
        "/modules/{module_id}",
        "/attachments/{attachment_id}",
        "/budgets/{budget_id}",
        "/api/conversations/{conversation_id}",
    ):
        assert (await owner.get(_concrete(kept, ids))).status_code == 200, kept
    print(f"cross-user sweep: {swept} operations")
    assert swept == sum(len(methods) for methods in schema["paths"].values())
    assert server.crashes() == [], server.crashes()
    await owner.aclose()
    await intruder.aclose()
