"""Multi-file replies, reports, paths, diff rendering and the `edit apply` command."""

from __future__ import annotations

from pathlib import Path

import pytest

from vibeforge.edits import (
    EditError,
    apply_edit,
    apply_edits,
    detect_format,
    parse_edits,
    render_unified_diff,
)
from vibeforge.edits.cli import main
from vibeforge.edits.path_lines import header_names, looks_like_path, resolve_path
from vibeforge.errors import InvalidInput

FILES = {"pkg/a.py": "import os\n\nA = 1\n", "pkg/b.py": "import sys\n\nB = 2\n"}


def sr(path: str, search: str, replace: str) -> str:
    return f"{path}\n```python\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n```\n"


def test_parse_edits_splits_a_reply_per_file() -> None:
    reply = sr("pkg/a.py", "A = 1\n", "A = 10\n") + sr("pkg/b.py", "B = 2\n", "B = 20\n")
    edits = parse_edits(reply)
    assert [(e.path, e.fmt, len(e.hunks)) for e in edits] == [
        ("pkg/a.py", "search-replace", 1),
        ("pkg/b.py", "search-replace", 1),
    ]
    assert "<<<<<<< SEARCH" in edits[0].body


def test_detect_format() -> None:
    assert detect_format(sr("x.py", "a\n", "b\n")) == "search-replace"
    assert detect_format("--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n") == "udiff"
    assert detect_format("print('hello')\n") == "whole"


def test_apply_edits_changes_creates_and_deletes_together() -> None:
    reply = (
        sr("pkg/a.py", "A = 1\n", "A = 10\n")
        + sr("pkg/new.py", "", "NEW = True\n")
        + "```diff\n--- a/pkg/b.py\n+++ /dev/null\n@@ -1,3 +0,0 @@\n-import sys\n-\n-B = 2\n```\n"
    )
    result = apply_edits(FILES, reply)
    assert result.files == {"pkg/a.py": "import os\n\nA = 10\n", "pkg/new.py": "NEW = True\n"}
    assert result.created == {"pkg/new.py"}
    assert result.deleted == {"pkg/b.py"}


def test_apply_edits_is_all_or_nothing() -> None:
    reply = sr("pkg/a.py", "A = 1\n", "A = 10\n") + sr("pkg/b.py", "C = 3\n", "C = 4\n")
    with pytest.raises(EditError) as caught:
        apply_edits(FILES, reply)
    assert caught.value.path == "pkg/b.py"


def test_edit_error_is_an_invalid_input_with_code_and_status() -> None:
    with pytest.raises(EditError) as caught:
        apply_edit("A = 1\n", sr("a.py", "A = 2\n", "A = 3\n"), path="a.py")
    error = caught.value
    assert isinstance(error, InvalidInput)
    assert (error.code, error.status) == ("edit_failed", 422)
    assert error.failed[0].reason == "the search text does not match any lines in the file"
    assert "A = 2" in error.detail and "A = 1" in error.detail


def test_ambiguous_report_names_the_count() -> None:
    with pytest.raises(EditError, match="ambiguous: the search text matches 2 places"):
        apply_edit("x = 1\ny = 2\nx = 1\n", sr("a.py", "x = 1\n", "x = 0\n"), path="a.py")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("pkg/a.py", "pkg/a.py"),
        ("**pkg/a.py**", "pkg/a.py"),
        ("`pkg\\a.py`:", "pkg/a.py"),
        ("Makefile.am", "Makefile.am"),
        ("Here are the changes:", None),
        ("...", None),
        ("```python", None),
    ],
)
def test_looks_like_path(line: str, expected: str | None) -> None:
    assert looks_like_path(line) == expected


def test_path_variants_and_siblings() -> None:
    assert header_names("Lib/json/decoder.py", "json/decoder.py")
    assert header_names("b/json/decoder.py", "json/decoder.py")
    assert header_names("decoder.py", "json/decoder.py")
    assert not header_names("json/encoder.py", "json/decoder.py")
    assert resolve_path("decoder.py", ["json/decoder.py", "json/encoder.py"]) == "json/decoder.py"
    assert resolve_path("x.py", ["a/x.py", "b/x.py"]) is None


def test_render_unified_diff_round_trips() -> None:
    old, new = "a\nb\nc\n", "a\nB\nc\nd\n"
    diff = render_unified_diff(old, new, "f.txt")
    assert diff.startswith("--- a/f.txt\n+++ b/f.txt\n")
    assert apply_edit(old, diff, path="f.txt") == new
    assert render_unified_diff(old, old, "f.txt") == ""


def test_cli_prints_the_new_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "a.py"
    target.write_text("A = 1\n")
    edit = tmp_path / "reply.md"
    edit.write_text(sr("a.py", "A = 1\n", "A = 2\n"))
    assert main(["apply", str(target), str(edit), "--path", "a.py"]) == 0
    assert capsys.readouterr().out == "A = 2\n"


def test_cli_refusal_exits_3_with_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "a.py"
    target.write_text("A = 1\n")
    edit = tmp_path / "reply.md"
    edit.write_text(sr("a.py", "A = 5\n", "A = 2\n"))
    assert main(["apply", str(target), str(edit), "--format", "search-replace"]) == 3
    captured = capsys.readouterr()
    assert captured.out == "" and "does not match" in captured.err
