"""Property-based tests: exact, re-sent, benignly damaged and ambiguous edits."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from vibeforge.edits import EditError, apply_edit, render_unified_diff

EXAMPLES = int(os.environ.get("EDITS_EXAMPLES", "60"))  # raise it for a long local run
SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def files(draw: st.DrawFn, min_lines: int = 6) -> list[str]:
    """Lines of a small program: distinct statements at varied indentation, some blank."""
    count = draw(st.integers(min_lines, 30))
    lines: list[str] = []
    depth = 0
    for number in range(count):
        # No runs of blank lines: deleting one line of a run longer than the diff's context
        # is indistinguishable from a fresh edit when re-sent (see docs/edits.md).
        if number and lines[-1] and draw(st.integers(0, 6)) == 0:
            lines.append("")
            continue
        # Like real code, a line is nested at most one level deeper than the one before.
        depth = draw(st.integers(0, min(3, depth + 1)))
        value = draw(st.integers(0, 99))
        lines.append("    " * depth + f"item_{number} = compute({value})")
    return lines


@st.composite
def changes(draw: st.DrawFn) -> tuple[str, str, list[str], list[str], int]:
    """An original file, the changed file, and the changed region's old and new lines."""
    lines = draw(files())
    start = draw(st.integers(0, len(lines) - 1))
    end = draw(st.integers(start, min(len(lines), start + 4)))
    inserted = [
        "    " * draw(st.integers(0, 3)) + f"added_{k} = {draw(st.integers(0, 9))}"
        for k in range(draw(st.integers(0, 3)))
    ]
    assume(inserted or end > start)
    new_lines = lines[:start] + inserted + lines[end:]
    return "\n".join(lines) + "\n", "\n".join(new_lines) + "\n", lines, new_lines, start


def search_replace(
    old_lines: list[str],
    new_lines: list[str],
    start: int,
    old_end: int,
    new_end: int,
    path: str = "pkg/mod.py",
) -> str:
    """A block with one line of context on each side when there is one."""
    low = max(0, start - 1)
    search = old_lines[low : old_end + 1]
    replace = new_lines[low : new_end + 1]
    body = "".join(line + "\n" for line in search)
    repl = "".join(line + "\n" for line in replace)
    return f"{path}\n```python\n<<<<<<< SEARCH\n{body}=======\n{repl}>>>>>>> REPLACE\n```\n"


def _block_for(change: tuple[str, str, list[str], list[str], int]) -> str:
    lines, new_lines = change[2], change[3]
    removed = len(lines) - len(new_lines)
    # Find the changed region from both ends, then widen by one line of context.
    prefix = 0
    while prefix < min(len(lines), len(new_lines)) and lines[prefix] == new_lines[prefix]:
        prefix += 1
    suffix = 0
    while (
        suffix < min(len(lines), len(new_lines)) - prefix
        and lines[-1 - suffix] == new_lines[-1 - suffix]
    ):
        suffix += 1
    assume(removed or prefix < len(lines))
    return search_replace(lines, new_lines, prefix, len(lines) - suffix, len(new_lines) - suffix)


@SETTINGS
@given(changes())
def test_exact_search_replace_gives_new(change: tuple[str, str, list[str], list[str], int]) -> None:
    original, new = change[0], change[1]
    assume(original != new)
    edit = _block_for(change)
    assume(any(line.strip() for line in edit.split("=======")[0].split("\n")[3:]))
    assert apply_edit(original, edit, path="pkg/mod.py") == new


@SETTINGS
@given(changes())
def test_exact_unified_diff_gives_new(change: tuple[str, str, list[str], list[str], int]) -> None:
    original, new = change[0], change[1]
    assume(original != new)
    diff = render_unified_diff(original, new, "pkg/mod.py")
    assert apply_edit(original, diff, path="pkg/mod.py") == new


@SETTINGS
@given(changes())
def test_resent_edit_leaves_the_file_unchanged(
    change: tuple[str, str, list[str], list[str], int],
) -> None:
    original, new = change[0], change[1]
    assume(original != new)
    diff = render_unified_diff(original, new, "pkg/mod.py")
    try:
        again = apply_edit(new, diff, path="pkg/mod.py")
    except EditError:
        return  # refusing a re-sent edit is safe; applying it twice is not
    assert again == new


def _damage(edit: str, fault: str) -> str:
    if fault == "crlf":
        return edit.replace("\n", "\r\n")
    if fault == "trailing":
        return "\n".join(
            line + "  " if line.startswith((" ", "item")) else line for line in edit.split("\n")
        )
    if fault == "indent":
        return "\n".join(
            "    " + line if ("item_" in line or "added_" in line) else line
            for line in edit.split("\n")
        )
    if fault == "tabs":
        return "\n".join(_tabs(line) for line in edit.split("\n"))
    if fault == "prose":
        return "Here is the change you asked for:\n\n" + edit + "\nThat is all.\n"
    return edit.replace("pkg/mod.py", "./src/pkg/mod.py", 1)


def _tabs(line: str) -> str:
    stripped = line.lstrip(" ")
    width = len(line) - len(stripped)
    return "\t" * (width // 4) + " " * (width % 4) + stripped


@SETTINGS
@given(changes(), st.sampled_from(["crlf", "trailing", "indent", "tabs", "prose", "path"]))
def test_benign_faults_still_give_new(
    change: tuple[str, str, list[str], list[str], int], fault: str
) -> None:
    original, new = change[0], change[1]
    assume(original != new)
    edit = _block_for(change)
    search = edit.split("=======")[0]
    assume(any(line.strip() for line in search.split("\n")[3:]))
    # Tabs can only be told apart from the file's spaces when the file indents somewhere.
    assume(fault != "tabs" or any(line.startswith(" ") for line in change[2]))
    try:
        result = apply_edit(original, _damage(edit, fault), path="pkg/mod.py")
    except EditError as error:
        # Without its indentation a short block may honestly match more than one place.
        assert fault in ("indent", "tabs") and "ambiguous" in error.detail
        return
    assert result == new


@SETTINGS
@given(files(), st.integers(0, 3), st.integers(1, 3))
def test_ambiguous_edit_is_always_refused(lines: list[str], at: int, length: int) -> None:
    segment = [f"    repeated_{k}()" for k in range(length)]
    original_lines = lines[:at] + segment + lines[at:] + segment
    original = "\n".join(original_lines) + "\n"
    body = "".join(line + "\n" for line in segment)
    edit = f"<<<<<<< SEARCH\n{body}=======\n{body}    extra()\n>>>>>>> REPLACE\n"
    with pytest.raises(EditError, match="ambiguous"):
        apply_edit(original, edit)
