"""Projects in and out as archives: any version streamed as a zip or a tarball (the archive
is written in a thread into a bounded pipe, so a large project is never held in memory), and
a new project made from an uploaded archive as one version."""

from __future__ import annotations

import asyncio
import queue
import re
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from vibeforge.db.tables import User
from vibeforge.errors import InvalidInput, NotFound
from vibeforge.projects.blobs import BlobReader
from vibeforge.projects.git import Commit, GitRepository, TreeEntry
from vibeforge.projects.service import ProjectService
from vibeforge.projects.views import ProjectView, WriteResult
from vibeforge.workspace.archives import (
    FORMATS,
    ArchiveFormat,
    ImportLimits,
    Unpacked,
    unpack,
    write_archive,
)

PIPE_PIECE = 64 * 1024
PIPE_PIECES = 16  # pieces the writer may get ahead of the client


class _Stopped(Exception):
    """The client went away: the writer stops."""


class _Pipe:
    """A write-only stream for the archive writer (in a thread) and the pieces it became,
    for the response (on the event loop); at most PIPE_PIECES are held."""

    def __init__(self) -> None:
        self._pieces: queue.Queue[bytes | BaseException | None] = queue.Queue(PIPE_PIECES)
        self._buffer = bytearray()
        self._stopped = threading.Event()

    def write(self, data: bytes) -> int:
        self._buffer += data
        if len(self._buffer) >= PIPE_PIECE:
            self._put(bytes(self._buffer))
            self._buffer.clear()
        return len(data)

    def flush(self) -> None:
        """Nothing to do: pieces leave as they fill."""

    def _put(self, item: bytes | BaseException | None) -> None:
        while True:
            if self._stopped.is_set():
                raise _Stopped
            try:
                self._pieces.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def finish(self, failure: BaseException | None = None) -> None:
        """The writer is done (or failed): send what is left, then the end."""
        try:
            if self._buffer and failure is None:
                self._put(bytes(self._buffer))
            self._put(failure)
        except _Stopped:
            pass

    def get(self) -> bytes | BaseException | None:
        """The next piece (None at the end)."""
        return self._pieces.get()

    def stop(self) -> None:
        """The reader is gone."""
        self._stopped.set()


@dataclass(frozen=True, slots=True)
class Export:
    """An archive being streamed: its name, media type, version and bytes."""

    filename: str
    media_type: str
    version_id: str
    chunks: AsyncIterator[bytes]


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "project"


async def export_project(
    projects: ProjectService,
    owner: User,
    project_id: str,
    version_id: str | None,
    fmt: ArchiveFormat,
) -> Export:
    """A version (default: the newest) of the owner's project as an archive."""
    project = await projects.owned(owner, project_id)
    repo = projects.repository(project_id)

    def resolve() -> tuple[Commit, list[TreeEntry]]:
        head = repo.head()
        if head is None:
            raise NotFound("the project has no versions")
        commit = repo.resolve_version(version_id or head)
        return commit, [entry for entry in repo.tree(commit.id) if entry.mode == "100644"]

    commit, entries = await asyncio.to_thread(resolve)
    media_type, extension = FORMATS[fmt]
    filename = f"{_slug(project.name)}-{commit.id[:12]}{extension}"
    return Export(filename, media_type, commit.id, _stream(repo, entries, fmt, commit.created_at))


async def _stream(
    repo: GitRepository, entries: list[TreeEntry], fmt: ArchiveFormat, when: datetime
) -> AsyncIterator[bytes]:
    pipe = _Pipe()

    def produce() -> None:
        failure: BaseException | None = None
        try:
            with BlobReader(repo) as reader:
                files = ((entry.path, reader.read(entry.blob)) for entry in entries)
                write_archive(files, fmt, when, pipe)  # type: ignore[arg-type]
        except _Stopped:
            return
        except BaseException as error:  # handed to the response, which fails the stream
            failure = error
        pipe.finish(failure)

    writer = asyncio.ensure_future(asyncio.to_thread(produce))
    try:
        while True:
            piece = await asyncio.to_thread(pipe.get)
            if piece is None:
                break
            if isinstance(piece, BaseException):
                raise piece
            yield piece
    finally:
        pipe.stop()
        await asyncio.shield(writer)


async def import_project(
    projects: ProjectService,
    owner: User,
    archive: Path,
    name: str,
    limits: ImportLimits,
    *,
    main_file: str | None = None,
    strip_top_dir: bool = False,
) -> tuple[ProjectView, WriteResult, Unpacked]:
    """A new project holding an archive's text files as one version (nothing is left
    behind when the archive is refused)."""
    unpacked = await asyncio.to_thread(unpack, archive, limits, strip_top_dir)
    files = unpacked.files
    if not files:
        raise InvalidInput("the archive holds no text files to import")
    main = main_file or ("main.py" if "main.py" in files else sorted(files)[0])
    if main not in files:
        raise InvalidInput(f"main_file {main!r} is not in the archive")
    view = await projects.create(owner, name, "", main)
    try:
        result = await projects.write_files(
            owner, view.id, dict(files), f"Import {len(files)} files from an archive"
        )
    except BaseException:
        await asyncio.shield(projects.delete(owner, view.id))
        raise
    return await projects.get(owner, view.id), result, unpacked
