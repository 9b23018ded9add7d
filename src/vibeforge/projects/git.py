"""A project's repository, driven through git's plumbing commands.

Repositories are bare: there is no working tree to leave half-written. A change is staged in
a private index, written as a tree and a commit, and becomes visible only when the branch ref
moves with a compare-and-swap (`update-ref NEW OLD`). A crash before that leaves unreachable
objects for git's own garbage collection and the project exactly as it was.

The git CLI was chosen over pygit2 (GPL with a linking exception, native wheels) and dulwich
(slower pure-Python object writes): it is on every machine, its plumbing is stable, and each
call is a few milliseconds. Every method here blocks; the service runs them in threads,
serialised per project.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from vibeforge.errors import Conflict, InvalidInput, InvalidPath, NotFound
from vibeforge.projects.names import GITATTRIBUTES, check_special_content
from vibeforge.projects.treecheck import GitError, check_layout, ignored_paths, verify_tree

BRANCH = "refs/heads/main"
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
_ZERO = "0" * 40
_HEX = frozenset("0123456789abcdef")
MIN_SHORT_ID = 7  # the shortest version id accepted (git's own default abbreviation)


@dataclass(frozen=True, slots=True)
class TreeEntry:
    """A file in a version's tree."""

    path: str
    size: int
    mode: str
    blob: str


@dataclass(frozen=True, slots=True)
class Commit:
    """One version: a commit on the project's branch."""

    id: str
    message: str
    created_at: datetime
    parent: str | None


def _environment(author: str) -> dict[str, str]:
    # No user or system configuration may change what these commands do.
    name, _, email = author.partition(" <")
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": name or "vibeforge",
        "GIT_AUTHOR_EMAIL": email.rstrip(">") or "vibeforge@localhost",
        "GIT_COMMITTER_NAME": "vibeforge",
        "GIT_COMMITTER_EMAIL": "vibeforge@localhost",
        "LC_ALL": "C",
    }


def is_commit_id(value: str) -> bool:
    """True for a full 40-character lowercase hex object id."""
    return len(value) == 40 and set(value) <= _HEX


class ObjectCache:
    """Git objects never change: tree listings (by commit id) and small blobs (by blob id)
    are kept in memory, so reading a file of a known version needs no git process."""

    def __init__(self, max_trees: int = 256, max_blob_bytes: int = 32 * 1024 * 1024) -> None:
        self._lock = threading.Lock()
        self._trees: OrderedDict[tuple[str, str], _Listing] = OrderedDict()
        self._blobs: OrderedDict[str, bytes] = OrderedDict()
        self._blob_bytes = 0
        self._max_trees, self._max_blob_bytes = max_trees, max_blob_bytes

    def tree(self, key: tuple[str, str]) -> _Listing | None:
        """A cached listing."""
        with self._lock:
            found = self._trees.get(key)
            if found is not None:
                self._trees.move_to_end(key)
            return found

    def put_tree(self, key: tuple[str, str], listing: _Listing) -> None:
        """Keep a listing, forgetting the least recently used beyond the bound."""
        with self._lock:
            self._trees[key] = listing
            while len(self._trees) > self._max_trees:
                self._trees.popitem(last=False)

    def blob(self, blob_id: str) -> bytes | None:
        """A cached blob."""
        with self._lock:
            found = self._blobs.get(blob_id)
            if found is not None:
                self._blobs.move_to_end(blob_id)
            return found

    def put_blob(self, blob_id: str, data: bytes) -> None:
        """Keep a blob of at most a sixteenth of the budget."""
        if len(data) > self._max_blob_bytes // 16:
            return
        with self._lock:
            if blob_id in self._blobs:
                return
            self._blobs[blob_id] = data
            self._blob_bytes += len(data)
            while self._blob_bytes > self._max_blob_bytes:
                _, dropped = self._blobs.popitem(last=False)
                self._blob_bytes -= len(dropped)


@dataclass(frozen=True, slots=True)
class _Listing:
    entries: dict[str, TreeEntry]
    directories: frozenset[str]


class GitRepository:
    """One bare repository with a single branch, `main`."""

    def __init__(self, path: Path, cache: ObjectCache | None = None) -> None:
        self.path = path
        self._cache = cache

    def _git(
        self,
        *args: str,
        input: bytes | None = None,
        author: str = "vibeforge <vibeforge@localhost>",
        extra_env: Mapping[str, str] | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[bytes]:
        env = _environment(author)
        if extra_env:
            env.update(extra_env)
        result = subprocess.run(
            ["git", f"--git-dir={self.path}", *args],
            input=input,
            capture_output=True,
            env=env,
            timeout=60,
            check=False,
        )
        if check and result.returncode != 0:
            message = result.stderr.decode("utf-8", "replace").strip()
            raise GitError(f"git {args[0]} failed: {message}")
        return result

    # -- creation -----------------------------------------------------------------------------

    def init(self, files: Mapping[str, bytes], message: str, author: str) -> str:
        """Create the repository with a first commit holding `files`; return its id."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["git", "init", "--quiet", "--bare", "--initial-branch=main", str(self.path)],
            check=True,
            capture_output=True,
            env=_environment(author),
            timeout=60,
        )
        return self.commit(files, message=message, author=author, expected_head=None)

    # -- reading ------------------------------------------------------------------------------

    def head(self) -> str | None:
        """The id of the newest version, or None for an empty repository."""
        try:
            # The loose ref is replaced atomically by update-ref: reading it is safe and
            # costs no process. Packed refs (after a gc) fall back to rev-parse.
            loose = (self.path / BRANCH).read_text().strip()
        except OSError:
            loose = ""
        if is_commit_id(loose):
            return loose
        result = self._git("rev-parse", "--verify", "--quiet", BRANCH, check=False)
        return result.stdout.decode().strip() or None

    def tree(self, rev: str) -> list[TreeEntry]:
        """Every file in a version, sorted by path."""
        return list(self._listing(rev).entries.values())

    def _listing(self, rev: str) -> _Listing:
        key = (str(self.path), rev)
        cacheable = self._cache is not None and is_commit_id(rev)
        if cacheable and (found := self._cache.tree(key)) is not None:  # type: ignore[union-attr]
            return found
        listing = self._tree_listing(rev)
        if cacheable:
            self._cache.put_tree(key, listing)  # type: ignore[union-attr]
        return listing

    def _tree_listing(self, rev: str) -> _Listing:
        output = self._git("ls-tree", "-r", "-l", "-z", "--full-tree", rev).stdout
        entries = [_parse_tree_line(line) for line in output.split(b"\0") if line]
        directories = {
            entry.path.rsplit("/", depth)[0]
            for entry in entries
            for depth in range(1, entry.path.count("/") + 1)
        }
        return _Listing({entry.path: entry for entry in entries}, frozenset(directories))

    def entry(self, rev: str, path: str) -> TreeEntry | None:
        """The tree entry at `path` in a version, or None when nothing is there."""
        if self._cache is not None and is_commit_id(rev):
            listing = self._listing(rev)
            if path in listing.entries:
                return listing.entries[path]
            return TreeEntry(path, 0, "040000", "") if path in listing.directories else None
        output = self._git("ls-tree", "-l", "-z", "--full-tree", rev, "--", path).stdout
        for line in output.split(b"\0"):
            if line:
                found = _parse_tree_line(line)
                if found.path == path:
                    return found
        return None

    def read(self, rev: str, path: str) -> bytes:
        """A file's bytes at a version; NotFound if absent, InvalidPath if not a regular file."""
        found = self.entry(rev, path)
        if found is None:
            raise NotFound(f"no file {path!r}")
        if found.mode == "120000":
            raise InvalidPath(f"{path!r} is a symbolic link; links are not followed")
        if found.mode == "040000":
            raise InvalidPath(f"{path!r} is a directory")
        if self._cache is not None and (cached := self._cache.blob(found.blob)) is not None:
            return cached
        data = self._git("cat-file", "blob", found.blob).stdout
        if self._cache is not None:
            self._cache.put_blob(found.blob, data)
        return data

    def read_blobs(self, blobs: list[str]) -> list[bytes]:
        """Many blobs through one `git cat-file --batch` (a process per file costs milliseconds)."""
        if not blobs:
            return []
        batch = "".join(blob + "\n" for blob in blobs).encode()
        out = self._git("cat-file", "--batch", input=batch).stdout
        position, datas = 0, []
        for _ in blobs:
            header_end = out.index(b"\n", position)
            size = int(out[position:header_end].split()[2])
            datas.append(out[header_end + 1 : header_end + 1 + size])
            position = header_end + 1 + size + 1
        return datas

    def cached_head_file(self, path: str) -> tuple[str, bytes | None] | None:
        """The head and a regular file's bytes there (None: no such path), when the answer
        needs no git process: the head is a loose ref and its listing and the blob are
        cached. Otherwise None, and `read` must be asked in a thread."""
        if self._cache is None:
            return None
        try:
            head = (self.path / BRANCH).read_text().strip()
        except OSError:
            return None
        if not is_commit_id(head):
            return None
        listing = self._cache.tree((str(self.path), head))
        if listing is None:
            return None
        found = listing.entries.get(path)
        if found is None:
            return None if path in listing.directories else (head, None)
        if found.mode not in ("100644", "100755"):
            return None
        data = self._cache.blob(found.blob)
        return None if data is None else (head, data)

    def resolve_version(self, version_id: str) -> Commit:
        """The commit `version_id` (a full id, or an unambiguous prefix of at least
        MIN_SHORT_ID hex digits, as messages show them) if it is on the project's branch, else
        NotFound; an ambiguous prefix is InvalidInput."""
        version_id = version_id.lower()
        if not is_commit_id(version_id):
            version_id = self._expand(version_id)
        kind = self._git("cat-file", "-t", version_id, check=False)
        if kind.returncode != 0 or kind.stdout.strip() != b"commit":
            raise NotFound(f"no version {version_id!r}")
        reachable = self._git("merge-base", "--is-ancestor", version_id, BRANCH, check=False)
        if reachable.returncode != 0:
            raise NotFound(f"no version {version_id!r}")
        return self.log(version_id, limit=1)[0]

    def _expand(self, prefix: str) -> str:
        """The full id of the one commit a short id names."""
        if not MIN_SHORT_ID <= len(prefix) < 40 or not set(prefix) <= _HEX:
            raise NotFound(f"no version {prefix!r}")
        found = self._git("rev-parse", "--verify", f"{prefix}^{{commit}}", check=False)
        if found.returncode != 0:
            if b"ambiguous" in found.stderr:
                raise InvalidInput(f"the version id {prefix!r} is ambiguous; give more digits")
            raise NotFound(f"no version {prefix!r}")
        return found.stdout.decode().strip()

    def tree_id(self, rev: str) -> str:
        """The id of a version's tree: equal trees are equal contents."""
        return self._git("rev-parse", f"{rev}^{{tree}}").stdout.decode().strip()

    def log(self, start: str, *, limit: int, path: str | None = None) -> list[Commit]:
        """Up to `limit` versions from `start` back, newest first; only those touching `path`."""
        args = ["log", "-z", f"--max-count={limit}", "--format=%H%x1f%P%x1f%cI%x1f%B", start]
        if path is not None:
            args += ["--", path]
        output = self._git(*args).stdout.decode("utf-8", "replace")
        commits = []
        for record in output.split("\0"):
            if not record.strip():
                continue
            sha, parents, stamp, message = record.lstrip("\n").split("\x1f", 3)
            commits.append(
                Commit(
                    id=sha,
                    message=message.strip(),
                    created_at=datetime.fromisoformat(stamp),
                    parent=parents.split()[0] if parents.strip() else None,
                )
            )
        return commits

    def diff(self, old: str | None, new: str, paths: list[str] | None = None) -> str:
        """The unified diff from `old` (None: the empty tree) to `new`."""
        args = ["diff", "--no-color", "--no-ext-diff", "--no-renames", old or EMPTY_TREE, new]
        if paths:
            args += ["--", *paths]
        return self._git(*args).stdout.decode("utf-8", "replace")

    # -- writing ------------------------------------------------------------------------------

    def commit(
        self,
        changes: Mapping[str, bytes | None],
        *,
        message: str,
        author: str,
        expected_head: str | None,
    ) -> str:
        """Write `changes` (None deletes) as a new version on top of `expected_head`."""
        existing = self._listing(expected_head).entries if expected_head else {}
        check_layout(existing, changes)
        wanted: dict[str, str | None] = {}
        for path, content in changes.items():
            if content is None:
                wanted[path] = None
                continue
            check_special_content(path, content)
            blob = self._git("hash-object", "-w", "--stdin", input=content).stdout
            wanted[path] = blob.decode().strip()
        return self._commit_changes(existing, wanted, message, author, expected_head)

    def rename(
        self, source: str, target: str, *, message: str, author: str, expected_head: str
    ) -> str:
        """Move a file to a new path in one new version, keeping its content."""
        existing = self._listing(expected_head).entries
        if source not in existing:
            raise NotFound(f"no file {source!r}")
        check_layout(existing, {source: None, target: b""})
        if target.rsplit("/", 1)[-1] == GITATTRIBUTES:
            check_special_content(target, self.read(expected_head, source))
        wanted = {source: None, target: existing[source].blob}
        return self._commit_changes(existing, wanted, message, author, expected_head)

    def restore(self, version_id: str, *, message: str, author: str, expected_head: str) -> str:
        """A new version whose tree equals that of `version_id`; history stays as it was."""
        return self._commit_tree(self.tree_id(version_id), message, author, expected_head)

    def _commit_changes(
        self,
        existing: Mapping[str, TreeEntry],
        wanted: Mapping[str, str | None],
        message: str,
        author: str,
        expected_head: str | None,
    ) -> str:
        """Build the tree of `existing` with `wanted` (path -> blob id, None deletes), check it
        holds exactly that, and commit it."""
        lines = [
            f"0 {_ZERO}\t{path}" if blob is None else f"100644 {blob}\t{path}"
            for path, blob in wanted.items()
        ]
        with tempfile.TemporaryDirectory(prefix="vf-index-") as scratch:
            index = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
            if expected_head:
                self._git("read-tree", expected_head, extra_env=index)
            payload = "".join(line + "\0" for line in lines).encode("utf-8")
            staged = self._git("update-index", "-z", "--index-info", input=payload, extra_env=index)
            # git drops a path its own rules refuse with this warning and exit status 0.
            ignored = ignored_paths(staged.stderr)
            if ignored:
                raise InvalidPath(f"git refused the path {ignored[0]!r}; nothing was saved")
            tree = self._git("write-tree", extra_env=index).stdout.decode().strip()
        listing = self._tree_listing(tree)
        verify_tree(existing, wanted, listing.entries)
        new_head = self._commit_tree(tree, message, author, expected_head)
        if self._cache is not None:
            # The next write starts from this listing: it costs no second ls-tree.
            self._cache.put_tree((str(self.path), new_head), listing)
        return new_head

    def _commit_tree(self, tree: str, message: str, author: str, expected_head: str | None) -> str:
        parents = ["-p", expected_head] if expected_head else []
        commit = self._git(
            "commit-tree", tree, *parents, input=message.encode("utf-8"), author=author
        )
        new_head = commit.stdout.decode().strip()
        # The compare-and-swap is the commit point: it fails if the branch moved meanwhile.
        moved = self._git(
            "update-ref", BRANCH, new_head, expected_head or _ZERO, check=False, author=author
        )
        if moved.returncode != 0:
            raise Conflict("the project changed while this change was being written; retry")
        return new_head


def _parse_tree_line(line: bytes) -> TreeEntry:
    meta, _, raw_path = line.partition(b"\t")
    mode, _kind, blob, size = meta.decode().split(maxsplit=3)
    return TreeEntry(
        path=raw_path.decode("utf-8", "surrogateescape"),
        size=int(size) if size.strip().isdigit() else 0,
        mode=mode,
        blob=blob,
    )


def ensure_text(content: bytes, path: str) -> str:
    """Decode a stored file, refusing content that is not UTF-8 text."""
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(
            f"{path!r} is not UTF-8 text (a binary file): download it from .../files/{{path}}/raw"
        ) from None
