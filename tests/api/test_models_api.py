"""Model configs over REST: keys encrypted at rest, never returned, scoped to their owner."""

import asyncio
from typing import Any

import httpx
import pytest

from tests.stubs import STUB_KEY, create_stub_model
from vibeforge.llm.stub import Script, StubLLMServer


async def test_create_hides_the_key_and_encrypts_it_at_rest(
    app: Any, client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    created = await create_stub_model(client, stub)
    assert created["has_api_key"] is True
    assert STUB_KEY not in str(created)
    for response in [await client.get("/models"), await client.get(f"/models/{created['id']}")]:
        assert STUB_KEY not in response.text

    from sqlalchemy import select

    from vibeforge.db.chat_tables import ModelConfig

    async with app.state.services.db.transaction() as session:
        stored = await session.scalar(select(ModelConfig.api_key_encrypted))
    assert stored and STUB_KEY not in stored
    assert app.state.services.secrets.decrypt(stored) == STUB_KEY


async def test_update_and_delete(client: httpx.AsyncClient, stub: StubLLMServer) -> None:
    created = await create_stub_model(client, stub)
    patched = await client.patch(
        f"/models/{created['id']}", json={"name": "renamed", "params": {"temperature": 0.2}}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "renamed"
    assert patched.json()["params"] == {"temperature": 0.2}
    assert (await client.get("/models/renamed")).json()["id"] == created["id"]
    removed = await client.patch(f"/models/{created['id']}", json={"api_key": None})
    assert removed.json()["has_api_key"] is False
    assert (await client.delete(f"/models/{created['id']}")).status_code == 204
    assert (await client.get(f"/models/{created['id']}")).status_code == 404


async def test_test_endpoint_reports_latency_or_the_provider_error(
    client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    created = await create_stub_model(client, stub)
    stub.script(Script(chunks=("OK",)))
    ok = (await client.post(f"/models/{created['id']}/test")).json()
    assert ok["ok"] is True and ok["latency_ms"] >= 0
    assert (
        stub.requests[-1].body["max_tokens"] == 1
        or stub.requests[-1].body.get("max_completion_tokens") == 1
    )

    stub.script(Script(status=401, error_message="invalid key"))
    failed = (await client.post(f"/models/{created['id']}/test")).json()
    assert failed["ok"] is False
    assert failed["error"]


async def test_prices_are_per_million_tokens(
    client: httpx.AsyncClient, stub: StubLLMServer, project_id: str, session_id: str
) -> None:
    await create_stub_model(
        client, stub, prices={"input_per_million": 3.0, "output_per_million": 15.0}
    )
    stub.script(
        Script(chunks=("x",), usage={"prompt_tokens": 2_000_000, "completion_tokens": 100_000})
    )
    outcome = (
        await client.post(f"/sessions/{session_id}/messages", json={"prompt": "p", "mode": "chat"})
    ).json()
    # 2M prompt tokens at $3/M + 0.1M completion tokens at $15/M = $6 + $1.5
    assert outcome["token_usage"]["cost_usd"] == pytest.approx(7.5)


async def test_provider_reported_cost_wins(
    client: httpx.AsyncClient, stub: StubLLMServer, session_id: str
) -> None:
    await create_stub_model(
        client, stub, prices={"input_per_million": 3.0, "output_per_million": 15.0}
    )
    stub.script(
        Script(chunks=("x",), usage={"prompt_tokens": 10, "completion_tokens": 10, "cost": 0.0042})
    )
    outcome = (
        await client.post(f"/sessions/{session_id}/messages", json={"prompt": "p", "mode": "chat"})
    ).json()
    assert outcome["token_usage"]["cost_usd"] == pytest.approx(0.0042)


async def test_models_are_private(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    created = await create_stub_model(client, stub)
    assert (await other_client.get("/models")).json()["items"] == []
    for method, path in [
        ("GET", f"/models/{created['id']}"),
        ("PATCH", f"/models/{created['id']}"),
        ("DELETE", f"/models/{created['id']}"),
        ("POST", f"/models/{created['id']}/test"),
        ("GET", "/models/stub"),
    ]:
        response = await other_client.request(method, path, json={} if method == "PATCH" else None)
        assert response.status_code == 404, (method, path)


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "provider": "skynet", "model": "m"},
        {"name": "x", "provider": "openai"},
        {"name": "", "provider": "openai", "model": "m"},
        {"name": "x", "provider": "openai", "model": "m", "base_url": "file:///etc/passwd"},
        {"name": "x", "provider": "openai", "model": "m", "params": {"temperature": 5}},
        {"name": "x", "provider": "openai", "model": "m", "params": {"bogus": 1}},
        {"name": "x", "provider": "openai", "model": "m", "prices": {"input_per_million": -1}},
        {"name": "x", "provider": "openai", "model": "m", "edit_format": "poetry"},
        {"name": "x", "provider": "openai", "model": "m", "surprise": True},
    ],
)
async def test_invalid_configs_are_422(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    response = await client.post("/models", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"] in ("validation_error", "invalid_parameter", "invalid_input")


async def test_duplicate_name_is_409(client: httpx.AsyncClient, stub: StubLLMServer) -> None:
    await create_stub_model(client, stub)
    again = await client.post(
        "/models", json={"name": "stub", "provider": "offline", "model": "offline"}
    )
    assert again.status_code == 409


async def test_health_names_the_default_model(client: httpx.AsyncClient) -> None:
    health = (await client.get("/health")).json()
    assert "offline" in health["model"]["default"]


async def test_a_new_default_model_applies_to_the_next_run_at_once(
    app: Any, client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    services = app.state.services
    owner = await services.users.authenticate(client.headers["authorization"].split()[1])
    assert (await services.models.resolve(owner)).config_id is None  # the server's default
    first = await create_stub_model(client, stub)
    assert (await services.models.resolve(owner)).config_id == first["id"]
    second = await create_stub_model(client, stub, name="second")
    assert (await services.models.resolve(owner)).config_id == second["id"]
    await client.patch(f"/models/{second['id']}", json={"is_default": False})
    assert (await services.models.resolve(owner)).config_id is None
    await client.patch(f"/models/{first['id']}", json={"is_default": True})
    assert (await services.models.resolve(owner)).config_id == first["id"]
    await client.delete(f"/models/{first['id']}")
    assert (await services.models.resolve(owner)).config_id is None


async def test_a_burst_of_runs_resolves_its_model_with_one_lookup(
    app: Any, client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    from sqlalchemy import event

    services = app.state.services
    owner = await services.users.authenticate(client.headers["authorization"].split()[1])
    config = await create_stub_model(client, stub)
    queries: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if "FROM model_configs" in statement:
            queries.append(statement)

    engine = services.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        defaults = await asyncio.gather(*(services.models.resolve(owner) for _ in range(50)))
        named = await asyncio.gather(
            *(services.models.resolve(owner, config["id"]) for _ in range(50))
        )
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert {resolved.config_id for resolved in defaults + named} == {config["id"]}
    assert len(queries) == 2, "one lookup for the default, one for the named config"
    # A change is seen by the next run at once, named or by default.
    await client.patch(f"/models/{config['id']}", json={"model": "other-model"})
    assert (await services.models.resolve(owner, config["id"])).spec.model == "other-model"
    assert (await services.models.resolve(owner)).spec.model == "other-model"
