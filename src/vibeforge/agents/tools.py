"""The project as the agents see it: files at one version, and read-only tools over them.

Tool outputs are bounded so a model cannot flood its own context; `grep` searches a fixed
string (no regular expressions, so a model cannot stall the server with catastrophic patterns).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from vibeforge.db.tables import User
from vibeforge.errors import InvalidInput, NotFound
from vibeforge.llm import ToolCall, ToolSpec
from vibeforge.projects.git import TreeEntry
from vibeforge.projects.paths import normalize_path
from vibeforge.projects.service import ProjectService

MAX_LIST_ENTRIES = 500
MAX_READ_CHARS = 20_000
MAX_GREP_MATCHES = 100
MAX_GREP_FILE_BYTES = 400_000
MAX_TOOL_OUTPUT = 24_000


class Workspace:
    """A project's files at one version (the run's base), read lazily and cached."""

    def __init__(
        self, projects: ProjectService, project_id: str, version_id: str, entries: list[TreeEntry]
    ) -> None:
        self._repo = projects.repository(project_id)
        self.version_id = version_id
        self.entries = {entry.path: entry for entry in entries}
        self._cache: dict[str, str | None] = {}

    @classmethod
    async def open(cls, projects: ProjectService, owner: User, project_id: str) -> Workspace:
        """The owner's project at its head."""
        head, entries = await projects.list_files(owner, project_id)
        return cls(projects, project_id, head, entries)

    @property
    def paths(self) -> list[str]:
        """Every file path, sorted."""
        return sorted(self.entries)

    def has(self, path: str) -> bool:
        """Whether the version holds this file."""
        return path in self.entries

    async def read(self, path: str) -> str | None:
        """A file's text, or None for a missing or binary file."""
        if path not in self._cache:
            if path not in self.entries:
                return None
            # Objects of a commit never change, so this read needs no project lock.
            data = await asyncio.to_thread(self._repo.read, self.version_id, path)
            try:
                self._cache[path] = data.decode("utf-8")
            except UnicodeDecodeError:
                self._cache[path] = None
        return self._cache[path]

    async def read_many(self, paths: list[str]) -> dict[str, str]:
        """The texts of the given files that exist and are text (one git process for all)."""
        missing = [p for p in paths if p not in self._cache and p in self.entries]
        if missing:
            blobs = [self.entries[path].blob for path in missing]
            datas = await asyncio.to_thread(self._repo.read_blobs, blobs)
            for path, data in zip(missing, datas, strict=True):
                try:
                    self._cache[path] = data.decode("utf-8")
                except UnicodeDecodeError:
                    self._cache[path] = None
        return {p: text for p in paths if (text := self._cache.get(p)) is not None}


TOOLS = (
    ToolSpec(
        "list_files",
        "List the project's files with their sizes in bytes.",
        {
            "type": "object",
            "properties": {"prefix": {"type": "string", "description": "only paths under this"}},
        },
    ),
    ToolSpec(
        "read_file",
        "Read a file of the project (optionally a range of lines, 1-based, inclusive).",
        {
            "type": "object",
            "properties": {
                "path": {"type": "string"},
                "start_line": {"type": "integer"},
                "end_line": {"type": "integer"},
            },
            "required": ["path"],
        },
    ),
    ToolSpec(
        "grep",
        "Find lines containing a fixed string (not a regular expression) in the project.",
        {
            "type": "object",
            "properties": {
                "text": {"type": "string"},
                "prefix": {"type": "string", "description": "only paths under this"},
                "ignore_case": {"type": "boolean"},
            },
            "required": ["text"],
        },
    ),
)


async def run_tool(workspace: Workspace, call: ToolCall) -> str:
    """Run one tool call; a mistake in the call is answered as text the model can act on."""
    try:
        arguments = json.loads(call.arguments or "{}")
        if not isinstance(arguments, dict):
            raise ValueError("arguments must be a JSON object")
        if call.name == "list_files":
            output = _list_files(workspace, str(arguments.get("prefix") or ""))
        elif call.name == "read_file":
            output = await _read_file(workspace, arguments)
        elif call.name == "grep":
            output = await _grep(workspace, arguments)
        else:
            output = f"error: there is no tool {call.name!r}; use list_files, read_file or grep"
    except (ValueError, TypeError, InvalidInput, NotFound) as error:
        output = f"error: {error}"
    if len(output) > MAX_TOOL_OUTPUT:
        output = output[:MAX_TOOL_OUTPUT] + "\n[output truncated]"
    return output


def _list_files(workspace: Workspace, prefix: str) -> str:
    rows = [
        f"{entry.path} ({entry.size} bytes)"
        for path, entry in sorted(workspace.entries.items())
        if path.startswith(prefix)
    ]
    more = len(rows) - MAX_LIST_ENTRIES
    text = "\n".join(rows[:MAX_LIST_ENTRIES]) or "(no files)"
    return text + (f"\n[{more} more not shown]" if more > 0 else "")


async def _read_file(workspace: Workspace, arguments: dict[str, Any]) -> str:
    path = normalize_path(str(arguments.get("path") or ""))
    text = await workspace.read(path)
    if text is None:
        return f"error: no text file {path!r}"
    start, end = arguments.get("start_line"), arguments.get("end_line")
    if start is not None or end is not None:
        lines = text.splitlines(keepends=True)
        first = max(1, int(start or 1))
        last = min(len(lines), int(end or len(lines)))
        text = "".join(lines[first - 1 : last])
    if len(text) > MAX_READ_CHARS:
        return text[:MAX_READ_CHARS] + f"\n[truncated at {MAX_READ_CHARS} characters]"
    return text


async def _grep(workspace: Workspace, arguments: dict[str, Any]) -> str:
    needle = str(arguments.get("text") or "")
    if not needle:
        raise ValueError("text must not be empty")
    prefix = str(arguments.get("prefix") or "")
    fold = bool(arguments.get("ignore_case"))
    wanted = needle.lower() if fold else needle
    matches: list[str] = []
    for path, entry in sorted(workspace.entries.items()):
        if not path.startswith(prefix) or entry.size > MAX_GREP_FILE_BYTES:
            continue
        text = await workspace.read(path)
        for number, line in enumerate((text or "").splitlines(), start=1):
            if wanted in (line.lower() if fold else line):
                matches.append(f"{path}:{number}: {line[:300]}")
                if len(matches) >= MAX_GREP_MATCHES:
                    return "\n".join(matches) + "\n[more matches not shown]"
    return "\n".join(matches) or "(no matches)"
