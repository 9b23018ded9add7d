"""Parsing unified diffs as models write them: loose headers, counts and prefixes."""

from __future__ import annotations

import re
from collections.abc import Collection
from itertools import pairwise

from vibeforge.edits.fences import Fence, opening_fence
from vibeforge.edits.model import FileEdit, Hunk, Op
from vibeforge.edits.path_lines import clean_path, strip_diff_side

HUNK_HEADER = re.compile(r"^@@(?P<rest>.*)$")
_OLD_RANGE = re.compile(r"-(\d+)(?:,(\d+))?")
_FENCE = re.compile(r"^\s*(```|~~~)")
DEV_NULL = "/dev/null"


def has_hunks(reply: str) -> bool:
    """True when the reply looks like a unified diff."""
    lines = reply.split("\n")
    # An `@@` line opens a hunk when a hunk's body follows (not a path line named `@@`).
    for number, line in enumerate(lines):
        body = lines[number + 1 : number + 4]
        if HUNK_HEADER.match(line) and any(x[:1] in (" ", "+", "-") for x in body):
            return True
    return any(a.startswith("--- ") and b.startswith("+++ ") for a, b in pairwise(lines))


def _header_path(line: str, known: Collection[str]) -> str:
    written = line[4:].split("\t")[0]
    raw = written.strip()
    if raw == DEV_NULL:
        return DEV_NULL
    if raw.startswith('"') and raw.endswith('"') and len(raw) > 1:
        raw = _unquote(raw[1:-1])  # git quotes names with unusual characters
    # A known name may begin or end with a space, which stripping would lose.
    for exact in (written.rstrip("\r"), strip_diff_side(written.rstrip("\r"))):
        if exact in known:
            return exact
    return strip_diff_side(clean_path(raw))


_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "a": "\a", "b": "\b", "f": "\f"}


def _unquote(quoted: str) -> str:
    """A git-quoted path's text: C escapes, octal bytes as UTF-8."""
    data = bytearray()
    number = 0
    while number < len(quoted):
        char = quoted[number]
        if char == "\\" and number + 1 < len(quoted):
            following = quoted[number + 1]
            octal = re.match(r"[0-7]{3}", quoted[number + 1 : number + 4])
            if octal:
                data.append(int(octal.group(), 8))
                number += 4
                continue
            data += _ESCAPES.get(following, following).encode()
            number += 2
            continue
        data += char.encode()
        number += 1
    return data.decode("utf-8", "replace")


def _hint(header: str) -> int | None:
    found = _OLD_RANGE.search(header)
    if not found:
        return None
    start = int(found.group(1))
    count = int(found.group(2)) if found.group(2) is not None else 1
    if start <= 0:
        return None
    # For an empty old side the number names the line after which text is inserted.
    return start if count == 0 else start - 1


# An English sentence a model writes between diff sections ("Here is the diff:").
_PROSE = re.compile(r"^[A-Z][a-z']*(?: [\w'`/.,-]+)+[:.!]$")


def _drop_prose(hunk: Hunk, bare_tail: int) -> None:
    """Drop prose that followed a hunk's last line without a prefix, up to the blank before it."""
    tail = hunk.ops[len(hunk.ops) - bare_tail :] if bare_tail else []
    if not any(_PROSE.match(op.text) for op in tail):
        return
    first = next(k for k, op in enumerate(tail) if op.text.strip())
    if first == 0:
        return  # no blank line between the hunk and the sentence: keep it as context
    del hunk.ops[len(hunk.ops) - bare_tail + first :]


def _finish(hunk: Hunk | None, edit: FileEdit | None, bare_tail: int = 0) -> None:
    if hunk is None or edit is None:
        return
    _drop_prose(hunk, bare_tail)
    # Empty lines after a hunk's last change are usually the gap before prose or a fence.
    while hunk.ops and hunk.ops[-1].kind == "ctx" and not hunk.ops[-1].text.strip():
        hunk.ops.pop()
    if hunk.ops:
        edit.hunks.append(hunk)


def parse_udiff(reply: str, known: Collection[str] = ()) -> list[FileEdit]:
    """Split a diff reply into per-file edits; hunks keep their header line as a hint."""
    lines = reply.split("\n")
    edits: list[FileEdit] = []
    edit: FileEdit | None = None
    hunk: Hunk | None = None
    count = 0
    number = 0
    bare = 0  # trailing ops of the current hunk written without a prefix
    tag: Fence | None = None  # an HTML-like fence the diff sits in
    while number < len(lines):
        line = lines[number]
        following = lines[number + 1] if number + 1 < len(lines) else ""
        if line.startswith("--- ") and following.startswith("+++ "):
            _finish(hunk, edit, bare)
            hunk = None
            old_path, new_path = _header_path(line, known), _header_path(following, known)
            path = old_path if new_path == DEV_NULL else new_path
            edit = FileEdit(path=path, fmt="udiff", body="")
            edit.creates = old_path == DEV_NULL
            edit.deletes = new_path == DEV_NULL
            edits.append(edit)
            number += 2
            continue
        header = HUNK_HEADER.match(line)
        if header:
            _finish(hunk, edit)
            if edit is None:
                edit = FileEdit(path=None, fmt="udiff", body="")
                edits.append(edit)
            hunk = Hunk(ops=[], index=count, start_hint=_hint(header.group("rest")))
            count += 1
        elif _FENCE.match(line) or line.startswith(("diff --git ", "index ")):
            _finish(hunk, edit, bare)
            hunk = None
        elif tag is not None and tag.closes(line):
            _finish(hunk, edit, bare)
            hunk, tag = None, None
        elif hunk is None and (opened := opening_fence(line)) is not None and opened.is_tag:
            # `<source>diff` and kin: only a tag fence opened here may close a hunk later, so
            # an unprefixed `</pre>` context line of an HTML file is not taken for one.
            tag = opened
        elif hunk is None and edit is not None and edit.hunks == [] and line[:1] in " +-":
            # A diff without any @@ line: its body starts right after the file header.
            hunk = Hunk(ops=[], index=count)
            count += 1
            _add_line(hunk, line)
        elif hunk is not None:
            _add_line(hunk, line)
        unprefixed = not line or line[0] not in " +-\\@"
        bare = bare + 1 if hunk is not None and unprefixed else 0
        number += 1
    _finish(hunk, edit, bare)
    return edits


def _add_line(hunk: Hunk, line: str) -> None:
    if line.startswith("\\"):
        # "\ No newline at end of file" after a new-side line: the new file ends without one.
        if hunk.ops and hunk.ops[-1].kind != "del":
            hunk.final_newline = False
        return
    if line.startswith("+"):
        hunk.ops.append(Op("add", line[1:]))
    elif line.startswith("-"):
        hunk.ops.append(Op("del", line[1:]))
    elif line.startswith(" "):
        hunk.ops.append(Op("ctx", line[1:]))
    else:
        # Context whose leading space was lost: blank lines and lines in column 0.
        hunk.ops.append(Op("ctx", line))
