"""Adapter for the edit corpus scorer (`score.py ... vibeforge.edits.corpus_adapter:apply`)."""

from __future__ import annotations

from vibeforge.edits.apply import apply_edit


def apply(original: str, edit: str, fmt: str, path: str) -> str:
    """Apply one corpus case; raising means refusing."""
    return apply_edit(original, edit, fmt=fmt, path=path)
