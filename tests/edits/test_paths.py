"""Every path the API accepts can be named in every edit format (spaces and all)."""

from __future__ import annotations

import os

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.agents.conftest import make_project, sr, verdict
from vibeforge.edits import EditError, apply_edit, apply_edits, parse_edits
from vibeforge.edits.path_lines import looks_like_path
from vibeforge.errors import InvalidPath
from vibeforge.llm.stub import StubLLMServer
from vibeforge.projects.paths import normalize_path

EXAMPLES = int(os.environ.get("EDITS_EXAMPLES", "60"))
OTHERS = {"app.py": "APP = 1\n", "pkg/util.py": "UTIL = 1\n"}


def sr_reply(path: str, search: str, replace: str) -> str:
    return f"{path}\n```python\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n```\n"


def whole_reply(path: str, content: str) -> str:
    return f"{path}\n```python\n{content}```\n"


def diff_reply(path: str, old: str, new: str) -> str:
    return f"```diff\n--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n-{old}+{new}```\n"


@pytest.mark.parametrize("reply", [sr_reply, whole_reply, diff_reply])
@pytest.mark.parametrize("path", ["sp ace.py", "my dir/notes (draft).md", "#1 plan.txt", " lead"])
def test_a_path_with_spaces_is_named_in_a_several_file_project(reply, path: str) -> None:  # type: ignore[no-untyped-def]
    files = {**OTHERS, path: "A = 1\n"}
    text = reply(path, "A = 1\n", "A = 2\n") if reply is not whole_reply else reply(path, "A = 2\n")
    assert apply_edits(files, text).files == {path: "A = 2\n"}
    assert apply_edit("A = 1\n", text, path=path) == "A = 2\n"


def test_a_git_quoted_diff_path_is_unquoted() -> None:
    files = {**OTHERS, "naïve file.py": "A = 1\n"}
    name = "na\\303\\257ve file.py"  # git's quoting of the UTF-8 bytes of "ï"
    reply = f'--- "a/{name}"\n+++ "b/{name}"\n@@ -1 +1 @@\n-A = 1\n+A = 2\n'
    assert apply_edits(files, reply).files == {"naïve file.py": "A = 2\n"}


def test_a_backticked_new_path_with_spaces_is_a_path_line() -> None:
    assert looks_like_path("`new file.py`") == "new file.py"
    assert looks_like_path("**`docs/read me.md`**:") == "docs/read me.md"
    result = apply_edits(OTHERS, sr_reply("`new file.py`", "", "N = 1\n"))
    assert result.files == {"new file.py": "N = 1\n"} and result.created == {"new file.py"}


def test_prose_with_spaces_is_not_taken_for_a_path() -> None:
    assert looks_like_path("Update app.py") is None
    assert looks_like_path("Here is `app.py`:") is None
    reply = "Update app.py as follows.\n\n" + sr_reply("app.py", "APP = 1\n", "APP = 2\n")
    assert [edit.path for edit in parse_edits(reply, known_paths=OTHERS)] == ["app.py"]


def test_a_known_path_line_never_lets_a_block_reach_another_file() -> None:
    files = {**OTHERS, "sp ace.py": "A = 1\n"}
    with pytest.raises(EditError, match="does not match"):
        apply_edits(files, sr_reply("sp ace.py", "APP = 1\n", "APP = 2\n"))


# Characters the API accepts in a path component, spaces and punctuation included.
_NAME_CHARS = st.sampled_from(list("abcXYZ019 _-.()[]#!&',+=@~é中`*\"<>:"))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.text(_NAME_CHARS, min_size=1, max_size=12), min_size=1, max_size=3),
    st.sampled_from(["sr", "whole", "udiff"]),
)
def test_any_path_the_api_accepts_is_addressable(parts: list[str], fmt: str) -> None:
    try:
        path = normalize_path("/".join(parts))
    except InvalidPath:
        assume(False)
        return
    assume(path not in OTHERS and not path.startswith(("a/", "b/")))
    assume(not any(part.strip(".") == "" for part in path.split("/")))
    files = {**OTHERS, path: "A = 1\n"}
    # A name that reads as a fence (`~~~`) is written in backticks on its path line.
    line = f"`{path}`" if path.lstrip().startswith(("~~~", "```")) else path
    if fmt == "sr":
        reply = sr_reply(line, "A = 1\n", "A = 2\n")
    elif fmt == "whole":
        reply = whole_reply(line, "A = 2\n")
    else:
        reply = diff_reply(path, "A = 1\n", "A = 2\n")
    assert apply_edits(files, reply).files == {path: "A = 2\n"}


# -- through the pipeline: the agent edits such a file -----------------------------------------


async def test_the_agent_edits_a_file_whose_path_has_a_space(
    client: httpx.AsyncClient, stub: StubLLMServer
) -> None:
    files = {"app.py": "APP = 1\n", "sp ace.py": "A = 1\n", "lib/b.py": "B = 1\n"}
    project = await make_project(client, stub, files)
    stub.script(sr("sp ace.py", "A = 1\n", "A = 2\n"), verdict(True, message="Bump A"))
    answer = await project.say("set A to 2")
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "success", answer.json()
    assert await project.read("sp ace.py") == "A = 2\n"
    assert await project.read("app.py") == "APP = 1\n"
