"""Personas, their images, and the persona a session's or project's runs speak as."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request, Response, status

from vibeforge.api.deps import DEFAULT_PAGE, CurrentUser, Cursor, Limit, ServicesDep
from vibeforge.api.prompt_schemas import (
    PersonaChoice,
    PersonaChoiceOut,
    PersonaCreate,
    PersonaImageOut,
    PersonaOut,
    PersonaUpdate,
)
from vibeforge.api.routing import AuthFirstRoute
from vibeforge.api.schemas import PageOut
from vibeforge.db.chat_tables import ChatSession
from vibeforge.db.prompt_tables import Persona
from vibeforge.db.tables import Project
from vibeforge.prompting.images import CONTENT_TYPES

router = APIRouter(tags=["personas"], route_class=AuthFirstRoute)
IMAGE_TYPES = {content_type: {} for content_type in CONTENT_TYPES.values()}


def persona_out(row: Persona) -> PersonaOut:
    """A persona as its owner sees it."""
    image = None
    if row.image_type is not None:
        image = PersonaImageOut(
            content_type=row.image_type,
            bytes=row.image_bytes or 0,
            width=row.image_width or 0,
            height=row.image_height or 0,
            url=f"/personas/{row.id}/image",
        )
    return PersonaOut(
        id=row.id,
        name=row.name,
        description=row.description,
        mode="autonomous" if row.mode == "autonomous" else "reactive",
        template=row.template,
        is_active=row.is_active,
        model=row.model,
        params=row.params,
        token_budget=row.token_budget,
        image=image,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


@router.post("/personas", status_code=status.HTTP_201_CREATED)
async def create_persona(
    body: PersonaCreate, user: CurrentUser, services: ServicesDep
) -> PersonaOut:
    """Store a persona; its template must parse (`@module`, `${variable}`, `\\@`)."""
    return persona_out(await services.prompting.personas.create(user, body.model_dump()))


@router.get("/personas")
async def list_personas(
    user: CurrentUser,
    services: ServicesDep,
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
    is_active: bool | None = Query(default=None),
    mode: Literal["reactive", "autonomous"] | None = Query(default=None),
) -> PageOut[PersonaOut]:
    """The caller's personas by name, optionally only active ones or one mode."""
    page = await services.prompting.personas.list(user, limit, cursor, is_active, mode)
    return PageOut(items=[persona_out(row) for row in page.items], next=page.next)


@router.get("/personas/{persona_id}")
async def get_persona(persona_id: str, user: CurrentUser, services: ServicesDep) -> PersonaOut:
    """One persona."""
    return persona_out(await services.prompting.personas.get(user, persona_id))


@router.put("/personas/{persona_id}")
async def update_persona(
    persona_id: str, body: PersonaUpdate, user: CurrentUser, services: ServicesDep
) -> PersonaOut:
    """Change some fields of a persona."""
    changes = body.model_dump(exclude_unset=True)
    return persona_out(await services.prompting.personas.update(user, persona_id, changes))


@router.delete("/personas/{persona_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_persona(persona_id: str, user: CurrentUser, services: ServicesDep) -> Response:
    """Remove a persona and its image; sessions and projects that named it name none."""
    await services.prompting.personas.delete(user, persona_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/personas/{persona_id}/image")
async def upload_persona_image(
    persona_id: str, request: Request, user: CurrentUser, services: ServicesDep
) -> PersonaOut:
    """Set the persona's image: the request body is the image's bytes (PNG, JPEG, WebP or
    GIF, judged by its content whatever the Content-Type says; at most 5 MiB and 4096x4096
    pixels)."""
    personas = services.prompting.personas
    await personas.get(user, persona_id)  # another user's persona: 404 before the body is read
    data = await request.body()
    return persona_out(await personas.set_image(user, persona_id, data))


@router.get(
    "/personas/{persona_id}/image",
    response_class=Response,
    responses={200: {"content": IMAGE_TYPES, "description": "the image"}},
)
async def get_persona_image(persona_id: str, user: CurrentUser, services: ServicesDep) -> Response:
    """The persona's image, with the content type found when it was uploaded."""
    data, content_type = await services.prompting.personas.image(user, persona_id)
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-cache"}
    return Response(content=data, media_type=content_type, headers=headers)


@router.delete("/personas/{persona_id}/image", status_code=status.HTTP_204_NO_CONTENT)
async def delete_persona_image(
    persona_id: str, user: CurrentUser, services: ServicesDep
) -> Response:
    """Remove the persona's image."""
    await services.prompting.personas.delete_image(user, persona_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/sessions/{session_id}/persona")
async def choose_session_persona(
    session_id: str, body: PersonaChoice, user: CurrentUser, services: ServicesDep
) -> PersonaChoiceOut:
    """The persona the session's runs speak as (a message may still name its own)."""
    await services.sessions.get(user, session_id)
    personas = services.prompting.personas
    chosen = await personas.choose(user, ChatSession, session_id, body.persona_id)
    return PersonaChoiceOut(persona_id=chosen)


@router.put("/projects/{project_id}/persona")
async def choose_project_persona(
    project_id: str, body: PersonaChoice, user: CurrentUser, services: ServicesDep
) -> PersonaChoiceOut:
    """The persona of the project's sessions that name none of their own."""
    chosen = await services.prompting.personas.choose(user, Project, project_id, body.persona_id)
    return PersonaChoiceOut(persona_id=chosen)
