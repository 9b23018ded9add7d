"""The offline model's understanding: simple stated edits as SEARCH/REPLACE blocks, and reviews.

Pure functions on strings, so they are tested on literal text. Files are found in the prompt as
a path line followed by a fenced block; the answer's blocks are unique in the file they edit.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

REVIEW_MARKER = "[vibeforge:review]"
"""A prompt containing this asks for a review: the answer is JSON approved/reasoning/commit."""
REJECT_MARKER = "[vibeforge:reject]"
"""A review prompt that also contains this is rejected (lets tests script a rejection)."""

_FILE = re.compile(
    r"^[ \t]*(?:#+[ \t]*|File:[ \t]*|\*\*)?`?(?P<path>[\w./-]+\.\w+)`?\**:?[ \t]*\n"
    r"```[\w+-]*[ \t]*\n(?P<body>.*?)^```[ \t]*$",
    re.M | re.S,
)
_FENCED = re.compile(r"```.*?```", re.S)
_RENAME = re.compile(
    r"\brename\s+(?:the\s+)?(?:function|variable|class|method|constant)?\s*`?(\w+)`?\s+to\s+`?(\w+)`?",
    re.I,
)
_CHANGE_QUOTED = re.compile(
    r"\b(?:change|replace)\b[^\n]*?([\"'`])(.+?)\1\s+(?:to|with|into|by)\s+([\"'`])(.*?)\3", re.I
)
_CHANGE_PLAIN = re.compile(
    r"\b(?:change|replace)\s+(\S+)\s+(?:to|with|into|by)\s+(\S+?)[.!]?(?:\s|$)", re.I
)
_ADD_FUNCTION = re.compile(
    r"\badd\s+(?:a\s+|an\s+)?(?:new\s+)?(?:function|method)\s+(?:called\s+|named\s+)?`?(\w+)`?"
    r"(?:\s+that\s+takes\s+(?P<args>[\w ,]+?))?"
    r"(?:\s+(?:and\s+|that\s+)?returns?\s+(?P<expr>[^\n.]+))?"
    r"\s*[.!]?\s*$",
    re.I | re.M,
)
_DOCSTRING = re.compile(
    r"\badd\s+(?:a\s+)?docstrings?(?:\s+to\s+(?:the\s+)?(?:function\s+)?`?(?P<name>\w+)`?)?", re.I
)
_SYNTAX_ERROR = re.compile(r"^(?P<path>[\w./-]+\.py):(?P<line>\d+)(?::\d+)?:\s*SyntaxError\b", re.M)
_OPENERS = {"(": ")", "[": "]", "{": "}"}
_BLOCK_HEADER = re.compile(
    r"^\s*(?:async\s+)?(?:def|class|if|elif|else|for|while|with|try|except|finally)\b"
)
_BLOCK = re.compile(r"<<<<<<< SEARCH\n.*?\n=======\n.*?>>>>>>> REPLACE", re.S)

HELP = (
    "I'm the offline model built into vibeforge: no LLM provider is configured, so I only "
    "understand a few simple, stated edits:\n\n"
    "- rename OLD to NEW\n"
    '- change "OLD TEXT" to "NEW TEXT"\n'
    "- add a function NAME (optionally: that takes a, b and returns a + b)\n"
    "- add a docstring (to NAME, or to every function that lacks one)\n\n"
    "Put the file in the message as a path line followed by a fenced code block. "
    "For anything else, configure a real model (set OPENAI_API_KEY, or run Ollama)."
)


@dataclass(frozen=True, slots=True)
class Edit:
    """One SEARCH/REPLACE block on one file."""

    path: str
    search: str
    replace: str


def find_files(text: str) -> dict[str, str]:
    """Files shown in a prompt as `path` + fenced block; a later copy of a path wins."""
    return {match["path"]: match["body"] for match in _FILE.finditer(text)}


def render_edits(edits: list[Edit]) -> str:
    """Edit blocks in vibeforge's SEARCH/REPLACE format, each with its path line and fence."""
    parts = []
    for edit in edits:
        language = "python" if edit.path.endswith(".py") else edit.path.rsplit(".", 1)[-1]
        parts.append(
            f"{edit.path}\n```{language}\n<<<<<<< SEARCH\n{edit.search}=======\n"
            f"{edit.replace}>>>>>>> REPLACE\n```\n"
        )
    return "\n".join(parts)


def answer(instruction: str, files: dict[str, str]) -> str:
    """The offline model's answer to an instruction about the given files."""
    request = _FENCED.sub("", instruction)
    for handler in (_fix_syntax, _rename, _change, _add_function, _add_docstring):
        result = handler(request, files)
        if result is not None:
            return result
    return HELP


def review(prompt: str) -> str:
    """A reviewer's verdict as JSON: approve when the prompt holds well-formed edit blocks."""
    blocks = _BLOCK.findall(prompt)
    request = re.search(r"^Request:\s*(.+)$", prompt, re.M)
    if REJECT_MARKER in prompt:
        verdict = (False, "Rejected on request (the prompt carries the reject marker).")
    elif blocks:
        verdict = (True, f"{len(blocks)} well-formed edit block(s) that do what was asked.")
    else:
        verdict = (False, "There is no well-formed SEARCH/REPLACE block to review.")
    paths = sorted(set(re.findall(r"^([\w./-]+\.\w+)\n```", prompt, re.M)))
    if request:
        message = request.group(1).strip().rstrip(".")
        message = message[0].upper() + message[1:]
    else:
        message = "Update " + (", ".join(paths) if paths else "the project")
    result = {"approved": verdict[0], "reasoning": verdict[1], "commit_message": message[:72]}
    return json.dumps(result)


def _pick_file(request: str, files: dict[str, str], needle: str | None = None) -> str | None:
    for path in files:
        if path in request:
            return path
    if needle is not None:
        for path, content in files.items():
            if needle in content:
                return path
    return next(reversed(files), None) if files else None


def _substitute(path: str, content: str, old_lines: list[str], new_lines: list[str]) -> list[Edit]:
    """Blocks for a same-length line-by-line change, each grown until its SEARCH is unique."""
    changed = [i for i, (a, b) in enumerate(zip(old_lines, new_lines, strict=True)) if a != b]
    hunks: list[list[int]] = []
    for index in changed:
        if hunks and index - hunks[-1][-1] <= 3:
            hunks[-1].append(index)
        else:
            hunks.append([index])
    edits = []
    for hunk in hunks:
        start, end = _unique_span(content, old_lines, hunk[0], hunk[-1] + 1)
        edits.append(Edit(path, "".join(old_lines[start:end]), "".join(new_lines[start:end])))
    return edits


def _unique_span(content: str, lines: list[str], start: int, end: int) -> tuple[int, int]:
    while content.count("".join(lines[start:end])) > 1 and (start > 0 or end < len(lines)):
        start, end = max(0, start - 1), min(len(lines), end + 1)
    return start, end


def _lines(content: str) -> list[str]:
    return (
        content.splitlines(keepends=True)
        if content.endswith("\n")
        else (content + "\n").splitlines(keepends=True)
    )


def _rename(request: str, files: dict[str, str]) -> str | None:
    match = _RENAME.search(request)
    if not match:
        return None
    old, new = match.groups()
    path = _pick_file(request, files, old)
    if path is None or not re.search(rf"\b{re.escape(old)}\b", files[path]):
        return f"I could not find `{old}` in the files you gave me, so there is nothing to rename."
    lines = _lines(files[path])
    renamed = [re.sub(rf"\b{re.escape(old)}\b", new, line) for line in lines]
    edits = _substitute(path, "".join(lines), lines, renamed)
    return f"I'll rename `{old}` to `{new}` in {path}.\n\n{render_edits(edits)}"


def _change(request: str, files: dict[str, str]) -> str | None:
    match = _CHANGE_QUOTED.search(request)
    old, new = (match.group(2), match.group(4)) if match else (None, None)
    if not match:
        plain = _CHANGE_PLAIN.search(request)
        if not plain:
            return None
        old, new = plain.groups()
    assert old is not None and new is not None
    path = _pick_file(request, files, old)
    if path is None or old not in files[path] or "\n" in old:
        return f"I could not find `{old}` in the files you gave me, so there is nothing to change."
    lines = _lines(files[path])
    changed = [line.replace(old, new) for line in lines]
    edits = _substitute(path, "".join(lines), lines, changed)
    return f"I'll change `{old}` to `{new}` in {path}.\n\n{render_edits(edits)}"


def _add_function(request: str, files: dict[str, str]) -> str | None:
    match = _ADD_FUNCTION.search(request)
    if not match:
        return None
    name = match.group(1)
    path = _pick_file(request, files)
    if path is None:
        return f"Show me the file to add `{name}` to (a path line, then a fenced block)."
    if re.search(rf"^\s*def {re.escape(name)}\b", files[path], re.M):
        return f"{path} already has a function `{name}`; nothing to add."
    args = re.split(r"\s*(?:,|\band\b)\s*", match["args"].strip()) if match["args"] else []
    body = f"return {match['expr'].strip()}" if match["expr"] else "raise NotImplementedError"
    function = (
        f"def {name}({', '.join(a for a in args if a)}):\n"
        f'    """{_humanize(name)}."""\n    {body}\n'
    )
    lines = _lines(files[path])
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        return f"{path} is empty; write its first line and I can add `{name}` after it."
    start, end = _unique_span("".join(lines), lines, len(lines) - 1, len(lines))
    search = "".join(lines[start:end])
    edit = Edit(path, search, f"{search}\n\n{function}")
    return f"I'll add a function `{name}` at the end of {path}.\n\n{render_edits([edit])}"


def _add_docstring(request: str, files: dict[str, str]) -> str | None:
    match = _DOCSTRING.search(request)
    if not match:
        return None
    name = match["name"]
    path = _pick_file(request, files, f"def {name}" if name else None)
    if path is None:
        return "Show me the file to document (a path line, then a fenced block)."
    content = files[path]
    lines = _lines(content)
    edits: list[Edit] = []
    starts: list[int] = []
    wanted = re.escape(name) if name else r"\w+"
    pattern = re.compile(rf"^(\s*)(?:async\s+)?def\s+({wanted})\b")
    for index, line in enumerate(lines):
        found = pattern.match(line)
        if not found:
            continue
        header_end = index
        while header_end < len(lines) - 1 and not lines[header_end].rstrip().endswith(":"):
            header_end += 1
        following = lines[header_end + 1].strip() if header_end + 1 < len(lines) else ""
        if following.startswith(('"""', "'''")):
            continue
        start, end = _unique_span(content, lines, index, header_end + 1)
        search = "".join(lines[start:end])
        docstring = f'{found.group(1)}    """{_humanize(found.group(2))}."""\n'
        edits.append(Edit(path, search, search + docstring))
        starts.append(start)
    if name is None and lines and not lines[0].startswith(('"""', "'''", "#!")):
        stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        module_doc = f'"""{_humanize(stem)}."""\n\n'
        if starts and starts[0] == 0:
            # The first function's block already starts at line one: extend it, never overlap.
            edits[0] = Edit(path, edits[0].search, module_doc + edits[0].replace)
        else:
            start, end = _unique_span(content, lines, 0, 1)
            search = "".join(lines[start:end])
            edits.insert(0, Edit(path, search, module_doc + search))
    if not edits:
        target = f"`{name}`" if name else "every function"
        return f"In {path}, {target} already has a docstring (or I found no such function)."
    what = f"`{name}`" if name else "the functions that lack one"
    return f"I'll add a docstring to {what} in {path}.\n\n{render_edits(edits)}"


def _humanize(name: str) -> str:
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).replace("_", " ").strip().lower()
    return (words[:1].upper() + words[1:]) or "Describe this"


def _fix_syntax(request: str, files: dict[str, str]) -> str | None:
    """Repair a reported Python syntax error (`path:line: SyntaxError ...`, as vibeforge's
    validators print it) by closing brackets or adding a block's colon on or near that line.
    This is what lets the offline model play the fixer in `vibeforge demo`."""
    match = _SYNTAX_ERROR.search(request)
    if not match:
        return None
    path = match["path"]
    if path not in files:
        return f"Show me {path} (a path line, then a fenced block) and I can fix its syntax."
    lines = _lines(files[path])
    reported = int(match["line"]) - 1
    for index in (reported, reported - 1, reported + 1):
        if not 0 <= index < len(lines):
            continue
        repaired = _repair_line(lines[index])
        if repaired is None:
            continue
        fixed = [*lines[:index], repaired, *lines[index + 1 :]]
        try:
            compile("".join(fixed), path, "exec", dont_inherit=True)
        except (SyntaxError, ValueError):
            continue
        edits = _substitute(path, "".join(lines), lines, fixed)
        return f"I'll fix the syntax error on line {index + 1} of {path}.\n\n{render_edits(edits)}"
    return f"I could not repair the syntax error in {path} on my own."


def _repair_line(line: str) -> str | None:
    """The line with its unclosed brackets closed and a missing block colon added, or None."""
    body = line.rstrip("\n")
    stack: list[str] = []
    quote: str | None = None
    for char in body:
        if quote:
            quote = None if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == "#":
            break
        elif char in _OPENERS:
            stack.append(_OPENERS[char])
        elif stack and char == stack[-1]:
            stack.pop()
    repaired = body + "".join(reversed(stack))
    if _BLOCK_HEADER.match(repaired) and not repaired.rstrip().endswith(":"):
        repaired = repaired.rstrip() + ":"
    return None if repaired == body else repaired + "\n"
