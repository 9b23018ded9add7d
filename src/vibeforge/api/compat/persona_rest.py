"""The persona chat system's REST routes under `/api/`, mapped onto vibeforge's own.

Personas, modules and template resolution already have the reference's fields (issue 13 was
specified from it): their `/api/...` routes are vibeforge's own route functions, registered
again, except that lists are plain arrays and an image is uploaded as a multipart form.
Conversations are sessions (`compat/conversations.py`); messages are a session's messages.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Literal, TypeVar

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, Field

from vibeforge.api.compat import conversations
from vibeforge.api.deps import CurrentUser, ServicesDep
from vibeforge.api.prompt_schemas import Id, ModuleOut, PersonaOut
from vibeforge.api.routes import modules, personas, templates
from vibeforge.api.routing import AuthFirstRoute
from vibeforge.api.uploads import MultipartUpload, multipart_body
from vibeforge.db.chat_tables import ChatSession
from vibeforge.errors import InvalidInput
from vibeforge.paging import MAX_LIMIT, Page
from vibeforge.prompting.images import MAX_IMAGE_BYTES
from vibeforge.runs import reasons
from vibeforge.strict import Strict

router = APIRouter(prefix="/api", tags=["compat: persona chat"], route_class=AuthFirstRoute)
T = TypeVar("T")
MAX_LISTED = 5000  # a list route's answer; the reference API has no paging


async def all_items(fetch: Callable[[str | None], Awaitable[Page[T]]]) -> list[T]:
    """Every item of a paged listing, up to MAX_LISTED."""
    items: list[T] = []
    cursor: str | None = None
    while len(items) < MAX_LISTED:
        page = await fetch(cursor)
        items.extend(page.items)
        if page.next is None:
            break
        cursor = page.next
    return items[:MAX_LISTED]


# -- personas ----------------------------------------------------------------------------------

router.add_api_route(
    "/personas", personas.create_persona, methods=["POST"], status_code=status.HTTP_201_CREATED
)


@router.get("/personas")
async def list_personas(
    user: CurrentUser,
    services: ServicesDep,
    is_active: bool | None = Query(default=None),
    mode: Literal["reactive", "autonomous"] | None = Query(default=None),
) -> list[PersonaOut]:
    """The caller's personas by name, optionally only active ones or one mode."""
    service = services.prompting.personas
    rows = await all_items(lambda cursor: service.list(user, MAX_LIMIT, cursor, is_active, mode))
    return [personas.persona_out(row) for row in rows]


IMAGE_BODY = multipart_body({"persona_id": {"type": "string"}})


@router.post(
    "/personas/upload-image",
    openapi_extra=IMAGE_BODY,
    responses={404: {"description": "no such persona (persona_id), or another user's"}},
)
async def upload_persona_image(
    request: Request, user: CurrentUser, services: ServicesDep
) -> PersonaOut:
    """Set a persona's image from a multipart form (`file`, and `persona_id`: vibeforge keeps
    an image with its persona rather than under a free file name)."""
    upload = MultipartUpload(request)
    data = bytearray()
    async for piece in upload.file():
        if len(data) <= MAX_IMAGE_BYTES:  # past the cap, the rest is read and dropped
            data += piece
    persona_id = upload.field("persona_id")
    if persona_id is None:
        raise InvalidInput("persona_id: the persona the image is for")
    service = services.prompting.personas
    return personas.persona_out(await service.set_image(user, persona_id, bytes(data)))


for path, endpoint, method in (
    ("/personas/{persona_id}", personas.get_persona, "GET"),
    ("/personas/{persona_id}", personas.update_persona, "PUT"),
):
    router.add_api_route(path, endpoint, methods=[method])
router.add_api_route(
    "/personas/{persona_id}",
    personas.delete_persona,
    methods=["DELETE"],
    status_code=status.HTTP_204_NO_CONTENT,
)

# -- modules -----------------------------------------------------------------------------------

router.add_api_route(
    "/modules", modules.create_module, methods=["POST"], status_code=status.HTTP_201_CREATED
)


@router.get("/modules")
async def list_modules(
    user: CurrentUser,
    services: ServicesDep,
    kind: Literal["simple", "script"] | None = Query(default=None),
    stage: Literal["before", "after"] | None = Query(default=None),
    is_active: bool | None = Query(default=None),
) -> list[ModuleOut]:
    """The caller's modules by name, filtered by kind, stage and activity."""
    service = services.prompting.modules
    rows = await all_items(
        lambda cursor: service.list(
            user, MAX_LIMIT, cursor, kind=kind, stage=stage, is_active=is_active
        )
    )
    return [modules.module_out(row) for row in rows]


for path, endpoint, method in (
    ("/modules/plugin-functions", modules.list_plugin_functions, "GET"),
    ("/modules/test-script", modules.test_script, "POST"),
    ("/modules/{module_id}", modules.get_module, "GET"),
    ("/modules/{module_id}", modules.update_module, "PUT"),
):
    router.add_api_route(path, endpoint, methods=[method])
router.add_api_route(
    "/templates/resolve",
    templates.resolve_template,
    methods=["POST"],
    responses=templates.RESOLVE_RESPONSES,
)
router.add_api_route(
    "/modules/{module_id}",
    modules.delete_module,
    methods=["DELETE"],
    status_code=status.HTTP_204_NO_CONTENT,
)

# -- conversations -----------------------------------------------------------------------------


Title = Field(default=None, max_length=200, description="its session's title (null: none)")


class ConversationCreate(Strict):
    """A new conversation, speaking as a persona (or as none), with a title (or none)."""

    persona_id: Id | None = None
    title: str | None = Title


class ConversationUpdate(Strict):
    """What to change of a conversation; a field left out is unchanged."""

    persona_id: Id | None = None
    title: str | None = Title


class ConversationOut(BaseModel):
    """A conversation: a session of the caller's `persona-chat` project."""

    id: str
    persona_id: str | None
    title: str | None
    created_at: datetime


def conversation_out(session: ChatSession) -> ConversationOut:
    """A session as a conversation."""
    return ConversationOut(
        id=session.id,
        persona_id=session.persona_id,
        title=session.title,
        created_at=session.created_at,
    )


@router.post(
    "/conversations",
    status_code=status.HTTP_201_CREATED,
    responses={404: {"description": "no such persona, or another user's"}},
)
async def create_conversation(
    body: ConversationCreate, user: CurrentUser, services: ServicesDep
) -> ConversationOut:
    """A new conversation (its persona must be the caller's)."""
    session = await conversations.create_conversation(services, user, body.persona_id)
    if body.title is not None:
        session = await services.sessions.rename(user, session.id, body.title)
    return conversation_out(session)


@router.get("/conversations/by-persona/{persona_id}")
async def conversation_by_persona(
    persona_id: str, user: CurrentUser, services: ServicesDep
) -> ConversationOut:
    """The persona's newest conversation; 404 when it has none."""
    return conversation_out(await conversations.by_persona(services, user, persona_id))


@router.get("/conversations/{conversation_id}")
async def get_conversation(
    conversation_id: str, user: CurrentUser, services: ServicesDep
) -> ConversationOut:
    """One conversation."""
    return conversation_out(await conversations.get_conversation(services, user, conversation_id))


@router.put("/conversations/{conversation_id}")
async def update_conversation(
    conversation_id: str, body: ConversationUpdate, user: CurrentUser, services: ServicesDep
) -> ConversationOut:
    """Change the conversation's persona (`PUT /sessions/{id}/persona`) or title (`PATCH
    /sessions/{id}`): the fields given."""
    session = await conversations.get_conversation(services, user, conversation_id)
    if "persona_id" in body.model_fields_set:
        await services.prompting.personas.choose(user, ChatSession, session.id, body.persona_id)
    if "title" in body.model_fields_set:
        await services.sessions.rename(user, session.id, body.title)
    return conversation_out(await services.sessions.get(user, session.id))


@router.delete("/conversations/{conversation_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_conversation(
    conversation_id: str, user: CurrentUser, services: ServicesDep
) -> Response:
    """End a conversation: its run is cancelled, its messages archived, and it is no longer
    listed or found (its messages stay readable to vibeforge's own API)."""
    await conversations.get_conversation(services, user, conversation_id)
    await services.runs.cancel_session(conversation_id, reasons.SESSION_CLEARED)
    await services.sessions.clear(user, conversation_id)
    await conversations.detach(services, user, conversation_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/conversations/{conversation_id}/memories", status_code=status.HTTP_204_NO_CONTENT)
async def clear_memories(
    conversation_id: str, user: CurrentUser, services: ServicesDep
) -> Response:
    """Forget the history and the modules' state; the next message starts afresh."""
    await conversations.get_conversation(services, user, conversation_id)
    await services.runs.cancel_session(conversation_id, reasons.SESSION_CLEARED)
    await services.sessions.clear(user, conversation_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
