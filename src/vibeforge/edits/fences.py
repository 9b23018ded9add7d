"""Code fences as models write them: backticks, tildes, and the HTML-like tags Aider uses.

Aider picks, per chat, the first fence whose lines do not occur in the files it shows:
```` ``` ````, ```` ```` ````, `<source>`, `<code>`, `<pre>`, `<codeblock>`, `<sourcecode>`;
other tools use `~~~`. A reply can use any of them around a whole file, search/replace
blocks or a diff, so the parsers share one notion of where a fenced block opens and closes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# At most 3 spaces in; a run of backticks or tildes, then an info string (the language).
_MARKS = re.compile(r"^ {0,3}(?P<mark>`{3,}|~{3,})[ \t]*(?P<info>[^`]*?)[ \t]*$")
TAG_NAMES = ("source", "code", "pre", "codeblock", "sourcecode")
_TAG_OPEN = re.compile(
    r"^ {0,3}<(?P<name>" + "|".join(TAG_NAMES) + r")(?:\s[^<>]*)?>[ \t]*(?P<info>[\w+#.-]*)[ \t]*$",
    re.IGNORECASE,
)
_FILE_NAME = re.compile(r"^[\w./-]*\w\.[A-Za-z0-9]{1,10}$")
_TAG_CLOSE = re.compile(r"^ {0,3}</(?P<name>" + "|".join(TAG_NAMES) + r")>[ \t]*$", re.IGNORECASE)


@dataclass(frozen=True)
class Fence:
    """An opening fence line: its marker (```` ``` ````, `~~~~`, `<source>`) and language."""

    mark: str
    info: str = ""

    @property
    def is_tag(self) -> bool:
        """True for the HTML-like fences (`<source>` ... `</source>`)."""
        return self.mark.startswith("<")

    def closes(self, line: str) -> bool:
        """Whether `line` is this fence's closing line."""
        if self.is_tag:
            found = _TAG_CLOSE.match(line)
            return bool(found) and found.group("name").lower() == self.mark[1:-1]
        found = _MARKS.match(line)
        return bool(found) and found.group("mark") == self.mark and not found.group("info")

    def nests(self, line: str) -> bool:
        """Whether `line` opens a block nested in this one (a Markdown example in a docstring).

        Only the same marker with a language does: its bare twin then closes the nested block.
        """
        if self.is_tag:
            return False
        found = _MARKS.match(line)
        return bool(found) and found.group("mark") == self.mark and bool(found.group("info"))


def opening_fence(line: str, previous: str | None = None, tags: bool = True) -> Fence | None:
    """The fence `line` opens, or None.

    `previous` is the nearest non-blank line above (None at the top): a tilde run that is as
    long as the text above it is an RST heading underline, not a fence. `tags=False` leaves
    the HTML-like fences out (where a bare `<pre>` line may be content).
    """
    found = _MARKS.match(line)
    if found:
        mark, info = found.group("mark"), found.group("info")
        if "`" in info:
            return None
        if mark[0] == "~" and not info and _underlines(previous, mark):
            return None
        return Fence(mark, info)
    if tags:
        tag = _TAG_OPEN.match(line)
        if tag:
            return Fence(f"<{tag.group('name').lower()}>", tag.group("info"))
    return None


def _underlines(previous: str | None, mark: str) -> bool:
    """An RST underline is at least as long as the title above it; a file name with an
    extension above a short run is a path line and its fence."""
    if previous is None or not previous.strip():
        return False
    title = previous.strip()
    if len(title) > len(mark) or title.endswith(":"):
        return False
    return not (len(mark) <= 5 and _FILE_NAME.match(title))


def closing_line(lines: list[str], start: int, fence: Fence) -> int:
    """Index of the line closing `fence` from `start` on (len(lines) when it is never closed)."""
    depth = 0
    lead = "<" if fence.is_tag else fence.mark[0]
    for number in range(start, len(lines)):
        line = lines[number]
        if not line.lstrip(" ").startswith(lead):
            continue  # cheap test first: a fence line starts with its marker
        if fence.nests(line):
            depth += 1
        elif fence.closes(line):
            if not depth:
                return number
            depth -= 1
    return len(lines)


def is_fence_line(line: str) -> bool:
    """Whether a line is a fence of any kind, opening or closing (tags included)."""
    return bool(_MARKS.match(line) or _TAG_OPEN.match(line) or _TAG_CLOSE.match(line))
