"""Every commit holds exactly what the write asked for, or no version is made."""

from pathlib import Path

import pytest

from tests.hostile_paths import fsck_strict
from vibeforge.errors import InvalidPath
from vibeforge.projects import git as git_module
from vibeforge.projects.git import GitRepository, ObjectCache, TreeEntry
from vibeforge.projects.treecheck import GitError, ignored_paths, verify_tree

AUTHOR = "Ada <ada@example.com>"
# Names git drops at update-index time, exiting 0 (its NTFS guard is on by default).
DROPPED_BY_GIT = [".git./x", "GIT~1/config", ".GIT/HEAD", "a/.git /b", ".git::$INDEX_ALLOCATION/x"]


@pytest.fixture
def repo(tmp_path: Path) -> GitRepository:
    repository = GitRepository(tmp_path / "repo", ObjectCache())
    repository.init({"main.py": b"print(1)\n"}, "Create project", AUTHOR)
    return repository


@pytest.mark.parametrize("path", DROPPED_BY_GIT)
def test_a_write_git_drops_is_refused_and_makes_no_version(repo: GitRepository, path: str) -> None:
    head = repo.head()
    with pytest.raises(InvalidPath) as caught:
        repo.commit({path: b"data"}, message="m", author=AUTHOR, expected_head=head)
    assert (
        "git refused the path" in caught.value.detail and "nothing was saved" in caught.value.detail
    )
    assert repo.head() == head
    assert len(repo.log(head, limit=10)) == 1


def test_a_batch_with_one_dropped_path_saves_nothing(repo: GitRepository) -> None:
    head = repo.head()
    with pytest.raises(InvalidPath):
        repo.commit(
            {"ok.py": b"1", "GIT~1/hooks/post-checkout": b"#!/bin/sh\n", "main.py": None},
            message="m",
            author=AUTHOR,
            expected_head=head,
        )
    assert repo.head() == head
    assert head is not None and repo.read(head, "main.py") == b"print(1)\n"


@pytest.mark.parametrize("target", DROPPED_BY_GIT)
def test_a_rename_onto_a_dropped_name_keeps_the_file(repo: GitRepository, target: str) -> None:
    head = repo.head()
    assert head is not None
    with pytest.raises(InvalidPath):
        repo.rename("main.py", target, message="m", author=AUTHOR, expected_head=head)
    assert repo.head() == head
    assert repo.read(head, "main.py") == b"print(1)\n"


def test_the_tree_is_verified_even_when_git_prints_no_warning(
    repo: GitRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without the "Ignoring path" warning, the comparison of trees still catches the drop.
    monkeypatch.setattr(git_module, "ignored_paths", lambda stderr: [])
    head = repo.head()
    with pytest.raises(InvalidPath) as caught:
        repo.commit({".git./hooks/x": b"x"}, message="m", author=AUTHOR, expected_head=head)
    assert ".git./hooks/x" in caught.value.detail
    assert repo.head() == head


def test_git_warnings_are_read_from_its_own_output(repo: GitRepository) -> None:
    staged = repo._git(
        "update-index",
        "-z",
        "--index-info",
        input=f"100644 {'e' * 40}\t.GIT/x\0".encode(),
        extra_env={"GIT_INDEX_FILE": str(repo.path / "probe-index")},
    )
    assert ignored_paths(staged.stderr) == [".GIT/x"]


def _entries(**blobs: str) -> dict[str, TreeEntry]:
    return {path: TreeEntry(path, 1, "100644", blob) for path, blob in blobs.items()}


def test_verify_accepts_exactly_the_asked_for_tree() -> None:
    existing = _entries(a="1" * 40, b="2" * 40)
    written = _entries(a="1" * 40, c="3" * 40)
    verify_tree(existing, {"b": None, "c": "3" * 40}, written)


@pytest.mark.parametrize(
    ("written", "error", "words"),
    [
        (_entries(a="1" * 40), InvalidPath, "git refused the path 'c'"),
        (_entries(a="1" * 40, b="2" * 40, c="3" * 40), GitError, "git kept 'b'"),
        (_entries(a="1" * 40, c="4" * 40), GitError, "other content at 'c'"),
        (_entries(a="9" * 40, c="3" * 40), GitError, "git changed 'a'"),
        (_entries(c="3" * 40), GitError, "git changed 'a'"),
        (_entries(a="1" * 40, c="3" * 40, d="5" * 40), GitError, "git changed 'd'"),
    ],
)
def test_verify_refuses_any_other_tree(
    written: dict[str, TreeEntry], error: type[Exception], words: str
) -> None:
    existing = _entries(a="1" * 40, b="2" * 40)
    with pytest.raises(error) as caught:
        verify_tree(existing, {"b": None, "c": "3" * 40}, written)
    assert words in str(caught.value)


def test_a_mode_change_of_an_untouched_file_is_refused() -> None:
    existing = {"a": TreeEntry("a", 1, "100644", "1" * 40)}
    written = {"a": TreeEntry("a", 1, "100755", "1" * 40)}
    with pytest.raises(GitError):
        verify_tree(existing, {}, written)


def test_gitattributes_git_cannot_parse_is_refused(repo: GitRepository) -> None:
    head = repo.head()
    long_line = b"*.py " + b"x" * 2048 + b"\n"
    for path in (".gitattributes", "sub/.gitattributes"):
        with pytest.raises(InvalidPath) as caught:
            repo.commit({path: long_line}, message="m", author=AUTHOR, expected_head=head)
        assert "2048 bytes" in caught.value.detail
    assert repo.head() == head
    ok = b"*.py text eol=lf\n" + b"# " + b"y" * 2000 + b"\n"
    head = repo.commit({".gitattributes": ok}, message="m", author=AUTHOR, expected_head=head)
    head = repo.commit({"notes.txt": long_line}, message="m", author=AUTHOR, expected_head=head)
    with pytest.raises(InvalidPath):
        repo.rename(
            "notes.txt", "pkg/.gitattributes", message="m", author=AUTHOR, expected_head=head
        )
    assert repo.head() == head
    fsck_strict(repo.path)


def test_a_commit_leaves_its_listing_cached_for_the_next_write(repo: GitRepository) -> None:
    head = repo.commit({"a.py": b"a"}, message="m", author=AUTHOR, expected_head=repo.head())
    calls: list[tuple[str, ...]] = []
    original = repo._git

    def counting(*args: str, **kwargs: object):  # type: ignore[no-untyped-def]
        calls.append(args)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    repo._git = counting  # type: ignore[method-assign]
    assert [entry.path for entry in repo.tree(head)] == ["a.py", "main.py"]
    assert calls == [], "the new head's tree was listed when it was verified"
    repo.commit({"b.py": b"b"}, message="m", author=AUTHOR, expected_head=head)
    assert [args[0] for args in calls].count("ls-tree") == 1, "one listing per write"
    fsck_strict(repo.path)
