"""Checks on the trees a write builds: the layout before, and exactly the asked-for contents
after (git drops some paths without failing, so what it built is compared with what was asked).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from vibeforge.errors import Conflict, InvalidPath, NotFound, Unavailable

if TYPE_CHECKING:
    from vibeforge.projects.git import TreeEntry


class GitError(Unavailable):
    """git failed in a way the caller did not cause."""

    code = "git_error"


def ignored_paths(stderr: bytes) -> list[str]:
    """The paths `git update-index` reported dropping (it still exits 0)."""
    prefix = "Ignoring path "
    text = stderr.decode("utf-8", "replace")
    return [line[len(prefix) :] for line in text.splitlines() if line.startswith(prefix)]


def verify_tree(
    existing: Mapping[str, TreeEntry],
    wanted: Mapping[str, str | None],
    written: Mapping[str, TreeEntry],
) -> None:
    """Refuse a new tree that is not `existing` with `wanted` applied, path for path and blob
    for blob: git may drop a path without failing, and a version must hold what was asked."""
    for path, blob in wanted.items():
        found = written.get(path)
        if blob is None:
            if found is not None:
                raise GitError(f"git kept {path!r}, which this change deletes; nothing was saved")
        elif found is None:
            raise InvalidPath(f"git refused the path {path!r}; nothing was saved")
        elif found.blob != blob or found.mode != "100644":
            raise GitError(f"git stored other content at {path!r}; nothing was saved")
    expected = {p: (e.blob, e.mode) for p, e in existing.items() if p not in wanted}
    actual = {p: (e.blob, e.mode) for p, e in written.items() if p not in wanted}
    if actual != expected:
        changed = sorted(set(actual.items()) ^ set(expected.items()))
        raise GitError(
            f"git changed {changed[0][0]!r}, which this change does not touch; nothing was saved"
        )


def check_layout(existing: Mapping[str, TreeEntry], changes: Mapping[str, bytes | None]) -> None:
    """Refuse writes that would turn a file into a directory or the other way round."""
    directories = {
        path.rsplit("/", i)[0] for path in existing for i in range(1, path.count("/") + 1)
    }
    for path, content in changes.items():
        if content is None:
            if path not in existing:
                raise NotFound(f"no file {path!r}")
            continue
        if path in directories:
            raise Conflict(f"{path!r} is a directory")
        parts = path.split("/")
        for depth in range(1, len(parts)):
            prefix = "/".join(parts[:depth])
            if prefix in existing and prefix not in changes:
                raise Conflict(f"{prefix!r} is a file, so {path!r} cannot be created")
        entry = existing.get(path)
        if entry is not None and entry.mode == "120000":
            raise InvalidPath(f"{path!r} is a symbolic link; links are not followed")
