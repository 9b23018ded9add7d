"""Parsing search/replace blocks (`<<<<<<< SEARCH` / `=======` / `>>>>>>> REPLACE`)."""

from __future__ import annotations

import difflib
import re

from vibeforge.edits.model import FileEdit, Hunk, Op
from vibeforge.edits.paths import looks_like_path

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
            ops.extend(Op("ctx", line) for line in search[i1:i2])
        else:
            ops.extend(Op("del", line) for line in search[i1:i2])
            ops.extend(Op("add", line) for line in replace[j1:j2])
    return Hunk(
        ops=ops,
        index=index,
        search_text="\n".join(search),
        replace_text="\n".join(replace),
    )


def parse_search_replace(reply: str) -> list[FileEdit]:
    """Split a reply into per-file edits of search/replace blocks, in reply order."""
    edits: dict[str | None, FileEdit] = {}
    path: str | None = None
    state = "outside"
    search: list[str] = []
    replace: list[str] = []
    count = 0
    for line in reply.split("\n"):
        if state == "outside":
            if SEARCH_START.match(line):
                state, search, replace = "search", [], []
            else:
                named = looks_like_path(line)
                if named is not None:
                    path = named
        elif state == "search":
            if DIVIDER.match(line):
                state = "replace"
            elif SEARCH_START.match(line) or REPLACE_END.match(line):
                raise ParseError(f"block {count + 1}: a SEARCH section without its =======")
            else:
                search.append(line)
        elif REPLACE_END.match(line):
            edit = edits.setdefault(path, FileEdit(path=path, fmt="search-replace", body=""))
            edit.hunks.append(block_to_hunk(search, replace, count))
            count += 1
            state = "outside"
        elif SEARCH_START.match(line):
            raise ParseError(f"block {count + 1}: a REPLACE section without >>>>>>> REPLACE")
        else:
            replace.append(line)
    if state != "outside":
        raise ParseError(f"block {count + 1} is not terminated with >>>>>>> REPLACE")
    return list(edits.values())
