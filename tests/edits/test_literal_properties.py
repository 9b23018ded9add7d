"""Properties of the literal principle: an exact SEARCH gives its REPLACE byte for byte, and
the wrapping a reply comes in (fence kind, a repeated divider, a missing end marker) changes
nothing."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from vibeforge.edits import EditError, apply_edit

EXAMPLES = int(os.environ.get("EDITS_EXAMPLES", "60"))
SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

FENCES = [
    ("```", "```"),
    ("````", "````"),
    ("~~~", "~~~"),
    ("<source>", "</source>"),
    ("<code>", "</code>"),
    ("<pre>", "</pre>"),
    ("<codeblock>", "</codeblock>"),
    ("<sourcecode>", "</sourcecode>"),
]

# Whitespace a model may leave on a line: none, spaces, a tab.
_PADDING = st.sampled_from(["", "", " ", "  ", "    ", "\t"])


@st.composite
def programs(draw: st.DrawFn) -> list[str]:
    """Distinct code lines at varied indentation, with blank and whitespace-only lines."""
    lines: list[str] = []
    for number in range(draw(st.integers(3, 25))):
        if lines and lines[-1].strip() and draw(st.integers(0, 4)) == 0:
            lines.append(draw(_PADDING))  # a blank line, maybe indented
        lines.append("    " * draw(st.integers(0, 2)) + f"line_{number} = {number}")
    return lines


@st.composite
def new_text(draw: st.DrawFn) -> list[str]:
    """REPLACE lines: new code with trailing spaces, whitespace-only and empty lines."""
    lines = []
    for number in range(draw(st.integers(0, 5))):
        kind = draw(st.integers(0, 3))
        if kind == 0:
            lines.append(draw(_PADDING))
        else:
            body = f"new_{number} = {draw(st.integers(0, 9))}"
            lines.append("    " * draw(st.integers(0, 2)) + body + draw(_PADDING).strip("\t"))
    return lines


def _block(search: list[str], replace: list[str], fence: tuple[str, str]) -> str:
    body = "".join(line + "\n" for line in search)
    new = "".join(line + "\n" for line in replace)
    return f"m.py\n{fence[0]}\n<<<<<<< SEARCH\n{body}=======\n{new}>>>>>>> REPLACE\n{fence[1]}\n"


@SETTINGS
@given(
    programs(),
    new_text(),
    st.data(),
    st.booleans(),
    st.sampled_from(FENCES),
)
def test_an_exact_search_gives_the_replace_byte_for_byte(
    lines: list[str],
    replace: list[str],
    data: st.DataObject,
    final_newline: bool,
    fence: tuple[str, str],
) -> None:
    start = data.draw(st.integers(0, len(lines) - 1))
    end = data.draw(st.integers(start + 1, min(len(lines), start + 4)))
    search = lines[start:end]
    assume(any(line.strip() for line in search))
    original = "\n".join(lines) + ("\n" if final_newline else "")
    new_lines = lines[:start] + replace + lines[end:]
    # The REPLACE's lines end with newlines: replacing the file's last line ends the file.
    ends = final_newline or end == len(lines)
    expected = "\n".join(new_lines) + ("\n" if ends and new_lines else "")
    assert apply_edit(original, _block(search, replace, fence), path="m.py") == expected


@SETTINGS
@given(programs(), new_text(), st.data(), st.sampled_from(FENCES))
def test_a_repeated_divider_or_a_missing_end_marker_changes_nothing(
    lines: list[str], replace: list[str], data: st.DataObject, fence: tuple[str, str]
) -> None:
    start = data.draw(st.integers(0, len(lines) - 1))
    search = lines[start : start + data.draw(st.integers(1, 3))]
    assume(any(line.strip() for line in search))
    original = "\n".join(lines) + "\n"
    plain = _block(search, replace, fence)
    expected = apply_edit(original, plain, path="m.py")
    doubled = plain.replace("\n>>>>>>> REPLACE\n", "\n=======\n>>>>>>> REPLACE\n")
    unended = plain.replace(f">>>>>>> REPLACE\n{fence[1]}\n", f"{fence[1]}\n\nDone.\n")
    assert apply_edit(original, doubled, path="m.py") == expected
    assert apply_edit(original, unended, path="m.py") == expected


@st.composite
def listings(draw: st.DrawFn) -> tuple[str, tuple[str, str]]:
    """A file's text and a fence that does not clash with it, as Aider chooses one."""
    lines = draw(programs())
    if draw(st.booleans()):
        # A Markdown-like file holding triple-backtick fences of its own.
        at = draw(st.integers(0, len(lines)))
        lines[at:at] = ["```python", "inner = 1", "```"]
    text = "".join(line + "\n" for line in lines)
    fence = draw(st.sampled_from(FENCES))
    assume(not any(line in fence for line in text.split("\n")))
    return text, fence


@SETTINGS
@given(listings(), st.sampled_from(["", "Here is the updated file:\n\n"]), st.booleans())
def test_a_fenced_whole_file_is_exactly_its_listing(
    listing: tuple[str, tuple[str, str]], prose: str, lacked_newline: bool
) -> None:
    text, (opener, closer) = listing
    original = "old = 1\nold = 2" + ("" if lacked_newline else "\n")
    reply = f"{prose}m.py\n{opener}\n{text}{closer}\n\nThat is all.\n"
    assert apply_edit(original, reply, path="m.py") == text
    assert apply_edit(original, reply, fmt="whole", path="m.py") == text


@SETTINGS
@given(programs(), st.data(), st.integers(0, 2))
def test_a_resent_insertion_never_lands_twice(
    lines: list[str], data: st.DataObject, blanks: int
) -> None:
    at = data.draw(st.integers(1, len(lines)))
    context = lines[max(0, at - 2) : at]
    assume(any(line.strip() for line in context))
    added = ["", "def added():", "    return 1"]
    search = "".join(line + "\n" for line in context)
    replace = search + "".join(line + "\n" for line in added)
    edit = f"m.py\n```\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n```\n"
    original = "\n".join(lines) + "\n"
    try:
        once = apply_edit(original, edit, path="m.py")
    except EditError:
        return
    # A formatter then changes the blank lines before the added function.
    reformatted = once.replace("\ndef added():", "\n" * blanks + "\ndef added():", 1)
    try:
        again = apply_edit(reformatted, edit, path="m.py")
    except EditError:
        return  # refusing a re-sent edit is safe; applying it twice is not
    assert again == reformatted
