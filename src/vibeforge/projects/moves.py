"""Renames inside a multi-file change: checked before any git work, resolved to contents at
the head the change is written on, and described in the default commit message."""

from __future__ import annotations

from collections.abc import Mapping

from vibeforge.errors import Conflict, InvalidInput, NotFound
from vibeforge.projects.git import GitRepository


def check_moves(moves: Mapping[str, str], written: Mapping[str, bytes | None]) -> None:
    """Refuse renames that cannot be one change: onto themselves, two onto one target, or
    touching a path the same change also writes or deletes."""
    if len(set(moves.values())) != len(moves):
        raise InvalidInput("two renames have the same target")
    for source, target in moves.items():
        if source == target:
            raise InvalidInput(f"{source!r} is renamed onto itself")
        for path in (source, target):
            if path in written:
                raise InvalidInput(f"{path!r} is both renamed and written or deleted")


def moved_contents(
    repo: GitRepository, head: str, moves: Mapping[str, str]
) -> dict[str, bytes | None]:
    """What the renames change at `head`: each target gets its source's bytes, each source
    not also a target is deleted (so `a -> b, b -> a` swaps)."""
    contents = {}
    for source, target in moves.items():
        if repo.entry(head, source) is None:
            raise NotFound(f"no file {source!r}")
        if target not in moves and repo.entry(head, target) is not None:
            raise Conflict(f"{target!r} exists; rename onto a free path")
        contents[target] = repo.read(head, source)
    staged: dict[str, bytes | None] = {source: None for source in moves}
    staged.update(contents)
    return staged


def default_message(written: Mapping[str, bytes | None], moves: Mapping[str, str]) -> str:
    """`Update a, b; Delete c; Rename d to e`: what the change does, for its commit."""
    updated = sorted(path for path, data in written.items() if data is not None)
    deleted = sorted(path for path, data in written.items() if data is None)
    renamed = [f"{source} to {target}" for source, target in sorted(moves.items())]
    parts = [
        f"{verb} {_listed(items)}"
        for verb, items in (("Update", updated), ("Delete", deleted), ("Rename", renamed))
        if items
    ]
    return "; ".join(parts) or "Update"


def _listed(items: list[str], most: int = 10) -> str:
    """A few names in full; beyond that a count (a commit message is not a manifest)."""
    if len(items) <= most:
        return ", ".join(items)
    return f"{', '.join(items[:3])} and {len(items) - 3} more"
