"""What a run (or a project) tells every subscriber: frozen dataclasses, one per event type.

These are stored with their session's seq and replayed after a reconnect.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar


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
