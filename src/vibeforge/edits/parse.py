"""Splitting a model reply into per-file edits, whatever format it is written in."""

from __future__ import annotations

import re
from collections.abc import Collection

from vibeforge.edits.model import FORMATS, FileEdit, Format
from vibeforge.edits.parse_sr import ParseError, has_blocks, parse_search_replace
from vibeforge.edits.parse_udiff import has_hunks, parse_udiff
from vibeforge.edits.text import to_lf
from vibeforge.edits.whole import parse_whole

__all__ = ["ParseError", "detect_format", "parse_edits"]

_SR_BLOCK = re.compile(r"^\s*<{5,9}\s*SEARCH\b.*?^\s*>{5,9}\s*REPLACE\b.*?$", re.M | re.S | re.I)


def detect_format(reply: str) -> Format:
    """Guess the reply's format: search/replace markers, then diff hunks, else a whole file."""
    text = to_lf(reply)
    if has_blocks(text):
        return "search-replace"
    if has_hunks(text):
        return "udiff"
    return "whole"


def parse_edits(
    reply: str, fmt: str | None = None, known_paths: Collection[str] = ()
) -> list[FileEdit]:
    """Split an LLM reply into per-file edits (path, format, body), in reply order.

    `known_paths` are the files the reply may name: a line naming one is a path line even
    when it holds spaces or other characters a bare path line could not.
    """
    text = to_lf(reply)
    known = frozenset(known_paths)
    chosen = fmt or detect_format(text)
    if chosen not in FORMATS:
        raise ParseError(f"unknown edit format {chosen!r}; expected one of {', '.join(FORMATS)}")
    if chosen == "search-replace":
        edits = parse_search_replace(text, known)
        if fmt is None:
            # A reply may mix formats, e.g. blocks for one file and a deletion diff for another;
            # dropping the diff silently would break all-or-nothing.
            rest = _SR_BLOCK.sub("", text)
            if has_hunks(rest):
                # Only sections with hunks: an `@@` line left over may be a path line.
                edits += [e for e in parse_udiff(rest, known) if e.hunks or e.creates or e.deletes]
    elif chosen == "udiff":
        edits = parse_udiff(text, known)
    else:
        edits = parse_whole(text, known)
        if fmt is None:
            # Detected, not asked for: prose ("Sorry, I can't do that") is no file. A whole
            # file comes fenced, or raw under its path line.
            edits = [edit for edit in edits if edit.fenced or edit.path is not None]
    for edit in edits:
        if not edit.body:
            edit.body = _render_body(edit)
    return edits


def _render_body(edit: FileEdit) -> str:
    """A readable body for an edit parsed into hunks (for reports and FileEdit.body)."""
    parts: list[str] = []
    for hunk in edit.hunks:
        if edit.fmt == "search-replace":
            parts.append(
                "<<<<<<< SEARCH\n"
                + (hunk.search_text + "\n" if hunk.search_text else "")
                + "=======\n"
                + (hunk.replace_text + "\n" if hunk.replace_text else "")
                + ">>>>>>> REPLACE\n"
            )
        else:
            marks = {"ctx": " ", "del": "-", "add": "+"}
            parts.append("@@ @@\n" + "".join(marks[op.kind] + op.text + "\n" for op in hunk.ops))
    return "".join(parts)
