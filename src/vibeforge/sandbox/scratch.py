"""The scratch directory: the sandbox's only writable place, built from a mapping of files."""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from vibeforge.errors import InvalidPath, PayloadTooLarge


def checked_relative_path(name: str) -> PurePosixPath:
    """A path that stays inside the scratch directory, or InvalidPath."""
    if not isinstance(name, str) or not name or "\x00" in name or "\\" in name:
        raise InvalidPath(f"invalid file name in sandbox files: {name!r}")
    path = PurePosixPath(name)
    if path.is_absolute():
        raise InvalidPath(f"sandbox file paths must be relative: {name!r}")
    parts = [part for part in path.parts if part != "."]
    if not parts or ".." in parts:
        raise InvalidPath(f"sandbox file path leaves the scratch directory: {name!r}")
    return PurePosixPath(*parts)


def validate_files(files: Mapping[str, str | bytes]) -> dict[PurePosixPath, bytes]:
    """Check every path and content before anything touches the disk."""
    checked: dict[PurePosixPath, bytes] = {}
    for name, content in files.items():
        path = checked_relative_path(name)
        if path in checked:
            raise InvalidPath(f"sandbox file given twice: {name!r}")
        if isinstance(content, str):
            content = content.encode()
        elif not isinstance(content, bytes):
            raise InvalidPath(f"sandbox file content must be str or bytes: {name!r}")
        checked[path] = content
    for path in checked:
        for parent in path.parents:
            if parent in checked:
                raise InvalidPath(f"sandbox file {str(parent)!r} is also used as a directory")
    return checked


def create_scratch(files: dict[PurePosixPath, bytes], owner: int | None) -> Path:
    """Make a fresh private directory holding `files`, owned by the sandbox uid when root."""
    root = Path(tempfile.mkdtemp(prefix="vibeforge-sandbox-"))
    try:
        for relative, content in files.items():
            target = root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            # O_EXCL|O_NOFOLLOW: the directory is new and ours, but never write through a link.
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(target, flags, 0o644)
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
        if owner is not None:
            for dirpath, dirnames, filenames in os.walk(root):
                for name in (*dirnames, *filenames):
                    os.lchown(os.path.join(dirpath, name), owner, owner)
            os.chown(root, owner, owner)
    except BaseException:
        remove_scratch(root)
        raise
    return root


def remove_scratch(root: Path) -> None:
    """Delete the scratch tree; links the sandbox planted are removed, never followed."""

    def retry_writable(path: str) -> None:
        # A non-root server cannot delete inside directories the program made read-only.
        try:
            os.chmod(os.path.dirname(path), stat.S_IRWXU)
            if os.path.isdir(path) and not os.path.islink(path):
                os.chmod(path, stat.S_IRWXU)
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)
        except OSError:
            pass

    # On Linux rmtree works on directory file descriptors (`avoids_symlink_attacks`): a link
    # swapped in for a directory while it deletes is unlinked, not descended into.
    if sys.version_info >= (3, 12):
        shutil.rmtree(root, onexc=lambda _f, path, _e: retry_writable(path))
    else:
        shutil.rmtree(root, onerror=lambda _f, path, _e: retry_writable(path))


def read_tree(root: Path, *, max_bytes: int = 64 * 1024 * 1024) -> dict[str, bytes]:
    """Read a project directory into a `files` mapping for `run` (blocking: use a thread).

    Skips `.git`. A symlink to a file inside the tree becomes a copy of that file; a symlink that
    resolves outside the tree is an InvalidPath, so no host file reaches the sandbox through it.
    """
    root = root.resolve()
    files: dict[str, bytes] = {}
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        for name in sorted(filenames):
            path = Path(dirpath) / name
            relative = path.relative_to(root).as_posix()
            real = path.resolve()
            if not real.is_relative_to(root):
                raise InvalidPath(f"{relative} is a link to outside the project")
            if not real.is_file():
                continue
            content = real.read_bytes()
            total += len(content)
            if total > max_bytes:
                raise PayloadTooLarge(f"project files exceed {max_bytes} bytes")
            files[relative] = content
        for name in dirnames:
            path = Path(dirpath) / name
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                raise InvalidPath(f"{path.relative_to(root).as_posix()} links outside the project")
    return files
