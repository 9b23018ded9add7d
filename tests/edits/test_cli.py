"""`vibeforge edit apply`: prose is refused, never written; --in-place writes atomically."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vibeforge.edits.cli import main, write_atomically

ORIGINAL = "def f():\n    return 1\n"
BLOCK = (
    "a.py\n```python\n<<<<<<< SEARCH\n    return 1\n=======\n    return 2\n>>>>>>> REPLACE\n```\n"
)


def _files(tmp_path: Path, reply: str, original: str = ORIGINAL) -> tuple[Path, Path]:
    target = tmp_path / "a.py"
    target.write_text(original, newline="")
    edit = tmp_path / "reply.md"
    edit.write_text(reply)
    return target, edit


def _vibeforge(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vibeforge.cli", "edit", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("reply", ["Sorry, I can't do that.", "I would rename it.\n\nThanks!\n"])
def test_a_prose_reply_is_refused_and_prints_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], reply: str
) -> None:
    target, edit = _files(tmp_path, reply)
    assert main(["apply", str(target), str(edit)]) == 3
    captured = capsys.readouterr()
    assert captured.out == "" and "no edit" in captured.err
    assert target.read_text() == ORIGINAL


def test_a_fenced_file_without_format_is_applied(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target, edit = _files(tmp_path, "Here it is:\n\n```python\ndef f():\n    return 3\n```\n")
    assert main(["apply", str(target), str(edit)]) == 0
    assert capsys.readouterr().out == "def f():\n    return 3\n"


def test_in_place_writes_the_file_and_reports_on_stderr(tmp_path: Path) -> None:
    target, edit = _files(tmp_path, BLOCK.replace("    return", "  return"))
    target.chmod(0o640)
    done = _vibeforge("apply", str(target), str(edit), "--path", "a.py", "--in-place")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert target.read_text() == "def f():\n    return 2\n"
    assert "re-indented by +2 columns" in done.stderr and f"wrote {target}" in done.stderr
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.py", "reply.md"]


def test_in_place_refusal_leaves_the_file_untouched(tmp_path: Path) -> None:
    target, edit = _files(tmp_path, BLOCK.replace("return 1", "return 9", 1))
    before = target.stat().st_mtime_ns
    done = _vibeforge("apply", str(target), str(edit), "--in-place")
    assert done.returncode == 3
    assert "does not match" in done.stderr
    assert target.read_text() == ORIGINAL and target.stat().st_mtime_ns == before


def test_in_place_from_stdin_keeps_crlf_endings(tmp_path: Path) -> None:
    target, _ = _files(tmp_path, "", ORIGINAL.replace("\n", "\r\n"))
    done = _vibeforge("apply", str(target), "-", "--in-place", stdin=BLOCK)
    assert done.returncode == 0, done.stderr
    assert target.read_bytes() == b"def f():\r\n    return 2\r\n"


def test_in_place_creates_a_new_file_with_ordinary_permissions(tmp_path: Path) -> None:
    target = tmp_path / "new.py"
    edit = tmp_path / "reply.md"
    edit.write_text("new.py\n```python\n<<<<<<< SEARCH\n=======\nX = 1\n>>>>>>> REPLACE\n```\n")
    assert main(["apply", str(target), str(edit), "--in-place"]) == 0
    assert target.read_text() == "X = 1\n"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_an_atomic_write_that_fails_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "a.py"
    target.write_text(ORIGINAL)
    with pytest.raises(UnicodeEncodeError):
        write_atomically(target, "bad \udcff surrogate\n")
    assert target.read_text() == ORIGINAL
    assert [p.name for p in tmp_path.iterdir()] == ["a.py"]


def test_an_unchanged_result_is_not_rewritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target, edit = _files(tmp_path, BLOCK, "def f():\n    return 2\n")
    before = target.stat().st_mtime_ns
    assert main(["apply", str(target), str(edit), "--in-place"]) == 0
    assert "unchanged" in capsys.readouterr().err
    assert target.stat().st_mtime_ns == before
