"""Path normalisation keeps every path inside the project."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vibeforge.errors import InvalidPath
from vibeforge.projects.paths import MAX_PATH_BYTES, normalize_path


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("main.py", "main.py"),
        ("./src//app.py", "src/app.py"),
        ("a/./b/c.txt", "a/b/c.txt"),
        ("dir/", "dir"),
        ("ünïcode/файл.py", "ünïcode/файл.py"),
        ("with space.py", "with space.py"),
        (".gitignore", ".gitignore"),
        ("docs/.github/x.yml", "docs/.github/x.yml"),
    ],
)
def test_accepted_paths_are_canonical(raw: str, expected: str) -> None:
    assert normalize_path(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        ".",
        "./",
        "/etc/passwd",
        "../secret",
        "a/../../b",
        "a/..",
        "C:/windows",
        "a\\b.py",
        "nul\x00byte",
        "line\nbreak",
        ".git/config",
        "sub/.git/hooks/pre-commit",
        ".GIT/HEAD",
        "x" * 256,
        "a/" * 600 + "b",
    ],
)
def test_unsafe_paths_are_refused(raw: str) -> None:
    with pytest.raises(InvalidPath):
        normalize_path(raw)


components = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/\\\x00"),
    min_size=1,
    max_size=20,
)


@given(st.lists(st.one_of(components, st.sampled_from(["..", ".", "", ".git"])), max_size=8))
def test_normalised_paths_never_escape(parts: list[str]) -> None:
    raw = "/".join(parts)
    try:
        path = normalize_path(raw)
    except InvalidPath:
        return
    segments = path.split("/")
    assert not path.startswith("/")
    assert ".." not in segments and "." not in segments and "" not in segments
    assert all(segment.lower() != ".git" for segment in segments)
    assert len(path.encode()) <= MAX_PATH_BYTES
    assert normalize_path(path) == path


@given(st.text(max_size=60))
def test_any_string_is_normalised_or_refused_cleanly(raw: str) -> None:
    try:
        path = normalize_path(raw)
    except InvalidPath:
        return
    assert normalize_path(path) == path
