"""Normalising the file paths clients send into safe paths inside a project."""

from __future__ import annotations

import re

from vibeforge.errors import InvalidPath

MAX_PATH_BYTES = 1024
MAX_COMPONENT_BYTES = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"^[A-Za-z]:")


def normalize_path(raw: str) -> str:
    """Return the canonical form of a project-relative path, or raise InvalidPath.

    `./a//b` becomes `a/b`. Absolute paths, `..`, NUL and other control characters,
    backslashes, `.git` components and over-long paths are refused rather than repaired,
    because silently repairing them would let a client address a file it did not name.
    """
    if not isinstance(raw, str) or raw == "":
        raise InvalidPath("path is empty")
    if "\x00" in raw:
        raise InvalidPath("path contains a NUL byte")
    if _CONTROL.search(raw):
        raise InvalidPath("path contains a control character")
    if "\\" in raw:
        raise InvalidPath("path contains a backslash; use '/' between directories")
    if raw.startswith("/") or _DRIVE.match(raw):
        raise InvalidPath("path must be relative to the project")
    parts = [part for part in raw.split("/") if part not in ("", ".")]
    if not parts:
        raise InvalidPath("path names the project root, not a file")
    for part in parts:
        if part == "..":
            raise InvalidPath("path may not contain '..'")
        if part.lower() == ".git":
            raise InvalidPath("path may not reach into .git")
        if part != part.strip() and part.strip() == "":
            raise InvalidPath("path has a blank component")
        if len(part.encode("utf-8", "surrogatepass")) > MAX_COMPONENT_BYTES:
            raise InvalidPath(f"a path component is longer than {MAX_COMPONENT_BYTES} bytes")
    path = "/".join(parts)
    try:
        encoded = path.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidPath("path is not valid Unicode text") from None
    if len(encoded) > MAX_PATH_BYTES:
        raise InvalidPath(f"path is longer than {MAX_PATH_BYTES} bytes")
    return path
