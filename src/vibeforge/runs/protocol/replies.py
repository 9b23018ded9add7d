"""What the server answers one client: frozen dataclasses, one per reply type.

A reply goes to the socket that asked (seq 0 on the wire); it is never stored or replayed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


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
