"""Line, line-ending and indentation helpers shared by the parsers and the locator."""

from __future__ import annotations

import re
from collections import Counter

# Lines a model writes in place of code it did not repeat ("... existing code ...").
_COMMENT_LEAD = re.compile(r"^\s*(#|//|/\*|<!--|--|;|%)\s*")
_ELISION_WORDS = re.compile(
    r"(existing|unchanged|remain|rest of|same as|omitted|elided|as before|other (code|methods)"
    r"|previous code|no changes|keep)",
    re.IGNORECASE,
)


STYLE_SAMPLE = 4000  # lines enough to tell how a file indents


def split_lines(text: str) -> list[str]:
    """Split text into lines without their endings ("a\\nb\\n" -> ["a", "b"])."""
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def join_lines(lines: list[str], final_newline: bool, eol: str = "\n") -> str:
    """Join lines with `eol`, ending with one when `final_newline` (and there is a line)."""
    if not lines:
        return ""
    return eol.join(lines) + (eol if final_newline else "")


def to_lf(text: str) -> str:
    """Normalise CRLF and lone CR line endings to LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def detect_eol(text: str) -> str:
    """The file's line ending: CRLF when most lines use it, else LF."""
    crlf = text.count("\r\n")
    return "\r\n" if crlf and crlf * 2 >= text.count("\n") else "\n"


def indent_of(line: str) -> str:
    """The leading whitespace of a line."""
    return line[: len(line) - len(line.lstrip(" \t"))]


class IndentStyle:
    """How a file indents: with tabs or spaces, and how wide one level is."""

    def __init__(self, use_tabs: bool, unit: int, known: bool = False) -> None:
        self.use_tabs = use_tabs
        self.unit = unit
        self.known = known  # the file has indented lines to learn the style from

    @classmethod
    def of(cls, lines: list[str]) -> IndentStyle:
        """Infer the style from a file's lines (spaces, 4 wide, when there is no evidence)."""
        tabs = spaces = 0
        steps: Counter[int] = Counter()
        previous = 0
        for line in lines[:STYLE_SAMPLE]:
            if not line.strip():
                continue
            lead = indent_of(line)
            if lead.startswith("\t"):
                tabs += 1
            elif lead:
                spaces += 1
            width = len(lead.expandtabs(4))
            if width > previous:
                steps[width - previous] += 1
            previous = width
        unit = 4
        if steps:
            best, _ = max(steps.items(), key=lambda item: (item[1], -item[0]))
            if 2 <= best <= 8:
                unit = best
        return cls(use_tabs=tabs > spaces, unit=unit, known=bool(tabs or spaces))

    def columns(self, lead: str) -> int:
        """Width of a leading-whitespace string, a tab counting as one level."""
        return len(lead.expandtabs(self.unit if self.unit > 0 else 4))

    def render(self, columns: int) -> str:
        """Leading whitespace of `columns` width in this style."""
        if self.use_tabs:
            return "\t" * (columns // self.unit) + " " * (columns % self.unit)
        return " " * columns


def is_elision(line: str, *, bare_dots: bool = True) -> bool:
    """True for a line that stands for omitted code: `...`, `# ... existing code ...` and kin."""
    stripped = line.strip()
    if not stripped:
        return False
    if bare_dots and stripped in ("...", "…", "[...]", "# ...", "// ..."):
        return True
    lead = _COMMENT_LEAD.match(stripped)
    if not lead:
        return False
    rest = stripped[lead.end() :].rstrip("*/->").strip()
    if not rest:
        return False
    lowered = rest.lower()
    if rest.startswith(("...", "…")) or rest.endswith(("...", "…")):
        body = rest.replace("...", " ").replace("…", " ").strip()
        return not body or bool(_ELISION_WORDS.search(body))
    # Undotted markers must name what they stand for ("rest of the file remains the same").
    return (
        bool(_ELISION_WORDS.search(rest))
        and len(rest.split()) <= 10
        and any(word in lowered for word in ("code", "file", "unchanged", "implementation"))
    )
