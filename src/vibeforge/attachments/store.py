"""Where attachment bytes live: content-addressed files outside every project repository.

`blobs/{owner}/{sha[:2]}/{sha}/content` holds an upload's bytes exactly as sent (one copy per
owner however often it is uploaded), with what extraction derives from them beside it
(`extract.json`, the model's copy of an image). An upload is streamed into `tmp/` while it is
hashed and checked, fsynced, and renamed into place: a crash leaves a temporary file (removed
at start-up) or a complete blob, never a partial one. Every method here blocks; the service
calls them in threads.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from vibeforge.attachments.blocks import Extract
from vibeforge.attachments.kinds import HEAD_BYTES, TextCheck
from vibeforge.db.types import new_id
from vibeforge.errors import PayloadTooLarge

EXTRACT_FILE = "extract.json"
UPLOAD_GRACE_S = 600  # what start-up's sweep leaves alone: it may be another process's
CONTENT_FILE = "content"


@dataclass(frozen=True, slots=True)
class Received:
    """An upload written to a temporary file: its digest, size, first bytes, and whether it
    all decoded as UTF-8 text."""

    path: Path
    sha256: str
    size: int
    head: bytes
    is_text: bool


class Intake:
    """One upload arriving: each piece is hashed, checked as text and written as it comes,
    so a large file is never held in memory; over `limit` bytes it is refused and removed."""

    def __init__(self, path: Path, limit: int) -> None:
        self.path = path
        self.limit = limit
        self.size = 0
        self.head = b""
        self._hash = hashlib.sha256()
        self._text = TextCheck()
        self._file = path.open("wb")

    def write(self, data: bytes) -> None:
        """Take the next bytes (blocking: call it in a thread)."""
        self.size += len(data)
        if self.size > self.limit:
            self.discard()
            raise PayloadTooLarge(f"the file is over the limit of {self.limit} bytes")
        if len(self.head) < HEAD_BYTES:
            self.head += data[: HEAD_BYTES - len(self.head)]
        self._hash.update(data)
        self._text.feed(data)
        self._file.write(data)

    def finish(self) -> Received:
        """The whole upload, flushed to disk (blocking)."""
        self._text.feed(b"", final=True)
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        return Received(self.path, self._hash.hexdigest(), self.size, self.head, self._text.is_text)

    def discard(self) -> None:
        """Remove what was written (blocking); safe to call twice."""
        with contextlib.suppress(OSError):
            self._file.close()
        self.path.unlink(missing_ok=True)


class AttachmentStore:
    """The files of every attachment, under one directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._blobs = root / "blobs"
        self._tmp = root / "tmp"

    def intake(self, limit: int) -> Intake:
        """A new upload's temporary file (blocking)."""
        self._tmp.mkdir(parents=True, exist_ok=True)
        return Intake(self._tmp / f"{new_id()}.part", limit)

    def blob_dir(self, owner_id: str, sha256: str) -> Path:
        """The directory of one owner's blob and what was derived from it."""
        return self._blobs / owner_id / sha256[:2] / sha256

    def content_path(self, owner_id: str, sha256: str) -> Path:
        """The bytes of a blob as uploaded."""
        return self.blob_dir(owner_id, sha256) / CONTENT_FILE

    def extract_path(self, owner_id: str, sha256: str) -> Path:
        """What extraction wrote for a blob."""
        return self.blob_dir(owner_id, sha256) / EXTRACT_FILE

    def read_extract(self, owner_id: str, sha256: str) -> Extract | None:
        """What extraction wrote for a blob; None while there is nothing (readable)."""
        try:
            raw = self.extract_path(owner_id, sha256).read_text(encoding="utf-8")
            return Extract.from_json(json.loads(raw))
        except (OSError, ValueError, TypeError):
            return None

    def keep(self, received: Received, owner_id: str) -> bool:
        """Move an upload into place (blocking); False when the owner already had these bytes
        (the upload is then dropped: the stored copy is the same)."""
        target = self.content_path(owner_id, received.sha256)
        if target.exists():
            received.path.unlink(missing_ok=True)
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(received.path, target)
        _fsync_dir(target.parent)
        return True

    def remove(self, owner_id: str, sha256: str) -> None:
        """Delete a blob and what was derived from it (blocking)."""
        shutil.rmtree(self.blob_dir(owner_id, sha256), ignore_errors=True)

    def clean_tmp(self, older_than_s: float = UPLOAD_GRACE_S) -> None:
        """Remove uploads a stop cut off (blocking; at start-up). Only old ones: another
        process sharing the data directory may be receiving one now."""
        if not self._tmp.exists():
            return
        cutoff = time.time() - older_than_s
        for part in self._tmp.iterdir():
            with contextlib.suppress(OSError):
                if part.stat().st_mtime < cutoff:
                    part.unlink()

    def blobs(self, older_than_s: float = UPLOAD_GRACE_S) -> Iterator[tuple[str, str]]:
        """Every stored (owner id, sha256) kept before `older_than_s` ago (blocking); a newer
        one may be an upload whose row another process is about to commit."""
        if not self._blobs.exists():
            return
        cutoff = time.time() - older_than_s
        for owner in self._blobs.iterdir():
            for prefix in owner.iterdir() if owner.is_dir() else ():
                for blob in prefix.iterdir() if prefix.is_dir() else ():
                    with contextlib.suppress(OSError):
                        if (blob / CONTENT_FILE).stat().st_mtime < cutoff:
                            yield owner.name, blob.name


def _fsync_dir(path: Path) -> None:
    """Make a rename inside `path` durable."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
