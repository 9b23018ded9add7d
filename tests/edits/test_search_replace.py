"""Search/replace blocks: each fault kind models make, on literal strings."""

from __future__ import annotations

import pytest

from vibeforge.edits import EditError, apply_edit

ORIGINAL = """\
import os


class Greeter:
    def greet(self, name):
        if not name:
            return "hello"
        return "hello " + name

    def part(self, name):
        return name.split()[0]


def main():
    print(Greeter().greet(os.getlogin()))
"""


def block(search: str, replace: str, path: str = "app/greeter.py") -> str:
    return f"{path}\n```python\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n```\n"


def test_exact_block_applies() -> None:
    edit = block('            return "hello"\n', '            return "hi"\n')
    assert apply_edit(ORIGINAL, edit, path="app/greeter.py") == ORIGINAL.replace(
        'return "hello"\n', 'return "hi"\n'
    )


def test_prose_and_bare_block_without_fence() -> None:
    edit = (
        "Here is the change:\n\napp/greeter.py\n<<<<<<< SEARCH\n"
        '            return "hello"\n=======\n            return "hi"\n>>>>>>> REPLACE\n'
    )
    assert 'return "hi"' in apply_edit(ORIGINAL, edit, path="app/greeter.py")


def test_crlf_reply_keeps_lf_file() -> None:
    edit = block('            return "hello"\n', '            return "hi"\n').replace("\n", "\r\n")
    result = apply_edit(ORIGINAL, edit, path="app/greeter.py")
    assert "\r" not in result and 'return "hi"' in result


def test_crlf_file_keeps_crlf() -> None:
    original = ORIGINAL.replace("\n", "\r\n")
    edit = block('            return "hello"\n', '            return "hi"\n')
    result = apply_edit(original, edit, path="app/greeter.py")
    assert result == original.replace('return "hello"\r\n', 'return "hi"\r\n')


def test_indent_shift_is_reindented_to_the_file() -> None:
    edit = block(
        '    if not name:\n        return "hello"\n',
        "    if not name:\n        raise ValueError(name)\n",
    )
    result = apply_edit(ORIGINAL, edit, path="app/greeter.py")
    assert "        if not name:\n            raise ValueError(name)\n" in result


def test_tabs_become_the_files_spaces() -> None:
    edit = block('\t\tif not name:\n\t\t\treturn "hello"\n', '\t\tif not name:\n\t\t\treturn ""\n')
    result = apply_edit(ORIGINAL, edit, path="app/greeter.py")
    assert '        if not name:\n            return ""\n' in result


def test_trailing_whitespace_does_not_leak_into_untouched_lines() -> None:
    edit = block(
        '        if not name:   \n            return "hello"\n',
        '        if not name:   \n            return "hi"\n',
    )
    result = apply_edit(ORIGINAL, edit, path="app/greeter.py")
    assert result == ORIGINAL.replace('return "hello"', 'return "hi"')


def test_elision_marker_in_both_sides_keeps_elided_code() -> None:
    edit = block(
        "    def greet(self, name):\n        # ... existing code ...\n"
        '        return "hello " + name\n',
        "    def greet(self, name):\n        # ... existing code ...\n"
        '        return "hello, " + name\n',
    )
    result = apply_edit(ORIGINAL, edit, path="app/greeter.py")
    assert result == ORIGINAL.replace('"hello " + name', '"hello, " + name')


def test_out_of_order_blocks_apply() -> None:
    edit = block("def main():\n", "def main() -> None:\n") + block(
        "import os\n", "import os\nimport sys\n"
    )
    result = apply_edit(ORIGINAL, edit, path="app/greeter.py")
    assert result.startswith("import os\nimport sys\n") and "def main() -> None:" in result


def test_path_variants_name_the_same_file() -> None:
    for header in ("./app/greeter.py", "src/app/greeter.py", "greeter.py", "app\\greeter.py"):
        edit = block("def main():\n", "def main() -> None:\n", path=header)
        assert "def main() -> None:" in apply_edit(ORIGINAL, edit, path="app/greeter.py")


def test_wrong_path_is_refused() -> None:
    edit = block("def main():\n", "def main() -> None:\n", path="app/farewell.py")
    with pytest.raises(EditError, match="no block"):
        apply_edit(ORIGINAL, edit, path="app/greeter.py")


def test_other_files_blocks_are_ignored_even_when_they_match() -> None:
    edit = block("import os\n", "import os\nimport re\n", path="app/other.py") + block(
        "def main():\n", "def main() -> None:\n"
    )
    result = apply_edit(ORIGINAL, edit, path="app/greeter.py")
    assert "import re" not in result and "def main() -> None:" in result


def test_already_applied_edit_is_left_alone() -> None:
    edit = block("import os\n", "import os\nimport sys\n")
    once = apply_edit(ORIGINAL, edit, path="app/greeter.py")
    assert apply_edit(once, edit, path="app/greeter.py") == once


def test_ambiguous_search_is_refused() -> None:
    original = "def a():\n    return 1\n\n\ndef b():\n    return 1\n"
    with pytest.raises(EditError, match="ambiguous"):
        apply_edit(original, block("    return 1\n", "    return 2\n"), path="app/greeter.py")


def test_typo_in_search_is_refused_with_closest_lines() -> None:
    edit = block('            return "helo"\n', '            return "hi"\n')
    with pytest.raises(EditError) as caught:
        apply_edit(ORIGINAL, edit, path="app/greeter.py")
    report = caught.value.failed[0]
    assert 'return "hello"' in report.closest
    assert "does not match" in report.reason


def test_partial_first_line_is_applied_as_a_unique_substring() -> None:
    tail = "\n    def part(self, name):\n"
    edit = block('"hello " + name\n' + tail, '"hi " + name\n' + tail)
    result = apply_edit(ORIGINAL, edit, path="app/greeter.py")
    assert 'return "hi " + name' in result


def test_partial_line_repeated_as_a_substring_is_refused() -> None:
    original = "x = compute(name)\nif ready:\n    y = compute(name)\n"
    edit = block("compute(name)\n", "compute(other)\n")
    with pytest.raises(EditError, match="ambiguous"):
        apply_edit(original, edit, path="app/greeter.py")


def test_new_file_from_empty_search() -> None:
    edit = block("", "print('hi')\n", path="app/new.py")
    assert apply_edit("", edit, path="app/new.py") == "print('hi')\n"


def test_empty_search_on_an_existing_file_is_refused() -> None:
    edit = block("", "print('hi')\n")
    with pytest.raises(EditError, match="already exists"):
        apply_edit(ORIGINAL, edit, path="app/greeter.py")


def test_whole_file_search_with_empty_replace_empties_the_file() -> None:
    assert apply_edit(ORIGINAL, block(ORIGINAL, ""), path="app/greeter.py") == ""


def test_one_bad_block_refuses_the_whole_reply() -> None:
    edit = block("import os\n", "import sys\n") + block("def nope():\n", "def yes():\n")
    with pytest.raises(EditError) as caught:
        apply_edit(ORIGINAL, edit, path="app/greeter.py")
    assert [r.status for r in caught.value.reports] == ["applied", "failed"]
    assert "none of it was applied" in str(caught.value)


def test_unterminated_block_is_refused() -> None:
    edit = "app/greeter.py\n<<<<<<< SEARCH\nimport os\n=======\nimport sys\n"
    with pytest.raises(EditError, match="not terminated"):
        apply_edit(ORIGINAL, edit, path="app/greeter.py")


def test_elision_comment_only_in_replace_is_refused() -> None:
    edit = block(
        "    def part(self, name):\n        return name.split()[0]\n",
        "    def part(self, name):\n        # ... existing code ...\n",
    )
    with pytest.raises(EditError, match="elision comment"):
        apply_edit(ORIGINAL, edit, path="app/greeter.py")


def test_elision_comment_only_in_search_is_refused() -> None:
    edit = block(
        "    def greet(self, name):\n        # ... existing code ...\n"
        '        return "hello " + name\n',
        "    def greet(self, name):\n        return name\n",
    )
    with pytest.raises(EditError, match="elision comment"):
        apply_edit(ORIGINAL, edit, path="app/greeter.py")


def test_respaced_code_inside_lines_still_matches() -> None:
    edit = block(
        "def main( ):\n    print(Greeter( ).greet(os.getlogin( )))\n", "def main():\n    pass\n"
    )
    assert apply_edit(ORIGINAL, edit, path="app/greeter.py").endswith("def main():\n    pass\n")


def test_joined_words_do_not_match() -> None:
    edit = block("defmain():\n", "def main() -> None:\n")
    with pytest.raises(EditError, match="does not match"):
        apply_edit(ORIGINAL, edit, path="app/greeter.py")
