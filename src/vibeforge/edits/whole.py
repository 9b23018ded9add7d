"""Whole-file replies: finding the file in the reply and merging `... existing code ...` gaps."""

from __future__ import annotations

import re

from vibeforge.edits.model import FileEdit
from vibeforge.edits.paths import looks_like_path
from vibeforge.edits.text import is_elision

# Fences as models write them: at most 3 spaces in, 3-5 backticks or exactly 3 tildes. Longer
# runs and deeper lines are code (an RST `~~~~~~` underline, a fence inside a docstring).
_OPENER = re.compile(r"^ {0,3}(?P<fence>`{3,5}|~{3})(?!~)\s*(?P<info>[^`~]*)$")
ANCHOR_LINES = 6  # lines used at most to tell two identical anchor lines apart


class MergeError(ValueError):
    """An elided whole file whose gaps cannot be placed in the original with certainty."""


def parse_whole(reply: str) -> list[FileEdit]:
    """The fenced files of a reply, each with the path line before it; else the raw reply."""
    lines = reply.split("\n")
    edits: list[FileEdit] = []
    number = 0
    while number < len(lines):
        opener = _OPENER.match(lines[number])
        if not opener:
            number += 1
            continue
        fence = opener.group("fence")
        path = _path_before(lines, number, opener.group("info"))
        close = _closer(lines, number + 1, fence)
        body = lines[number + 1 : close]
        content = "\n".join(body) + "\n" if body else ""
        edits.append(
            FileEdit(
                path=path, fmt="whole", body=content, content=content, complete=close < len(lines)
            )
        )
        number = close + 1
    if edits:
        return edits
    body = reply
    first, _, rest = reply.partition("\n")
    # A quoted first line is a module docstring ("pkg.mod"), not a path line.
    quoted = first.lstrip().startswith(('"', "'"))
    path = looks_like_path(first) if rest.strip() and not quoted else None
    if path is not None:
        body = rest
    return [FileEdit(path=path, fmt="whole", body=body, content=body)]


def _closer(lines: list[str], start: int, fence: str) -> int:
    """Index of the fence closing a file body (len(lines) when it is never closed).

    A fence with a language inside the body (a Markdown example in a docstring) opens a
    nested block whose bare fence closes it, not the file.
    """
    depth = 0
    for number in range(start, len(lines)):
        found = _OPENER.match(lines[number])
        if not found or found.group("fence") != fence:
            continue
        if found.group("info").strip():
            depth += 1
        elif depth:
            depth -= 1
        else:
            return number
    return len(lines)


def _path_before(lines: list[str], opener: int, info: str) -> str | None:
    for word in info.split():
        named = looks_like_path(word)
        if named is not None and ("/" in named or "." in named):
            return named
    back = opener - 1
    while back >= 0 and not lines[back].strip():
        back -= 1
    if back < 0:
        return None
    return looks_like_path(lines[back])


def _stripped(lines: list[str], start: int, length: int) -> list[str]:
    return [line.strip() for line in lines[start : start + length]]


def _find(
    original: list[str], segment: list[str], cursor: int, from_end: bool
) -> tuple[int, int] | None:
    """Place the end (or start) of `segment` in `original` at or after `cursor`, uniquely.

    Returns (first, last+1) of the placed run of segment lines.
    """
    stripped = [line.strip() for line in segment]
    order = range(len(segment) - 1, -1, -1) if from_end else range(len(segment))
    anchor = next((k for k in order if stripped[k]), None)
    if anchor is None:
        return None
    used = 1
    while True:
        if from_end:
            low, high = max(0, anchor - used + 1), anchor + 1
        else:
            low, high = anchor, min(len(segment), anchor + used)
        run = stripped[low:high]
        offset = anchor - low
        hits = [
            position - offset
            for position in range(cursor + offset, len(original) - (len(run) - offset) + 1)
            if original[position].strip() == stripped[anchor]
            and _stripped(original, position - offset, len(run)) == run
        ]
        if len(hits) == 1:
            return hits[0], hits[0] + len(run)
        if not hits or used >= ANCHOR_LINES or high - low < used:
            return None
        used += 1


def merge_elisions(original: list[str], new: list[str]) -> list[str]:
    """Fill each elision comment in `new` with the original lines it stands for."""
    known = {line.strip() for line in original}
    markers = [
        k
        for k, line in enumerate(new)
        if is_elision(line, bare_dots=False) and line.strip() not in known
    ]
    if not markers:
        return new
    out: list[str] = []
    cursor = 0
    previous = 0
    for marker in markers:
        before = new[previous:marker]
        following_marker = next((m for m in markers if m > marker), len(new))
        after = new[marker + 1 : following_marker]
        out.extend(before)
        if any(line.strip() for line in before):
            placed = _find(original, before, cursor, from_end=True)
            if placed is None:
                raise MergeError("the code before an elision comment is not unique in the file")
            gap_start = placed[1]
            # Blank lines the reply kept before the marker are part of the kept text.
            trailing = len(before) - 1 - max(k for k, x in enumerate(before) if x.strip())
            while trailing and gap_start < len(original) and not original[gap_start].strip():
                gap_start += 1
                trailing -= 1
        else:
            gap_start = cursor
        if any(line.strip() for line in after):
            placed = _find(original, after, gap_start, from_end=False)
            if placed is None:
                raise MergeError("the code after an elision comment is not unique in the file")
            gap_end = placed[0]
            leading = min(k for k, x in enumerate(after) if x.strip())
            while leading and gap_end > gap_start and not original[gap_end - 1].strip():
                gap_end -= 1
                leading -= 1
        else:
            gap_end = len(original)
        if gap_end < gap_start:
            raise MergeError("elision comments are out of order with the file")
        out.extend(original[gap_start:gap_end])
        cursor = gap_end
        previous = marker + 1
    out.extend(new[previous:])
    return out
