"""What `vibeforge chat` prints: the answer as it streams, stages, proposals and diffs in colour,
tokens and cost. Colour is plain SGR codes, on only for a terminal (never with NO_COLOR)."""

from __future__ import annotations

import os
from typing import Any, TextIO

from vibeforge.client.terminal.transcript import Section

_CODES = {"dim": "2", "bold": "1", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}


def colour_wanted(stream: TextIO) -> bool:
    """Colour for a terminal, unless NO_COLOR is set or TERM is dumb."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return stream.isatty() and os.environ.get("TERM") != "dumb"


def usage_text(total: dict[str, Any] | None) -> str:
    """`123 tokens (100 in, 23 out) · $0.0012` for a token total."""
    if not total:
        return "no usage reported"
    text = (
        f"{total.get('total_tokens', 0)} tokens "
        f"({total.get('prompt_tokens', 0)} in, {total.get('completion_tokens', 0)} out)"
    )
    cost = total.get("cost_usd")
    return text + (f" · ${cost:.4f}" if cost is not None else " · cost unknown")


class Screen:
    """The chat's output: streamed text, and lines that never break into the middle of it."""

    def __init__(self, out: TextIO, colour: bool | None = None) -> None:
        self.out = out
        self.colour = colour_wanted(out) if colour is None else colour
        self.at_line_start = True

    def paint(self, text: str, *styles: str) -> str:
        """`text` in the given styles (when colour is on)."""
        if not self.colour or not styles:
            return text
        codes = ";".join(_CODES[style] for style in styles)
        return f"\x1b[{codes}m{text}\x1b[0m"

    def text(self, text: str, *styles: str) -> None:
        """Streamed text, as it comes."""
        if not text:
            return
        self.out.write(self.paint(text, *styles))
        self.out.flush()
        self.at_line_start = text.endswith("\n")

    def end_line(self) -> None:
        """Finish the streamed line, if the cursor is in the middle of one."""
        if not self.at_line_start:
            self.text("\n")

    def line(self, text: str = "", *styles: str) -> None:
        """A line of its own (after a newline if the stream left the cursor mid-line)."""
        if not self.at_line_start:
            self.out.write("\n")
        self.out.write(self.paint(text, *styles) + "\n")
        self.out.flush()
        self.at_line_start = True

    def diff(self, diff: str) -> None:
        """A unified diff, its added and removed lines coloured."""
        for raw in diff.splitlines():
            if raw.startswith(("+++", "---")):
                self.line(raw, "bold")
            elif raw.startswith("+"):
                self.line(raw, "green")
            elif raw.startswith("-"):
                self.line(raw, "red")
            elif raw.startswith("@@"):
                self.line(raw, "cyan")
            else:
                self.line(raw)

    def section(self, section: Section) -> None:
        """A section of a transcript, as the history shown when a chat reopens a session."""
        if section.kind == "user":
            self.line("you› " + section.body.replace("\n", "\n     "), "bold")
        elif section.kind == "assistant":
            self.line(section.body)
            status = section.meta.get("status")
            if status and status != "success":
                self.line(f"[{status}]", "yellow")
        elif section.kind == "diff":
            self.diff(section.body)
        else:
            self.line(section.body, "dim")
