"""The persona chat system's message routes under `/api/messages`, over a session's messages.

Runs write the messages of vibeforge's sessions; the reference also lets a client write,
change and delete them by hand. Those are ordinary stored messages of the conversation's
session (`status` `success`, no run): the next run's history holds them (a `system` one is
kept but not sent to the model, as no stored system message is). A message its run is still
writing cannot be changed (409), and while a run is active none can be added (409). Deleting
archives it: gone from the conversation and from these routes, readable by vibeforge's own
`GET /sessions/{id}/messages?include_archived=true`.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Response, status
from pydantic import Field

from vibeforge.api.chat_schemas import MessageOut
from vibeforge.api.compat import conversations
from vibeforge.api.compat.persona_rest import all_items
from vibeforge.api.deps import CurrentUser, ServicesDep
from vibeforge.api.prompt_schemas import Id
from vibeforge.api.routing import AuthFirstRoute
from vibeforge.db.chat_tables import ChatMessage
from vibeforge.db.tables import User
from vibeforge.errors import Conflict
from vibeforge.paging import MAX_LIMIT
from vibeforge.runs.protocol import MAX_PROMPT_CHARS
from vibeforge.services import Services
from vibeforge.strict import Strict, omittable

router = APIRouter(prefix="/api", tags=["compat: persona chat"], route_class=AuthFirstRoute)
MAX_TOKENS = 10**9


class ConversationMessageOut(MessageOut):
    """A message, with the reference's names for its conversation and token count."""

    conversation_id: str
    token_count: int | None


def message_out(row: ChatMessage) -> ConversationMessageOut:
    """A stored message as the reference names it."""
    base = MessageOut.model_validate(row, from_attributes=True).model_dump()
    usage = row.token_usage or {}
    total = usage.get("total_tokens") if isinstance(usage, dict) else None
    return ConversationMessageOut(
        **base, conversation_id=row.session_id, token_count=total if total else None
    )


def _usage(token_count: int | None) -> dict[str, Any] | None:
    """A hand-written message's token count, where runs keep theirs."""
    return None if token_count is None else {"total_tokens": token_count}


class MessageIn(Strict):
    """A message written by hand into a conversation."""

    conversation_id: Id
    role: Literal["user", "assistant", "system"]
    content: str = Field(max_length=MAX_PROMPT_CHARS)
    thinking: str = Field(default="", max_length=MAX_PROMPT_CHARS)
    token_count: int | None = Field(default=None, ge=0, le=MAX_TOKENS)


class MessageChange(Strict):
    """Fields of a message to change; one left out is unchanged."""

    content: str = omittable(max_length=MAX_PROMPT_CHARS)
    thinking: str = omittable(max_length=MAX_PROMPT_CHARS)
    token_count: int | None = Field(default=None, ge=0, le=MAX_TOKENS)


@router.post(
    "/messages",
    status_code=status.HTTP_201_CREATED,
    responses={
        404: {"description": "no such conversation, or another user's"},
        409: {"description": "a run is active in the conversation"},
    },
)
async def create_message(
    body: MessageIn, user: CurrentUser, services: ServicesDep
) -> ConversationMessageOut:
    """Add a message at the end of a conversation."""
    await conversations.get_conversation(services, user, body.conversation_id)
    if services.runs.active_in_session(body.conversation_id) is not None:
        raise Conflict("a run is active in the conversation: cancel it or wait")
    values = {
        "role": body.role,
        "content": body.content,
        "thinking": body.thinking,
        "token_usage": _usage(body.token_count),
    }
    row = await services.sessions.add_message(user, body.conversation_id, values)
    return message_out(row)


@router.get("/messages/by-conversation/{conversation_id}")
async def messages_by_conversation(
    conversation_id: str, user: CurrentUser, services: ServicesDep
) -> list[ConversationMessageOut]:
    """The conversation's messages, oldest first."""
    await conversations.get_conversation(services, user, conversation_id)
    rows = await all_items(
        lambda cursor: services.sessions.messages(user, conversation_id, MAX_LIMIT, cursor)
    )
    return [message_out(row) for row in rows]


async def _conversation_message(services: Services, user: User, message_id: str) -> ChatMessage:
    """A message (not deleted) of one of the caller's conversations."""
    row = await services.sessions.owned_message(user, message_id)
    await conversations.get_conversation(services, user, row.session_id)
    return row


@router.get("/messages/{message_id}")
async def get_message(
    message_id: str, user: CurrentUser, services: ServicesDep
) -> ConversationMessageOut:
    """One message of one of the caller's conversations."""
    return message_out(await _conversation_message(services, user, message_id))


@router.put(
    "/messages/{message_id}",
    responses={409: {"description": "its run is still writing the message"}},
)
async def update_message(
    message_id: str, body: MessageChange, user: CurrentUser, services: ServicesDep
) -> ConversationMessageOut:
    """Change a message's content, thinking or token count."""
    await _conversation_message(services, user, message_id)
    changes: dict[str, Any] = {}
    for name in body.model_fields_set:
        if name == "token_count":
            changes["token_usage"] = _usage(body.token_count)
        else:
            changes[name] = getattr(body, name)
    return message_out(await services.sessions.edit_message(user, message_id, changes))


@router.delete(
    "/messages/{message_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={409: {"description": "its run is still writing the message"}},
)
async def delete_message(message_id: str, user: CurrentUser, services: ServicesDep) -> Response:
    """Take a message out of its conversation (archived: vibeforge's own API still reads it)."""
    await _conversation_message(services, user, message_id)
    await services.sessions.archive_message(user, message_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
