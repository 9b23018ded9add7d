"""What locating a hunk comes to: a place, already applied, or a refusal with its reason."""

from __future__ import annotations

from dataclasses import dataclass

from vibeforge.edits.locate import Match


@dataclass
class Located:
    """A hunk's fate in one file: a place to change, already applied, or a failure."""

    status: str  # "match", "substring", "stale", "failed"
    match: Match | None = None
    span: tuple[int, int] = (0, 0)  # character span for "substring"
    reason: str = ""
    closest: str = ""


class Refuse(Exception):
    """A hunk cannot be applied safely; the message says why."""
