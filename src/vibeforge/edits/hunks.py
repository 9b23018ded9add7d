"""Locating one hunk (with stale and ambiguity checks) and building its replacement lines."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass

from vibeforge.edits.locate import FileIndex, Match, contiguous, tolerant
from vibeforge.edits.model import Hunk
from vibeforge.edits.text import IndentStyle, indent_of, is_elision, split_lines

_WORD = re.compile(r"\w")


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


def substring_places(text: str, needle: str) -> list[tuple[int, int]]:
    """Where `needle` occurs in `text`, ending at a line end and starting at a token boundary."""
    places: list[tuple[int, int]] = []
    if not needle.strip():
        return places
    start = text.find(needle)
    while start != -1:
        end = start + len(needle)
        ends_line = end == len(text) or text[end] == "\n"
        before = text[start - 1] if start else "\n"
        boundary = not (_WORD.match(before) and _WORD.match(needle[0]))
        if ends_line and boundary:
            places.append((start, end))
        start = text.find(needle, start + 1)
    return places


def _raw_places(text: str, needle: str) -> list[tuple[int, int]]:
    places: list[tuple[int, int]] = []
    start = text.find(needle) if needle.strip() else -1
    while start != -1:
        places.append((start, start + len(needle)))
        start = text.find(needle, start + 1)
    return places


def _line_span_chars(lines: list[str], start: int, end: int) -> tuple[int, int]:
    begin = sum(len(line) + 1 for line in lines[:start])
    length = sum(len(line) + 1 for line in lines[start:end])
    return begin, begin + length


def _check_substring_conflicts(index: FileIndex, hunk: Hunk, match: Match, text: str) -> None:
    """A search/replace block must not also match elsewhere as a plain substring."""
    if hunk.search_text is None:
        return
    low, high = _line_span_chars(index.lines, match.start, match.end)
    needle = hunk.search_text
    places = substring_places(text, needle)
    if match.layer not in ("exact", "rstrip") and not match.layer.startswith("expand"):
        # Matched with its indentation ignored, the text was not written as whole lines, so
        # any raw occurrence (`x.get` inside `f(x.get)`) is a place the model may have meant.
        places = _raw_places(text, needle)
    others = [p for p in places if p[0] < low or p[1] > high]
    if others:
        raise Refuse(
            f"ambiguous: the search text also occurs {len(others)} other time(s) in the file"
        )


def _stale_new_side(index: FileIndex, hunk: Hunk, edit_style: IndentStyle) -> Match | None:
    """The unique strict place of the hunk's new side, when it adds or removes something."""
    # Only added lines prove an edit is present: a deletion's surviving context is also what a
    # mistyped deletion would leave, so pure deletions are never called "already applied".
    if not _adds_text(hunk) or any(is_elision(line) for line in hunk.new):
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


def _check_elisions(index: FileIndex, hunk: Hunk) -> None:
    """An elision comment may stand for kept code, never be written into the file or delete."""
    for op in hunk.ops:
        if op.kind == "ctx" or not is_elision(op.text, bare_dots=op.kind == "del"):
            continue
        if op.text.strip() in index.table("strip"):
            continue  # the file really contains this comment
        if op.kind == "add":
            raise Refuse("the replacement contains an elision comment in place of real code")
        raise Refuse("an elision comment appears in the search text but not in the replacement")


def _adds_text(hunk: Hunk) -> bool:
    return any(op.kind == "add" and op.text.strip() for op in hunk.ops)


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


def _line_levels(index: FileIndex, old: list[str]) -> list[str]:
    levels = ["exact", "rstrip"]
    if index.style.use_tabs or any("\t" in line for line in old):
        # Tabs for the file's indentation unit (or the reverse) are only another spelling.
        levels.append(f"expand{index.style.unit}")
    return [*levels, "strip"]


def _check_hint(
    index: FileIndex, hunk: Hunk, match: Match, level: str, edit_style: IndentStyle
) -> None:
    """A diff place away from its header's line must not compete with one at that line."""
    hint = hunk.start_hint
    if hint is None or match.start == hint:
        return
    present = _stale_new_side(index, hunk, edit_style)
    if present is not None and present.start == hint:
        raise Refuse(
            "the change is already at the line the header names; the old side is elsewhere"
        )
    levels = _line_levels(index, hunk.old)
    for looser in levels[levels.index(level) + 1 :] if level in levels else []:
        if any(m.start == hint for m in contiguous(index, hunk.old, looser, edit_style)):
            raise Refuse("ambiguous: another place, at the line the header names, also matches")


def locate_hunk(index: FileIndex, hunk: Hunk, text: str, edit_style: IndentStyle) -> Located:
    """Find where a hunk applies, trying each layer in turn; refuse rather than guess."""
    old = hunk.old
    same = _same_result(index, hunk, edit_style)
    try:
        _check_elisions(index, hunk)
        for level in _line_levels(index, old):
            found = contiguous(index, old, level, edit_style)
            if found:
                match = _pick(found, hunk.start_hint, same)
                _check_hint(index, hunk, match, level, edit_style)
                _check_substring_conflicts(index, hunk, match, text)
                _check_cut_line(index, hunk, match, text, edit_style)
                return _unless_stale(index, hunk, match, edit_style)
        stale = _stale_new_side(index, hunk, edit_style)
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
            match = _pick(found, hunk.start_hint, same)
            _check_hint(index, hunk, match, "tolerant", edit_style)
            _check_substring_conflicts(index, hunk, match, text)
            _check_cut_line(index, hunk, match, text, edit_style)
            _check_elided_adds(index, hunk, match)
            return Located("match", match)
        if hunk.search_text is not None:
            return _locate_substring(hunk, text, old, index)
    except Refuse as refusal:
        return Located("failed", reason=str(refusal), closest=closest_lines(index.lines, old))
    return _not_found(index, old)


def _not_found(index: FileIndex, old: list[str]) -> Located:
    return Located(
        "failed",
        reason="the search text does not match any lines in the file",
        closest=closest_lines(index.lines, old),
    )


def _locate_substring(hunk: Hunk, text: str, old: list[str], index: FileIndex) -> Located:
    """The SEARCH text as a unique substring of the file (the model cut a line's start)."""
    needle = hunk.search_text or ""
    places = substring_places(text, needle)
    # Not line-aligned, so every raw occurrence is a place the model may have meant.
    if len(places) > 1 or (places and text.count(needle) > 1):
        raise Refuse(f"ambiguous: the search text occurs {text.count(needle)} times")
    if places:
        return Located("substring", span=places[0])
    replace = hunk.replace_text or ""
    if _adds_text(hunk) and replace != needle and len(substring_places(text, replace)) == 1:
        return Located("stale", reason="already applied")
    return _not_found(index, old)


def _check_cut_line(
    index: FileIndex, hunk: Hunk, match: Match, text: str, edit_style: IndentStyle
) -> None:
    """A re-indented match that is also the SEARCH text cut from a line must agree with it.

    `return x` found at 4 columns could be a dedented block (re-indent every added line) or a
    line whose indentation the model cut off (replace the text in place); refuse if they differ.
    """
    if hunk.search_text is None or match.delta == 0 or hunk.search_text[:1] in " \t":
        return  # a cut line starts at its first character; an indented one is only shifted
    needle = hunk.search_text
    places = substring_places(text, needle)
    if len(places) != 1 or text.count(needle) != 1:
        return
    begin, end = places[0]
    low, high = _line_span_chars(index.lines, match.start, match.end)
    if begin < low or end > high:
        return
    lines = index.lines
    by_lines = lines[: match.start]
    by_lines += replacement(lines, hunk, match, index.style, edit_style) + lines[match.end :]
    by_text = split_lines(text[:begin] + (hunk.replace_text or "") + text[end:])
    if by_lines != by_text:
        raise Refuse(
            "the search text fits both as re-indented lines and as the tail of a line, with "
            "different results; resend it as whole lines copied from the file"
        )


def _check_elided_adds(index: FileIndex, hunk: Hunk, match: Match) -> None:
    """Lines a block adds must not already sit inside the code an elision stands for."""
    runs: list[list[str]] = [[]]
    for op in hunk.ops:
        if op.kind == "add":
            if op.text.strip():
                runs[-1].append(op.text.strip())
        elif runs[-1]:
            runs.append([])
    for begin, end in match.spans.values():
        elided = [line.strip() for line in index.lines[begin:end] if line.strip()]
        for run in runs:
            if run and any(elided[k : k + len(run)] == run for k in range(len(elided))):
                raise Refuse("the lines this block adds are already inside the elided code")


def _unless_stale(index: FileIndex, hunk: Hunk, match: Match, edit_style: IndentStyle) -> Located:
    """An old side found inside an already-present new side means the edit was applied."""
    if any(op.kind == "add" for op in hunk.ops):
        present = _stale_new_side(index, hunk, edit_style)
        if present is not None and present.start <= match.start and match.end <= present.end:
            return Located("stale", present, reason="already applied")
    return Located("match", match)


def _reindent(line: str, match: Match, file_style: IndentStyle, noisy: bool) -> str:
    """An added line placed where the hunk matched: as written when the old side matched as
    written (or up to trailing spaces); else shifted by the match's one indentation delta.

    `noisy`: the old side carried trailing spaces the file lacks, so the same noise on added
    lines is dropped too.
    """
    lead = indent_of(line)
    if noisy:
        line = line.rstrip()
    if match.layer == "exact" or (match.layer == "rstrip" and "\t" not in lead):
        return line
    if not line:
        return line
    columns = len(lead.expandtabs(match.tab_width)) + match.delta
    if columns < 0:
        if not line.strip():
            return ""  # a whitespace-only line less indented than the shift: it was blank
        raise Refuse("the replacement cannot be re-indented to the file's indentation")
    return file_style.render(columns) + line[len(lead) :]


def _trailing_noise(lines: list[str], hunk: Hunk, match: Match) -> bool:
    """Whether an old-side line has trailing whitespace that its file line lacks."""
    return any(
        where is not None
        and text.strip()
        and text != text.rstrip()
        and not lines[where].endswith(text[len(text.rstrip()) :])
        for text, where in zip(hunk.old, match.pairs, strict=False)
    )


def replacement(
    lines: list[str], hunk: Hunk, match: Match, file_style: IndentStyle, edit_style: IndentStyle
) -> list[str]:
    """The file lines that replace lines[match.start:match.end].

    A search/replace block whose SEARCH matched exactly is replaced by its REPLACE, byte for
    byte; otherwise kept lines come from the file and added lines from the reply, re-indented.
    """
    if match.layer == "exact" and hunk.replace_lines is not None:
        return list(hunk.replace_lines)
    noisy = match.layer != "exact" and _trailing_noise(lines, hunk, match)
    out: list[str] = []
    cursor = match.start  # next file line not yet copied or consumed
    entry = 0
    adds_since_match = False  # lines added since the last old line that matched a file line
    previous_kind = "ctx"
    for op in hunk.ops:
        if op.kind == "add":
            out.append(_reindent(op.text, match, file_style, noisy))
            adds_since_match = True
            continue
        if entry in match.spans:
            begin, end = match.spans[entry]
            if begin > cursor:
                out.extend(lines[cursor:begin])
            if op.kind == "ctx":
                out.extend(lines[begin:end])
            cursor = max(cursor, end)
            adds_since_match = False
            previous_kind = op.kind
        elif match.pairs[entry] is not None:
            where = match.pairs[entry]
            assert where is not None
            if where > cursor:
                # File lines the hunk left out are kept, but lines added between two context
                # lines could belong above or below them: refuse rather than guess.
                if adds_since_match and op.kind == "ctx" and previous_kind == "ctx":
                    raise Refuse("context lines are missing right where lines are added")
                out.extend(lines[cursor:where])
            if op.kind == "ctx":
                out.append(lines[where])
            cursor = where + 1
            adds_since_match = False
            previous_kind = op.kind
        entry += 1
    if cursor < match.end:
        out.extend(lines[cursor : match.end])
    return out


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
