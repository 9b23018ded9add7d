"""Model config rules: a server to talk to for openai-compatible, the built-in offline model
by name, and administrators' shared configs that every user may use but never see into."""

from typing import Any

import httpx

from tests.stubs import STUB_KEY, create_stub_model
from vibeforge.llm.stub import Script, StubLLMServer


async def test_openai_compatible_without_base_url_is_refused(client: httpx.AsyncClient) -> None:
    body = {"name": "local", "provider": "openai-compatible", "model": "m", "api_key": "sk-x"}
    refused = await client.post("/models", json=body)
    assert refused.status_code == 422
    assert "needs base_url" in refused.json()["detail"]
    made = (await client.post("/models", json={**body, "base_url": "http://127.0.0.1:9/v1"})).json()
    cleared = await client.patch(f"/models/{made['id']}", json={"base_url": None})
    assert cleared.status_code == 422, "nor may an update take it away"
    assert (await client.get(f"/models/{made['id']}")).json()["base_url"] == "http://127.0.0.1:9/v1"
    openai = {"name": "oa", "provider": "openai", "model": "gpt", "api_key": "sk-x"}
    assert (await client.post("/models", json=openai)).status_code == 201, "openai has its own"


async def test_the_offline_model_is_selectable_by_name_with_another_default(
    client: httpx.AsyncClient, stub: StubLLMServer, stub_model: dict[str, Any], session_id: str
) -> None:
    answer = await client.post(
        f"/sessions/{session_id}/messages",
        json={"prompt": "hello there", "mode": "chat", "model": "offline"},
    )
    assert answer.status_code == 200, answer.text
    assert "offline model" in answer.json()["content"]
    assert stub.requests == [], "the default (stub) model was not used"


async def test_a_shared_config_is_usable_by_everyone_and_its_secrets_stay_hidden(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    shared = await create_stub_model(client, stub, name="team", shared=True)
    assert shared["shared"] is True and shared["owned"] is True
    await create_stub_model(client, stub, name="admin-only", is_default=False)

    listed = (await other_client.get("/models")).json()["items"]
    assert [m["name"] for m in listed] == ["team"], "only the shared one, not the admin's own"
    seen = listed[0]
    assert seen["owned"] is False and seen["base_url"] is None and seen["is_default"] is False
    assert STUB_KEY not in str(listed) and stub.url not in str(listed)
    assert (await other_client.get("/models/admin-only")).status_code == 404

    project = (await other_client.post("/projects", json={"name": "p"})).json()
    session = (await other_client.post(f"/projects/{project['id']}/sessions", json={})).json()
    stub.script(Script(chunks=("from the team model",)))
    answer = await other_client.post(
        f"/sessions/{session['session_id']}/messages",
        json={"prompt": "hi", "mode": "chat", "model": "team"},
    )
    assert answer.json()["content"] == "from the team model"
    assert stub.requests[-1].headers.get("authorization") == f"Bearer {STUB_KEY}"
    full = (await other_client.get(f"/messages/{answer.json()['message_id']}/full")).text
    assert STUB_KEY not in full

    for change in (
        other_client.patch(f"/models/{shared['id']}", json={"model": "x"}),
        other_client.delete(f"/models/{shared['id']}"),
    ):
        assert (await change).status_code == 403
    assert (await client.get(f"/models/{shared['id']}")).json()["model"] == "stub-model"


async def test_only_an_admin_may_share_and_an_own_config_wins_over_a_shared_name(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    body = {
        "name": "team",
        "provider": "openai-compatible",
        "model": "mine",
        "base_url": f"{stub.url}/v1",
        "shared": True,
    }
    refused = await other_client.post("/models", json=body)
    assert refused.status_code == 403
    await create_stub_model(client, stub, name="team", shared=True)
    own = (await other_client.post("/models", json={**body, "shared": False})).json()
    assert (await other_client.get("/models/team")).json()["id"] == own["id"]
    made = await other_client.post("/models", json={**body, "name": "mine2", "shared": False})
    assert (
        await other_client.patch(f"/models/{made.json()['id']}", json={"shared": True})
    ).status_code == 403


async def test_a_shared_default_is_the_default_of_users_without_one(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    project = (await other_client.post("/projects", json={"name": "p"})).json()
    session = (await other_client.post(f"/projects/{project['id']}/sessions", json={})).json()
    before = await other_client.post(
        f"/sessions/{session['session_id']}/messages", json={"prompt": "hi", "mode": "chat"}
    )
    assert "offline model" in before.json()["content"]
    await create_stub_model(client, stub, name="team", shared=True, is_default=True)
    stub.script(Script(chunks=("team default",)))
    after = await other_client.post(
        f"/sessions/{session['session_id']}/messages", json={"prompt": "hi", "mode": "chat"}
    )
    assert after.json()["content"] == "team default", "the cached default was dropped at once"
