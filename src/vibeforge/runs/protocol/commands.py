"""What a client may say: one strict pydantic model per client message type.

Every transport (`/ws`, Socket.IO, the REST message route) validates a message the same way,
through `parse_command` / `command_of`; a bad value is `invalid_input` (or `invalid_path` for
a field holding a project path). Adding a command is one class here and one entry in COMMANDS.
"""

from __future__ import annotations

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
