"""Projects, their files and versions: the rules, the transactions and the locking."""

from __future__ import annotations

import asyncio
import shutil
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select, tuple_
from sqlalchemy.exc import IntegrityError

from vibeforge.db.batching import KeyedBatch
from vibeforge.db.engine import Database
from vibeforge.db.tables import Project, User
from vibeforge.db.types import new_id, utcnow
from vibeforge.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from vibeforge.paging import Page, decode_cursor, encode_cursor, newest_first, newest_page
from vibeforge.projects.git import (
    Commit,
    GitRepository,
    ObjectCache,
    TreeEntry,
    ensure_text,
    is_commit_id,
)
from vibeforge.projects.moves import check_moves, default_message, moved_contents
from vibeforge.projects.naming import (
    ensure_unique_name,
    name_taken,
    project_name,
    project_name_key,
)
from vibeforge.projects.paths import normalize_path
from vibeforge.projects.views import (
    UPDATABLE_FIELDS,
    FileContent,
    ProjectView,
    WriteResult,
    check_argv,
    project_view,
)

T = TypeVar("T")
MAX_MESSAGE_CHARS = 10_000
# Repositories without a database row younger than this may belong to a create in flight.
ORPHAN_GRACE_SECONDS = 300


def _author(user: User) -> str:
    return f"{user.email} <{user.email}>"


class ProjectService:
    """Every project operation, scoped to its owner; git work runs in threads, per project
    one at a time."""

    def __init__(self, db: Database, projects_dir: Path, max_file_bytes: int) -> None:
        self._db = db
        self._root = projects_dir
        self._trash = projects_dir.parent / "trash"
        self._max_file_bytes = max_file_bytes
        self._objects = ObjectCache()
        self._lookups: KeyedBatch[tuple[str, str], Project] = KeyedBatch(self._fetch_ready)
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        # Scaled out, writes also take a lock shared by every process (vibeforge.scale), so
        # a write waits for another process's commit instead of failing its compare-and-swap.
        self.cluster_lock: Callable[[str], AbstractAsyncContextManager[None]] | None = None

    def repository(self, project_id: str) -> GitRepository:
        """The repository of a project (which must exist)."""
        return GitRepository(self._root / project_id, self._objects)

    def _lock(self, project_id: str) -> asyncio.Lock:
        lock = self._locks.get(project_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[project_id] = lock
        return lock

    async def _git(
        self, project_id: str, work: Callable[[GitRepository], T], *, write: bool = False
    ) -> T:
        lock = self._lock(project_id)
        shared = self.cluster_lock if write and self.cluster_lock is not None else None
        async with lock, shared(project_id) if shared is not None else nullcontext():
            return await asyncio.to_thread(work, self.repository(project_id))

    # -- projects -----------------------------------------------------------------------------

    async def create(
        self, owner: User, name: str, description: str = "", main_file: str = "main.py"
    ) -> ProjectView:
        """A new project with an empty main file as its first version."""
        name = project_name(name)
        main_file = normalize_path(main_file)
        project_id = new_id()
        async with self._db.transaction() as session:
            await ensure_unique_name(session, owner, name, None)
        # The repository comes first: a crash before the row commits leaves an orphan
        # directory that start-up removes, never a row without its repository.
        await self._git(
            project_id,
            lambda repo: repo.init({main_file: b""}, "Create project", _author(owner)),
        )
        now = utcnow()
        project = Project(
            id=project_id,
            owner_id=owner.id,
            name=name,
            name_key=project_name_key(name),
            description=description,
            main_file=main_file,
            state="ready",
            created_at=now,
            updated_at=now,
        )
        try:
            async with self._db.transaction() as session:
                # Checked again in the writing transaction; the unique index settles a race.
                await ensure_unique_name(session, owner, name, None)
                session.add(project)
        except BaseException as error:
            await asyncio.to_thread(shutil.rmtree, self._root / project_id, True)
            if isinstance(error, IntegrityError):
                raise name_taken(name) from None
            raise
        return project_view(project, current_code="")

    async def update(self, owner: User, project_id: str, changes: dict[str, Any]) -> ProjectView:
        """Change a project's name, description, main file, auto_apply or check command."""
        if "name" in changes:
            changes["name"] = project_name(changes["name"] or "")
        if "main_file" in changes:
            changes["main_file"] = normalize_path(changes["main_file"])
        if changes.get("check_command") is not None:
            check_argv(changes["check_command"])
        await self._owned(owner, project_id)
        try:
            async with self._db.transaction() as session:
                project = await session.get(Project, project_id)
                if project is None:
                    raise NotFound(f"no project {project_id!r}")
                if "name" in changes:
                    await ensure_unique_name(session, owner, changes["name"], project_id)
                    project.name_key = project_name_key(changes["name"])
                for name in UPDATABLE_FIELDS:
                    if name in changes:
                        setattr(project, name, changes[name])
                project.updated_at = utcnow()
        except IntegrityError:
            raise name_taken(changes["name"]) from None
        return await self.get(owner, project_id)

    async def owned(self, owner: User, project_id: str) -> Project:
        """The owner's project row (NotFound for anyone else's)."""
        return await self._owned(owner, project_id)

    async def _owned(self, owner: User, project_id: str) -> Project:
        # Lookups made together (a burst of runs in one project) share one query.
        project = await self._lookups.get((project_id, owner.id))
        if project is None:
            raise NotFound(f"no project {project_id!r}")
        return project

    async def _fetch_ready(self, keys: set[tuple[str, str]]) -> dict[tuple[str, str], Project]:
        """Ready projects by (id, owner id)."""
        async with self._db.transaction() as session:
            rows = await session.scalars(
                select(Project).where(
                    tuple_(Project.id, Project.owner_id).in_(keys), Project.state == "ready"
                )
            )
            return {(row.id, row.owner_id): row for row in rows}

    async def get(self, owner: User, project_id: str) -> ProjectView:
        """One project with the content of its main file."""
        project = await self._owned(owner, project_id)

        def read_main(repo: GitRepository) -> str:
            head = repo.head()
            if head is None or repo.entry(head, project.main_file) is None:
                return ""
            return ensure_text(repo.read(head, project.main_file), project.main_file)

        return project_view(project, current_code=await self._git(project_id, read_main))

    async def list(self, owner: User, limit: int, cursor: str | None) -> Page[ProjectView]:
        """The owner's projects, newest first."""
        query = select(Project).where(Project.owner_id == owner.id, Project.state == "ready")
        async with self._db.transaction() as session:
            rows = list(await session.scalars(newest_first(query, Project, limit, cursor)))
        page = newest_page(rows, limit)
        return Page([project_view(row) for row in page.items], page.next)

    async def delete(
        self,
        owner: User,
        project_id: str,
        *,
        before_removal: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        """Remove a project and its repository. `before_removal` runs once the project is
        marked deleting (so nothing new starts in it) and before anything is removed: the
        caller stops the project's runs there."""
        await self._owned(owner, project_id)
        async with self._db.transaction() as session:
            project = await session.get(Project, project_id)
            if project is None:
                raise NotFound(f"no project {project_id!r}")
            project.state = "deleting"
        if before_removal is not None:
            await before_removal()
        async with self._lock(project_id):
            await self._finish_delete(project_id)

    async def _finish_delete(self, project_id: str) -> None:
        # The row is marked first and removed last, so a crash in between is finished at
        # start-up; the repository is moved aside atomically before it is removed.
        repo_dir = self._root / project_id
        trash_dir = self._trash / f"{project_id}-{new_id()}"
        if repo_dir.exists():
            self._trash.mkdir(parents=True, exist_ok=True)
            await asyncio.to_thread(repo_dir.rename, trash_dir)
        async with self._db.transaction() as session:
            project = await session.get(Project, project_id)
            if project is not None:
                await session.delete(project)
        await asyncio.to_thread(shutil.rmtree, trash_dir, True)

    async def reconcile(self) -> None:
        """Finish interrupted deletes and remove repositories that never got their row."""
        async with self._db.transaction() as session:
            deleting = list(
                await session.scalars(select(Project.id).where(Project.state == "deleting"))
            )
            known = set(await session.scalars(select(Project.id)))
        for project_id in deleting:
            await self._finish_delete(project_id)
        if self._trash.exists():
            await asyncio.to_thread(shutil.rmtree, self._trash, True)
        if not self._root.exists():
            return
        now = time.time()
        for child in self._root.iterdir():
            if child.name not in known and now - child.stat().st_mtime > ORPHAN_GRACE_SECONDS:
                await asyncio.to_thread(shutil.rmtree, child, True)

    async def _touch(self, project_id: str) -> None:
        async with self._db.transaction() as session:
            project = await session.get(Project, project_id)
            if project is not None:
                project.updated_at = utcnow()

    # -- files --------------------------------------------------------------------------------

    async def list_files(self, owner: User, project_id: str) -> tuple[str, list[TreeEntry]]:
        """The head version and its files."""
        await self._owned(owner, project_id)

        def tree(repo: GitRepository) -> tuple[str, list[TreeEntry]]:
            head = _require_head(repo)
            return head, [entry for entry in repo.tree(head) if entry.mode != "120000"]

        return await self._git(project_id, tree)

    async def read_file(
        self, owner: User, project_id: str, path: str, version_id: str | None = None
    ) -> FileContent:
        """A file's content at the head, or at a given version."""
        data, path, rev = await self.read_bytes(owner, project_id, path, version_id)
        return FileContent(path, ensure_text(data, path), rev)

    async def read_bytes(
        self, owner: User, project_id: str, path: str, version_id: str | None = None
    ) -> tuple[bytes, str, str]:
        """A file's bytes (text or binary), its path and the version they were read at."""
        path = normalize_path(path)
        await self._owned(owner, project_id)
        if version_id is None:
            return await self.read_head_bytes(project_id, path)

        def read(repo: GitRepository) -> tuple[bytes, str, str]:
            rev = repo.resolve_version(version_id).id
            return repo.read(rev, path), path, rev

        return await self._git(project_id, read)

    async def read_head_file(self, project_id: str, path: str) -> FileContent:
        """A text file at the head of a project the caller knows to be its user's (a run's
        session is); `path` is normalised already."""
        data, path, head = await self.read_head_bytes(project_id, path)
        return FileContent(path, ensure_text(data, path), head)

    async def read_head_bytes(self, project_id: str, path: str) -> tuple[bytes, str, str]:
        """A file's bytes at the head, its path and the head, as `read_bytes` answers them,
        for a project the caller knows to be its user's; `path` is normalised already."""

        def read(repo: GitRepository) -> tuple[bytes, str, str]:
            head = _require_head(repo)
            return repo.read(head, path), path, head

        # A cached file of the head needs no thread (objects never change, the ref is replaced
        # atomically): a burst of chat runs in one project does not queue up one thread round
        # trip each. Asked again under the lock: whoever held it may have filled the cache.
        repo = self.repository(project_id)
        if (cached := repo.cached_head_file(path)) is not None:
            return _cached_bytes(path, *cached)
        async with self._lock(project_id):
            if (cached := repo.cached_head_file(path)) is not None:
                return _cached_bytes(path, *cached)
            return await asyncio.to_thread(read, repo)

    async def read_tree(
        self, owner: User, project_id: str, version_id: str | None = None
    ) -> tuple[str, dict[str, bytes]]:
        """Every regular file of a version (default: the head) with its bytes, and the
        version's id; symbolic links are left out, never followed."""
        await self._owned(owner, project_id)

        def read(repo: GitRepository) -> tuple[str, dict[str, bytes]]:
            rev = repo.resolve_version(version_id).id if version_id else _require_head(repo)
            entries = [entry for entry in repo.tree(rev) if entry.mode in ("100644", "100755")]
            datas = repo.read_blobs([entry.blob for entry in entries])
            return rev, {entry.path: data for entry, data in zip(entries, datas, strict=True)}

        return await self._git(project_id, read)

    def _encode(self, path: str, content: str | bytes) -> bytes:
        """A file's bytes: text must be UTF-8 without NUL; bytes (a binary file, sent as
        base64) are stored as they are. Either within the size limit."""
        if isinstance(content, bytes):
            data = content
        else:
            try:
                data = content.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidInput(f"content of {path!r} is not valid UTF-8 text") from None
        if len(data) > self._max_file_bytes:
            raise PayloadTooLarge(
                f"{path!r} is {len(data)} bytes; the limit is {self._max_file_bytes}"
            )
        if isinstance(content, str) and "\x00" in content:
            raise InvalidInput(
                f"content of {path!r} contains NUL bytes; send a binary file base64-encoded"
                " (POST /projects/{id}/commits)"
            )
        return data

    async def write_files(
        self,
        owner: User,
        project_id: str,
        changes: Mapping[str, str | bytes | None],
        message: str,
        *,
        expected_head: str | None = None,
        renames: Mapping[str, str] | None = None,
    ) -> WriteResult:
        """Write (text, or bytes for a binary file), delete (None) and rename (source ->
        target) files in one new version; no version when nothing changes."""
        encoded: dict[str, bytes | None] = {}
        for raw_path, content in changes.items():
            path = normalize_path(raw_path)
            encoded[path] = None if content is None else self._encode(path, content)
        moves = {normalize_path(s): normalize_path(t) for s, t in (renames or {}).items()}
        check_moves(moves, encoded)
        message = _message(message, default_message(encoded, moves))
        await self._owned(owner, project_id)

        def commit(repo: GitRepository) -> WriteResult:
            head = _require_head(repo)
            if expected_head is not None:
                expected = expected_head
                if not is_commit_id(expected):
                    expected = repo.resolve_version(expected).id
                if expected != head:
                    raise Conflict(f"the project is at {head}, not {expected_head}")
            staged = {**encoded, **moved_contents(repo, head, moves)}
            if all(_unchanged(repo, head, path, data) for path, data in staged.items()):
                return WriteResult(head, changed=False)
            new_head = repo.commit(
                staged, message=message, author=_author(owner), expected_head=head
            )
            return WriteResult(new_head, changed=True)

        result = await self._git(project_id, commit, write=True)
        if result.changed:
            await self._touch(project_id)
        return result

    async def rename_file(
        self, owner: User, project_id: str, source: str, target: str, message: str | None
    ) -> WriteResult:
        """Move a file in one new version."""
        source, target = normalize_path(source), normalize_path(target)
        if source == target:
            raise InvalidInput("source and target are the same path")
        text = _message(message, f"Rename {source} to {target}")
        await self._owned(owner, project_id)

        def rename(repo: GitRepository) -> WriteResult:
            head = _require_head(repo)
            if repo.entry(head, target) is not None:
                raise Conflict(f"{target!r} exists")
            new_head = repo.rename(
                source, target, message=text, author=_author(owner), expected_head=head
            )
            return WriteResult(new_head, changed=True)

        result = await self._git(project_id, rename, write=True)
        await self._touch(project_id)
        return result

    # -- versions -----------------------------------------------------------------------------

    async def versions(
        self, owner: User, project_id: str, limit: int, cursor: str | None, path: str | None = None
    ) -> Page[Commit]:
        """Versions newest first; with `path`, only those that changed that file."""
        if path is not None:
            path = normalize_path(path)
        await self._owned(owner, project_id)

        def log(repo: GitRepository) -> Page[Commit]:
            start = repo.resolve_version(decode_cursor(cursor, 1)[0]).id if cursor else None
            commits = repo.log(start or _require_head(repo), limit=limit + 1, path=path)
            if len(commits) > limit:
                return Page(commits[:limit], encode_cursor(commits[limit].id))
            return Page(commits, None)

        return await self._git(project_id, log)

    async def diff(
        self,
        owner: User,
        project_id: str,
        version_id: str,
        against: str | None,
        path: str | None = None,
    ) -> tuple[Commit, str | None, str]:
        """The version, the version it is compared with, and the unified diff between them
        (of one file, with `path`)."""
        paths = [normalize_path(path)] if path is not None else None
        await self._owned(owner, project_id)

        def diff(repo: GitRepository) -> tuple[Commit, str | None, str]:
            version = repo.resolve_version(version_id)
            base = repo.resolve_version(against).id if against else version.parent
            return version, base, repo.diff(base, version.id, paths)

        return await self._git(project_id, diff)

    async def revert(
        self, owner: User, project_id: str, version_id: str, message: str | None = None
    ) -> WriteResult:
        """A new version whose files equal those of `version_id`."""
        await self._owned(owner, project_id)

        def restore(repo: GitRepository) -> WriteResult:
            target = repo.resolve_version(version_id)
            head = _require_head(repo)
            if repo.tree_id(target.id) == repo.tree_id(head):
                return WriteResult(head, changed=False)  # as for writes: no empty version
            text = _message(message, f"Revert to {target.id[:12]}: {target.message[:80]}")
            new_head = repo.restore(
                target.id, message=text, author=_author(owner), expected_head=head
            )
            return WriteResult(new_head, changed=True)

        result = await self._git(project_id, restore, write=True)
        if result.changed:
            await self._touch(project_id)
        return result


def _cached_bytes(path: str, head: str, data: bytes | None) -> tuple[bytes, str, str]:
    if data is None:
        raise NotFound(f"no file {path!r}")
    return data, path, head


def _require_head(repo: GitRepository) -> str:
    head = repo.head()
    if head is None:
        raise NotFound("the project has no versions")
    return head


def _unchanged(repo: GitRepository, head: str, path: str, data: bytes | None) -> bool:
    entry = repo.entry(head, path)
    if data is None:
        return False  # deleting: commit() reports a missing file as NotFound
    return entry is not None and entry.mode == "100644" and repo.read(head, path) == data


def _message(message: str | None, default: str) -> str:
    text = (message or "").strip()
    if len(text) > MAX_MESSAGE_CHARS:
        raise InvalidInput(f"message is longer than {MAX_MESSAGE_CHARS} characters")
    if "\x00" in text:
        raise InvalidInput("message contains a NUL byte, which a git commit cannot hold")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("message is not valid UTF-8 text") from None
    return text or default
