"""The repository layer: atomic versions on a bare repository."""

import subprocess
from pathlib import Path

import pytest

from vibeforge.errors import Conflict, InvalidPath, NotFound
from vibeforge.projects.git import GitRepository

AUTHOR = "Ada <ada@example.com>"


@pytest.fixture
def repo(tmp_path: Path) -> GitRepository:
    repository = GitRepository(tmp_path / "repo")
    repository.init({"main.py": b"print(1)\n"}, "Create project", AUTHOR)
    return repository


def test_init_makes_one_version_with_the_files(repo: GitRepository) -> None:
    head = repo.head()
    assert head is not None
    assert repo.read(head, "main.py") == b"print(1)\n"
    assert [commit.message for commit in repo.log(head, limit=10)] == ["Create project"]
    assert not (repo.path / "main.py").exists(), "the repository must be bare"


def test_commit_refuses_when_the_branch_moved(repo: GitRepository) -> None:
    base = repo.head()
    repo.commit({"a.py": b"a"}, message="a", author=AUTHOR, expected_head=base)
    with pytest.raises(Conflict):
        repo.commit({"b.py": b"b"}, message="b", author=AUTHOR, expected_head=base)
    head = repo.head()
    assert head is not None
    assert repo.entry(head, "b.py") is None


def test_a_file_cannot_become_a_directory(repo: GitRepository) -> None:
    with pytest.raises(Conflict):
        repo.commit({"main.py/x": b""}, message="m", author=AUTHOR, expected_head=repo.head())


def test_a_directory_cannot_become_a_file(repo: GitRepository) -> None:
    head = repo.commit({"pkg/a.py": b""}, message="m", author=AUTHOR, expected_head=repo.head())
    with pytest.raises(Conflict):
        repo.commit({"pkg": b"x"}, message="m", author=AUTHOR, expected_head=head)


def test_symlinks_are_never_followed(repo: GitRepository, tmp_path: Path) -> None:
    # Someone pushes a symlink pointing out of the project into the repository.
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(repo.path), str(work)], check=True)
    (work / "escape").symlink_to("/etc/passwd")
    env = {
        "GIT_AUTHOR_NAME": "x",
        "GIT_AUTHOR_EMAIL": "x@x",
        "GIT_COMMITTER_NAME": "x",
        "GIT_COMMITTER_EMAIL": "x@x",
        "PATH": "/usr/bin:/bin",
    }
    subprocess.run(["git", "-C", str(work), "add", "escape"], check=True, env=env)
    subprocess.run(["git", "-C", str(work), "commit", "-qm", "link"], check=True, env=env)
    subprocess.run(["git", "-C", str(work), "push", "-q", "origin", "main"], check=True, env=env)
    head = repo.head()
    assert head is not None
    with pytest.raises(InvalidPath):
        repo.read(head, "escape")
    with pytest.raises(InvalidPath):
        repo.commit({"escape": b"overwrite"}, message="m", author=AUTHOR, expected_head=head)


def test_unknown_versions_are_not_found(repo: GitRepository) -> None:
    for bad in ["0" * 40, "zz", "HEAD", "main", "a" * 40]:
        with pytest.raises(NotFound):
            repo.resolve_version(bad)


def test_a_dangling_commit_is_not_a_version(repo: GitRepository) -> None:
    head = repo.head()
    assert head is not None
    tree = repo._git("rev-parse", f"{head}^{{tree}}").stdout.decode().strip()
    dangling = repo._git("commit-tree", tree, input=b"orphan").stdout.decode().strip()
    with pytest.raises(NotFound):
        repo.resolve_version(dangling)


def test_reads_of_a_known_version_need_no_git_process(tmp_path: Path) -> None:
    from vibeforge.projects.git import ObjectCache

    cached = GitRepository(tmp_path / "cached", ObjectCache())
    cached.init({"pkg/a.py": b"a = 1\n", "main.py": b"print(1)\n"}, "Create", AUTHOR)
    head = cached.head()
    assert head is not None
    assert cached.read(head, "pkg/a.py") == b"a = 1\n"  # warms the caches

    def no_process(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"git was run: {args}")

    cached._git = no_process  # type: ignore[method-assign]
    assert cached.head() == head, "the loose ref is read directly"
    assert cached.read(head, "pkg/a.py") == b"a = 1\n"
    assert cached.entry(head, "missing.py") is None
    with pytest.raises(InvalidPath):
        cached.read(head, "pkg")  # a directory, known from the listing
    assert [entry.path for entry in cached.tree(head)] == ["main.py", "pkg/a.py"]


def test_a_new_version_is_seen_through_the_cache(tmp_path: Path) -> None:
    from vibeforge.projects.git import ObjectCache

    cache = ObjectCache()
    repo = GitRepository(tmp_path / "r", cache)
    first = repo.init({"main.py": b"one\n"}, "Create", AUTHOR)
    assert repo.read(first, "main.py") == b"one\n"
    second = repo.commit({"main.py": b"two\n"}, message="m", author=AUTHOR, expected_head=first)
    assert repo.head() == second
    assert repo.read(second, "main.py") == b"two\n"
    assert repo.read(first, "main.py") == b"one\n", "old versions stay readable"
