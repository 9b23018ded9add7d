"""The lines that replace a located hunk: the REPLACE as written, or re-indented to the file."""

from __future__ import annotations

from vibeforge.edits.locate import Match
from vibeforge.edits.model import Hunk, Op
from vibeforge.edits.outcome import Refuse
from vibeforge.edits.text import IndentStyle, indent_of


def _reindent(line: str, match: Match, file_style: IndentStyle, noisy: bool) -> str:
    """An added line placed where the hunk matched: as written when the old side matched as
    written (or up to trailing spaces); else shifted by the match's one indentation delta.

    `noisy`: the old side carried trailing spaces the file lacks, so the same noise on added
    lines is dropped too.
    """
    lead = indent_of(line)
    if noisy:
        line = line.rstrip()
    if match.layer == "exact":
        return foreign_to_file(line, match, file_style)
    if match.layer == "rstrip" and "\t" not in lead:
        return line
    if not line:
        return line
    columns = len(lead.expandtabs(match.tab_width)) + match.delta
    if columns < 0:
        if not line.strip():
            return ""  # a whitespace-only line less indented than the shift: it was blank
        raise Refuse("the replacement cannot be re-indented to the file's indentation")
    return file_style.render(columns) + line[len(lead) :]


def foreign_to_file(line: str, match: Match, file_style: IndentStyle) -> str:
    """A code line indented with tabs in a file indented with spaces (or the reverse) in the
    file's character; any other line as written."""
    lead = indent_of(line)
    foreign = ("\t" in lead) != file_style.use_tabs and len(lead.expandtabs(4)) >= 2
    if not (file_style.known and foreign and line.strip()):
        return line
    return file_style.render(len(lead.expandtabs(match.tab_width))) + line[len(lead) :]


def _kept(line: str, op: Op, match: Match, file_style: IndentStyle, noisy: bool) -> str:
    """A context line's text: the file's, unless the SEARCH line equals it exactly and the
    REPLACE wrote it otherwise (whitespace, trailing spaces), which is then the model's."""
    if op.written is None or op.text != line:
        return line
    return _reindent(op.written, match, file_style, noisy)


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
        kept = set(hunk.old)
        return [
            line if line in kept else foreign_to_file(line, match, file_style)
            for line in hunk.replace_lines
        ]
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
                # lines could belong above or below them: refuse rather than guess. Left-out
                # blank lines only change the spacing, so the added lines go above them.
                missing = lines[cursor:where]
                between = adds_since_match and op.kind == "ctx" and previous_kind == "ctx"
                if between and any(line.strip() for line in missing):
                    raise Refuse("context lines are missing right where lines are added")
                out.extend(missing)
            if op.kind == "ctx":
                out.append(_kept(lines[where], op, match, file_style, noisy))
            cursor = where + 1
            adds_since_match = False
            previous_kind = op.kind
        entry += 1
    if cursor < match.end:
        out.extend(lines[cursor : match.end])
    return out
