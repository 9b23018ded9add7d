"""EditError: a refusal with a structured report that renders as a message for the model."""

from __future__ import annotations

from collections.abc import Sequence

from vibeforge.edits.model import BlockReport
from vibeforge.errors import InvalidInput


class EditError(InvalidInput):
    """The edit was refused; nothing was applied. `reports` says which blocks failed and why."""

    code = "edit_failed"
    status = 422
    retryable = True  # the model can usually fix its reply when shown the report

    def __init__(self, reason: str, reports: Sequence[BlockReport] = (), path: str | None = None):
        self.reason = reason
        self.reports = list(reports)
        self.path = path
        super().__init__(render_report(reason, self.reports, path))

    @property
    def failed(self) -> list[BlockReport]:
        """The blocks that could not be applied."""
        return [r for r in self.reports if r.status == "failed"]


def _fenced(text: str) -> str:
    return "```\n" + text.rstrip("\n") + "\n```"


def render_report(reason: str, reports: Sequence[BlockReport], path: str | None = None) -> str:
    """Render a refusal for the model: each failed block, the nearest real text, what was kept."""
    where = f" to {path}" if path else ""
    parts = [f"The edit{where} was not applied: {reason}"]
    failed = [r for r in reports if r.status == "failed"]
    for report in failed:
        target = f" for {report.path}" if report.path else ""
        parts.append(f"\n## Block {report.index + 1}{target} failed: {report.reason}")
        if report.block:
            parts.append("Its search text was:\n" + _fenced(report.block))
        if report.closest:
            parts.append("The closest lines in the file are:\n" + _fenced(report.closest))
    fine = [r for r in reports if r.status != "failed"]
    if fine and failed:
        done = ", ".join(
            f"{r.index + 1} ({'already present' if r.status == 'already_applied' else 'ok'})"
            for r in fine
        )
        parts.append(
            f"\nBlocks {done} matched, but the reply is applied all-or-nothing, "
            "so none of it was applied. Resend only the failed blocks, corrected."
        )
    elif failed:
        parts.append(
            "\nNothing was applied. Resend the failed blocks with search text copied exactly "
            "from the file, with enough context to be unique."
        )
    return "\n".join(parts)
