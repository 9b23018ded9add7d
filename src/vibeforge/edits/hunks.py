"""Locating one hunk: each layer in turn, with stale and ambiguity checks; refuse over guess."""

from __future__ import annotations

import difflib
from collections.abc import Callable

from vibeforge.edits.checks import (
    check_cut_line,
    check_elided_adds,
    check_elisions,
    check_hint,
    check_substring_conflicts,
    line_levels,
    substring_places,
)
from vibeforge.edits.locate import FileIndex, Match, added_shift, contiguous, drifted, tolerant
from vibeforge.edits.model import Hunk
from vibeforge.edits.outcome import Located, Refuse
from vibeforge.edits.replace import replacement
from vibeforge.edits.stale import (
    proves_presence,
    stale_new_side,
    substring_already_applied,
    unless_stale,
)
from vibeforge.edits.text import IndentStyle, is_elision

__all__ = ["Located", "Refuse", "locate_hunk", "replacement"]

NEAR_HINT = 3  # lines a header may be off when the model dropped its first context lines


def _pick(candidates: list[Match], hint: int | None, same: Callable[[list[Match]], bool]) -> Match:
    if len(candidates) == 1:
        return candidates[0]
    if hint is not None:
        named = [m for m in candidates if m.start == hint]
        if len(named) == 1:
            return named[0]
        if not named:
            near = [m for m in candidates if abs(m.start - hint) <= NEAR_HINT]
            if len(near) == 1:
                return near[0]
    # Alignments that differ only in which equal lines a gap or an elision absorbed write the
    # same file; only candidates with different results are a real ambiguity.
    if same(candidates):
        return candidates[0]
    raise Refuse(f"ambiguous: the search text matches {len(candidates)} places in the file")


def _same_result(index: FileIndex, hunk: Hunk, edit_style: IndentStyle) -> Callable:
    """A test of whether several candidate places would all write the same file."""

    def same(candidates: list[Match]) -> bool:
        lines = index.lines
        results = set()
        for match in candidates:
            try:
                new = replacement(lines, hunk, match, index.style, edit_style)
            except Refuse:
                return False
            results.add(tuple(lines[: match.start] + new + lines[match.end :]))
            if len(results) > 1:
                return False
        return True

    return same


def locate_hunk(index: FileIndex, hunk: Hunk, text: str, edit_style: IndentStyle) -> Located:
    """Find where a hunk applies, trying each layer in turn; refuse rather than guess."""
    old = hunk.old
    same = _same_result(index, hunk, edit_style)
    try:
        check_elisions(index, hunk)
        for level in line_levels(index, old):
            found = _settled(index, hunk, contiguous(index, old, level, edit_style))
            if found:
                match = _pick(found, hunk.start_hint, same)
                check_hint(index, hunk, match, level, edit_style)
                check_substring_conflicts(index, hunk, match, text)
                located = unless_stale(index, hunk, match, edit_style)
                if located.status == "match":
                    check_cut_line(index, hunk, match, text, edit_style)
                return located
        stale = stale_new_side(index, hunk, edit_style)
        if stale is not None:
            return Located("stale", stale, reason="already applied")
        skippable = [not t.strip() for t in old]
        kinds = [op.kind for op in hunk.ops if op.kind != "add"]
        skippable = [s and kind == "ctx" for s, kind in zip(skippable, kinds, strict=True)]
        found = tolerant(index, old, skippable, edit_style)
        if not found:
            # Last line-based layer: the model re-spaced the code inside its lines.
            found = contiguous(index, old, "spacing", edit_style)
        if found:
            match = _pick(_settled(index, hunk, found), hunk.start_hint, same)
            check_hint(index, hunk, match, "tolerant", edit_style)
            check_substring_conflicts(index, hunk, match, text)
            check_cut_line(index, hunk, match, text, edit_style)
            check_elided_adds(index, hunk, match)
            return Located("match", match)
        if hunk.search_text is not None:
            located = _locate_substring(hunk, text, index)
            if located is not None:
                return located
        found = [] if hunk.search_text is not None else _drifted(index, hunk, edit_style)
        if found:
            match = _pick(_settled(index, hunk, found), hunk.start_hint, same)
            check_hint(index, hunk, match, "drift", edit_style)
            check_substring_conflicts(index, hunk, match, text)
            return unless_stale(index, hunk, match, edit_style)
    except Refuse as refusal:
        return Located("failed", reason=str(refusal), closest=closest_lines(index.lines, old))
    return _not_found(index, old)


def _drifted(index: FileIndex, hunk: Hunk, edit_style: IndentStyle) -> list[Match]:
    """Diff hunks only: a SEARCH whose lines drift has no `+`/`-` marks to say which of its
    lines, and so which REPLACE lines, are indented as meant."""
    return drifted(index, hunk.old, edit_style.unit)


def _settled(index: FileIndex, hunk: Hunk, found: list[Match]) -> list[Match]:
    """Diff hunks placed with their indentation ignored: their added lines take their own
    shift (see `added_shift`), before candidates are compared or one is used."""
    if hunk.search_text is not None:
        return found
    removed = [op.kind == "del" for op in hunk.ops if op.kind != "add"]
    added = [op.text for op in hunk.ops if op.kind == "add"]
    for match in found:
        if match.layer in ("strip", "tolerant", "spacing", "drift"):
            match.delta = added_shift(index, match, hunk.old, removed, added)
    return found


def _not_found(index: FileIndex, old: list[str]) -> Located:
    return Located(
        "failed",
        reason="the search text does not match any lines in the file",
        closest=closest_lines(index.lines, old),
    )


def _locate_substring(hunk: Hunk, text: str, index: FileIndex) -> Located | None:
    """The SEARCH text as a unique substring of the file (the model cut a line's start)."""
    needle = hunk.search_text or ""
    places = substring_places(text, needle)
    # Not line-aligned, so every raw occurrence is a place the model may have meant.
    if len(places) > 1 or (places and text.count(needle) > 1):
        raise Refuse(f"ambiguous: the search text occurs {text.count(needle)} times")
    if places:
        if substring_already_applied(text, hunk, places[0]):
            return Located("stale", reason="already applied")
        return Located("substring", span=places[0])
    replace = hunk.replace_text or ""
    if proves_presence(hunk) and replace != needle and len(substring_places(text, replace)) == 1:
        return Located("stale", reason="already applied")
    return None


def closest_lines(lines: list[str], old: list[str], context: int = 2) -> str:
    """The file lines nearest to a failed hunk's old side, for the report."""
    wanted = [line.strip() for line in old if line.strip() and not is_elision(line)]
    if not wanted or not lines:
        return ""
    stripped = [line.strip() for line in lines]
    best_score, best_at = 0.0, -1
    for target in wanted[:8]:
        matcher = difflib.SequenceMatcher(None, "", target, autojunk=False)
        for number, candidate in enumerate(stripped):
            if not candidate:
                continue
            matcher.set_seq1(candidate)
            if matcher.real_quick_ratio() <= best_score or matcher.quick_ratio() <= best_score:
                continue
            score = matcher.ratio()
            if score > best_score:
                best_score, best_at = score, number
    if best_at < 0 or best_score < 0.5:
        return ""
    low = max(0, best_at - context)
    return "\n".join(lines[low : min(len(lines), best_at + len(old) + context)])
