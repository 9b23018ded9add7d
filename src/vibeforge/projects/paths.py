"""Normalising the file paths clients send into safe paths inside a project.

Every way a path arrives (REST files and renames, the sockets' uploads and deletes, the model's
edits and tools, a project's main file) goes through `normalize_path`; the names it admits are
described in `vibeforge.projects.names`.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from vibeforge.errors import InvalidPath
from vibeforge.projects.names import check_portable, check_special_name, check_text

MAX_PATH_BYTES = 1024
MAX_COMPONENT_BYTES = 255
_DRIVE = re.compile(r"^[A-Za-z]:")


def normalize_path(raw: str) -> str:
    """Return the canonical form of a project-relative path, or raise InvalidPath.

    `./a//b` becomes `a/b`. Absolute paths, a trailing `/`, `..`, backslashes, over-long
    paths, and names that git would drop or that some file system would read as another name
    (`.git` above all) are refused rather than repaired, because a repaired path is a file the
    client did not name.
    """
    if not isinstance(raw, str) or raw == "":
        raise InvalidPath("path is empty")
    if "\\" in raw:
        raise InvalidPath("path contains a backslash; use '/' between directories")
    if raw.startswith("/"):
        raise InvalidPath("path must be relative to the project")
    if _DRIVE.match(raw):
        raise InvalidPath(f"path starts with the drive {raw[:2]!r}; it must be relative")
    if raw.endswith("/"):
        # `a/` would silently become the file `a`: the client named a directory.
        raise InvalidPath("path ends with '/', which names a directory, not a file")
    parts = [part for part in raw.split("/") if part not in ("", ".")]
    if not parts:
        raise InvalidPath("path names the project root, not a file")
    for index, part in enumerate(parts):
        if part == "..":
            raise InvalidPath("path may not contain '..'")
        # Names first: `.git::$INDEX_ALLOCATION` is better refused as `.git` than for its ':'.
        check_special_name(part, last=index == len(parts) - 1)
        check_text(part)
        check_portable(part)
        if len(part.encode("utf-8")) > MAX_COMPONENT_BYTES:
            raise InvalidPath(f"a path component is longer than {MAX_COMPONENT_BYTES} bytes")
    path = "/".join(parts)
    if len(path.encode("utf-8")) > MAX_PATH_BYTES:
        raise InvalidPath(f"path is longer than {MAX_PATH_BYTES} bytes")
    return path


def check_url_bytes(raw_url_path: bytes) -> None:
    """Refuse a URL path whose percent-decoded bytes are not UTF-8.

    Servers decode `%FF` into U+FFFD, so `/files/a%FF` and `/files/a%FE` would arrive as one
    name; the bytes as sent are checked instead, before the decoded text is used.
    """
    decoded = unquote_to_bytes(raw_url_path)
    try:
        decoded.decode("utf-8")
    except UnicodeDecodeError as error:
        bad = decoded[error.start : error.end]
        shown = "".join(f"%{byte:02X}" for byte in bad)
        raise InvalidPath(
            f"the URL path is not valid UTF-8 (the bytes {shown} do not form a character);"
            " percent-encode the path's UTF-8 bytes"
        ) from None
