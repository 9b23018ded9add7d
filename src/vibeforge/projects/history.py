"""Every file's versions and the unified diff from each to the newest, one page at a time.

One `git log --raw` limited to a page's files says which blob each had at each version; the
blobs are read through one `git cat-file --batch` process (a round trip a file) and diffed
in-process. A page
holds whole files, in path order, up to a file count, a version count per file and a byte
cap on its diffs; `next` names the file the following page starts at. Git objects never
change, so a page is cached by the head it was read at, and reading needs no lock (the head
moves atomically). Every function here but `project_history` blocks.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

from vibeforge.db.tables import User
from vibeforge.edits import render_unified_diff
from vibeforge.errors import NotFound
from vibeforge.projects.blobs import ZERO, BlobReader
from vibeforge.projects.git import GitRepository
from vibeforge.projects.service import ProjectService

MAX_FILES = 50
MAX_VERSIONS = 10
MAX_DIFF_BYTES = 256 * 1024
MAX_COMMITS = 500  # how far back the versions of a page are looked for


@dataclass(frozen=True, slots=True)
class FileVersion:
    """A version that changed a file; `diff` goes from the file then to the file now
    (None when it did not fit the page's byte cap: fetch it on its own)."""

    version_id: str
    created_at: datetime
    message: str
    diff: str | None


@dataclass(frozen=True, slots=True)
class FileHistory:
    """A file at the head, and the versions that changed it, newest first."""

    path: str
    size: int
    versions: list[FileVersion]
    more_versions: bool  # older versions exist beyond this list


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """Some files of the head version with their histories; `next`: the path to go on at."""

    head: str
    files: list[FileHistory]
    next: str | None


@dataclass(frozen=True, slots=True)
class _Change:
    version_id: str
    created_at: datetime
    message: str
    blob: str  # the file's blob at that version; ZERO when the version deleted it


@dataclass
class _Log:
    changes: dict[str, list[_Change]] = field(default_factory=dict)  # path -> newest first
    complete: bool = True  # every commit back to the first was read


class _Cache:
    """Pages by head (objects are immutable, so a page never goes stale)."""

    def __init__(self, size: int = 32) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[object, ...], object] = OrderedDict()
        self._size = size

    def get(self, key: tuple[object, ...]) -> object | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple[object, ...], value: object) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)


_CACHE = _Cache()


def _read_log(repo: GitRepository, head: str, paths: list[str], max_commits: int) -> _Log:
    """The versions that changed `paths` (only theirs: git prunes the rest of each tree)."""
    output = repo._git(  # the repository's own runner: its environment, its errors
        "--literal-pathspecs",  # a path is a name, never a glob
        "log",
        "--raw",
        "-z",
        "--no-abbrev",
        "--no-renames",
        f"--max-count={max_commits}",
        "--format=%x1e%H%x1f%cI%x1f%s",
        head,
        "--",
        *paths,
    ).stdout
    log = _Log()
    records = [record for record in output.split(b"\x1e") if record.strip()]
    for record in records:
        header, _, rest = record.partition(b"\0")
        sha, stamp, subject = header.decode("utf-8", "replace").split("\x1f", 2)
        created = datetime.fromisoformat(stamp)
        tokens = rest.lstrip(b"\n").split(b"\0")
        for meta, raw_path in zip(tokens[0::2], tokens[1::2], strict=False):
            if not meta.startswith(b":"):
                continue
            fields = meta.decode().split()
            blob = ZERO if fields[4].startswith("D") else fields[3]
            path = raw_path.decode("utf-8", "surrogateescape")
            log.changes.setdefault(path, []).append(_Change(sha, created, subject, blob))
    log.complete = len(records) < max_commits
    return log


def file_history(
    repo: GitRepository,
    head: str,
    after: str | None = None,
    *,
    max_files: int = MAX_FILES,
    max_versions: int = MAX_VERSIONS,
    max_bytes: int = MAX_DIFF_BYTES,
    max_commits: int = MAX_COMMITS,
) -> HistoryPage:
    """The files of `head` after the path `after`, with their versions and diffs."""
    key = ("page", str(repo.path), head, after, max_files, max_versions, max_bytes, max_commits)
    cached = _CACHE.get(key)
    if isinstance(cached, HistoryPage):
        return cached
    entries = [entry for entry in repo.tree(head) if entry.mode == "100644"]
    if after is not None:
        entries = [entry for entry in entries if entry.path > after]
    candidates = entries[:max_files]
    log = _read_log(repo, head, [entry.path for entry in candidates], max_commits)
    files: list[FileHistory] = []
    budget = max_bytes
    reader: BlobReader | None = None
    try:
        for entry in candidates:
            if budget <= 0:
                break
            changes = log.changes.get(entry.path, [])
            shown = changes[:max_versions]
            old = [change.blob for change in shown if change.blob != entry.blob]
            texts: dict[str, str] = {}
            if old:
                reader = reader or BlobReader(repo)
                texts = reader.texts([entry.blob, *old])  # one round trip for the file
            versions = []
            for change in shown:
                diff: str | None = ""
                if change.blob != entry.blob:
                    if budget <= 0:
                        diff = None
                    else:
                        diff = render_unified_diff(
                            texts[change.blob], texts[entry.blob], entry.path
                        )
                        budget -= len(diff.encode("utf-8"))
                versions.append(
                    FileVersion(change.version_id, change.created_at, change.message, diff)
                )
            more = len(changes) > max_versions or not log.complete
            files.append(FileHistory(entry.path, entry.size, versions, more))
    finally:
        if reader is not None:
            reader.close()
    more_files = len(files) < len(entries)
    page = HistoryPage(head, files, files[-1].path if more_files and files else None)
    _CACHE.put(key, page)
    return page


async def project_history(
    projects: ProjectService, owner: User, project_id: str, after: str | None = None, **caps: int
) -> HistoryPage:
    """A page of the owner's project's file histories (see `file_history`)."""
    await projects.owned(owner, project_id)
    repo = projects.repository(project_id)

    def read() -> HistoryPage:
        head = repo.head()
        if head is None:
            raise NotFound("the project has no versions")
        return file_history(repo, head, after, **caps)

    return await asyncio.to_thread(read)
