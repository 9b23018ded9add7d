"""`null` in PATCH and PUT bodies: it clears a field whose stored value may be empty, and is a
422 naming the field everywhere else. The cases are generated from the OpenAPI schema, so a
new field (or a new PATCH/PUT route) is covered, or makes these tests fail until it is."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from vibeforge.api.chat_schemas import ModelConfigUpdate, SessionUpdate
from vibeforge.api.prompt_schemas import ModuleUpdate, PersonaChoice, PersonaUpdate
from vibeforge.api.routes.proposals import ProjectAutoApply, SessionAutoApply
from vibeforge.api.schemas import FileWrite, ProjectUpdate, Strict
from vibeforge.budgets.views import BudgetUpdate
from vibeforge.db.chat_tables import ChatSession, ModelConfig
from vibeforge.db.prompt_tables import Persona, PromptModule
from vibeforge.db.tables import Project
from vibeforge.db.test_tables import ProjectTestSettings, TestCase
from vibeforge.db.usage_tables import Budget
from vibeforge.strict import admits_null
from vibeforge.testcases.views import TestSettingsUpdate, TestUpdate

_counter = itertools.count()
Reader = Callable[[httpx.AsyncClient, FastAPI, str], Awaitable[dict[str, Any]]]


@dataclass
class Target:
    """A resource made for one route, and how to read back the fields the body sets."""

    url: str
    read: Callable[[], Awaitable[dict[str, Any]]]


@dataclass
class Case:
    """One PATCH/PUT route: how to make its resource, a valid body, values for every nullable
    field, and what a cleared field reads back as (None unless said otherwise)."""

    make: Callable[[httpx.AsyncClient, FastAPI], Awaitable[Target]]
    base: Callable[[], dict[str, Any]] = dict
    seed: dict[str, Any] = field(default_factory=dict)
    cleared: dict[str, Any] = field(default_factory=dict)


async def _project(client: httpx.AsyncClient) -> str:
    created = await client.post("/projects", json={"name": f"p{next(_counter)}"})
    assert created.status_code == 201, created.text
    return created.json()["id"]


async def _json(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    response = await client.get(url)
    assert response.status_code == 200, response.text
    return response.json()


async def make_project(client: httpx.AsyncClient, _: FastAPI) -> Target:
    url = f"/projects/{await _project(client)}"
    return Target(url, lambda: _json(client, url))


async def make_model(client: httpx.AsyncClient, _: FastAPI) -> Target:
    # openai: base_url may be cleared (its public endpoint); openai-compatible needs one.
    body = {"name": f"m{next(_counter)}", "provider": "openai", "model": "x"}
    created = await client.post("/models", json=body)
    assert created.status_code == 201, created.text
    url = f"/models/{created.json()['id']}"

    async def read() -> dict[str, Any]:
        shown = await _json(client, url)
        return {**shown, "api_key": "stored" if shown["has_api_key"] else None}

    return Target(url, read)


async def make_file(client: httpx.AsyncClient, _: FastAPI) -> Target:
    project = await _project(client)

    async def read() -> dict[str, Any]:
        versions = await _json(client, f"/projects/{project}/versions")
        file = await _json(client, f"/projects/{project}/files/a.py")
        return {"message": versions["items"][0]["message"], "content": file["content"]}

    return Target(f"/projects/{project}/files/a.py", read)


async def make_project_auto_apply(client: httpx.AsyncClient, _: FastAPI) -> Target:
    project = await _project(client)
    return Target(f"/projects/{project}/auto_apply", lambda: _json(client, f"/projects/{project}"))


async def make_session_auto_apply(client: httpx.AsyncClient, app: FastAPI) -> Target:
    project = await _project(client)
    session = (await client.post(f"/projects/{project}/sessions", json={})).json()["session_id"]

    async def read() -> dict[str, Any]:
        # No route shows a session's own flag (it only decides what a run does): read the row.
        async with app.state.services.db.transaction() as db:
            value = await db.scalar(select(ChatSession.auto_apply).where(ChatSession.id == session))
        return {"auto_apply": value}

    return Target(f"/sessions/{session}/auto_apply", read)


async def make_test(client: httpx.AsyncClient, _: FastAPI) -> Target:
    project = await _project(client)
    body = {"name": "t", "input_prompt": "in"}
    created = await client.post(f"/projects/{project}/tests", json=body)
    assert created.status_code == 201, created.text
    url = f"/tests/{created.json()['id']}"
    return Target(url, lambda: _json(client, url))


async def make_test_settings(client: httpx.AsyncClient, _: FastAPI) -> Target:
    url = f"/projects/{await _project(client)}/test-settings"
    return Target(url, lambda: _json(client, url))


async def make_persona(client: httpx.AsyncClient, _: FastAPI) -> Target:
    created = await client.post("/personas", json={"name": f"p{next(_counter)}"})
    assert created.status_code == 201, created.text
    url = f"/personas/{created.json()['id']}"
    return Target(url, lambda: _json(client, url))


async def make_module(client: httpx.AsyncClient, _: FastAPI) -> Target:
    created = await client.post("/modules", json={"name": f"m{next(_counter)}"})
    assert created.status_code == 201, created.text
    url = f"/modules/{created.json()['id']}"
    return Target(url, lambda: _json(client, url))


SEEDED_PERSONA = "Seeded"  # chosen by name, as a client may


async def make_session_persona(client: httpx.AsyncClient, _: FastAPI) -> Target:
    await client.post("/personas", json={"name": SEEDED_PERSONA})
    project = await _project(client)
    session = (await client.post(f"/projects/{project}/sessions", json={})).json()["session_id"]
    state = f"/sessions/{session}/state"
    return Target(f"/sessions/{session}/persona", lambda: _json(client, state))


async def make_project_persona(client: httpx.AsyncClient, app: FastAPI) -> Target:
    await client.post("/personas", json={"name": SEEDED_PERSONA})
    project = await _project(client)

    async def read() -> dict[str, Any]:
        async with app.state.services.db.transaction() as db:
            value = await db.scalar(select(Project.persona_id).where(Project.id == project))
        return {"persona_id": value}

    return Target(f"/projects/{project}/persona", read)


async def make_budget(client: httpx.AsyncClient, _: FastAPI) -> Target:
    me = (await client.get("/me")).json()["id"]
    body = {"scope": "user", "subject_id": me, "period": "day", "unit": "usd", "cap": 5}
    created = await client.post("/budgets", json=body)
    assert created.status_code == 201, created.text
    url = f"/budgets/{created.json()['id']}"

    async def read() -> dict[str, Any]:
        shown = await _json(client, url)
        return {**shown, "webhook_secret": "stored" if shown["has_webhook_secret"] else None}

    return Target(url, read)


async def make_session(client: httpx.AsyncClient, _: FastAPI) -> Target:
    project = await _project(client)
    session = (await client.post(f"/projects/{project}/sessions", json={})).json()["session_id"]
    url = f"/sessions/{session}"
    return Target(url, lambda: _json(client, url))


def _fresh_content() -> dict[str, Any]:
    return {"content": f"x = {next(_counter)}\n"}  # new content: every write makes a version


CASES: dict[tuple[str, str], Case] = {
    ("PATCH", "/projects/{project_id}"): Case(
        make_project, seed={"check_command": ["python3", "-c", "pass"]}
    ),
    ("PATCH", "/models/{config_id}"): Case(
        make_model,
        seed={
            "base_url": "http://127.0.0.1:9/v1",
            "api_key": "sk-seeded",
            "prices": {"input_per_million": 1.0, "output_per_million": 2.0},
            "accepts_images": False,
        },
    ),
    ("PUT", "/projects/{project_id}/files/{path}"): Case(
        make_file,
        base=_fresh_content,
        seed={"message": "seeded message"},
        cleared={"message": "Update a.py"},  # no message: the default one
    ),
    ("PUT", "/projects/{project_id}/auto_apply"): Case(
        make_project_auto_apply, base=lambda: {"auto_apply": False}
    ),
    ("PUT", "/sessions/{session_id}/auto_apply"): Case(
        make_session_auto_apply, base=lambda: {"auto_apply": False}, seed={"auto_apply": True}
    ),
    ("PATCH", "/tests/{test_id}"): Case(
        make_test, seed={"expected_behavior": "says hello", "judge_model": "judge"}
    ),
    ("PATCH", "/projects/{project_id}/test-settings"): Case(
        make_test_settings, seed={"judge_model": "judge", "apply_tags": ["smoke"]}
    ),
    ("PUT", "/personas/{persona_id}"): Case(
        make_persona,
        seed={"model": "some-model", "params": {"temperature": 0.5}, "token_budget": 100},
    ),
    ("PUT", "/modules/{module_id}"): Case(make_module, seed={"token_budget": 10}),
    ("PUT", "/sessions/{session_id}/persona"): Case(
        make_session_persona, seed={"persona_id": SEEDED_PERSONA}
    ),
    ("PUT", "/projects/{project_id}/persona"): Case(
        make_project_persona, seed={"persona_id": SEEDED_PERSONA}
    ),
    ("PATCH", "/sessions/{session_id}"): Case(make_session, seed={"title": "seeded title"}),
    ("PATCH", "/budgets/{budget_id}"): Case(
        make_budget,
        seed={"webhook_url": "http://127.0.0.1:9/hook", "webhook_secret": "a-secret-of-16-chars"},
    ),
}


def _body_properties(schema: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any]:
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]["properties"]


def _nullable(prop: dict[str, Any]) -> bool:
    return prop.get("type") == "null" or any(o.get("type") == "null" for o in prop.get("anyOf", []))


async def _updates(client: httpx.AsyncClient) -> dict[tuple[str, str], dict[str, Any]]:
    schema = (await client.get("/openapi.json")).json()
    found = {}
    for path, methods in schema["paths"].items():
        if path.startswith(("/api/", "/workspace/", "/file/", "/chat/")):
            continue  # the reference systems' (docs/compat.md): vibeforge's own or tests/compat
        for method, operation in methods.items():
            if method in ("patch", "put"):
                found[(method.upper(), path)] = _body_properties(schema, operation)
    return found


async def test_every_patch_and_put_route_has_a_case(client: httpx.AsyncClient) -> None:
    assert set(await _updates(client)) == set(CASES)


@pytest.mark.parametrize("route", list(CASES), ids=lambda route: " ".join(route))
async def test_null_clears_nullable_fields_and_is_422_for_the_others(
    app: FastAPI, client: httpx.AsyncClient, route: tuple[str, str]
) -> None:
    case = CASES[route]
    properties = (await _updates(client))[route]
    nullable = {name for name, prop in properties.items() if _nullable(prop)}
    assert nullable == set(case.seed), "give every nullable field a seed value"
    target = await case.make(client, app)
    method = route[0]

    for name in sorted(nullable):
        seeded = await client.request(method, target.url, json={**case.base(), **case.seed})
        assert seeded.status_code < 300, seeded.text
        assert (await target.read())[name] is not None, name
        cleared = await client.request(method, target.url, json={**case.base(), name: None})
        assert cleared.status_code < 300, (name, cleared.text)
        assert (await target.read())[name] == case.cleared.get(name), name

    for name in sorted(set(properties) - nullable):
        before = await target.read()
        refused = await client.request(method, target.url, json={**case.base(), name: None})
        assert refused.status_code == 422, (name, refused.text)
        assert refused.json()["error"] == "validation_error"
        assert refused.json()["detail"].startswith(f"{name}: may not be null"), refused.text
        assert await target.read() == before, f"{name}: a refused update changed something"


async def test_the_schema_declares_no_default_null_for_a_field_that_refuses_null(
    client: httpx.AsyncClient,
) -> None:
    for route, properties in (await _updates(client)).items():
        for name, prop in properties.items():
            if not _nullable(prop):
                assert prop.get("default", "absent") is not None, (route, name)


# A body field and the column it is stored in: null is accepted exactly where it may be stored.
STORED_AS: list[tuple[type[Strict], type[Any], dict[str, str]]] = [
    (ProjectUpdate, Project, {}),
    (ModelConfigUpdate, ModelConfig, {"api_key": "api_key_encrypted"}),
    (ProjectAutoApply, Project, {}),
    (SessionAutoApply, ChatSession, {}),
    (TestUpdate, TestCase, {}),
    (TestSettingsUpdate, ProjectTestSettings, {}),
    (PersonaUpdate, Persona, {}),
    (ModuleUpdate, PromptModule, {}),
    (PersonaChoice, ChatSession, {}),
    (PersonaChoice, Project, {}),
    (BudgetUpdate, Budget, {"webhook_secret": "webhook_secret_encrypted"}),
    (SessionUpdate, ChatSession, {}),
]


@pytest.mark.parametrize(
    ("body", "table", "renamed"),
    STORED_AS,
    ids=[f"{body.__name__}-{table.__name__}" for body, table, _ in STORED_AS],
)
def test_a_field_admits_null_exactly_when_its_column_does(
    body: type[Strict], table: type[Any], renamed: dict[str, str]
) -> None:
    for name, info in body.model_fields.items():
        column = table.__table__.columns[renamed.get(name, name)]
        assert admits_null(info.annotation) == column.nullable, (body.__name__, name)


def test_a_null_in_a_post_body_names_its_field_too() -> None:
    with pytest.raises(ValueError, match="content\n  may not be null"):
        FileWrite.model_validate({"content": None})
