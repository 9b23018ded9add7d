"""No client mistake is a 500: random bodies, ids and query values on every route."""

from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=10,
)
path_values = st.sampled_from(["x", "0", "-1", "a" * 300, "%00", "..%2F..", "ü", "null", "1e9"])


async def _routes(client: httpx.AsyncClient) -> list[tuple[str, str, dict[str, Any]]]:
    schema = (await client.get("/openapi.json")).json()
    routes = []
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            routes.append((method.upper(), path, operation))
    return routes


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_random_requests_never_cause_a_server_error(
    client: httpx.AsyncClient, data: st.DataObject
) -> None:
    routes = await _routes(client)
    method, path, operation = data.draw(st.sampled_from(routes))
    concrete = path
    while "{" in concrete:
        start, end = concrete.index("{"), concrete.index("}")
        concrete = concrete[:start] + data.draw(path_values) + concrete[end + 1 :]
    params = {
        p["name"]: data.draw(st.text(max_size=12) | st.integers().map(str))
        for p in operation.get("parameters", [])
        if p.get("in") == "query"
    }
    body = data.draw(json_values) if method in ("POST", "PUT", "PATCH") else None
    response = await client.request(method, concrete, params=params, json=body)
    assert response.status_code < 500, (method, concrete, params, body, response.text)
    if response.status_code >= 400:
        assert set(response.json()) == {"error", "detail"}


async def test_nul_anywhere_in_a_request_is_refused_before_the_database(
    client: httpx.AsyncClient,
) -> None:
    project = (await client.post("/projects", json={"name": "p"})).json()
    for path in ["/projects/%00", f"/projects/{project['id']}/versions/%00/diff", "/runs/a%00b"]:
        response = await client.get(path)
        assert response.status_code == 422, (path, response.text)
    listed = await client.get("/projects", params={"cursor": "\x00"})
    assert listed.status_code == 422
    for body in [{"name": "a\x00b"}, {"name": "ok", "description": "\x00"}]:
        assert (await client.post("/projects", json=body)).status_code == 422
    model = {"name": "m", "provider": "offline", "model": "offline", "params": {"user": "\x00"}}
    assert (await client.post("/models", json=model)).status_code == 422
