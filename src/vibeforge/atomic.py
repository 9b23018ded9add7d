"""Replacing a file so that a reader, or a crash at any moment, sees the old file or the new one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def fsync_dir(directory: Path) -> None:
    """Make a rename in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, text: str, *, mode: int | None = None) -> None:
    """Replace `path` with `text`, never half-written.

    The text goes to a temporary file beside it (same file system: `.NAME.XXXX.tmp`), is
    fsynced, takes `mode` (default: the old file's, else what open() would give), is renamed
    over the old file, and the directory is fsynced so the rename survives a power cut. On any
    failure the temporary file is removed.
    """
    target = path.resolve() if path.exists() else path.absolute()
    if mode is None:
        if target.exists():
            mode = target.stat().st_mode & 0o7777
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask  # mkstemp's own 0600 would surprise
    descriptor, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)
