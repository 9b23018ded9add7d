"""Rendering unified diffs between two versions of a file."""

from __future__ import annotations

import difflib


def render_unified_diff(old: str, new: str, path: str, context: int = 3) -> str:
    """A unified diff from `old` to `new` with `a/` and `b/` headers ("" when they are equal)."""
    if old == new:
        return ""
    old_lines = old.splitlines(keepends=True)
    new_lines = new.splitlines(keepends=True)
    out: list[str] = []
    for line in difflib.unified_diff(
        old_lines,
        new_lines,
        fromfile=f"a/{path}" if old else "/dev/null",
        tofile=f"b/{path}" if new else "/dev/null",
        n=context,
    ):
        if line.endswith("\n"):
            out.append(line)
        else:
            out.append(line + "\n\\ No newline at end of file\n")
    return "".join(out)
