"""Applying parsed edits to file text: all blocks or none, keeping the file's own style."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from itertools import pairwise

from vibeforge.edits.errors import EditError
from vibeforge.edits.hunks import Located, Refuse, locate_hunk, replacement
from vibeforge.edits.locate import FileIndex
from vibeforge.edits.model import BlockReport, EditResult, FileEdit, Hunk
from vibeforge.edits.outcome import adjustment
from vibeforge.edits.parse import ParseError, parse_edits
from vibeforge.edits.parse_sr import without_trailing_divider
from vibeforge.edits.path_lines import clean_path, header_names, resolve_path
from vibeforge.edits.text import IndentStyle, detect_eol, join_lines, split_lines, to_lf
from vibeforge.edits.whole import MergeError, elision_markers, ends_elided, merge_elisions

_RULE = re.compile(r"^\s*={3,}\s*$")  # a heading underline or divider of the file's own


class _Text:
    """A file being edited: LF text and lines, plus the line ending and final newline to restore."""

    def __init__(self, original: str) -> None:
        self.eol = detect_eol(original)
        text = to_lf(original)
        self.final_newline = text.endswith("\n") or not text
        self.lines = split_lines(text)
        self.reports: list[BlockReport] = []  # what happened to each block, once applied

    @property
    def text(self) -> str:
        return join_lines(self.lines, True)

    def render(self) -> str:
        return join_lines(self.lines, self.final_newline, self.eol)


def _report(hunk: Hunk, located: Located, path: str | None) -> BlockReport:
    status = {"stale": "already_applied", "failed": "failed"}.get(located.status, "applied")
    block = "\n".join(hunk.old) if hunk.search_text is None else hunk.search_text
    reason = located.reason
    if status == "applied":
        reason = "; ".join(note for note in [*hunk.notes, adjustment(located)] if note)
    return BlockReport(
        index=hunk.index,
        status=status,  # type: ignore[arg-type]
        reason=reason,
        block=block if status == "failed" else "",
        closest=located.closest,
        path=path,
    )


def _new_file_content(hunks: list[Hunk]) -> list[str]:
    return [op.text for hunk in hunks for op in hunk.ops if op.kind != "del"]


def _create(state: _Text, content: list[str], path: str | None) -> str:
    """A new file's content; an existing file with the same content is left as it is."""
    wanted = join_lines(content, True)
    if not state.lines or not "".join(state.lines).strip():
        return wanted
    if [line.rstrip() for line in state.lines] == [line.rstrip() for line in content]:
        return state.render()  # created before: already applied
    raise EditError(
        "the reply creates this file, but it already exists with other content", path=path
    )


def _apply_hunks(state: _Text, hunks: list[Hunk], sequential: bool, path: str | None) -> str:
    file_style = IndentStyle.of(state.lines)
    # The edit's tabs count as one level of the file's indentation.
    edit_style = IndentStyle(use_tabs=False, unit=file_style.unit)
    reports: list[BlockReport] = []
    planned: list[tuple[Hunk, Located]] = []
    index = FileIndex(state.lines, file_style)
    for hunk in hunks:
        located = locate_hunk(index, hunk, state.text, edit_style)
        note = ""
        if located.status in ("match", "substring"):
            try:
                if sequential:
                    note = _apply_one(state, index, hunk, located, edit_style)
                    index = FileIndex(state.lines, file_style)
                else:
                    planned.append((hunk, located))
            except Refuse as refusal:
                located = Located("failed", reason=str(refusal))
        reports.append(_noted(_report(hunk, located, path), note))
    failed = [r for r in reports if r.status == "failed"]
    if failed:
        raise EditError(f"{len(failed)} of {len(reports)} block(s) failed", reports, path)
    statuses = {r.status for r in reports}
    if {"applied", "already_applied"} <= statuses:
        # We apply all or nothing, so a half-present edit means the file moved on since the
        # reply was written; the blocks that still match may now match the wrong code.
        raise EditError(
            "some blocks are already applied and others are not; resend against the current file",
            reports,
            path,
        )
    if not sequential:
        _apply_parallel(state, index, planned, edit_style, reports, path)
    state.reports = reports
    return state.render()


def _apply_one(
    state: _Text, index: FileIndex, hunk: Hunk, located: Located, edit_style: IndentStyle
) -> str:
    """Apply one located block to the file; returns a note when it changed the file's end."""
    before = state.final_newline
    if located.status == "substring":
        begin, end = located.span
        text = state.text
        if end >= len(text) - 1:
            state.final_newline = True  # the block rewrote the last line, with its newline
        state.lines = split_lines(text[:begin] + (hunk.replace_text or "") + text[end:])
    else:
        match = located.match
        assert match is not None
        new = replacement(state.lines, hunk, match, index.style, edit_style)
        if match.end >= len(state.lines):
            # The edit rewrote the file's end: its own text says whether the last line ends.
            state.final_newline = hunk.final_newline is not False
        state.lines[match.start : match.end] = new
    if state.final_newline == before or not state.lines:
        return ""
    return "the file now ends with a newline" if state.final_newline else "final newline removed"


def _noted(report: BlockReport, note: str) -> BlockReport:
    if not note:
        return report
    return replace(report, reason="; ".join(x for x in (report.reason, note) if x))


def _apply_parallel(
    state: _Text,
    index: FileIndex,
    planned: list[tuple[Hunk, Located]],
    edit_style: IndentStyle,
    reports: list[BlockReport],
    path: str | None,
) -> None:
    """Diff hunks all refer to the original file: place them all, then apply bottom-up."""
    spans = sorted(
        (
            (located.match.start, located.match.end, hunk, located)
            for hunk, located in planned
            if located.match is not None
        ),
        key=lambda span: (span[0], span[1], span[2].index),
    )
    for (_, end, first, _), (start, _, second, _) in pairwise(spans):
        if start < end:
            raise EditError(
                f"hunks {first.index + 1} and {second.index + 1} change the same lines",
                reports,
                path,
            )
    for _, _, hunk, located in reversed(spans):
        try:
            note = _apply_one(state, index, hunk, located, edit_style)
        except Refuse as refusal:
            raise EditError(str(refusal), reports, path) from refusal
        at = next(k for k, r in enumerate(reports) if r.index == hunk.index)
        reports[at] = _noted(reports[at], note)


def apply_file_edits(original: str, edits: list[FileEdit], path: str | None = None) -> str:
    """Apply every edit meant for one file, or raise EditError and apply none."""
    return apply_file_edits_reported(original, edits, path)[0]


def apply_file_edits_reported(
    original: str, edits: list[FileEdit], path: str | None = None
) -> tuple[str, list[BlockReport]]:
    """Like apply_file_edits, with a report per block of what was adjusted to place it."""
    if not edits:
        raise EditError("the reply contains no edit", path=path)
    state = _Text(original)
    text = _apply_file(state, edits, path)
    return text, state.reports


def _apply_file(state: _Text, edits: list[FileEdit], path: str | None) -> str:
    fmt = edits[0].fmt
    if fmt == "whole":
        return _apply_whole(state, edits, path)
    hunks = [hunk for edit in edits for hunk in edit.hunks]
    if any(hunk.trailing_divider for hunk in hunks) and not any(
        _RULE.match(line) for line in state.lines
    ):
        # A file without `=======` lines of its own: the one closing a REPLACE is the model's
        # habit of repeating the divider, not text to write.
        hunks = [_without_divider(h) if h.trailing_divider else h for h in hunks]
    if any(edit.creates for edit in edits):
        return _create(state, _new_file_content(hunks), path)
    if not hunks:
        raise EditError("the reply contains no block to apply", path=path)
    if fmt == "search-replace" and any(not any(h.old) and not h.search_text for h in hunks):
        if len(hunks) != 1:
            raise EditError(
                "an empty SEARCH section is only valid alone, to create a file", path=path
            )
        return _create(state, list(hunks[0].replace_lines or []), path)
    return _apply_hunks(state, hunks, sequential=fmt == "search-replace", path=path)


def _without_divider(hunk: Hunk) -> Hunk:
    shorter = without_trailing_divider(hunk)
    shorter.notes = [*hunk.notes, "left out the ======= repeated before >>>>>>> REPLACE"]
    return shorter


def _apply_whole(state: _Text, edits: list[FileEdit], path: str | None) -> str:
    if len(edits) != 1:
        raise EditError(f"the reply has {len(edits)} whole-file versions of this file", path=path)
    edit = edits[0]
    if not edit.complete:
        raise EditError(
            "the whole-file reply is truncated: its code fence is never closed", path=path
        )
    new = [line.rstrip("\r") for line in split_lines(edit.content or "")]
    if not any(line.strip() for line in new):
        if not edit.fenced:
            raise EditError("the whole-file reply is empty", path=path)
        state.lines = []  # a closed, empty listing: the file is to be empty
        state.reports = [
            BlockReport(0, "applied", "an empty listing: the file is now empty", path=path)
        ]
        return ""
    markers = elision_markers(state.lines, new)
    try:
        merged = merge_elisions(state.lines, new, markers)
    except MergeError as error:
        raise EditError(str(error), path=path) from error
    kept = len(merged) - len(new) + len(markers)
    notes = [f"{len(markers)} elision(s) filled with {kept} line(s) of the file"] if markers else []
    if edit.final_newline and not ends_elided(new, markers) and not state.final_newline:
        # The reply's own text ends its last line (a fenced body always does), so the file does.
        state.final_newline = True
        notes.append("the file now ends with a newline")
    state.lines = merged
    state.reports = [BlockReport(0, "applied", "; ".join(notes), path=path)]
    return state.render()


def select_edits(edits: list[FileEdit], path: str | None) -> list[FileEdit]:
    """The edits of a reply that are meant for `path` (all of them when `path` is None)."""
    named = [edit for edit in edits if edit.path is not None]
    unnamed = [edit for edit in edits if edit.path is None]
    if path is None:
        if len({clean_path(edit.path or "") for edit in named}) > 1:
            raise EditError("the reply edits several files; name the one to apply")
        return edits
    if not named:
        return unnamed
    mine = [edit for edit in named if header_names(edit.path or "", path)]
    if not mine:
        others = ", ".join(sorted({edit.path or "" for edit in named}))
        raise EditError(f"no block in the reply is for {path} (it names {others})", path=path)
    if unnamed and edits[0].fmt != "whole" and len(mine) != len(named):
        raise EditError("some blocks name no file, and the reply edits several files", path=path)
    return mine + (unnamed if edits[0].fmt != "whole" else [])


def apply_edit(original: str, edit: str, *, fmt: str | None = None, path: str | None = None) -> str:
    """Apply an LLM edit to one file's text and return the new text; raise EditError to refuse."""
    return apply_edit_reported(original, edit, fmt=fmt, path=path)[0]


def apply_edit_reported(
    original: str, edit: str, *, fmt: str | None = None, path: str | None = None
) -> tuple[str, list[BlockReport]]:
    """Like apply_edit, with a report per block saying what was adjusted to place it."""
    try:
        edits = parse_edits(edit, fmt, [path] if path else ())
    except ParseError as error:
        raise EditError(str(error), path=path) from error
    chosen = select_edits(edits, path)
    if len(chosen) > 1 and chosen[0].fmt == "whole" and path is None:
        raise EditError("the reply holds several whole files; name the one to apply")
    return apply_file_edits_reported(original, chosen, path)


def apply_edits(files: Mapping[str, str], reply: str) -> EditResult:
    """Apply every file's edits from a reply, all or none; new files and deletions included."""
    try:
        edits = parse_edits(reply, known_paths=files)
    except ParseError as error:
        raise EditError(str(error)) from error
    if not edits:
        raise EditError("the reply contains no edit")
    by_path: dict[str, list[FileEdit]] = {}
    for edit in edits:
        if edit.path is None:
            if len(files) != 1:
                raise EditError("a block names no file and several files are open")
            target = next(iter(files))
        else:
            target = resolve_path(edit.path, files) or clean_path(edit.path)
        by_path.setdefault(target, []).append(edit)
    result = EditResult(files={})
    for target, group in by_path.items():
        exists = target in files
        original = files.get(target, "")
        new, reports = apply_file_edits_reported(original, group, target)
        result.reports.extend(replace(report, path=target) for report in reports)
        if any(edit.deletes for edit in group):
            if new.strip():
                raise EditError("a diff to /dev/null leaves lines in the file", path=target)
            result.deleted.add(target)
            continue
        if not exists:
            result.created.add(target)
        if new != original or not exists:
            result.files[target] = new
    return result
