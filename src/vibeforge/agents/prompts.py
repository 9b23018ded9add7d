"""What the agents are told: system prompts per role and edit format, files and the repo map.

Files are shown as a path line followed by a fenced block, the shape the edit engine and the
offline model both read. Instructions live in the system message and files in the user turn,
so the newest copy of a file is always the last one a model sees.
"""

from __future__ import annotations

import ast
import re

from vibeforge.agents.validators import Problem
from vibeforge.llm.offline_rules import REVIEW_MARKER

MAX_MAP_FILES = 300
MAP_FILE_BYTES = 200_000  # bigger files are listed in the map without their definitions
MAX_MAP_CHARS = 12_000
MAX_SHOWN_FILE_CHARS = 60_000
SMALL_PROJECT_CHARS = 24_000  # a global session below this sees every file in full

_FORMATS = {
    "search-replace": (
        "Write each change as a SEARCH/REPLACE block: the file's path on its own line, then a "
        "fenced block holding\n<<<<<<< SEARCH\n(lines copied exactly from the file)\n=======\n"
        "(the new lines)\n>>>>>>> REPLACE\nGive the SEARCH part enough lines to be unique. An "
        "empty SEARCH with a new path creates that file."
    ),
    "udiff": (
        "Write the change as a unified diff in a ```diff block, with --- a/PATH and +++ b/PATH "
        "headers and @@ hunks whose context lines are copied exactly from the file."
    ),
    "whole": (
        "Write every file you change in full: its path on its own line, then a fenced block with "
        "the complete new content of the file."
    ),
}

CODER_IDENTITY = "You are the coder of vibeforge, working inside the user's project."
CODER_INSTRUCTIONS = (
    "Make exactly the change the user asks for, nothing more. Start with one or two sentences "
    "saying what you change, then the edits.\n{format}\nKeep code out of JSON; write it in the "
    "fenced blocks. If the request is unclear or you need a decision from the user, ask one "
    "short question and write no edit blocks."
)
TOOLS_HINT = (
    "You may first call the read-only tools list_files, read_file and grep to look at files "
    "that are not shown; then answer with the edits."
)
FIXER_SYSTEM_NOTE = (
    "When the user reports errors in your edit, answer with edit blocks against the current "
    "content of the files they show, which already includes your earlier edit."
)
EVALUATOR_SYSTEM = (
    "You are the reviewer of vibeforge. Decide whether the proposed change does what the user "
    "asked, correctly and without unrelated changes. Answer with JSON only: "
    '{"approved": true or false, "reasoning": "one or two sentences", '
    '"commit_message": "an imperative summary of at most 72 characters"}.'
)


def coder_instructions(edit_format: str, tools: bool) -> str:
    """What the coder is told to do in an edit format, whoever it speaks as (its identity,
    CODER_IDENTITY, goes before unless a persona gives one)."""
    text = CODER_INSTRUCTIONS.format(format=_FORMATS.get(edit_format, _FORMATS["search-replace"]))
    parts = [text, FIXER_SYSTEM_NOTE]
    if tools:
        parts.append(TOOLS_HINT)
    return "\n\n".join(parts)


def language(path: str) -> str:
    """The fence language for a path."""
    suffix = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    return {"py": "python", "js": "javascript", "ts": "typescript", "md": "markdown"}.get(
        suffix, suffix
    )


def render_file(path: str, content: str) -> str:
    """A file as a path line and a fenced block."""
    text = content[:MAX_SHOWN_FILE_CHARS]
    if text and not text.endswith("\n"):
        text += "\n"
    fence = "````" if "```" in text else "```"
    return f"{path}\n{fence}{language(path)}\n{text}{fence}"


def render_files(files: dict[str, str]) -> str:
    """Several files, each fenced under its path."""
    return "\n\n".join(render_file(path, content) for path, content in files.items())


_JS_DEF = re.compile(
    r"^(?:export\s+)?(?:default\s+)?(?:async\s+)?(?:function\*?\s+(\w+)|class\s+(\w+)"
    r"|(?:const|let|var)\s+(\w+)\s*=)",
    re.M,
)


def top_level_definitions(path: str, content: str) -> list[str]:
    """The names a file defines at its top level (functions, classes, assignments)."""
    if path.endswith((".py", ".pyi")):
        try:
            tree = ast.parse(content)
        except (SyntaxError, ValueError):
            return ["(does not parse)"]
        names = []
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names.append(f"def {node.name}({ast.unparse(node.args)})")
            elif isinstance(node, ast.ClassDef):
                names.append(f"class {node.name}")
            elif isinstance(node, ast.Assign):
                names.extend(t.id for t in node.targets if isinstance(t, ast.Name))
        return names
    if path.endswith((".js", ".ts", ".jsx", ".tsx", ".mjs")):
        return [next(g for g in match.groups() if g) for match in _JS_DEF.finditer(content)]
    return []


def repo_map(paths: list[str], contents: dict[str, str]) -> str:
    """A compact map of the repository: every file and its top-level definitions."""
    lines = []
    for path in paths[:MAX_MAP_FILES]:
        names = top_level_definitions(path, contents[path]) if path in contents else []
        lines.append(f"{path}: {', '.join(names)}" if names else path)
    if len(paths) > MAX_MAP_FILES:
        lines.append(f"... and {len(paths) - MAX_MAP_FILES} more files")
    text = "\n".join(lines)
    if len(text) > MAX_MAP_CHARS:
        text = text[:MAX_MAP_CHARS] + "\n... (map truncated)"
    return text


def coder_context(files: dict[str, str], map_text: str | None, focus: str | None) -> str:
    """The code the coder works on, appended to its system prompt (the user turn stays the
    user's own words, as in the stored history)."""
    parts = []
    if map_text:
        # Fenced, so a model reading instructions from the text never mistakes the map for them.
        parts.append(
            f"Repository map (files and their top-level definitions):\n```text\n{map_text}\n```"
        )
    if files:
        parts.append("Current files:\n\n" + render_files(files))
    if focus:
        parts.append(f"The user is working on {focus}.")
    return "\n\n".join(parts)


_FENCED_BLOCK = re.compile(r"^(`{3,})[^\n]*\n.*?^\1[ \t]*$", re.M | re.S)


def without_code(reply: str) -> str:
    """A past reply with its fenced blocks left out: the files have changed since, the current
    ones are shown, and stale edit blocks would only mislead the model."""
    return _FENCED_BLOCK.sub("(code omitted: see the current files)", reply)


_QUESTION = re.compile(r"\?[\s)\"'*_]*$", re.M)


def asks_question(reply: str) -> bool:
    """Whether a reply (without edits) asks the user something."""
    return bool(_QUESTION.search(without_code(reply)))


def fixer_turn(problems: list[Problem], edit_report: str | None, files: dict[str, str]) -> str:
    """The user turn that shows the fixer exactly what went wrong and the files as they are."""
    parts = []
    if edit_report:
        parts.append(edit_report)
    if problems:
        listed = "\n".join(problem.render() for problem in problems)
        parts.append(f"Your edit left these errors:\n{listed}")
    parts.append(
        "Fix them with edit blocks against the current content of the files below "
        "(it already includes every edit that applied)."
    )
    if files:
        parts.append(render_files(files))
    return "\n\n".join(parts)


def redo_turn(request: str, reasoning: str, files: dict[str, str]) -> str:
    """The user turn that sends a rejected change back to the coder, from the original files."""
    return (
        f"A reviewer rejected that change: {reasoning}\n\nStart again from the original files "
        f"below; your earlier edits were discarded.\n\n{render_files(files)}\n\nRequest: {request}"
    )


def evaluator_turn(request: str, edits: list[str], diff: str, extra: str = "") -> str:
    """The review prompt: the request, the edit replies and the resulting diff."""
    shown = "\n\n".join(edits)
    if len(diff) > MAX_SHOWN_FILE_CHARS:
        diff = diff[:MAX_SHOWN_FILE_CHARS] + "\n... (diff truncated)\n"
    return (
        f"{REVIEW_MARKER}\nRequest: {request}\n\nThe coder's edits:\n\n{shown}\n\n"
        f"The resulting diff:\n```diff\n{diff}```\n{extra}"
    )
