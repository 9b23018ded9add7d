"""The persona chat system's WebSocket, `WS /ws/chat`, over vibeforge's runs.

Its messages are `{"type", "data"}`. A `chat` becomes a vibeforge `Chat` command executed by
the same `ClientConnection` as `/ws` (so runs, supersession, cancellation and storage are
vibeforge's own); this module only translates: the run's events into the reference names and
fields, the conversation into a session (`compat/conversations.py`), `provider` and
`provider_settings.model` into a model config. Its chat session id is the answer's message id.
"""

from __future__ import annotations

import contextlib
from typing import Any

from fastapi import APIRouter, WebSocket
from pydantic import Field, JsonValue, ValidationError

from vibeforge.api.compat.conversations import create_conversation, get_conversation
from vibeforge.api.compat.models import CONFIG_KEYS, pick_model
from vibeforge.api.compat.sockets import (
    CLOSE_TOO_SLOW,
    accept_caller,
    json_or_none,
    serve,
)
from vibeforge.api.connection import ClientConnection
from vibeforge.db.tables import User
from vibeforge.db.types import new_id
from vibeforge.errors import InvalidInput, NotFound, VibeforgeError
from vibeforge.llm.params import PARAMETER_NAMES
from vibeforge.runs import reasons
from vibeforge.runs.events import Event, encode
from vibeforge.runs.protocol import (
    MAX_PROMPT_CHARS,
    CancelResult,
    Chat,
    ErrorReply,
    Id,
    ServerEvent,
)
from vibeforge.services import Services
from vibeforge.statuses import MessageStatus
from vibeforge.strict import Strict, describe_errors

router = APIRouter()
USAGE_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")


class ChatRequest(Strict):
    """The `data` of a `chat` message."""

    message: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    provider: str | None = Field(default=None, min_length=1, max_length=64)
    persona_id: Id | None = None
    conversation_id: Id | None = None
    provider_settings: dict[str, JsonValue] = Field(default_factory=dict)
    chat_controls: dict[str, JsonValue] = Field(default_factory=dict)


def frame(kind: str, data: dict[str, Any]) -> str:
    """A reference envelope."""
    return encode({"type": kind, "data": data})


class PersonaChatOutlet:
    """Writes vibeforge's run events as the reference system's messages."""

    def __init__(self, socket: WebSocket) -> None:
        self.socket = socket
        self.models: dict[str, str] = {}  # chat session (message) id -> model label
        self.failed: set[str] = set()  # runs that failed: their error was the last word

    async def event(self, event: Event) -> None:
        """Translate one run event (those without a reference counterpart are dropped)."""
        data = event.data
        out: list[str] = []
        match event.type:
            case "chat_session_start":
                self.models[data["message_id"]] = data["model"]
                start = {"chat_session_id": data["message_id"], "conversation_id": event.session_id}
                out.append(frame("chat_session_start", start))
            case "stage_update":
                message = f"{data['stage']}: {data['status']}"
                if data.get("detail"):
                    message += f" ({data['detail']})"
                out.append(frame("stage_update", {"stage": data["stage"], "message": message}))
            case "chunk":
                chunk = {"content": data["content"], "thinking": data["thinking"] or None}
                out.append(frame("chunk", {**chunk, "done": False}))
            case "error":
                out.append(frame("error", {"error": data["detail"], "code": data["code"]}))
            case "done" if data["status"] == MessageStatus.ERROR:
                self.failed.add(data["run_id"])
            case "done":
                out.append(frame("chunk", {"content": "", "thinking": None, "done": True}))
                out.append(frame("done", {"metadata": self._metadata(event)}))
            case "post_response_complete" if data["run_id"] not in self.failed:
                out.append(frame("post_response_complete", {}))
            case "cancelled":
                cancelled = {"chat_session_id": data["message_id"], "reason": data["reason"]}
                out.append(frame("cancelled", cancelled))
            case "interrupted":
                out.append(frame("error", {"error": data["reason"], "code": "interrupted"}))
        for text in out:
            await self.socket.send_text(text)

    def _metadata(self, event: Event) -> dict[str, Any]:
        data = event.data
        usage = data.get("token_usage") or {}
        return {
            **{key: int(usage.get(key) or 0) for key in USAGE_KEYS},
            "model": self.models.get(data["message_id"]),
            "chat_session_id": data["message_id"],
            "conversation_id": event.session_id,
            "message_id": data["message_id"],
            "status": data["status"],
        }

    async def reply(self, reply: ServerEvent) -> None:
        """A message to this client alone: a refused command or a cancel that found nothing."""
        if isinstance(reply, ErrorReply):
            await self.error(reply.detail, reply.code)
        elif isinstance(reply, CancelResult):
            await self.error(f"chat session is not running (it is {reply.status})", "conflict")

    async def error(self, text: str, code: str) -> None:
        """The reference error message."""
        await self.socket.send_text(frame("error", {"error": text, "code": code}))

    async def too_slow(self) -> None:
        """Close: the client fell a whole queue behind."""
        await self.socket.close(CLOSE_TOO_SLOW, "client too slow")


class PersonaChat:
    """One `/ws/chat` client: its connection and the chat sessions it started."""

    def __init__(self, services: Services, user: User, socket: WebSocket) -> None:
        self.services = services
        self.user = user
        self.outlet = PersonaChatOutlet(socket)
        self.connection = ClientConnection(services, user, self.outlet, "persona-chat")
        self.runs: dict[str, str] = {}  # chat session (message) id -> run id
        self.current: tuple[str, str] | None = None  # (session id, run id) of the last chat

    async def handle(self, message: Any) -> None:
        """One client message; failures are answered with `error`."""
        try:
            await self._dispatch(message)
        except VibeforgeError as error:
            await self.outlet.error(error.detail, error.code)

    async def _dispatch(self, message: Any) -> None:
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            raise InvalidInput('a message is {"type": TEXT, "data": OBJECT}')
        kind, data = message["type"], message.get("data")
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise InvalidInput(f"{kind}: data must be an object")
        match kind:
            case "ping":
                await self.outlet.socket.send_text(frame("pong", data))
            case "chat":
                try:
                    request = ChatRequest.model_validate(data)
                except ValidationError as error:
                    raise InvalidInput(f"chat: {describe_errors(error.errors())}") from None
                await self.chat(request)
            case "cancel":
                chat_session_id = message.get("session_id", data.get("session_id"))
                if not isinstance(chat_session_id, str) or not chat_session_id:
                    raise InvalidInput("cancel: session_id must name the chat session")
                await self.cancel(chat_session_id[:64])
            case _:
                raise InvalidInput(f"unknown message type {kind[:64]!r}")

    async def cancel(self, chat_session_id: str) -> None:
        """Cancel a chat session: one this socket started, or one of the caller's started on
        another socket (found by its answer's run; another user's is not found)."""
        run_id = self.runs.get(chat_session_id)
        if run_id is not None:
            await self.connection.handle({"type": "cancel", "data": {"run_id": run_id}})
            return
        try:
            answer = await self.services.sessions.owned_message(self.user, chat_session_id)
        except NotFound:
            answer = None
        if answer is None or answer.run_id is None or answer.role != "assistant":
            raise NotFound(f"no chat session {chat_session_id!r}")
        outcome = await self.services.runs.cancel(self.user, answer.run_id)
        if not outcome.cancelled:
            await self.outlet.reply(CancelResult(outcome.run_id, outcome.status, False))
            return
        # Its events go to the socket that started it; this one is told here.
        cancelled = {"chat_session_id": chat_session_id, "reason": reasons.BY_USER}
        await self.outlet.socket.send_text(frame("cancelled", cancelled))

    async def chat(self, request: ChatRequest) -> None:
        """Start the message's run; the chat still running is cancelled first."""
        services, user = self.services, self.user
        if request.conversation_id is not None:
            session = await get_conversation(services, user, request.conversation_id)
        else:
            session = await create_conversation(services, user, request.persona_id)
        model = await pick_model(services, user, request.provider, request.provider_settings)
        params = {k: v for k, v in request.provider_settings.items() if k not in CONFIG_KEYS}
        for name, value in request.chat_controls.items():
            # Generation parameters among the controls are the run's (provider_settings win);
            # vibeforge has nothing the others could mean (see docs/compat.md).
            if name in PARAMETER_NAMES and name != "extra":
                params.setdefault(name, value)
        if self.current is not None and self.current[0] != session.id:
            # The same session's run is superseded by the registry; another's is cancelled.
            with contextlib.suppress(VibeforgeError):
                await services.runs.cancel(user, self.current[1])
        command = Chat(
            session_id=session.id,
            prompt=request.message,
            model=model,
            params=params or None,
            mode="chat",
            persona_id=request.persona_id,
        )
        ack = await self.connection.execute(command)
        self.runs[ack["message_id"]] = ack["run_id"]
        self.current = (session.id, ack["run_id"])


@router.websocket("/ws/chat")
async def persona_chat(socket: WebSocket) -> None:
    """The persona chat socket: `session_start`, then chats until the client leaves."""
    services: Services = socket.app.state.services
    refusal = frame("error", {"error": "unauthorized", "code": "unauthorized"})
    user = await accept_caller(socket, refusal)
    if user is None:
        return
    client = PersonaChat(services, user, socket)
    await socket.send_text(frame("session_start", {"session_id": new_id()}))

    async def handle(text: str) -> None:
        message = json_or_none(text)
        if message is None:
            await client.outlet.error("not valid JSON", "malformed_json")
        else:
            await client.handle(message)

    async def refuse(detail: str) -> None:
        await client.outlet.error(detail, "invalid_input")

    await serve(socket, client.connection, handle, refuse)
