"""Template resolution with a provenance map, and the state modules keep per session."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from vibeforge.api.deps import CurrentUser, ServicesDep
from vibeforge.api.prompt_schemas import (
    ExcludedOut,
    ModuleRunOut,
    ResolutionOut,
    SessionStateOut,
    SpanOut,
    TemplateResolve,
)
from vibeforge.api.routing import AuthFirstRoute
from vibeforge.prompting.compose import Composed

router = APIRouter(tags=["templates"], route_class=AuthFirstRoute)


def resolution_out(composed: Composed) -> ResolutionOut:
    """A composed template as the API reports it."""
    resolution = composed.resolution
    return ResolutionOut(
        text=resolution.text,
        tokens=resolution.tokens,
        spans=[
            SpanOut(
                start=span.start,
                end=span.end,
                tokens=span.tokens,
                kind=span.kind,
                name=span.name,
                path=list(span.path),
                trigger=span.trigger,
                source=span.source,
            )
            for span in resolution.spans
        ],
        excluded=[
            ExcludedOut(module=e.module, reason=e.reason, detail=e.detail, path=list(e.path))
            for e in resolution.excluded
        ],
        included=resolution.included,
        after=resolution.after,
        warnings=resolution.warnings,
        stable=resolution.stable,
        scripts=[
            ModuleRunOut(
                module=outcome.module,
                ok=outcome.ok,
                error=outcome.error,
                duration_ms=outcome.result.duration_ms,
                model_calls=outcome.result.model_calls,
            )
            for outcome in composed.outcomes
        ],
    )


RESOLVE_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such session, persona or persona's model config, or another user's"}
}


@router.post("/templates/resolve", responses=RESOLVE_RESPONSES)
async def resolve_template(
    body: TemplateResolve, user: CurrentUser, services: ServicesDep
) -> ResolutionOut:
    """Resolve a template (or a persona's): the text, and for every span of it the module,
    variable or script that produced it with its token count; every module left out, with
    why (trigger, budget, cycle, depth_limit, inactive, failed, not_run). An unknown `@name`
    or `${name}` is an error naming it. Script modules run in the sandbox; what they would
    remember is not kept."""
    composed = await services.prompting.resolve_template(
        user,
        body.template,
        body.variables,
        session_id=body.session_id,
        persona_id=body.persona_id,
        budget=body.budget_tokens,
        run_scripts=body.run_scripts,
    )
    return resolution_out(composed)


@router.get("/sessions/{session_id}/state")
async def get_session_state(
    session_id: str, user: CurrentUser, services: ServicesDep
) -> SessionStateOut:
    """What modules remember in the session: their variables, and the outputs of the last
    answer's post-response modules."""
    view = await services.prompting.state.view(user, session_id)
    return SessionStateOut(
        session_id=view.session.id,
        persona_id=view.session.persona_id,
        variables=view.variables,
        outputs=view.outputs,
        updated_at=view.updated_at,
    )


@router.delete("/sessions/{session_id}/memories", status_code=status.HTTP_204_NO_CONTENT)
async def clear_session_memories(
    session_id: str, user: CurrentUser, services: ServicesDep
) -> Response:
    """Forget what modules remember in the session (its messages stay)."""
    await services.prompting.state.clear(user, session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
