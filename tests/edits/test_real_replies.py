"""What real model replies do that synthetic faults do not: each failure class, on literals.

The principle: when the SEARCH matches exactly, the result is the REPLACE byte for byte;
tolerance only helps to find the place, and the report says what it adjusted.
"""

from __future__ import annotations

import pytest

from vibeforge.edits import EditError, apply_edit, apply_edit_reported

FUNCTION = "def f(x):\n    y = x + 1\n\n    return y\n"


def sr(search: str, replace: str, path: str = "m.py", fence: tuple[str, str] | None = None) -> str:
    opener, closer = fence or ("```python", "```")
    return (
        f"{path}\n{opener}\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n{closer}\n"
    )


# -- whitespace-only lines, trailing spaces: the REPLACE as written --------------------------


def test_an_indented_blank_line_of_the_replace_is_kept_as_written() -> None:
    replace = "    y = x + 2\n    \n    return y\n"
    result = apply_edit(FUNCTION, sr("    y = x + 1\n\n    return y\n", replace), path="m.py")
    assert result == "def f(x):\n" + replace


def test_an_empty_line_of_the_replace_empties_the_files_indented_blank_line() -> None:
    original = "def f(x):\n    y = x + 1\n    \n    return y\n"
    search = "    y = x + 1\n    \n    return y\n"
    replace = "    y = x + 2\n\n    return y\n"
    assert apply_edit(original, sr(search, replace), path="m.py") == "def f(x):\n" + replace


def test_trailing_spaces_the_replace_writes_or_drops_are_honoured() -> None:
    original = "# Title  \nline one  \nline two\n"
    search = "# Title  \nline one  \nline two\n"
    replace = "# Title\nline one  \nline two  \n"
    assert apply_edit(original, sr(search, replace, "notes.md"), path="notes.md") == replace


def test_an_edit_that_only_strips_trailing_spaces_is_not_a_no_op() -> None:
    original = "x = 1   \ny = 2\n"
    result = apply_edit(original, sr("x = 1   \n", "x = 1\n"), path="m.py")
    assert result == "x = 1\ny = 2\n"


def test_a_tolerated_match_keeps_unchanged_lines_as_the_file_has_them() -> None:
    original = "def f(x):\n    y = x + 1\n    \n    return y\n"
    # The model wrote the indented blank line empty: it is context, so the file's stays.
    edit = sr("    y = x + 1\n\n    return y\n", "    y = x + 2\n\n    return y\n")
    result, reports = apply_edit_reported(original, edit, path="m.py")
    assert result == original.replace("x + 1", "x + 2")
    assert reports[0].reason == "matched with trailing whitespace ignored"


def test_lines_the_search_matched_exactly_take_the_replaces_whitespace() -> None:
    original = "a = 1   \nb = 2\n\nc = 3\n"
    # `a = 1` lacks the file's trailing spaces (tolerated); the other lines match exactly,
    # so where the REPLACE writes them otherwise (trailing spaces, an indented blank) it wins.
    edit = sr("a = 1\nb = 2\n\nc = 3\n", "a = 1\nb = 2  \n  \nc = 4\n")
    assert apply_edit(original, edit, path="m.py") == "a = 1   \nb = 2  \n  \nc = 4\n"


def test_a_shifted_block_is_reindented_whole_and_the_report_says_by_how_much() -> None:
    original = "class A:\n    def f(self):\n        y = 1\n        return y\n"
    edit = sr("def f(self):\n    y = 1\n", "def f(self):\n    y = 2  \n    \n    z = y\n")
    result, reports = apply_edit_reported(original, edit, path="m.py")
    assert result == (
        "class A:\n    def f(self):\n        y = 2  \n        \n        z = y\n        return y\n"
    )
    assert "re-indented by +4 columns" in reports[0].reason


# -- fences: every kind Aider and others use ------------------------------------------------

FENCES = [
    ("```python", "```"),
    ("````python", "````"),
    ("~~~python", "~~~"),
    ("~~~", "~~~"),
    ("<source>python", "</source>"),
    ("<code>", "</code>"),
    ("<pre>", "</pre>"),
    ("<codeblock>python", "</codeblock>"),
    ("<sourcecode>", "</sourcecode>"),
]


@pytest.mark.parametrize(("opener", "closer"), FENCES)
def test_a_whole_file_in_any_fence_is_the_file_without_its_fence_lines(
    opener: str, closer: str
) -> None:
    new = FUNCTION.replace("x + 1", "x + 2")
    reply = f"Here is the file:\n\nm.py\n{opener}\n{new}{closer}\n\nDone.\n"
    assert apply_edit(FUNCTION, reply, path="m.py") == new
    assert apply_edit(FUNCTION, reply, fmt="whole", path="m.py") == new


@pytest.mark.parametrize(("opener", "closer"), FENCES)
def test_search_replace_blocks_in_any_fence(opener: str, closer: str) -> None:
    edit = sr("    y = x + 1\n", "    y = x + 2\n", fence=(opener, closer))
    assert apply_edit(FUNCTION, edit, path="m.py") == FUNCTION.replace("x + 1", "x + 2")


def test_a_diff_in_a_tag_fence_ends_at_its_closing_tag() -> None:
    reply = (
        "m.py\n<source>diff\n--- a/m.py\n+++ b/m.py\n@@ -1,2 +1,2 @@\n def f(x):\n"
        "-    y = x + 1\n+    y = x + 2\n</source>\n\nThat is the change.\n"
    )
    assert apply_edit(FUNCTION, reply, path="m.py") == FUNCTION.replace("x + 1", "x + 2")


def test_a_markdown_file_in_a_tag_fence_keeps_its_backtick_fences() -> None:
    readme = "# Use\n\n```\npip install x\n```\n\nMore text.\n"
    new = readme.replace("More text.", "Even more text.")
    reply = f"README.md\n<source>markdown\n{new}</source>\n"
    assert apply_edit(readme, reply, path="README.md") == new


def test_four_backticks_hold_a_file_with_triple_backtick_lines() -> None:
    readme = "Intro\n\n```\ncode\n```\n"
    new = readme + "\nOutro\n"
    assert apply_edit(readme, f"README.md\n````\n{new}````\n", path="README.md") == new


def test_a_raw_html_file_with_pre_lines_is_not_cut_at_them() -> None:
    page = "<html>\n<body>\n<pre>\nkept\n</pre>\n</body>\n</html>\n"
    new = page.replace("kept", "changed")
    assert apply_edit(page, new, fmt="whole", path="index.html") == new


def test_an_rst_underline_under_a_file_name_like_title_is_not_a_fence() -> None:
    original = "Intro\n=====\n\nsetup\n~~~~~\n\nText.\n"
    new = original.replace("Text.", "More text.")
    assert apply_edit(original, new, fmt="whole", path="doc.rst") == new


# -- the final newline ------------------------------------------------------------------------


def test_rewriting_the_last_line_of_a_file_without_final_newline_ends_it() -> None:
    result, reports = apply_edit_reported("a = 1\nb = 2", sr("b = 2\n", "b = 3\n"), path="m.py")
    assert result == "a = 1\nb = 3\n"
    assert "now ends with a newline" in reports[0].reason


def test_an_edit_away_from_the_end_keeps_a_missing_final_newline() -> None:
    assert apply_edit("a = 1\nb = 2", sr("a = 1\n", "a = 0\n"), path="m.py") == "a = 0\nb = 2"


def test_removing_a_trailing_blank_line_with_the_last_lines() -> None:
    original = "a = 1\nb = 2\n\n"
    assert apply_edit(original, sr("b = 2\n\n", "b = 3\n"), path="m.py") == "a = 1\nb = 3\n"


DIFF_HEAD = "--- a/m.py\n+++ b/m.py\n@@ -1,2 +1,2 @@\n"


def test_a_diff_saying_no_newline_at_end_of_file_is_obeyed() -> None:
    diff = DIFF_HEAD + " a = 1\n-b = 2\n+b = 3\n\\ No newline at end of file\n"
    assert apply_edit("a = 1\nb = 2\n", diff, path="m.py") == "a = 1\nb = 3"


def test_a_diff_reaching_the_end_without_the_marker_ends_the_file_with_a_newline() -> None:
    diff = DIFF_HEAD + " a = 1\n-b = 2\n\\ No newline at end of file\n+b = 3\n"
    assert apply_edit("a = 1\nb = 2", diff, path="m.py") == "a = 1\nb = 3\n"


def test_a_fenced_whole_file_ends_with_a_newline_even_if_the_original_did_not() -> None:
    assert apply_edit("a = 1", "m.py\n```python\na = 2\n```\n", path="m.py") == "a = 2\n"


def test_a_fenced_whole_file_with_a_trailing_blank_line_keeps_it() -> None:
    assert apply_edit("a = 1\n", "```python\na = 2\n\n```\n", path="m.py") == "a = 2\n\n"


# -- the markers --------------------------------------------------------------------------


def test_a_second_divider_before_the_end_marker_is_not_written() -> None:
    edit = (
        "m.py\n```python\n<<<<<<< SEARCH\n    y = x + 1\n=======\n    y = x + 2\n"
        "=======\n>>>>>>> REPLACE\n```\n"
    )
    result, reports = apply_edit_reported(FUNCTION, edit, path="m.py")
    assert result == FUNCTION.replace("x + 1", "x + 2")
    assert "=======" in reports[0].reason


def test_a_divider_line_is_kept_in_a_file_that_has_such_lines() -> None:
    original = "Title\n=======\n\nIntro\n"
    edit = sr("Intro\n", "Intro\n\nSection\n=======\n", "doc.md")
    assert apply_edit(original, edit, path="doc.md") == original + "\nSection\n=======\n"


def test_a_replace_ended_by_its_fence_without_the_end_marker() -> None:
    reply = (
        "m.py\n```python\n<<<<<<< SEARCH\n    y = x + 1\n=======\n    y = x + 2\n```\n\n"
        "n.py\n```python\n<<<<<<< SEARCH\nz = 1\n=======\nz = 2\n>>>>>>> REPLACE\n```\n"
    )
    result, reports = apply_edit_reported(FUNCTION, reply, path="m.py")
    assert result == FUNCTION.replace("x + 1", "x + 2")
    assert "closing fence" in reports[0].reason


def test_a_replace_holding_its_fence_line_before_the_end_marker_keeps_it() -> None:
    readme = "Intro\n"
    reply = (
        "README.md\n```\n<<<<<<< SEARCH\nIntro\n=======\nIntro\n```\nx\n```\n>>>>>>> REPLACE\n```\n"
    )
    assert apply_edit(readme, reply, path="README.md") == "Intro\n```\nx\n```\n"


def test_an_unterminated_block_outside_any_fence_is_still_refused() -> None:
    with pytest.raises(EditError, match="not terminated"):
        apply_edit(FUNCTION, "<<<<<<< SEARCH\n    y = x + 1\n=======\n    y = 2\n", path="m.py")


# -- empty listings ------------------------------------------------------------------------


def test_an_empty_fenced_listing_empties_the_file() -> None:
    assert apply_edit(FUNCTION, "m.py\n```python\n```\n", path="m.py") == ""


def test_an_empty_raw_reply_is_refused() -> None:
    with pytest.raises(EditError, match="empty"):
        apply_edit(FUNCTION, "\n\n", fmt="whole", path="m.py")


def test_an_unclosed_empty_listing_is_refused_as_truncated() -> None:
    with pytest.raises(EditError, match="truncated"):
        apply_edit(FUNCTION, "m.py\n```python\n", path="m.py")


# -- re-sent edits -------------------------------------------------------------------------

TWO = "def f():\n    pass\n\n\n\ndef g():\n    pass\n"


def test_a_resent_insertion_whose_blank_lines_were_reformatted_is_already_applied() -> None:
    edit = sr("def f():\n    pass\n", "def f():\n    pass\n\n\ndef g():\n    pass\n")
    result, reports = apply_edit_reported(TWO, edit, path="m.py")
    assert result == TWO
    assert reports[0].status == "already_applied"


def test_an_insertion_between_context_lines_is_not_taken_for_already_applied() -> None:
    original = "a = 1\nc = 3\n\nb = 2\n"
    edit = sr("a = 1\nc = 3\n", "a = 1\nb = 2\nc = 3\n")
    assert apply_edit(original, edit, path="m.py") == "a = 1\nb = 2\nc = 3\n\nb = 2\n"


def test_a_resent_edit_found_as_a_line_tail_is_already_applied() -> None:
    current = "def f(x):\n    value = compute(x)\n    log(value)\n    return value\n"
    edit = sr("compute(x)\n", "compute(x)\n    log(value)\n")
    assert apply_edit(current, edit, path="m.py") == current


def test_a_resent_dedented_edit_is_already_applied_not_ambiguous() -> None:
    current = "def f(x):\n    value = compute(x)\n    log(value)\n    return value\n"
    edit = sr("value = compute(x)\n", "value = compute(x)\nlog(value)\n")
    assert apply_edit(current, edit, path="m.py") == current


# -- indentation drift in diffs ---------------------------------------------------------------

CLASS = "class A:\n    def f(self):\n        x = 1\n        y = 2\n        return x\n"


def test_a_diff_whose_context_lost_its_prefix_space_applies_at_the_removed_lines_indent() -> None:
    diff = (
        "--- a/m.py\n+++ b/m.py\n@@ -2,4 +2,5 @@\n    def f(self):\n         x = 1\n"
        "-        y = 2\n+        y = 3\n+        z = 4\n        return x\n"
    )
    result, reports = apply_edit_reported(CLASS, diff, path="m.py")
    assert result == CLASS.replace("y = 2\n", "y = 3\n        z = 4\n")
    assert "differs line by line" in reports[0].reason


def test_a_drifting_diff_with_a_typo_is_still_refused() -> None:
    diff = (
        "--- a/m.py\n+++ b/m.py\n@@ -2,4 +2,4 @@\n    def f(self):\n         x = 1\n"
        "-        y = 22\n+        y = 3\n        return x\n"
    )
    with pytest.raises(EditError):
        apply_edit(CLASS, diff, path="m.py")


def test_a_drifting_diff_that_fits_two_places_is_ambiguous() -> None:
    twice = CLASS + "\n\n" + CLASS.replace("class A", "class B")
    diff = (
        "--- a/m.py\n+++ b/m.py\n@@ @@\n    def f(self):\n         x = 1\n"
        "-        y = 2\n+        y = 3\n        return x\n"
    )
    with pytest.raises(EditError, match="ambiguous"):
        apply_edit(twice, diff, path="m.py")


# -- prose is not a file ---------------------------------------------------------------------


def test_a_prose_reply_without_a_format_is_not_a_whole_file() -> None:
    with pytest.raises(EditError, match="no edit"):
        apply_edit(FUNCTION, "Sorry, I can't do that.", path="m.py")


def test_a_raw_file_under_its_path_line_is_still_a_whole_file() -> None:
    new = FUNCTION.replace("x + 1", "x + 2")
    assert apply_edit(FUNCTION, "m.py\n" + new, path="m.py") == new


# -- how replies name files, and blank lines around insertions ------------------------------


def test_markdown_headings_name_the_files_of_the_blocks_under_them() -> None:
    reply = (
        "### `m.py`\n\n```python\n<<<<<<< SEARCH\n    y = x + 1\n=======\n    y = x + 2\n"
        ">>>>>>> REPLACE\n```\n\n### other.py\n\n```python\n<<<<<<< SEARCH\n    return y\n"
        "=======\n    return -y\n>>>>>>> REPLACE\n```\n"
    )
    # The second block's SEARCH also fits m.py, but its heading names another file.
    assert apply_edit(FUNCTION, reply, path="m.py") == FUNCTION.replace("x + 1", "x + 2")


def test_a_fence_whose_info_string_is_the_path() -> None:
    reply = (
        "```python pkg/m.py\n<<<<<<< SEARCH\n    y = x + 1\n=======\n    y = x + 2\n"
        ">>>>>>> REPLACE\n```\n"
    )
    assert apply_edit(FUNCTION, reply, path="pkg/m.py") == FUNCTION.replace("x + 1", "x + 2")
    with pytest.raises(EditError, match="no block"):
        apply_edit(FUNCTION, reply, path="pkg/n.py")


def test_an_insertion_where_the_model_wrote_fewer_blank_lines_than_the_file_has() -> None:
    original = "def f():\n    return 1\n\n\ndef g():\n    return 2\n"
    search = "    return 1\n\ndef g():\n"
    replace = "    return 1\n\ndef h():\n    return 3\n\ndef g():\n"
    result = apply_edit(original, sr(search, replace), path="m.py")
    assert [line for line in result.split("\n") if line.strip()] == [
        "def f():",
        "    return 1",
        "def h():",
        "    return 3",
        "def g():",
        "    return 2",
    ]


def test_an_insertion_where_code_lines_are_missing_is_still_refused() -> None:
    original = "def f():\n    a = 1\n    b = 2\n    return a\n"
    with pytest.raises(EditError, match="missing right where"):
        apply_edit(
            original,
            sr("    a = 1\n    return a\n", "    a = 1\n    c = 3\n    return a\n"),
            path="m.py",
        )


def test_a_pure_insertion_whose_context_all_lost_its_space_keeps_the_added_indent() -> None:
    original = "class A:\n    def f(self):\n        '''Doc.'''\n        return 1\n"
    diff = (
        "--- a/m.py\n+++ b/m.py\n@@ -2,2 +2,3 @@\n    def f(self):\n"
        "+        log()\n        '''Doc.'''\n"
    )
    result, reports = apply_edit_reported(original, diff, path="m.py")
    assert result == original.replace("        '''", "        log()\n        '''")
    assert reports[0].reason == "matched with indentation ignored"


def test_a_deletion_with_a_misindented_search_line_is_not_taken_for_already_applied() -> None:
    original = "def f():\n    a()\n    if b:\n        c()\n    return d\n"
    # The model indented `if b:` one column off in SEARCH only.
    edit = sr("    a()\n     if b:\n        c()\n", "    if b:\n        c()\n")
    with pytest.raises(EditError):
        apply_edit(original, edit, path="m.py")
