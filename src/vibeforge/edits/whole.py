"""Whole-file replies: finding the file in the reply and merging `... existing code ...` gaps."""

from __future__ import annotations

from collections.abc import Collection

from vibeforge.edits.fences import closing_line, opening_fence
from vibeforge.edits.model import FileEdit
from vibeforge.edits.path_lines import looks_like_path, path_in_info
from vibeforge.edits.text import is_elision

ANCHOR_LINES = 6  # lines used at most to tell two identical anchor lines apart


class MergeError(ValueError):
    """An elided whole file whose gaps cannot be placed in the original with certainty."""


def parse_whole(reply: str, known: Collection[str] = ()) -> list[FileEdit]:
    """The fenced files of a reply, each with the path line before it; else the raw reply."""
    lines = reply.split("\n")
    edits: list[FileEdit] = []
    number = 0
    previous: str | None = None  # the nearest non-blank line above, outside fences
    while number < len(lines):
        line = lines[number]
        lead = line.lstrip(" ")[:1]
        fence = None
        if lead in ("`", "~", "<") and lead:
            fence = opening_fence(line, previous, tags=lead == "<" and _tag_allowed(previous))
        if fence is None:
            if line.strip():
                previous = line
            number += 1
            continue
        path = _path_before(lines, number, fence.info, known)
        close = closing_line(lines, number + 1, fence)
        body = lines[number + 1 : close]
        content = "\n".join(body) + "\n" if body else ""
        edits.append(
            FileEdit(
                path=path,
                fmt="whole",
                body=content,
                content=content,
                complete=close < len(lines),
                fenced=True,
                final_newline=True,  # the body's last line ends before the closing fence
            )
        )
        number = close + 1
        previous = None
    if edits:
        return edits
    body = reply
    first, _, rest = reply.partition("\n")
    # A quoted first line is a module docstring ("pkg.mod"), not a path line.
    quoted = first.lstrip().startswith(('"', "'"))
    path = looks_like_path(first, known) if rest.strip() and not quoted else None
    if path is not None:
        body = rest
    # Raw text ends wherever the reply stops: only a final newline it has says anything.
    ends = True if body.endswith("\n") else None
    return [FileEdit(path=path, fmt="whole", body=body, content=body, final_newline=ends)]


def _tag_allowed(previous: str | None) -> bool:
    """A `<pre>`-like fence opens at the top, under a path line or after a colon; elsewhere a
    lone `<pre>` line is more likely part of an HTML file written raw."""
    if previous is None:
        return True
    stripped = previous.strip()
    return stripped.endswith(":") or looks_like_path(previous) is not None


def _path_before(lines: list[str], opener: int, info: str, known: Collection[str]) -> str | None:
    named = path_in_info(info, known)
    if named is not None:
        return named
    back = opener - 1
    while back >= 0 and not lines[back].strip():
        back -= 1
    if back < 0:
        return None
    return looks_like_path(lines[back], known, headings=True)


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


def elision_markers(original: list[str], new: list[str]) -> list[int]:
    """Indexes of the lines of `new` that stand for code of `original` left out."""
    known = {line.strip() for line in original}
    return [
        k
        for k, line in enumerate(new)
        if is_elision(line, bare_dots=False) and line.strip() not in known
    ]


def ends_elided(new: list[str], markers: list[int]) -> bool:
    """Whether the last non-blank line of `new` is an elision marker (the original's tail)."""
    last = next((k for k in range(len(new) - 1, -1, -1) if new[k].strip()), None)
    return last is not None and last in markers


def merge_elisions(
    original: list[str], new: list[str], markers: list[int] | None = None
) -> list[str]:
    """Fill each elision comment in `new` with the original lines it stands for."""
    if markers is None:
        markers = elision_markers(original, new)
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
