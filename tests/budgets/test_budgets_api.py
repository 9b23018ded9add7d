"""Budgets over REST and through the OpenAI-compatible endpoint of an in-process app: who may
manage and see them, many concurrent calls through the stub against a small cap, and
threshold webhooks, signed and retried, to a real receiver."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from typing import Any

import httpx
import openai
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.conftest import ADMIN_TOKEN
from tests.servers import serve_in_process
from tests.stubs import app_openai_client, create_stub_model
from vibeforge.budgets.webhooks import SIGNATURE_HEADER, WebhookSender
from vibeforge.db.chat_tables import LLMCall
from vibeforge.llm.stub import Script, StubLLMServer

HELLO = [{"role": "user", "content": "hello there"}]
PRICES = {"input_per_million": 1.0, "output_per_million": 2.0}


def sdk(app: FastAPI, token: str = ADMIN_TOKEN) -> openai.AsyncOpenAI:
    return app_openai_client(app, token)  # type: ignore[no-any-return]


async def me(client: httpx.AsyncClient) -> str:
    return (await client.get("/me")).json()["id"]


def user_budget(subject_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "scope": "user",
        "subject_id": subject_id,
        "period": "day",
        "unit": "usd",
        "cap": 5,
        **extra,
    }


async def test_admins_manage_budgets_and_users_see_only_their_own(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient
) -> None:
    other_id = await me(other_client)
    theirs = await client.post("/budgets", json=user_budget(other_id, name="other's"))
    assert theirs.status_code == 201, theirs.text
    mine = await client.post("/budgets", json=user_budget(await me(client), name="admin's"))
    assert mine.status_code == 201
    assert theirs.json()["owner_id"] == other_id
    assert (theirs.json()["cap"], theirs.json()["spent"], theirs.json()["remaining"]) == (5, 0, 5)

    seen = (await other_client.get("/budgets")).json()["items"]
    assert [b["name"] for b in seen] == ["other's"]
    assert len((await client.get("/budgets")).json()["items"]) == 2
    hidden = await other_client.get(f"/budgets/{mine.json()['id']}")
    assert hidden.status_code == 404 and hidden.json()["error"] == "not_found"

    refused = await other_client.post("/budgets", json=user_budget(other_id))
    assert refused.status_code == 403
    budget_id = theirs.json()["id"]
    assert (await other_client.patch(f"/budgets/{budget_id}", json={"cap": 50})).status_code == 403
    assert (await other_client.delete(f"/budgets/{budget_id}")).status_code == 403

    changed = await client.patch(f"/budgets/{budget_id}", json={"cap": 7.5, "thresholds": [0.5]})
    assert (changed.json()["cap"], changed.json()["thresholds"]) == (7.5, [0.5])
    assert (await client.delete(f"/budgets/{budget_id}")).status_code == 204
    assert (await other_client.get("/budgets")).json()["items"] == []


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"thresholds": [1.5]}, 422),
        ({"cap": 0}, 422),
        ({"cap": -1}, 422),
        ({"period": "year"}, 422),
        ({"unit": "eur"}, 422),
        ({"subject_id": "no-such-user"}, 404),
        ({"webhook_url": "ftp://x"}, 422),
        ({"surprise": 1}, 422),
    ],
)
async def test_bad_budgets_are_refused_with_the_error_shape(
    client: httpx.AsyncClient, change: dict[str, Any], status: int
) -> None:
    response = await client.post("/budgets", json={**user_budget(await me(client)), **change})
    assert response.status_code == status, response.text
    assert set(response.json()) == {"error", "detail"}


async def test_many_concurrent_calls_through_the_stub_end_within_the_cap_plus_one_call(
    app: FastAPI, client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    await create_stub_model(client, stub, prices=PRICES)
    # Each call reserves ~(prompt + 50 output tokens) and uses 40 output tokens.
    stub.rule(Script(chunks=tuple(f"t{n} " for n in range(40)), chunk_delay=0.001))
    made = await client.post(
        "/budgets", json=user_budget(await me(client), unit="tokens", cap=1000, period="total")
    )
    budget_id = made.json()["id"]
    outcomes: list[str] = []

    async def one(api: openai.AsyncOpenAI) -> None:
        try:
            await api.chat.completions.create(model="stub", messages=HELLO, max_tokens=50)  # type: ignore[arg-type]
            outcomes.append("answered")
        except openai.RateLimitError as error:
            assert error.code == "budget_exceeded"
            outcomes.append("refused")

    async with sdk(app) as api:
        await asyncio.gather(*(one(api) for _ in range(60)))
    await app.state.openai.drain()
    await app.state.services.budgets.ledger.drain()
    async with app.state.services.db.transaction() as session:
        calls = list(await session.scalars(select(LLMCall)))
    used = sum(call.prompt_tokens + call.completion_tokens for call in calls)
    biggest = max(call.prompt_tokens + call.completion_tokens for call in calls)
    assert "refused" in outcomes and "answered" in outcomes
    assert len(calls) == outcomes.count("answered")
    assert used <= 1000 + biggest
    budget = (await client.get(f"/budgets/{budget_id}")).json()
    assert budget["reserved"] == 0
    assert budget["spent"] == used
    assert len(stub.requests) == outcomes.count("answered")  # refused calls never left


class Receiver:
    """A webhook receiver that fails its first `failures` deliveries with a 503."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.received: list[tuple[dict[str, str], bytes]] = []

    async def hook(self, request: Request) -> Response:
        self.received.append((dict(request.headers), await request.body()))
        if len(self.received) <= self.failures:
            return Response(status_code=503)
        return Response(status_code=204)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])


def signed_by(secret: str, headers: dict[str, str], body: bytes) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers[SIGNATURE_HEADER.lower()], expected)


async def test_a_webhook_is_retried_until_taken_and_signed_every_time() -> None:
    receiver = Receiver(failures=2)
    async with serve_in_process(receiver.app()) as url:
        sender = WebhookSender(first_delay_s=0.01)
        taken = await sender.send(f"{url}/hook", "s3cret-s3cret-s3cret", "budget_warning", {"a": 1})
    assert taken is True
    assert len(receiver.received) == 3
    for headers, body in receiver.received:
        assert signed_by("s3cret-s3cret-s3cret", headers, body)
        assert json.loads(body) == {"type": "budget_warning", "data": {"a": 1}}
    assert not signed_by("another-secret-value", *receiver.received[0])


async def test_a_webhook_that_keeps_failing_is_given_up() -> None:
    receiver = Receiver(failures=100)
    async with serve_in_process(receiver.app()) as url:
        taken = await WebhookSender(first_delay_s=0.01).send(f"{url}/hook", None, "e", {})
    assert taken is False and len(receiver.received) == 4


async def test_a_crossed_threshold_reaches_the_budgets_webhook_once(
    app: FastAPI, client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    await create_stub_model(client, stub, prices=PRICES)
    stub.rule(Script(usage={"prompt_tokens": 300, "completion_tokens": 100}))
    receiver = Receiver()
    secret = "webhook-secret-0123456789"
    async with serve_in_process(receiver.app()) as url:
        made = await client.post(
            "/budgets",
            json=user_budget(
                await me(client),
                unit="tokens",
                cap=10_000,
                thresholds=[0.05, 0.5],
                webhook_url=f"{url}/hook",
                webhook_secret=secret,
            ),
        )
        assert made.json()["has_webhook_secret"] is True
        assert "webhook_secret" not in made.json()
        async with sdk(app) as api:
            for _ in range(3):  # 400, 800, 1200 tokens: only 5 % is crossed, once
                await api.chat.completions.create(model="stub", messages=HELLO, max_tokens=200)  # type: ignore[arg-type]
        await app.state.services.budgets.ledger.drain()
        for _ in range(200):
            if receiver.received:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
    assert len(receiver.received) == 1
    headers, body = receiver.received[0]
    assert signed_by(secret, headers, body)
    event = json.loads(body)
    assert event["type"] == "budget_warning"
    assert (event["data"]["threshold"], event["data"]["spent"]) == (0.05, 800)
