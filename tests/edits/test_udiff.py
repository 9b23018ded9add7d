"""Unified diffs: loose headers, wrong numbers and counts, lost prefixes, context mistakes."""

from __future__ import annotations

import pytest

from vibeforge.edits import EditError, apply_edit

ORIGINAL = "".join(f"line {n}\n" for n in range(1, 21)).replace(
    "line 10\n", "def target():\n    value = 1\n\n    return value\n"
)
EXPECTED = ORIGINAL.replace("    value = 1\n", "    value = 2\n")


def diff(body: str, header: str = "@@ -10,4 +10,4 @@", path: str = "pkg/mod.py") -> str:
    return f"```diff\n--- a/{path}\n+++ b/{path}\n{header}\n{body}```\n"


BODY = " line 9\n def target():\n-    value = 1\n+    value = 2\n \n"


def test_exact_diff_applies() -> None:
    assert apply_edit(ORIGINAL, diff(BODY), path="pkg/mod.py") == EXPECTED


def test_wrong_line_numbers_are_ignored_when_context_is_unique() -> None:
    assert apply_edit(ORIGINAL, diff(BODY, "@@ -3,9 +3,2 @@"), path="pkg/mod.py") == EXPECTED


@pytest.mark.parametrize("header", ["@@ ... @@", "@@ @@", "@@ -0,0 +0,0 @@"])
def test_missing_line_numbers(header: str) -> None:
    assert apply_edit(ORIGINAL, diff(BODY, header), path="pkg/mod.py") == EXPECTED


def test_missing_leading_spaces_on_blank_and_column_zero_lines() -> None:
    body = "line 9\ndef target():\n-    value = 1\n+    value = 2\n\n     return value\n"
    assert apply_edit(ORIGINAL, diff(body), path="pkg/mod.py") == EXPECTED


def test_dropped_context_line_is_kept() -> None:
    body = " line 8\n def target():\n-    value = 1\n+    value = 2\n"
    assert apply_edit(ORIGINAL, diff(body), path="pkg/mod.py") == EXPECTED


def test_invented_blank_context_line_is_not_added() -> None:
    body = " line 9\n\n def target():\n-    value = 1\n+    value = 2\n"
    assert apply_edit(ORIGINAL, diff(body), path="pkg/mod.py") == EXPECTED


def test_insertion_next_to_dropped_context_is_refused() -> None:
    body = " line 8\n+inserted\n def target():\n"
    with pytest.raises(EditError, match="missing right where lines are added"):
        apply_edit(ORIGINAL, diff(body), path="pkg/mod.py")


def test_unprefixed_diff_without_fence_or_a_b() -> None:
    edit = "--- pkg/mod.py\n+++ pkg/mod.py\n@@ -10,4 +10,4 @@\n" + BODY
    assert apply_edit(ORIGINAL, edit, path="pkg/mod.py") == EXPECTED


def test_duplicate_context_is_resolved_by_correct_line_numbers_only() -> None:
    original = "a\nx = 1\nb\na\nx = 1\nb\n"
    body = " a\n-x = 1\n+x = 2\n b\n"
    assert apply_edit(original, diff(body, "@@ -4,3 +4,3 @@"), path="pkg/mod.py") == (
        "a\nx = 1\nb\na\nx = 2\nb\n"
    )
    with pytest.raises(EditError, match="ambiguous"):
        apply_edit(original, diff(body, "@@ ... @@"), path="pkg/mod.py")


def test_out_of_order_hunks_refer_to_the_original() -> None:
    body = " line 19\n-line 20\n+line twenty\n@@ -1,2 +1,2 @@\n-line 1\n+line one\n line 2\n"
    result = apply_edit(ORIGINAL, diff(body, "@@ -22,2 +22,2 @@"), path="pkg/mod.py")
    assert result.startswith("line one\n") and result.endswith("line twenty\n")


def test_new_file_from_dev_null() -> None:
    edit = "--- /dev/null\n+++ b/pkg/new.py\n@@ -0,0 +1,2 @@\n+a = 1\n+b = 2\n"
    assert apply_edit("", edit, path="pkg/new.py") == "a = 1\nb = 2\n"


def test_new_file_over_an_existing_different_file_is_refused() -> None:
    edit = "--- /dev/null\n+++ b/pkg/mod.py\n@@ -0,0 +1,1 @@\n+a = 1\n"
    with pytest.raises(EditError, match="already exists"):
        apply_edit(ORIGINAL, edit, path="pkg/mod.py")


def test_removing_every_line_gives_an_empty_file() -> None:
    original = "a = 1\nb = 2\n"
    edit = "--- a/pkg/mod.py\n+++ b/pkg/mod.py\n@@ -1,2 +0,0 @@\n-a = 1\n-b = 2\n"
    assert apply_edit(original, edit, path="pkg/mod.py") == ""


def test_already_applied_hunk_is_not_applied_twice() -> None:
    body = " def target():\n+    print('start')\n     value = 1\n"
    once = apply_edit(ORIGINAL, diff(body), path="pkg/mod.py")
    assert once.count("print('start')") == 1
    assert apply_edit(once, diff(body), path="pkg/mod.py") == once


def test_typo_in_removed_line_is_refused() -> None:
    body = " def target():\n-    valeu = 1\n+    value = 2\n"
    with pytest.raises(EditError, match="does not match"):
        apply_edit(ORIGINAL, diff(body), path="pkg/mod.py")


def test_overlapping_hunks_are_refused() -> None:
    body = " def target():\n-    value = 1\n+    value = 2\n"
    body += "@@ -11,1 +11,1 @@\n-    value = 1\n+    v = 3\n"
    with pytest.raises(EditError):
        apply_edit(ORIGINAL, diff(body), path="pkg/mod.py")
