"""Safety checks on a located hunk: ambiguity, elisions, header lines and cut lines."""

from __future__ import annotations

import re

from vibeforge.edits.locate import FileIndex, Match, contiguous
from vibeforge.edits.model import Hunk
from vibeforge.edits.outcome import Refuse
from vibeforge.edits.replace import replacement
from vibeforge.edits.stale import stale_new_side
from vibeforge.edits.text import IndentStyle, is_elision, split_lines

_WORD = re.compile(r"\w")


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


def raw_places(text: str, needle: str) -> list[tuple[int, int]]:
    places: list[tuple[int, int]] = []
    start = text.find(needle) if needle.strip() else -1
    while start != -1:
        places.append((start, start + len(needle)))
        start = text.find(needle, start + 1)
    return places


def line_span_chars(lines: list[str], start: int, end: int) -> tuple[int, int]:
    begin = sum(len(line) + 1 for line in lines[:start])
    length = sum(len(line) + 1 for line in lines[start:end])
    return begin, begin + length


def check_substring_conflicts(index: FileIndex, hunk: Hunk, match: Match, text: str) -> None:
    """A search/replace block must not also match elsewhere as a plain substring."""
    if hunk.search_text is None:
        return
    low, high = line_span_chars(index.lines, match.start, match.end)
    needle = hunk.search_text
    places = substring_places(text, needle)
    if match.layer not in ("exact", "rstrip") and not match.layer.startswith("expand"):
        # Matched with its indentation ignored, the text was not written as whole lines, so
        # any raw occurrence (`x.get` inside `f(x.get)`) is a place the model may have meant.
        places = raw_places(text, needle)
    others = [p for p in places if p[0] < low or p[1] > high]
    if others:
        raise Refuse(
            f"ambiguous: the search text also occurs {len(others)} other time(s) in the file"
        )


def check_elisions(index: FileIndex, hunk: Hunk) -> None:
    """An elision comment may stand for kept code, never be written into the file or delete."""
    for op in hunk.ops:
        if op.kind == "ctx" or not is_elision(op.text, bare_dots=op.kind == "del"):
            continue
        if op.text.strip() in index.table("strip"):
            continue  # the file really contains this comment
        if op.kind == "add":
            raise Refuse("the replacement contains an elision comment in place of real code")
        raise Refuse("an elision comment appears in the search text but not in the replacement")


def line_levels(index: FileIndex, old: list[str]) -> list[str]:
    levels = ["exact", "rstrip"]
    if index.style.use_tabs or any("\t" in line for line in old):
        # Tabs for the file's indentation unit (or the reverse) are only another spelling.
        levels.append(f"expand{index.style.unit}")
    return [*levels, "strip"]


def check_hint(
    index: FileIndex, hunk: Hunk, match: Match, level: str, edit_style: IndentStyle
) -> None:
    """A diff place away from its header's line must not compete with one at that line."""
    hint = hunk.start_hint
    if hint is None or match.start == hint:
        return
    present = stale_new_side(index, hunk, edit_style)
    if present is not None and present.start == hint:
        raise Refuse(
            "the change is already at the line the header names; the old side is elsewhere"
        )
    levels = line_levels(index, hunk.old)
    for looser in levels[levels.index(level) + 1 :] if level in levels else []:
        if any(m.start == hint for m in contiguous(index, hunk.old, looser, edit_style)):
            raise Refuse("ambiguous: another place, at the line the header names, also matches")


def check_cut_line(
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
    low, high = line_span_chars(index.lines, match.start, match.end)
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


def check_elided_adds(index: FileIndex, hunk: Hunk, match: Match) -> None:
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
