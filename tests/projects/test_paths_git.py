"""Every path the rule accepts, git keeps, on every platform's guards, and fsck finds clean."""

import itertools
import os
import subprocess
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.projects.test_paths import HFS_IGNORABLE, components, disguised, near_misses
from vibeforge.errors import InvalidPath
from vibeforge.projects.paths import normalize_path

ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}
# Git on Linux guards NTFS names by default; macOS guards HFS+ names. Ask for both.
GUARDS = ["-c", "core.protectNTFS=true", "-c", "core.protectHFS=true"]


def git(repo: Path, *args: str, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["git", f"--git-dir={repo}", *GUARDS, *args],
        input=data,
        capture_output=True,
        env={**ENV, "GIT_INDEX_FILE": str(repo / "scratch-index")},
        check=False,
        timeout=60,
    )


def kept_by_git(repo: Path, paths: list[str]) -> None:
    """Stage `paths` in one index, commit them, and check git kept all and fsck is clean."""
    blob = git(repo, "hash-object", "-w", "--stdin", data=b"x\n").stdout.decode().strip()
    (repo / "scratch-index").unlink(missing_ok=True)
    payload = "".join(f"100644 {blob}\t{path}\0" for path in paths).encode()
    staged = git(repo, "update-index", "-z", "--index-info", data=payload)
    assert staged.returncode == 0 and not staged.stderr, staged.stderr.decode()
    listed = git(repo, "ls-files", "-z").stdout.decode().split("\0")
    assert sorted(p for p in listed if p) == sorted(paths)
    tree = git(repo, "write-tree").stdout.decode().strip()
    commit = git(repo, "commit-tree", tree, data=b"m").stdout.decode().strip()
    assert git(repo, "update-ref", "refs/heads/main", commit).returncode == 0
    fsck = git(repo, "fsck", "--strict", "--no-dangling")
    assert fsck.returncode == 0 and b"error" not in fsck.stderr, fsck.stderr.decode()


def accepted(names: list[str]) -> list[str]:
    """The names the rule accepts, each under its own directory so none collide."""
    found = []
    for index, name in enumerate(names):
        try:
            found.append(f"p{index}/{normalize_path(name)}")
        except InvalidPath:
            continue
    return found


def test_the_literal_names_the_rule_keeps_are_kept_by_git(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True, env=ENV)
    names = [".gitignore", ".gitattributes", ".mailmap", ".gitkeep", "git/x", "file~1.txt"]
    names += ["git~", ".GİT", "console.py", " lead.py", "日本語.md", "ünïcode/файл.py"]
    names += ["~1", "g~1", "gi7eba~0", ".git-blame-ignore-revs", "docs/.github/ci.yml"]
    paths = accepted(names)
    assert len(paths) == len(names)
    kept_by_git(repo, paths)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.one_of(components, near_misses, disguised()), min_size=1, max_size=40))
def test_whatever_the_rule_accepts_git_keeps_and_fsck_passes(
    tmp_path: Path, names: list[str]
) -> None:
    paths = accepted(names)
    if not paths:
        return
    repo = tmp_path / "repo"
    if not repo.exists():
        subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True, env=ENV)
    kept_by_git(repo, paths)


def _spellings() -> list[str]:
    """`.git` and `git~1` in every case, with each ignorable at each place, trailing dots and
    spaces, and streams: thousands of names, many of which git drops."""
    names = []
    for base in (".git", "git~1", ".gitmodules", "gitmod~1"):
        cases = {base, base.upper(), base.title(), base[:2] + base[2:].upper()}
        for spelled in cases:
            marked = [spelled] + [
                spelled[:at] + mark + spelled[at:]
                for at in range(len(spelled) + 1)
                for mark in HFS_IGNORABLE
            ]
            for name, tail, stream in itertools.product(
                marked, ["", ".", " ", ". .", "..."], ["", ":", "::$INDEX_ALLOCATION", ":x"]
            ):
                names.append(name + tail + stream)
    return names


def test_every_name_git_drops_is_refused_by_the_rule(tmp_path: Path) -> None:
    """git itself is the oracle: one index gets every spelling, and whatever it ignores the
    rule must refuse (on its own, and as a later component)."""
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True, env=ENV)
    names = _spellings()
    blob = git(repo, "hash-object", "-w", "--stdin", data=b"x\n").stdout.decode().strip()
    payload = "".join(f"100644 {blob}\tp{i}/{name}\0" for i, name in enumerate(names))
    staged = git(repo, "update-index", "-z", "--index-info", data=payload.encode())
    assert staged.returncode == 0
    listed = set(git(repo, "ls-files", "-z").stdout.decode().split("\0"))
    dropped = [name for i, name in enumerate(names) if f"p{i}/{name}" not in listed]
    assert len(dropped) > 400, "the oracle must see git drop names, or it proves nothing"
    for name in dropped:
        for raw in (name, f"src/{name}/x.py"):
            try:
                normalize_path(raw)
            except InvalidPath:
                continue
            raise AssertionError(f"git drops {raw!r} but the rule accepts it")
