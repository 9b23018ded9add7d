"""A session's transcript as Markdown that reads well and parses back exactly.

Each section (a prompt, an answer, a diff, a note) opens with a marker line,
`<!-- vibeforge:section {JSON} -->`, then a `## ` heading, a blank line and its body, and ends
with a blank line. Markers are HTML comments, so the Markdown renders as a conversation. A body
line that itself begins like a marker is written with one more leading backslash (and read back
with one less), so any text round-trips.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

VERSION = 1
_HEADER = re.compile(r"^<!-- vibeforge:transcript (\{.*\}) -->$")
_MARKER = re.compile(r"^<!-- vibeforge:section (\{.*\}) -->$", re.MULTILINE)
_TITLE = re.compile(r"\A# [^\n]*\n\n\Z")
_LOOKS_LIKE_MARKER = re.compile(r"^(\\*)(<!-- vibeforge:)", re.MULTILINE)
_ESCAPED_MARKER = re.compile(r"^\\(\\*<!-- vibeforge:)", re.MULTILINE)
KINDS = ("user", "assistant", "diff", "note")


class TranscriptError(ValueError):
    """The text is not a transcript this version can read."""


@dataclass
class Section:
    """One part of the conversation: `kind` is user, assistant, diff or note."""

    kind: str
    body: str
    meta: dict[str, Any] = field(default_factory=dict)  # status, model, tokens, turn id, ...

    def heading(self) -> str:
        """The `## ` line shown above the body."""
        meta = self.meta
        if self.kind == "user":
            return "You"
        if self.kind == "diff":
            return f"Proposal {meta.get('proposal_status') or ''}".strip()
        if self.kind == "note":
            return "Note"
        parts = [str(meta.get("model") or "assistant"), str(meta.get("status") or "")]
        if meta.get("tokens") is not None:
            parts.append(f"{meta['tokens']} tokens")
        if meta.get("cost_usd") is not None:
            parts.append(f"${meta['cost_usd']:.4f}")
        return " · ".join(part for part in parts if part)


@dataclass
class Transcript:
    """A session's transcript: what it is about, and its sections in order."""

    meta: dict[str, Any]
    sections: list[Section] = field(default_factory=list)

    def turns(self) -> set[str]:
        """The ids of the turns the transcript holds."""
        return {str(s.meta["turn"]) for s in self.sections if s.meta.get("turn")}


def _fence(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def render_section(section: Section) -> str:
    """A section as Markdown (ending with a blank line)."""
    if section.kind not in KINDS:
        raise TranscriptError(f"unknown section kind {section.kind!r}")
    meta = json.dumps({"kind": section.kind, **section.meta}, ensure_ascii=False)
    if "-->" in meta:  # would end the comment early; JSON allows escaping the '>'
        meta = meta.replace("-->", "--\\u003e")
    body = section.body
    if section.kind == "diff":
        fence = _fence(body)
        body = f"{fence}diff\n{body}{'' if body.endswith(chr(10)) else chr(10)}{fence}"
    body = _LOOKS_LIKE_MARKER.sub(r"\\\1\2", body)
    heading = " ".join(section.heading().split())  # one line, whatever a model name holds
    return f"<!-- vibeforge:section {meta} -->\n## {heading}\n\n{body}\n\n"


def render_header(meta: dict[str, Any]) -> str:
    """The transcript's first lines: its metadata and a title."""
    data = json.dumps({"version": VERSION, **meta}, ensure_ascii=False).replace("-->", "--\\u003e")
    title = f"vibeforge · {meta.get('project') or meta.get('project_id', '')}"
    if meta.get("node_id"):
        title += f" · {meta['node_id']}"
    return f"<!-- vibeforge:transcript {data} -->\n# {' '.join(title.split())}\n\n"


def render(transcript: Transcript) -> str:
    """The whole transcript as Markdown."""
    return render_header(transcript.meta) + "".join(map(render_section, transcript.sections))


def parse(text: str) -> Transcript:
    """Read a transcript back; TranscriptError when it is not one."""
    first, _, rest = text.partition("\n")
    header = _HEADER.match(first)
    if header is None:
        raise TranscriptError("no vibeforge transcript header on the first line")
    meta = _json(header.group(1))
    if meta.pop("version", None) != VERSION:
        raise TranscriptError("a transcript of another version")
    markers = list(_MARKER.finditer(rest))
    title = rest[: markers[0].start()] if markers else rest
    if not _TITLE.match(title):
        raise TranscriptError("text after the header is not a title or a section")
    sections = []
    for index, marker in enumerate(markers):
        end = markers[index + 1].start() if index + 1 < len(markers) else len(rest)
        sections.append(_section(_json(marker.group(1)), rest[marker.end() + 1 : end]))
    return Transcript(meta, sections)


def _section(meta: dict[str, Any], chunk: str) -> Section:
    kind = meta.pop("kind", None)
    if kind not in KINDS:
        raise TranscriptError(f"unknown section kind {kind!r}")
    heading, separator, body = chunk.partition("\n\n")
    if not heading.startswith("## ") or not separator or not body.endswith("\n\n"):
        raise TranscriptError(f"a {kind} section is cut short")
    body = _ESCAPED_MARKER.sub(r"\1", body[:-2])
    if kind == "diff":
        lines = body.split("\n")
        if len(lines) < 2 or not lines[0].startswith("```") or not lines[-1].startswith("```"):
            raise TranscriptError("a diff section without its fence")
        body = "\n".join(lines[1:-1]) + "\n" if len(lines) > 2 else ""
    return Section(kind, body, meta)


def _json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as error:
        raise TranscriptError(f"a marker's data is not JSON: {error}") from None
    if not isinstance(value, dict):
        raise TranscriptError("a marker's data is not an object")
    return value
