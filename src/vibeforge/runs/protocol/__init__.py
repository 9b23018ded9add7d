"""The run protocol: what a client may say (commands) and what the server says (events).

Commands (`commands`) are strict pydantic models, one per client message type, validated the
same way for every transport (`/ws`, Socket.IO, the REST message route). Server events
(`events`: a run's or a project's, stored and replayed; `replies`: one client's answers) are
frozen dataclasses, one per event type; `event_data` turns one into the `data` of its wire
envelope, and `decode_event` turns a received envelope back into one (the Python client does).
Adding a command or an event is one class in its module and one entry in its table.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from vibeforge.runs.protocol.commands import (
    COMMANDS,
    MAX_MESSAGE_ATTACHMENTS,
    MAX_PROMPT_CHARS,
    MAX_UPLOAD_DATA_CHARS,
    AttachmentName,
    Auth,
    Cancel,
    Chat,
    Command,
    DeleteFile,
    FilePath,
    Id,
    MessageFields,
    Ping,
    RenameFile,
    RevertVersion,
    RunMode,
    Subscribe,
    UploadFile,
    command_of,
    parse_command,
)
from vibeforge.runs.protocol.events import (
    AttachmentChanged,
    BudgetWarning,
    Cancelled,
    ChatSessionStart,
    Chunk,
    CodeChanged,
    ContextReport,
    Done,
    Interrupted,
    PostResponseComplete,
    ProposalMade,
    RunFailed,
    StageUpdate,
    TestCompleted,
    TokenUsage,
)
from vibeforge.runs.protocol.replies import (
    CancelResult,
    ErrorReply,
    FileDeleted,
    FileRenamed,
    FileUploaded,
    Pong,
    RevertComplete,
    SessionStart,
    Snapshot,
)

__all__ = [
    "COMMANDS",
    "EVENTS",
    "MAX_MESSAGE_ATTACHMENTS",
    "MAX_PROMPT_CHARS",
    "MAX_UPLOAD_DATA_CHARS",
    "REPLIES",
    "AttachmentChanged",
    "AttachmentName",
    "Auth",
    "BudgetWarning",
    "Cancel",
    "CancelResult",
    "Cancelled",
    "Chat",
    "ChatSessionStart",
    "Chunk",
    "CodeChanged",
    "Command",
    "ContextReport",
    "DeleteFile",
    "Done",
    "ErrorReply",
    "FileDeleted",
    "FilePath",
    "FileRenamed",
    "FileUploaded",
    "Id",
    "Interrupted",
    "MessageFields",
    "Ping",
    "Pong",
    "PostResponseComplete",
    "ProposalMade",
    "RenameFile",
    "RevertComplete",
    "RevertVersion",
    "RunFailed",
    "RunMode",
    "ServerEvent",
    "SessionStart",
    "Snapshot",
    "StageUpdate",
    "Subscribe",
    "TestCompleted",
    "TokenUsage",
    "UploadFile",
    "command_of",
    "decode_event",
    "event_data",
    "parse_command",
]

ServerEvent = (
    SessionStart
    | Snapshot
    | Pong
    | ErrorReply
    | CancelResult
    | ChatSessionStart
    | StageUpdate
    | Chunk
    | TokenUsage
    | ProposalMade
    | CodeChanged
    | AttachmentChanged
    | ContextReport
    | FileUploaded
    | RevertComplete
    | FileDeleted
    | FileRenamed
    | Done
    | PostResponseComplete
    | Cancelled
    | Interrupted
    | RunFailed
    | TestCompleted
    | BudgetWarning
)

# Run and project events by wire name (`error` is a run's RunFailed; a reply's ErrorReply has
# the same fields). Replies addressed to one client are decoded by their own table.
EVENTS: dict[str, type[Any]] = {
    event.type: event
    for event in (
        ChatSessionStart,
        StageUpdate,
        Chunk,
        TokenUsage,
        ProposalMade,
        CodeChanged,
        AttachmentChanged,
        ContextReport,
        Done,
        PostResponseComplete,
        Cancelled,
        Interrupted,
        RunFailed,
        TestCompleted,
        BudgetWarning,
    )
}
REPLIES: dict[str, type[Any]] = {
    event.type: event
    for event in (
        SessionStart,
        Snapshot,
        Pong,
        ErrorReply,
        CancelResult,
        FileUploaded,
        RevertComplete,
        FileDeleted,
        FileRenamed,
    )
}
_FIELDS: dict[type[Any], tuple[str, ...]] = {
    event: tuple(f.name for f in dataclasses.fields(event))
    for event in (*EVENTS.values(), *REPLIES.values())
}


def event_data(event: ServerEvent) -> dict[str, Any]:
    """The `data` of an event's wire envelope."""
    if isinstance(event, Snapshot):
        return event.state
    if isinstance(event, SessionStart):
        # The wire names the scope `type`, as the vibecoding reference system does.
        return {
            "session_id": event.session_id,
            "project_id": event.project_id,
            "type": event.scope,
            "node_id": event.node_id,
            "last_seq": event.last_seq,
        }
    return {name: getattr(event, name) for name in _FIELDS[type(event)]}


def decode_event(type: str, data: dict[str, Any], seq: int = 1) -> ServerEvent | None:
    """The event a received envelope holds (fields it does not know are ignored); None for a
    type this version does not know. `seq` 0 marks a reply to one client (an `error` is then
    an ErrorReply, not a run's RunFailed)."""
    if type == "snapshot":
        return Snapshot(data)
    if type == "session_start" and "scope" not in data:
        data = {**data, "scope": data.get("type", "global")}
    tables = (REPLIES, EVENTS) if seq == 0 else (EVENTS, REPLIES)
    model = tables[0].get(type) or tables[1].get(type)
    if model is None:
        return None
    fields = _FIELDS[model]
    return model(**{name: data[name] for name in fields if name in data})
