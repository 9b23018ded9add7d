"""Telling an edit that is already in the file (a re-sent reply) from one still to apply."""

from __future__ import annotations

from vibeforge.edits.locate import FileIndex, Match, contiguous
from vibeforge.edits.model import Hunk
from vibeforge.edits.outcome import Located
from vibeforge.edits.text import IndentStyle, is_elision


def adds_text(hunk: Hunk) -> bool:
    """Whether the hunk adds a line with something on it."""
    return any(op.kind == "add" and op.text.strip() for op in hunk.ops)


def proves_presence(hunk: Hunk) -> bool:
    """Whether finding the hunk's new side in a file would show the edit is already made."""
    # Only added lines prove an edit is present: a deletion's surviving context is also what a
    # mistyped deletion would leave, so pure deletions are never called "already applied".
    if not adds_text(hunk) or any(is_elision(line) for line in hunk.new):
        return False
    # Added lines that only re-spell old ones (a dedented first SEARCH line, a context line
    # the model indented differently in SEARCH and REPLACE) prove nothing.
    removed = {op.text.strip() for op in hunk.ops if op.kind != "add"}
    return not all(
        op.text.strip() in removed for op in hunk.ops if op.kind == "add" and op.text.strip()
    )


def stale_new_side(index: FileIndex, hunk: Hunk, edit_style: IndentStyle) -> Match | None:
    """The unique strict place of the hunk's new side, when it adds or removes something."""
    if not proves_presence(hunk):
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
        if _added_around(index.lines, hunk, match):
            return Located("stale", match, reason="already applied (blank lines differ)")
    return Located("match", match)


def _added_around(lines: list[str], hunk: Hunk, match: Match) -> bool:
    """Whether the lines a pure insertion adds already sit right around its matched context,
    up to blank lines and indentation (a re-sent edit, after a formatter re-spaced it)."""
    if any(op.kind == "del" and op.text.strip() for op in hunk.ops) or not adds_text(hunk):
        return False
    new = [op.text.strip() for op in hunk.ops if op.kind != "del" and op.text.strip()]
    old = [text.strip() for text in hunk.old if text.strip()]
    at = next((k for k in range(len(new) - len(old) + 1) if new[k : k + len(old)] == old), None)
    if at is None or not old:
        return False  # the lines are added between context lines, which the file has together
    before, after = new[:at], new[at + len(old) :]
    above = _non_blank(lines, match.start - 1, -1, len(before))
    below = _non_blank(lines, match.end, 1, len(after))
    return above[::-1] == before and below == after


def _non_blank(lines: list[str], start: int, step: int, count: int) -> list[str]:
    found: list[str] = []
    number = start
    while len(found) < count and 0 <= number < len(lines):
        if lines[number].strip():
            found.append(lines[number].strip())
        number += step
    return found


def substring_already_applied(text: str, hunk: Hunk, span: tuple[int, int]) -> bool:
    """Whether the REPLACE text already surrounds a SEARCH found as a substring."""
    needle, replace = hunk.search_text or "", hunk.replace_text or ""
    if not proves_presence(hunk) or not needle:
        return False
    begin, end = span
    at = replace.find(needle)
    while at != -1:
        before, after = replace[:at], replace[at + len(needle) :]
        if (
            (before + after).strip()
            and text[max(0, begin - len(before)) : begin] == before
            and text[end : end + len(after)] == after
        ):
            return True
        at = replace.find(needle, at + 1)
    return False
