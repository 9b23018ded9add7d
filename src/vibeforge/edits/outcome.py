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


def adjustment(located: Located) -> str:
    """What was tolerated to place a block, for its report ("" when it matched as written)."""
    if located.status == "substring":
        return "the search text matched the end of a line; its replacement was put there as written"
    match = located.match
    if match is None or match.layer == "exact":
        return ""
    shift = f"added lines re-indented by {match.delta:+d} columns" if match.delta else ""
    if match.layer == "rstrip":
        return "matched with trailing whitespace ignored"
    if match.layer.startswith("expand"):
        return f"matched with tabs read as {match.layer[6:]} columns; added lines use the file's"
    if match.layer == "strip":
        return "matched with indentation ignored" + (f"; {shift}" if shift else "")
    if match.layer == "drift":
        return "matched with indentation that differs line by line" + (
            f"; {shift}" if shift else ""
        )
    if match.layer == "spacing":
        return "matched with the spacing inside lines ignored"
    parts = []
    if match.spans:
        parts.append(f"{len(match.spans)} elision(s) filled from the file")
    if match.cost:
        parts.append(f"{match.cost} context line(s) missing or invented")
    if shift:
        parts.append(shift)
    return "matched loosely: " + ", ".join(parts) if parts else "matched loosely"
