"""Whole-file replies: fences, prose, elision comments, truncation and final newlines."""

from __future__ import annotations

import pytest

from vibeforge.edits import EditError, apply_edit

ORIGINAL = "".join(f"def f{n}():\n    return {n}\n\n\n" for n in range(12))


def test_raw_whole_file_without_final_newline_keeps_it() -> None:
    new = ORIGINAL.replace("return 3\n", "return 33\n")
    assert (
        apply_edit(ORIGINAL, new.rstrip("\n"), fmt="whole", path="m.py") == new.rstrip("\n") + "\n"
    )


def test_fenced_whole_file_with_path_and_prose() -> None:
    new = ORIGINAL.replace("return 3\n", "return 33\n")
    reply = f"Sure! Here it is:\n\nm.py\n```python\n{new}```\n\nThis keeps the rest.\n"
    assert apply_edit(ORIGINAL, reply, path="m.py") == new


def test_elision_comments_are_filled_from_the_original() -> None:
    lines = ORIGINAL.split("\n")
    new_lines = [*lines[:4], "# ... existing code ...", *lines[36:]]
    new_lines[-4] = "    return 110"
    reply = "```python\n" + "\n".join(new_lines) + "```\n"
    assert apply_edit(ORIGINAL, reply, path="m.py") == ORIGINAL.replace(
        "return 11\n", "return 110\n"
    )


def test_trailing_rest_of_file_comment() -> None:
    kept = ["def f0():", "    return 100", "", "", "def f1():"]
    reply = "\n".join([*kept, "    # rest of the code unchanged"])
    assert apply_edit(ORIGINAL, reply, fmt="whole", path="m.py") == ORIGINAL.replace(
        "return 0\n", "return 100\n", 1
    )


def test_truncated_fence_is_refused() -> None:
    reply = "m.py\n```python\n" + ORIGINAL[: len(ORIGINAL) // 2]
    with pytest.raises(EditError, match="truncated"):
        apply_edit(ORIGINAL, reply, fmt="whole", path="m.py")


def test_whole_file_for_another_path_is_refused() -> None:
    with pytest.raises(EditError, match="no block"):
        apply_edit(ORIGINAL, f"other.py\n```python\n{ORIGINAL}```\n", fmt="whole", path="m.py")


def test_picks_this_files_fence_among_several() -> None:
    new = ORIGINAL.replace("return 5\n", "return 55\n")
    reply = f"other.py\n```python\nx = 1\n```\n\nm.py\n```python\n{new}```\n"
    assert apply_edit(ORIGINAL, reply, fmt="whole", path="m.py") == new


def test_crlf_reply_is_written_with_the_files_endings() -> None:
    new = ORIGINAL.replace("return 5\n", "return 55\n")
    reply = "```python\n" + new.replace("\n", "\r\n") + "```\r\n"
    assert apply_edit(ORIGINAL, reply, fmt="whole", path="m.py") == new
