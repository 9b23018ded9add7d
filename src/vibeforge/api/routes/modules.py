"""Prompt modules, the ctx API scripts use, and test runs of scripts in the sandbox."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Response, status

from vibeforge.api.deps import DEFAULT_PAGE, CurrentUser, Cursor, Limit, ServicesDep
from vibeforge.api.prompt_schemas import (
    ModuleCreate,
    ModuleOut,
    ModuleUpdate,
    PluginFunction,
    PluginFunctionsOut,
    ScriptLimitsIn,
    ScriptRunOut,
    ScriptTest,
)
from vibeforge.api.routing import AuthFirstRoute
from vibeforge.api.schemas import PageOut
from vibeforge.db.prompt_tables import PromptModule
from vibeforge.prompting.jail_ctx import MAX_MODEL_CALLS
from vibeforge.prompting.scripts import ScriptInput, ScriptLimits, ScriptResult
from vibeforge.prompting.service import CTX_ATTRIBUTES, plugin_functions

router = APIRouter(tags=["modules"], route_class=AuthFirstRoute)


def module_out(row: PromptModule) -> ModuleOut:
    """A module as its owner sees it."""
    return ModuleOut.model_validate(row, from_attributes=True)


def script_run_out(result: ScriptResult) -> ScriptRunOut:
    """A script run as the API reports it."""
    return ScriptRunOut.model_validate(result, from_attributes=True)


@router.post("/modules", status_code=status.HTTP_201_CREATED)
async def create_module(body: ModuleCreate, user: CurrentUser, services: ServicesDep) -> ModuleOut:
    """Store a module; a simple module's text must parse, a pattern must compile (RE2)."""
    return module_out(await services.prompting.modules.create(user, body.model_dump()))


@router.get("/modules")
async def list_modules(
    user: CurrentUser,
    services: ServicesDep,
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
    kind: Literal["simple", "script"] | None = Query(default=None),
    stage: Literal["before", "after"] | None = Query(default=None),
    is_active: bool | None = Query(default=None),
) -> PageOut[ModuleOut]:
    """The caller's modules by name, filtered by kind, stage and activity."""
    page = await services.prompting.modules.list(
        user, limit, cursor, kind=kind, stage=stage, is_active=is_active
    )
    return PageOut(items=[module_out(row) for row in page.items], next=page.next)


@router.get("/modules/plugin-functions")
async def list_plugin_functions(user: CurrentUser) -> PluginFunctionsOut:
    """The `ctx` API available to script modules inside the sandbox."""
    functions = [
        PluginFunction(
            name=info.name,
            signature=info.signature,
            description=info.description,
            needs_uses_model=info.needs_uses_model,
        )
        for info in plugin_functions()
    ]
    return PluginFunctionsOut(
        functions=functions,
        attributes=CTX_ATTRIBUTES,
        limits=ScriptLimitsIn(),
        max_model_calls=MAX_MODEL_CALLS,
    )


@router.post("/modules/test-script")
async def test_script(body: ScriptTest, user: CurrentUser, services: ServicesDep) -> ScriptRunOut:
    """Run a script in the sandbox on a sample, exactly as a module runs; with `uses_model`
    its `ctx.ask_model` calls go to the caller's model and are recorded (role `module`)."""
    sample = body.sample
    given = ScriptInput(
        module="test_script",
        stage=body.stage,
        variables=dict(sample.variables),
        outputs=dict(sample.outputs),
        messages=[message.model_dump() for message in sample.messages],
        answer=sample.answer,
        sample=sample.data,
    )
    limits = ScriptLimits(**body.limits.model_dump())
    result, _ = await services.prompting.test_script(
        user, body.script, given, limits=limits, uses_model=body.uses_model, model=body.model
    )
    return script_run_out(result)


@router.get("/modules/{module_id}")
async def get_module(module_id: str, user: CurrentUser, services: ServicesDep) -> ModuleOut:
    """One module."""
    return module_out(await services.prompting.modules.get(user, module_id))


@router.put("/modules/{module_id}")
async def update_module(
    module_id: str, body: ModuleUpdate, user: CurrentUser, services: ServicesDep
) -> ModuleOut:
    """Change some fields of a module."""
    changes = body.model_dump(exclude_unset=True)
    return module_out(await services.prompting.modules.update(user, module_id, changes))


@router.delete("/modules/{module_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_module(module_id: str, user: CurrentUser, services: ServicesDep) -> Response:
    """Remove a module."""
    await services.prompting.modules.delete(user, module_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
