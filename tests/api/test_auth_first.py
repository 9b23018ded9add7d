"""Authentication comes before parsing: a request without a valid token answers 401 (with
`WWW-Authenticate: Bearer`) whatever else is wrong with it: a malformed or mistyped body, a
bad query or path parameter, a body over the size cap. The routes come from the OpenAPI
schema, so a new route is covered (or, if it is public, must be listed here)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import socketio
from fastapi import FastAPI
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.conftest import ADMIN_TOKEN
from tests.servers import serve_in_process

# /auth/signin takes a one-time code instead of a token (tests/api/test_web.py).
# /auth/login checks its own email and token (the workspace system's, docs/compat.md).
PUBLIC = {("GET", "/"), ("GET", "/health"), ("POST", "/auth/signin"), ("POST", "/auth/login")}
HUGE = str(1 << 40)
BODY_PROBLEMS = {
    "malformed JSON",
    "JSON of the wrong type",
    "not JSON at all",
    "a body over the cap",
}  # a declared Content-Length no server would read


def _bad_query_value(schema: dict[str, Any]) -> str:
    """A value the parameter's schema refuses."""
    options = [s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"]
    kind = options[0] if options else {}
    if "enum" in kind:
        return "no-such-choice"
    if kind.get("type") in ("integer", "number"):
        return "not-a-number"
    if kind.get("type") == "boolean":
        return "maybe"
    if kind.get("format") == "date-time":
        return "not-a-date"
    if "maxLength" in kind:
        return "x" * (kind["maxLength"] + 1)
    return "\x00"


async def _operations(client: httpx.AsyncClient) -> list[tuple[str, str, dict[str, Any]]]:
    schema = (await client.get("/openapi.json")).json()
    return [
        (method.upper(), path, operation)
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    ]


def _url(path: str, value: str = "x") -> str:
    while "{" in path:
        start, end = path.index("{"), path.index("}")
        path = path[:start] + value + path[end + 1 :]
    return path


def _bad_requests(path: str, operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each way a request to this operation can be wrong, as httpx.request arguments."""
    as_json = {"content-type": "application/json"}
    bad: dict[str, dict[str, Any]] = {
        "malformed JSON": {"content": b'{"name": ', "headers": as_json},
        "JSON of the wrong type": {"content": b"[1, 2, 3]", "headers": as_json},
        "not JSON at all": {"content": b"name=x", "headers": {"content-type": "text/plain"}},
        "a body over the cap": {"content": b"{}", "headers": {**as_json, "content-length": HUGE}},
        "a NUL in the query": {"params": {"q": "\x00"}},
    }
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "query":
            value = _bad_query_value(parameter.get("schema", {}))
            bad[f"a bad ?{parameter['name']}"] = {"params": {parameter["name"]: value}}
    if "{" in path:
        bad["a NUL in the path"] = {"url": _url(path, "%00")}
    return bad


@pytest.fixture
async def anonymous(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app that sends no token unless told to."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://vibeforge.test") as http:
        yield http


@pytest.fixture
async def revoked_token(client: httpx.AsyncClient) -> str:
    """A token that worked until it was revoked."""
    issued = (await client.post("/auth/tokens", json={"name": "soon revoked"})).json()
    assert (await client.delete(f"/auth/tokens/{issued['id']}")).status_code == 204
    return issued["token"]


async def test_only_the_listed_routes_are_public(client: httpx.AsyncClient) -> None:
    public = {
        (method, path) for method, path, op in await _operations(client) if not op.get("security")
    }
    assert public == PUBLIC


async def test_every_authenticated_route_answers_401_before_looking_at_the_request(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, revoked_token: str
) -> None:
    credentials = {
        "no token": {},
        "an unknown token": {"Authorization": "Bearer vf_not-a-token-of-anyone"},
        "a revoked token": {"Authorization": f"Bearer {revoked_token}"},
        "an empty bearer": {"Authorization": "Bearer "},
        "another scheme": {"Authorization": f"Basic {ADMIN_TOKEN}"},
    }
    operations = [op for op in await _operations(client) if op[:2] not in PUBLIC]
    assert len(operations) > 30
    wrong = []
    for method, path, operation in operations:
        for problem, request in _bad_requests(path, operation).items():
            for who, headers in credentials.items():
                arguments = {"url": _url(path), **request}
                arguments["headers"] = {**arguments.get("headers", {}), **headers}
                response = await anonymous.request(method, **arguments)
                if (
                    response.status_code != 401
                    or response.headers.get("www-authenticate") != "Bearer"
                    or response.json()["error"] != "unauthorized"
                ):
                    wrong.append((method, path, problem, who, response.status_code))
    assert wrong == []


async def test_with_a_valid_token_the_same_requests_are_refused_for_what_is_wrong(
    client: httpx.AsyncClient,
) -> None:
    """The inputs above are really wrong: with a token they fail, and not as unauthorized."""
    expected = {
        "malformed JSON": 400,
        "JSON of the wrong type": 422,
        "not JSON at all": 415,  # told to send JSON with its content type
        "a body over the cap": 413,
        "a NUL in the query": 422,
        "a NUL in the path": 422,
    }
    wrong = []
    for method, path, operation in await _operations(client):
        takes = operation.get("requestBody", {}).get("content", {})
        for problem, request in _bad_requests(path, operation).items():
            if problem in BODY_PROBLEMS and not takes:
                continue  # a route that takes no body does not read one
            response = await client.request(method, **{"url": _url(path), **request})
            status = expected.get(problem, 422)
            if "multipart/form-data" in takes and problem in BODY_PROBLEMS - {
                "a body over the cap"
            }:
                status = 415  # an upload route: JSON or text is the wrong media type
            if response.status_code != status:
                wrong.append((method, path, problem, response.status_code, response.text[:200]))
    assert wrong == []


async def test_a_streamed_body_over_the_cap_is_401_unread_or_413_when_authenticated(
    app: FastAPI, anonymous: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    cap = app.state.services.settings.max_body_bytes
    sent = 0

    async def body() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        nonlocal sent
        for _ in range(cap // 65536 + 2):
            sent += 65536
            yield b"x" * 65536

    project = (await client.post("/projects", json={"name": "big"})).json()["id"]
    url = f"/projects/{project}/files/big.txt"
    headers = {"content-type": "application/json"}
    refused = await anonymous.put(url, content=body(), headers=headers)
    assert refused.status_code == 401
    assert sent == 0  # the server never asked for a byte of it
    too_large = await client.put(url, content=body(), headers=headers)
    assert too_large.status_code == 413, too_large.text
    assert too_large.json()["error"] == "payload_too_large"
    assert (await client.get(url)).status_code == 404


async def test_an_unauthenticated_socket_is_told_unauthorized_whatever_it_sends(
    app: FastAPI,
) -> None:
    first_frames: list[str | bytes] = [
        "{not json",
        "[1, 2]",
        '"auth"',
        "null",
        b"\x00\x01binary",
        json.dumps({"type": "chat", "data": {"session_id": "x", "prompt": "hi"}}),
        json.dumps({"type": "auth", "data": "a-token"}),
        json.dumps({"type": "auth", "data": {"token": 5}}),
        json.dumps({"type": "auth", "data": {"token": "vf_not-a-token-of-anyone"}}),
    ]
    async with serve_in_process(app) as url:
        ws_url = url.replace("http://", "ws://") + "/ws"
        for frame in first_frames:
            async with connect(ws_url) as socket:
                await socket.send(frame)
                reply = json.loads(await socket.recv())
                assert reply["type"] == "error" and reply["data"]["code"] == "unauthorized", frame
                with pytest.raises(ConnectionClosed) as closed:
                    await socket.recv()
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401, frame
        for query in ["?token=vf_not-a-token", "?token=%00"]:
            with pytest.raises(InvalidStatus):
                await connect(ws_url + query)


async def test_socketio_refuses_a_connection_whatever_its_auth_payload(app: FastAPI) -> None:
    payloads: list[Any] = [None, "a-token", 5, [ADMIN_TOKEN], {"token": 5}, {"token": "nope"}]
    async with serve_in_process(app) as url:
        for auth in payloads:
            client = socketio.AsyncClient()
            with pytest.raises(socketio.exceptions.ConnectionError):
                await client.connect(url, auth=auth, transports=["websocket"])
            await client.disconnect()
        for query in ["?token=nope", "?token=%00"]:
            client = socketio.AsyncClient()
            with pytest.raises(socketio.exceptions.ConnectionError):
                await client.connect(url + query, transports=["websocket"])
            await client.disconnect()
        accepted = socketio.AsyncClient()  # the same server lets a valid token in
        await accepted.connect(url, auth={"token": ADMIN_TOKEN}, transports=["websocket"])
        assert accepted.connected
        await accepted.disconnect()
