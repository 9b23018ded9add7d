"""The edit engine: parse LLM edit replies, locate them safely in files, apply or refuse."""

from vibeforge.edits.apply import apply_edit, apply_edit_reported, apply_edits, select_edits
from vibeforge.edits.diff import render_unified_diff
from vibeforge.edits.errors import EditError
from vibeforge.edits.model import BlockReport, EditResult, FileEdit, Hunk, Op
from vibeforge.edits.parse import detect_format, parse_edits

__all__ = [
    "BlockReport",
    "EditError",
    "EditResult",
    "FileEdit",
    "Hunk",
    "Op",
    "apply_edit",
    "apply_edit_reported",
    "apply_edits",
    "detect_format",
    "parse_edits",
    "render_unified_diff",
    "select_edits",
]
