"""The run protocol: what a client may say (commands) and what the server says (events).

Commands are strict pydantic models, one per client message type, validated the same way for
every transport (`/ws`, Socket.IO, the REST message route). Server events are frozen
dataclasses, one per event type; `event_data` turns one into the `data` of its wire envelope,
and `decode_event` turns a received envelope back into one (the Python client does).
Adding a command or an event is one class here and one entry in its table.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import ConfigDict, Field, JsonValue, ValidationError, model_validator

from vibeforge.errors import InvalidInput, InvalidPath
from vibeforge.strict import Strict, describe_errors, has_nul

Id = Annotated[str, Field(min_length=1, max_length=64)]
FilePath = Annotated[str, Field(min_length=1, max_length=4096)]
RunMode = Literal["code", "chat"]
MAX_PROMPT_CHARS = 200_000
MAX_MESSAGE_ATTACHMENTS = 100
# An attachment sent over a socket, as base64 (a socket message is at most 4 MiB).
MAX_UPLOAD_DATA_CHARS = 4 * 1024 * 1024
AttachmentName = Annotated[str, Field(min_length=1, max_length=255)]

# -- client commands -------------------------------------------------------------------------


class Command(Strict):
    """A client message; `type` names it on the wire."""

    type: ClassVar[str]
    # Fields holding a project path: a bad value there is `invalid_path`, as over REST.
    path_fields: ClassVar[tuple[str, ...]] = ()


class Ping(Command):
    """Ask for a `pong` (a liveness check); `ts` is echoed back."""

    type: ClassVar[str] = "ping"
    ts: JsonValue = None


class Auth(Command):
    """Authenticate a socket with its first message (when the URL carried no token)."""

    type: ClassVar[str] = "auth"
    token: str = Field(min_length=1, max_length=512)


class Subscribe(Command):
    """Follow a session (replaying what came after `after_seq`) or a whole project."""

    type: ClassVar[str] = "subscribe"
    session_id: Id | None = None
    project_id: Id | None = None
    after_seq: int | None = Field(default=None, ge=0, strict=True)

    @model_validator(mode="after")
    def _one_target(self) -> Subscribe:
        if not self.session_id and not self.project_id:
            raise ValueError("subscribe needs session_id or project_id")
        return self


class MessageFields(Strict):
    """What a user message says, however it arrives (a socket's `chat`, a REST body)."""

    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    model: str | None = Field(default=None, max_length=200, description="config id or name")
    params: dict[str, JsonValue] | None = Field(
        default=None, description="per-request parameters, checked against the model's"
    )
    mode: RunMode | None = Field(
        default=None, description="code (default): the coding pipeline; chat: one plain answer"
    )
    persona_id: Id | None = Field(
        default=None, description="persona id or name (else the session's, the project's)"
    )
    attachments: list[Id] | None = Field(
        default=None,
        max_length=MAX_MESSAGE_ATTACHMENTS,
        description="the attachments the run sees (default: every one of the session and its "
        "project; [] for none)",
    )
    wait_for_attachments: bool = Field(
        default=False,
        description="wait for attachments still being extracted instead of refusing the message",
    )

    @model_validator(mode="after")
    def _not_blank(self) -> MessageFields:
        if not self.prompt.strip():
            raise ValueError("prompt must not be blank")
        return self


class Chat(Command, MessageFields):
    """A user message: starts a run in the session (a run already active there is cancelled,
    or with `if_idle` the message is refused with `conflict`)."""

    type: ClassVar[str] = "chat"
    session_id: Id
    if_idle: bool = Field(
        default=False, strict=True, description="refuse (409) rather than cancel an active run"
    )


class Cancel(Command):
    """Stop a run; `cancelled` follows."""

    type: ClassVar[str] = "cancel"
    run_id: Id


class UploadFile(Command):
    """Write a file of a project (`path`: a new version) or store an attachment (`name`: of
    `session_id`, or of `project_id` for every session); the bytes come as `content` (text)
    or `data` (base64)."""

    type: ClassVar[str] = "upload_file"
    path_fields: ClassVar[tuple[str, ...]] = ("path",)
    project_id: Id | None = None
    session_id: Id | None = None
    path: FilePath | None = None
    name: AttachmentName | None = None
    content: str | None = None
    data: str | None = Field(default=None, max_length=MAX_UPLOAD_DATA_CHARS)
    message: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _one_form(self) -> UploadFile:
        if (self.path is None) == (self.name is None):
            raise ValueError("upload_file needs path (a project file) or name (an attachment)")
        if (self.content is None) == (self.data is None):
            raise ValueError("upload_file needs content (text) or data (base64), not both")
        if self.path is not None and self.project_id is None:
            raise ValueError("a project file needs project_id")
        if self.path is not None and self.session_id is not None:
            raise ValueError("session_id is for attachments; a project file has a path")
        if self.name is not None and not (self.project_id or self.session_id):
            raise ValueError("an attachment needs session_id or project_id")
        if self.name is not None and self.message is not None:
            raise ValueError("message is for project files (a version's message)")
        return self


class DeleteFile(Command):
    """Delete a file of a project (`path`: a new version) or an attachment (`attachment_id`)."""

    type: ClassVar[str] = "delete_file"
    path_fields: ClassVar[tuple[str, ...]] = ("path",)
    project_id: Id | None = None
    path: FilePath | None = None
    attachment_id: Id | None = None

    @model_validator(mode="after")
    def _one_target(self) -> DeleteFile:
        if (self.path is None) == (self.attachment_id is None):
            raise ValueError("delete_file needs path or attachment_id, not both")
        if self.path is not None and self.project_id is None:
            raise ValueError("a project file needs project_id")
        return self


class RevertVersion(Command):
    """Restore an old version of a project (or of one file, `path`) as a new version."""

    type: ClassVar[str] = "revert_version"
    path_fields: ClassVar[tuple[str, ...]] = ("path",)
    project_id: Id
    version_id: Annotated[str, Field(min_length=4, max_length=64)]
    path: FilePath | None = None


class RenameFile(Command):
    """Move a file of a project to a new path (a new version)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    type: ClassVar[str] = "rename_file"
    path_fields: ClassVar[tuple[str, ...]] = ("from", "to")  # as sent
    project_id: Id
    source: FilePath = Field(alias="from")
    target: FilePath = Field(alias="to")
    message: str | None = Field(default=None, max_length=2000)


COMMANDS: dict[str, type[Command]] = {
    command.type: command
    for command in (
        Ping,
        Subscribe,
        Chat,
        Cancel,
        UploadFile,
        DeleteFile,
        RevertVersion,
        RenameFile,
    )
}


def parse_command(message: Any, commands: dict[str, type[Command]] = COMMANDS) -> Command:
    """The command a client message `{"type": TEXT, "data": OBJECT}` carries; a flat message
    (`{"type": ..., **fields}`) is accepted too. Anything else is InvalidInput saying why."""
    if not isinstance(message, dict):
        raise InvalidInput('a message is {"type": TEXT, "data": OBJECT}')
    kind = message.get("type")
    data = message.get("data")
    if data is None:
        data = {key: value for key, value in message.items() if key != "type"}
    if not isinstance(kind, str) or not isinstance(data, dict):
        raise InvalidInput('a message is {"type": TEXT, "data": OBJECT}')
    return command_of(kind, data, commands)


def command_of(kind: str, data: Any, commands: dict[str, type[Command]] = COMMANDS) -> Command:
    """Validate `data` as the command named `kind`."""
    model = commands.get(kind)
    if model is None:
        raise InvalidInput(f"unknown message type {kind[:64]!r}")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidInput(f"{kind}: the data must be an object")
    if any(has_nul(data.get(name)) for name in model.path_fields):
        raise InvalidPath("the path contains a NUL character")
    if has_nul(data):
        raise InvalidInput("a field contains a NUL character")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = error.errors()
        detail = f"{kind}: {describe_errors(problems)}"
        if all(
            problem["loc"][:1] in {(name,) for name in model.path_fields} for problem in problems
        ):
            raise InvalidPath(detail) from None
        raise InvalidInput(detail) from None


# -- server events ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionStart:
    """Sent to a client subscribing to a session, before its replay or snapshot."""

    type: ClassVar[str] = "session_start"
    session_id: str
    project_id: str
    scope: str
    node_id: str | None
    last_seq: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The state a subscriber starts from (a session's messages, a project's files, ...)."""

    type: ClassVar[str] = "snapshot"
    state: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Pong:
    """The answer to `ping`."""

    type: ClassVar[str] = "pong"
    ts: Any = None


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """A client's command failed; the connection stays usable."""

    type: ClassVar[str] = "error"
    code: str
    detail: str


@dataclass(frozen=True, slots=True)
class CancelResult:
    """A cancel that found nothing running: the run's stored status."""

    type: ClassVar[str] = "cancel_result"
    run_id: str
    status: str
    cancelled: bool


@dataclass(frozen=True, slots=True)
class ChatSessionStart:
    """A run started; the first event of every run."""

    type: ClassVar[str] = "chat_session_start"
    message_id: str
    user_message_id: str
    model: str
    trace_id: str
    superseded_run_id: str | None = None  # the run this one cancelled, if one was active


@dataclass(frozen=True, slots=True)
class StageUpdate:
    """A stage of the run began or ended."""

    type: ClassVar[str] = "stage_update"
    stage: str
    status: str
    duration_ms: float | None = None
    detail: str | None = None  # why a stage failed (a module's error), when it did


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of the answer (text, or the model's visible reasoning)."""

    type: ClassVar[str] = "chunk"
    content: str = ""
    thinking: str = ""


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """One LLM call finished: its usage, and the run's total so far."""

    type: ClassVar[str] = "token_usage"
    message_id: str
    role: str
    iteration: int
    model: str
    usage: dict[str, Any]
    total: dict[str, Any]
    timestamp: str
    attempt: int = 1  # retried calls: one event per attempt
    status: str = "success"  # how the attempt ended


@dataclass(frozen=True, slots=True)
class ProposalMade:
    """An approved edit was stored, applied, rejected or found to conflict."""

    type: ClassVar[str] = "proposal"
    proposal_id: str
    status: str
    base_version: str
    version_id: str | None
    paths: list[str]
    diff: str
    commit_message: str
    merged: bool = False
    conflicts: list[str] = dataclasses.field(default_factory=list)


@dataclass(frozen=True, slots=True)
class CodeChanged:
    """A project has a new version (from a run, a proposal, REST or a socket action)."""

    type: ClassVar[str] = "code_changed"
    version_id: str
    files: list[str]
    changed: bool = True
    project_id: str | None = None
    previous_version_id: str | None = None
    proposal_id: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class AttachmentChanged:
    """An attachment moved along `uploaded → extracting → ready | failed` (or was deleted:
    state `deleted`); sent to the project's subscribers."""

    type: ClassVar[str] = "attachment_state"
    attachment_id: str
    state: str
    name: str
    kind: str
    size: int
    session_id: str | None = None
    error: str | None = None
    error_code: str | None = None
    unit: str | None = None
    units: int | None = None
    tokens: int | None = None


@dataclass(frozen=True, slots=True)
class ContextReport:
    """Which attachments (and which of their pages, rows or lines) the run's prompt holds,
    and which it left out; stored with the answer as its `context_report`."""

    type: ClassVar[str] = "context_report"
    report: dict[str, Any]


@dataclass(frozen=True, slots=True)
class FileUploaded:
    """The answer to `upload_file`: the version written, or the attachment stored."""

    type: ClassVar[str] = "file_uploaded"
    project_id: str
    path: str | None = None
    version_id: str | None = None
    changed: bool | None = None
    attachment: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class RevertComplete:
    """The answer to `revert_version`: the new version restoring the old one."""

    type: ClassVar[str] = "revert_complete"
    project_id: str
    version_id: str
    reverted_to: str
    changed: bool
    path: str | None = None


@dataclass(frozen=True, slots=True)
class FileDeleted:
    """The answer to `delete_file`: the version without the file, or the attachment gone."""

    type: ClassVar[str] = "file_deleted"
    project_id: str
    path: str | None = None
    version_id: str | None = None
    attachment_id: str | None = None


@dataclass(frozen=True, slots=True)
class FileRenamed:
    """The answer to `rename_file`: the version with the file at its new path."""

    type: ClassVar[str] = "file_renamed"
    project_id: str
    source: str
    target: str
    version_id: str


@dataclass(frozen=True, slots=True)
class Done:
    """A run ended with an answer (success, needs_input or error)."""

    type: ClassVar[str] = "done"
    run_id: str
    message_id: str
    status: str
    content: str
    diff: str | None
    trace_id: str
    token_usage: dict[str, Any]
    error: str | None = None
    error_code: str | None = None
    proposal_id: str | None = None
    proposal_status: str | None = None
    version_id: str | None = None
    counters: dict[str, int] | None = None
    superseded_run_id: str | None = None  # the run this one cancelled, if one was active


@dataclass(frozen=True, slots=True)
class PostResponseComplete:
    """Everything after the answer is done too; the last event of a run that answered."""

    type: ClassVar[str] = "post_response_complete"
    run_id: str


@dataclass(frozen=True, slots=True)
class Cancelled:
    """A run was cancelled; its partial answer is kept. `reason` says by what: the user,
    a newer message (`superseded by message M (run R)`), the project's or session's deletion."""

    type: ClassVar[str] = "cancelled"
    message_id: str
    reason: str = "cancelled by the user"


@dataclass(frozen=True, slots=True)
class Interrupted:
    """A run was cut off by the server stopping; its partial answer is kept."""

    type: ClassVar[str] = "interrupted"
    message_id: str
    reason: str = "the server stopped during this run"


@dataclass(frozen=True, slots=True)
class RunFailed:
    """A run failed; `done` with status `error` follows."""

    type: ClassVar[str] = "error"
    code: str
    detail: str


@dataclass(frozen=True, slots=True)
class TestCompleted:
    """A test run ended (to the project's subscribers); `output` is the start of its stdout."""

    __test__ = False
    type: ClassVar[str] = "test_completed"
    test_id: str
    run_id: str
    status: str
    output: str | None
    trace_id: str
    suite_id: str | None = None
    version_id: str | None = None
    model: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class BudgetWarning:
    """A budget's spending crossed one of its soft thresholds (once per threshold and
    period), told to the subscribers of the project whose call crossed it."""

    type: ClassVar[str] = "budget_warning"
    budget_id: str
    name: str
    scope: str  # user | project | model_config
    subject_id: str
    unit: str  # usd | tokens
    threshold: float  # the fraction of the cap crossed, e.g. 0.8
    spent: float  # dollars or tokens
    cap: float


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
