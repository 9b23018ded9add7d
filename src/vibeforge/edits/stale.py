"""Telling an edit that is already in the file (a re-sent reply) from one still to apply."""

from __future__ import annotations

from vibeforge.edits.locate import FileIndex, Match, contiguous
from vibeforge.edits.model import Hunk
from vibeforge.edits.outcome import Located
from vibeforge.edits.text import IndentStyle, is_elision


def adds_text(hunk: Hunk) -> bool:
    return any(op.kind == "add" and op.text.strip() for op in hunk.ops)


def stale_new_side(index: FileIndex, hunk: Hunk, edit_style: IndentStyle) -> Match | None:
    """The unique strict place of the hunk's new side, when it adds or removes something."""
    # Only added lines prove an edit is present: a deletion's surviving context is also what a
    # mistyped deletion would leave, so pure deletions are never called "already applied".
    if not adds_text(hunk) or any(is_elision(line) for line in hunk.new):
        return None
    # Added lines that only re-spell removed ones (a dedented first SEARCH line) prove nothing.
    removed = {op.text.strip() for op in hunk.ops if op.kind != "add"}
    if all(op.text.strip() in removed for op in hunk.ops if op.kind == "add" and op.text.strip()):
        return None
    for level in ("exact", "rstrip", "strip"):
        found = contiguous(index, hunk.new, level, edit_style)
        if len(found) == 1:
            return found[0]
        if found:
            return None
    return None


def unless_stale(index: FileIndex, hunk: Hunk, match: Match, edit_style: IndentStyle) -> Located:
    """An old side found inside an already-present new side means the edit was applied."""
    if any(op.kind == "add" for op in hunk.ops):
        present = stale_new_side(index, hunk, edit_style)
        if present is not None and present.start <= match.start and match.end <= present.end:
            return Located("stale", present, reason="already applied")
    return Located("match", match)
