"""Every status vibeforge stores or sends, one StrEnum per kind of thing, defined once.

They are `StrEnum`s, so a member is its own wire and database value (`"success"`), compares
equal to that string, and JSON-encodes as it.
"""

from __future__ import annotations

from enum import StrEnum


class MessageStatus(StrEnum):
    """How a message (one turn of a session) stands."""

    STREAMING = "streaming"  # its run is still writing it
    SUCCESS = "success"
    NEEDS_INPUT = "needs_input"  # the agent asked the user a question
    ERROR = "error"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # the server stopped or died during its run


class RunStatus(StrEnum):
    """How a run stands."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    NEEDS_INPUT = "needs_input"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"
    BUDGET_EXCEEDED = "budget_exceeded"  # refused or cut off by a budget; the partial is kept

    @classmethod
    def of_message(cls, status: str, error_code: str | None = None) -> RunStatus:
        """The run status that goes with its answer's message status (and error code)."""
        if status == MessageStatus.ERROR and error_code == "budget_exceeded":
            return cls.BUDGET_EXCEEDED
        return _RUN_OF_MESSAGE.get(status, cls.FAILED)


_RUN_OF_MESSAGE = {
    MessageStatus.SUCCESS: RunStatus.SUCCEEDED,
    MessageStatus.NEEDS_INPUT: RunStatus.NEEDS_INPUT,
    MessageStatus.ERROR: RunStatus.FAILED,
    MessageStatus.CANCELLED: RunStatus.CANCELLED,
    MessageStatus.INTERRUPTED: RunStatus.INTERRUPTED,
}

#: Message statuses after which nothing more happens to the message.
ENDED = frozenset(
    {MessageStatus.CANCELLED, MessageStatus.INTERRUPTED, MessageStatus.ERROR}
    | {MessageStatus.SUCCESS, MessageStatus.NEEDS_INPUT}
)


class StageStatus(StrEnum):
    """How a stage of a run stands."""

    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"


class CallStatus(StrEnum):
    """How one provider request ended."""

    SUCCESS = "success"
    ERROR = "error"
    CANCELLED = "cancelled"


class ProposalStatus(StrEnum):
    """Where an approved edit stands."""

    PENDING = "pending"
    APPLIED = "applied"
    REJECTED = "rejected"
    CONFLICT = "conflict"


class SpanStatus(StrEnum):
    """How a trace span ended."""

    OK = "ok"
    ERROR = "error"
    CANCELLED = "cancelled"


class TestStatus(StrEnum):
    """How a test run (or a suite run: `finished`) stands."""

    __test__ = False  # not a pytest class
    QUEUED = "queued"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"  # could not run or could not judge; the reason says which
    CANCELLED = "cancelled"
    FINISHED = "finished"  # a suite run whose test runs all ended


#: Test run statuses after which nothing more happens to the run.
TEST_ENDED = frozenset(
    {TestStatus.PASSED, TestStatus.FAILED, TestStatus.ERROR, TestStatus.CANCELLED}
)


class AttachmentState(StrEnum):
    """Where an attachment's extraction stands: uploaded → extracting → ready | failed."""

    UPLOADED = "uploaded"
    EXTRACTING = "extracting"
    READY = "ready"
    FAILED = "failed"


#: Attachment states whose extraction has not finished.
PENDING_ATTACHMENT = frozenset({AttachmentState.UPLOADED, AttachmentState.EXTRACTING})
