"""Data shapes of the edit engine: hunks, per-file edits, results and failure reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Format = Literal["search-replace", "udiff", "whole"]
FORMATS: tuple[str, ...] = ("search-replace", "udiff", "whole")

OpKind = Literal["ctx", "del", "add"]


@dataclass(frozen=True)
class Op:
    """One line of a hunk: kept context, a removed line or an added line (text without EOL)."""

    kind: OpKind
    text: str
    # A search/replace context line that the REPLACE wrote differently up to whitespace.
    written: str | None = None


@dataclass
class Hunk:
    """One located change: a search/replace block or a diff hunk, as a list of line ops."""

    ops: list[Op]
    index: int = 0  # position of the block in the reply, for reports
    start_hint: int | None = None  # 0-based old-side line number from a diff header
    search_text: str | None = None  # raw SEARCH text (search-replace), for substring location
    replace_text: str | None = None
    replace_lines: list[str] | None = None  # the REPLACE lines exactly as written
    trailing_divider: bool = False  # REPLACE ends with a `=======` line (see parse_sr.py)
    notes: list[str] = field(default_factory=list)  # what the parser adjusted, for the report
    # A diff's "\ No newline at end of file" after its last new-side line: False. None: the
    # hunk says nothing, so a hunk that reaches the end of the file ends it with a newline.
    final_newline: bool | None = None

    @property
    def old(self) -> list[str]:
        """The old-side lines (context and removed)."""
        return [op.text for op in self.ops if op.kind != "add"]

    @property
    def new(self) -> list[str]:
        """The new-side lines (context and added)."""
        return [op.text for op in self.ops if op.kind != "del"]


@dataclass
class FileEdit:
    """The part of a reply that edits one file."""

    path: str | None
    fmt: Format
    body: str
    hunks: list[Hunk] = field(default_factory=list)
    content: str | None = None  # whole-file text for the `whole` format
    creates: bool = False  # a diff from /dev/null
    deletes: bool = False  # a diff to /dev/null
    complete: bool = True  # False when a whole-file fence was never closed
    fenced: bool = False  # a whole file given inside a code fence (not the raw reply)
    final_newline: bool | None = None  # whole files: what the reply's text says (None: keep)


@dataclass(frozen=True)
class BlockReport:
    """What happened to one block: applied, already applied, or failed and why."""

    index: int
    status: Literal["applied", "already_applied", "failed"]
    reason: str = ""
    block: str = ""  # the block as the model wrote it (old side), for failure messages
    closest: str = ""  # the nearest real text in the file, when a block failed
    path: str | None = None


@dataclass
class EditResult:
    """Outcome of applying a whole reply: new file contents, deletions and per-block reports."""

    files: dict[str, str]
    deleted: set[str] = field(default_factory=set)
    created: set[str] = field(default_factory=set)
    reports: list[BlockReport] = field(default_factory=list)

    @property
    def changed(self) -> set[str]:
        """Paths whose content was written (created or modified)."""
        return set(self.files)
