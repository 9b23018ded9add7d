"""Three-way merges of a proposal's files onto a newer head, with git's own merge.

When the project has moved on since a proposal was made, each changed file is merged three-way
with `git merge-file` (base = the file at the proposal's base, ours = the head, theirs = the
proposal) on temporary files: git's merge is the one users already trust, and it refuses
overlapping changes instead of guessing.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from vibeforge.errors import Conflict, InvalidPath, NotFound
from vibeforge.projects.git import GitRepository


def _read(repo: GitRepository, rev: str, path: str) -> str | None:
    try:
        return repo.read(rev, path).decode("utf-8")
    except (NotFound, InvalidPath, UnicodeDecodeError):
        return None


def merge_text(base: str, ours: str, theirs: str) -> tuple[str, bool]:
    """Three-way merge of one file's text; returns the result and whether it is clean."""
    with tempfile.TemporaryDirectory(prefix="vf-merge-") as scratch:
        paths = []
        for name, text in (("ours", ours), ("base", base), ("theirs", theirs)):
            path = Path(scratch) / name
            path.write_text(text, encoding="utf-8")
            paths.append(str(path))
        result = subprocess.run(
            ["git", "merge-file", "-p", "--quiet", *paths],
            capture_output=True,
            timeout=60,
            check=False,
        )
    if result.returncode < 0 or result.returncode > 127:
        raise Conflict("git merge-file failed")
    return result.stdout.decode("utf-8", "replace"), result.returncode == 0


def three_way(
    repo: GitRepository, base: str, head: str, files: dict[str, str | None]
) -> tuple[dict[str, str | None], list[str]]:
    """The changes to write on `head` so it gets the proposal's edits, and the paths that
    conflict (blocking)."""
    changes: dict[str, str | None] = {}
    conflicts: list[str] = []
    for path, theirs in files.items():
        original, ours = _read(repo, base, path), _read(repo, head, path)
        if ours == original:
            changes[path] = theirs  # the head did not touch this file
        elif ours == theirs:
            continue  # the head already holds exactly this change
        elif theirs is None or ours is None:
            conflicts.append(path)  # deleted on one side, changed on the other
        else:
            merged, clean = merge_text(original or "", ours, theirs)
            if clean:
                changes[path] = merged
            else:
                conflicts.append(path)
    return changes, conflicts
