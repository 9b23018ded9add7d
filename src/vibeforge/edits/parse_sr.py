"""Parsing search/replace blocks (`<<<<<<< SEARCH` / `=======` / `>>>>>>> REPLACE`)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection

from vibeforge.edits.fences import Fence, opening_fence
from vibeforge.edits.model import FileEdit, Hunk, Op
from vibeforge.edits.path_lines import looks_like_path, path_in_info

SEARCH_START = re.compile(r"^\s*<{5,9}\s*SEARCH\b.*$", re.IGNORECASE)
DIVIDER = re.compile(r"^\s*={5,9}\s*$")
REPLACE_END = re.compile(r"^\s*>{5,9}\s*REPLACE\b.*$", re.IGNORECASE)


class ParseError(ValueError):
    """A reply whose structure cannot be read (an unterminated block, for example)."""


def has_blocks(reply: str) -> bool:
    """True when the reply contains at least one SEARCH marker."""
    return any(SEARCH_START.match(line) for line in reply.split("\n"))


def block_to_hunk(search: list[str], replace: list[str], index: int) -> Hunk:
    """Turn a SEARCH/REPLACE pair into line ops; lines equal up to trailing space are context."""

    def key(line: str) -> str:
        return line.expandtabs(4).rstrip()

    matcher = difflib.SequenceMatcher(
        None, [key(s) for s in search], [key(r) for r in replace], autojunk=False
    )
    ops: list[Op] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            ops.extend(
                Op("ctx", line, None if line == new else new)
                for line, new in zip(search[i1:i2], replace[j1:j2], strict=True)
            )
        else:
            ops.extend(Op("del", line) for line in search[i1:i2])
            ops.extend(Op("add", line) for line in replace[j1:j2])
    return Hunk(
        ops=ops,
        index=index,
        search_text="\n".join(search),
        replace_text="\n".join(replace),
        replace_lines=list(replace),
    )


def without_trailing_divider(hunk: Hunk) -> Hunk:
    """The block without the `=======` a model wrote again at the end of its REPLACE."""
    replace = list(hunk.replace_lines or [])
    if not replace or not DIVIDER.match(replace[-1]):
        return hunk
    return block_to_hunk(hunk.old, replace[:-1], hunk.index)


class _Blocks:
    """The parser's state: blocks per path, and the fence the current block sits in."""

    def __init__(self) -> None:
        self.edits: dict[str | None, FileEdit] = {}
        self.count = 0

    def add(self, path: str | None, search: list[str], replace: list[str]) -> Hunk:
        hunk = block_to_hunk(search, replace, self.count)
        # A second `=======` right before `>>>>>>> REPLACE` is a habit of some models; whether
        # it is one is decided against the file (see apply.py), as a Markdown or RST file may
        # really end a REPLACE with an underline.
        hunk.trailing_divider = bool(replace) and bool(DIVIDER.match(replace[-1]))
        edit = self.edits.setdefault(path, FileEdit(path=path, fmt="search-replace", body=""))
        edit.hunks.append(hunk)
        self.count += 1
        return hunk


def parse_search_replace(reply: str, known: Collection[str] = ()) -> list[FileEdit]:
    """Split a reply into per-file edits of search/replace blocks, in reply order."""
    blocks = _Blocks()
    path: str | None = None
    state = "outside"
    search: list[str] = []
    replace: list[str] = []
    fence: Fence | None = None  # the fence the block sits in, if any
    fence_end: int | None = None  # reply line that closes that fence inside the REPLACE
    lines = reply.split("\n")
    number = 0
    while number < len(lines):
        line = lines[number]
        number += 1
        if state == "outside":
            if SEARCH_START.match(line):
                state, search, replace, fence_end = "search", [], [], None
            elif fence is not None and fence.closes(line):
                fence = None
            elif (opened := opening_fence(line)) is not None:
                fence = opened
                # ```src/app.py: a fence whose info string is the path.
                path = path_in_info(opened.info, known) or path
            else:
                named = looks_like_path(line, known, headings=True)
                if named is not None:
                    path = named
        elif state == "search":
            if DIVIDER.match(line):
                state = "replace"
            elif SEARCH_START.match(line) or REPLACE_END.match(line):
                raise ParseError(f"block {blocks.count + 1}: a SEARCH section without its =======")
            else:
                search.append(line)
        elif REPLACE_END.match(line):
            blocks.add(path, search, replace)
            state = "outside"
        elif SEARCH_START.match(line):
            if fence_end is None:
                raise ParseError(
                    f"block {blocks.count + 1}: a REPLACE section without >>>>>>> REPLACE"
                )
            number = _end_at_fence(blocks, path, search, replace, fence_end, number - 1)
            state, fence = "outside", None
        else:
            if fence is not None and fence_end is None and fence.closes(line):
                fence_end = len(replace)
            replace.append(line)
    if state == "replace" and fence_end is not None:
        _end_at_fence(blocks, path, search, replace, fence_end, len(lines))
    elif state != "outside":
        raise ParseError(f"block {blocks.count + 1} is not terminated with >>>>>>> REPLACE")
    return list(blocks.edits.values())


def _end_at_fence(
    blocks: _Blocks,
    path: str | None,
    search: list[str],
    replace: list[str],
    fence_end: int,
    resume: int,
) -> int:
    """Close a block whose REPLACE ran into its fence's closing line without the end marker.

    Returns the reply line to go on from: the line after that fence (the block's own lines
    after it were prose or the next file's path line).
    """
    hunk = blocks.add(path, search, replace[:fence_end])
    hunk.notes.append("the REPLACE ended at its closing fence, without >>>>>>> REPLACE")
    return resume - (len(replace) - fence_end) + 1
