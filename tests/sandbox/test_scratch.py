"""Scratch paths and project reading: nothing the caller hands over can point outside."""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vibeforge.errors import InvalidPath, PayloadTooLarge
from vibeforge.sandbox import read_tree
from vibeforge.sandbox.scratch import checked_relative_path, create_scratch, remove_scratch

segments = st.sampled_from(["a", "b", "..", ".", "", "/", "c.py", "..."])


@given(st.lists(segments, max_size=8).map("/".join))
def test_accepted_paths_stay_inside_the_scratch_directory(name: str) -> None:
    try:
        path = checked_relative_path(name)
    except InvalidPath:
        return
    joined = posixpath.normpath(posixpath.join("/scratch", str(path)))
    assert joined.startswith("/scratch/")


def test_scratch_holds_the_files_and_is_removed(tmp_path: Path) -> None:
    files = {checked_relative_path("a/b/c.txt"): b"c", checked_relative_path("top.py"): b"t"}
    root = create_scratch(files, owner=None)
    assert (root / "a/b/c.txt").read_bytes() == b"c"
    os.symlink(tmp_path, root / "link")  # what a program might leave behind
    (tmp_path / "keep").write_text("keep")
    remove_scratch(root)
    assert not root.exists()
    assert (tmp_path / "keep").read_text() == "keep"


def test_read_tree_copies_a_project_without_git(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src/main.py").write_text("print(1)")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git/config").write_text("secret remote")
    os.symlink("src/main.py", tmp_path / "alias.py")  # a link inside the project is a copy
    assert read_tree(tmp_path) == {"alias.py": b"print(1)", "src/main.py": b"print(1)"}


@pytest.mark.parametrize("target", ["/etc/passwd", "../outside.txt"])
def test_read_tree_refuses_a_file_link_out_of_the_project(tmp_path: Path, target: str) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (tmp_path / "outside.txt").write_text("host secret")
    os.symlink(target, project / "innocent.txt")
    with pytest.raises(InvalidPath):
        read_tree(project)


def test_read_tree_refuses_a_directory_link_out_of_the_project(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    os.symlink("/etc", project / "config")
    with pytest.raises(InvalidPath):
        read_tree(project)


def test_read_tree_caps_the_total_size(tmp_path: Path) -> None:
    (tmp_path / "big.bin").write_bytes(b"x" * 2000)
    with pytest.raises(PayloadTooLarge):
        read_tree(tmp_path, max_bytes=1000)
