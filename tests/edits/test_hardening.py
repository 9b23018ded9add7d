"""Patterns found by a held-out corpus built from other files: each once, on literal strings."""

from __future__ import annotations

import pytest

from vibeforge.edits import EditError, apply_edit

TWINS = """\
class A:
    def run(self):
        total = 0
        total += 1
        return total


class B:
    def run(self):
        total = 0
        total += 1
        return total
"""


def sr(search: str, replace: str, path: str = "m.py") -> str:
    return f"{path}\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n"


def udiff(body: str, header: str, path: str = "m.py") -> str:
    return f"--- a/{path}\n+++ b/{path}\n{header}\n{body}"


def test_dedented_first_line_deleted_is_not_taken_for_already_applied() -> None:
    original = "def f(y):\n    g = y - 1\n    b = y + 1\n    return b\n"
    edit = sr("g = y - 1\n    b = y + 1\n", "b = y + 1\n")
    assert apply_edit(original, edit, path="m.py") == original.replace("    g = y - 1\n", "")


def test_line_tail_that_also_occurs_mid_line_is_ambiguous() -> None:
    original = "def f(x):\n    get = x.text.get\n    return x.text.get(1)\n"
    with pytest.raises(EditError, match="ambiguous"):
        apply_edit(original, sr("x.text.get\n", "x.text.get2\n"), path="m.py")


def test_partial_line_search_that_is_unique_still_applies() -> None:
    original = "def f(x):\n    get = x.text.get\n    return 1\n"
    edit = sr("x.text.get\n", "x.text.fetch\n")
    assert apply_edit(original, edit, path="m.py") == original.replace(".get\n", ".fetch\n")


def test_diff_whose_new_side_sits_at_its_header_line_is_not_applied_elsewhere() -> None:
    # The file already has the change in A; the old side still exists in B.
    current = TWINS.replace("        total += 1\n", "        total += 2\n", 1)
    body = "     def run(self):\n         total = 0\n-        total += 1\n+        total += 2\n"
    with pytest.raises(EditError, match="already at the line"):
        apply_edit(current, udiff(body, "@@ -2,3 +2,3 @@"), path="m.py")


def test_dedented_diff_matching_other_code_exactly_refuses_when_header_names_a_place() -> None:
    original = "def f():\n    x = 1\n    y = 2\n    if x:\n        x = 1\n        y = 2\n"
    body = "     x = 1\n-    y = 2\n+    y = 3\n"  # written 4 columns left of lines 5-6
    with pytest.raises(EditError, match="ambiguous"):
        apply_edit(original, udiff(body, "@@ -5,2 +5,2 @@"), path="m.py")


def test_tabs_prefer_the_place_with_the_same_indentation() -> None:
    original = "def f(a):\n    if a:\n        a = 1\n    return a\n\n\nif a:\n    a = 1\n"
    edit = sr("\tif a:\n\t\ta = 1\n", "\tif a:\n\t\ta = 2\n")
    assert apply_edit(original, edit, path="m.py") == original.replace(
        "        a = 1\n", "        a = 2\n"
    )


def test_half_applied_reply_is_refused() -> None:
    current = TWINS.replace("class A:\n", "class A:\n    name = 'a'\n")
    edit = sr("class A:\n", "class A:\n    name = 'a'\n") + sr(
        "        return total\n\n\nclass B:\n", "        return total + 1\n\n\nclass B:\n"
    )
    with pytest.raises(EditError, match="already applied and others are not"):
        apply_edit(current, edit, path="m.py")


def test_elision_alignments_that_write_the_same_file_are_not_ambiguous() -> None:
    original = (
        "def t(self):\n    p = 1\n    test(False)\n    q = 2\n    test(False)\n\n"
        "def u(self):\n    pass\n"
    )
    body = (
        " def t(self):\n     p = 1\n     ...\n     test(False)\n \n"
        "+def t2(self):\n+    pass\n+\n def u(self):\n"
    )
    expected = original.replace("def u(", "def t2(self):\n    pass\n\ndef u(")
    assert apply_edit(original, udiff(body, "@@ -1,8 +1,11 @@"), path="m.py") == expected


def test_header_off_by_a_dropped_first_context_line_picks_the_near_place() -> None:
    original = (
        "class P:\n    def __init__(self, r):\n        assert r\n        self.r = r\n"
        "        self.c = None\n\n\nclass Q:\n\n    def __init__(self, r):\n"
        "        assert r\n        self.r = f(r)\n        self.c = None\n"
    )
    # Header names line 8 (`class Q:`), which the model then left out.
    body = (
        "\n     def __init__(self, r):\n+        log(r)\n"
        "         assert r\n         self.c = None\n"
    )
    at = original.rindex("        assert r")
    expected = original[:at] + "        log(r)\n" + original[at:]
    assert apply_edit(original, udiff(body, "@@ -8,4 +8,5 @@"), path="m.py") == expected


def test_two_hunks_on_the_same_lines_refuse_cleanly() -> None:
    original = "a = 1\nb = 2\nc = 3\n"
    body = "@@ -1,2 +1,2 @@\n-a = 1\n+a = 5\n b = 2\n@@ -1,2 +1,2 @@\n-a = 1\n+a = 6\n b = 2\n"
    with pytest.raises(EditError, match="change the same lines"):
        apply_edit(original, f"--- a/m.py\n+++ b/m.py\n{body}", path="m.py")


def test_rst_tilde_underline_in_a_raw_whole_file_is_not_a_fence() -> None:
    original = '"""\npkg/mod\n~~~~~~~\n\nDocs.\n"""\nX = 1\n'
    new = original.replace("X = 1", "X = 2")
    assert apply_edit(original, new, fmt="whole", path="pkg/mod.py") == new


def test_quoted_first_line_of_a_raw_whole_file_is_a_docstring_not_a_path() -> None:
    original = '"pkg.filelist"\n\nimport os\nX = 1\n'
    new = original.replace("X = 1", "X = 2")
    assert apply_edit(original, new, fmt="whole", path="pkg/filelist.py") == new


def test_markdown_example_inside_a_fenced_whole_file_does_not_close_it() -> None:
    original = '"""Use it.\n\n```python\nrun()\n```\n"""\nX = 1\n'
    new = original.replace("X = 1", "X = 2")
    reply = f"pkg/m.py\n```python\n{new}```\n"
    assert apply_edit(original, reply, fmt="whole", path="pkg/m.py") == new


def test_dedented_one_line_search_also_inside_another_line_is_ambiguous() -> None:
    original = "def f(g):\n    g[\n        1\n    ]\n    return g[2]\n"
    with pytest.raises(EditError, match="ambiguous"):
        apply_edit(original, sr("g[\n", "g[  # one\n"), path="m.py")


def test_cut_first_line_with_a_line_added_above_it_is_not_reindented_twice() -> None:
    original = "def f(value):\n    '''Doc.'''\n    return value or 0\n\n\nX = 1\n"
    edit = sr("return value or 0\n\n", "log('f')\n    return value or 0\n\n")
    with pytest.raises(EditError, match="tail of a line"):
        apply_edit(original, edit, path="m.py")


def test_elision_that_already_hides_the_added_function_is_refused() -> None:
    current = (
        "def a(x):\n    return x\n\n\ndef a_safe(x):\n    return a(x)\n\n\n"
        "def b(y):\n    return a(y)\n"
    )
    search = "def a(x):\n    # ... rest unchanged ...\n\n\ndef b(y):\n"
    replace = (
        "def a(x):\n    # ... rest unchanged ...\n\n\ndef a_safe(x):\n    return a(x)\n\n\n"
        "def b(y):\n"
    )
    with pytest.raises(EditError, match="inside the elided code"):
        apply_edit(current, sr(search, replace), path="m.py")


def test_prose_between_two_unfenced_diff_sections_is_not_context() -> None:
    original = "def f():\n    return 1\n\n\ndef g():\n    pass\n"
    reply = (
        "--- a/m.py\n+++ b/m.py\n@@ -1,5 +1,5 @@\n def f():\n-    return 1\n+    return 2\n \n \n"
        " def g():\n\nHere is the diff:\n\n```diff\n--- a/n.py\n+++ b/n.py\n@@ -1,1 +1,1 @@\n"
        "-x = 1\n+x = 2\n```\n"
    )
    assert apply_edit(original, reply, path="m.py") == original.replace("return 1", "return 2")
