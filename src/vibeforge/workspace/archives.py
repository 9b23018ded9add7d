"""Project archives: writing a version's files as a zip or a gzipped tarball, and reading an
uploaded archive back into files with the checks a hostile one needs.

Reading refuses (rather than skips) what only a broken or hostile archive holds: a member
whose path climbs out or reaches into `.git` (every path goes through the project path rule,
so zip-slip is the same `invalid_path` as anywhere else), a link, a device, two members with
one path, more members than allowed, and more bytes unpacked than allowed (a bomb is cut off
as it inflates, whatever sizes its headers declare). Files vibeforge cannot hold (not UTF-8
text, or over the file size cap) are skipped and listed. Every function here blocks.
"""

from __future__ import annotations

import tarfile
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Literal

from vibeforge.errors import InvalidInput, InvalidPath, PayloadTooLarge
from vibeforge.projects.paths import normalize_path

ArchiveFormat = Literal["zip", "tar.gz"]
FORMATS: dict[str, tuple[str, str]] = {  # format -> (media type, file extension)
    "zip": ("application/zip", ".zip"),
    "tar.gz": ("application/gzip", ".tar.gz"),
}
READ_PIECE = 64 * 1024


@dataclass(frozen=True, slots=True)
class ImportLimits:
    """What an archive may unpack to."""

    max_files: int
    max_file_bytes: int
    max_total_bytes: int


@dataclass
class Unpacked:
    """The text files of an archive, and what was left out with the reason."""

    files: dict[str, str] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)


# -- writing ---------------------------------------------------------------------------------


def write_archive(
    files: Iterator[tuple[str, bytes]], fmt: ArchiveFormat, when: datetime, sink: IO[bytes]
) -> None:
    """Write `(path, content)` pairs as an archive to a stream that need not seek."""
    stamp = when.timestamp()
    if fmt == "zip":
        moment = time.gmtime(max(stamp, 315532800))[:6]  # zip times start in 1980
        with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:
            for path, content in files:
                info = zipfile.ZipInfo(path, date_time=moment)  # type: ignore[arg-type]
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o100644 << 16
                archive.writestr(info, content)
        return
    with tarfile.open(fileobj=sink, mode="w|gz", format=tarfile.PAX_FORMAT) as archive:
        for path, content in files:
            info = tarfile.TarInfo(path)
            info.size, info.mtime, info.mode = len(content), int(stamp), 0o644
            archive.addfile(info, _Reader(content))


class _Reader:
    """Bytes as the file object tarfile reads a member's content from."""

    def __init__(self, data: bytes) -> None:
        self._data, self._at = data, 0

    def read(self, size: int = -1) -> bytes:
        end = len(self._data) if size < 0 else self._at + size
        piece, self._at = self._data[self._at : end], min(end, len(self._data))
        return piece


# -- reading ---------------------------------------------------------------------------------


def detect(path: Path) -> ArchiveFormat | Literal["tar"]:
    """Which kind of archive a file is, by its bytes."""
    with path.open("rb") as file:
        head = file.read(512)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")):
        return "tar.gz"  # tarfile reads gzip, bzip2 and xz alike
    if head[257:262] == b"ustar":
        return "tar"
    raise InvalidInput("the upload is not a zip, tar or compressed tar archive")


def unpack(path: Path, limits: ImportLimits, strip_top_dir: bool = False) -> Unpacked:
    """The files of an archive, checked (see the module's docstring)."""
    fmt = detect(path)
    members = _zip_members(path) if fmt == "zip" else _tar_members(path)
    unpacked = Unpacked()
    budget = _Budget(limits.max_total_bytes)
    count = 0
    for name, kind, opener in members:
        count += 1
        if count > limits.max_files:
            raise PayloadTooLarge(f"the archive holds over {limits.max_files} members")
        if kind == "dir":
            continue
        if kind != "file":
            raise InvalidPath(f"{name!r} is a {kind}: an archive may hold only files")
        shown = _member_path(name, strip_top_dir)
        if shown is None:
            continue
        project_path = normalize_path(shown)
        if project_path in unpacked.files or any(project_path == p for p, _ in unpacked.skipped):
            raise InvalidInput(f"the archive holds {project_path!r} twice")
        data = _read_bounded(opener, limits.max_file_bytes, budget)
        if data is None:
            unpacked.skipped.append((project_path, f"over {limits.max_file_bytes} bytes"))
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            unpacked.skipped.append((project_path, "not UTF-8 text"))
            continue
        if "\x00" in text:
            unpacked.skipped.append((project_path, "not text (holds NUL bytes)"))
            continue
        unpacked.files[project_path] = text
    return unpacked


Opener = Callable[[], IO[bytes]]


def _zip_members(path: Path) -> Iterator[tuple[str, str, Opener]]:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as error:
        raise InvalidInput(f"the zip archive cannot be read: {error}") from None
    with archive:
        for info in archive.infolist():
            mode = info.external_attr >> 16
            kind = "dir" if info.is_dir() else "file"
            if mode and (mode & 0o170000) == 0o120000:
                kind = "symbolic link"
            elif mode and (mode & 0o170000) not in (0, 0o100000, 0o040000):
                kind = "special file"
            yield info.filename, kind, lambda info=info: archive.open(info)  # type: ignore[misc]


def _tar_members(path: Path) -> Iterator[tuple[str, str, Opener]]:
    try:
        archive = tarfile.open(path, mode="r:*")  # noqa: SIM115  (closed by the with below)
    except (tarfile.TarError, OSError, EOFError) as error:
        raise InvalidInput(f"the tar archive cannot be read: {error}") from None
    with archive:
        try:
            for info in archive:
                if info.isdir():
                    kind = "dir"
                elif info.issym():
                    kind = "symbolic link"
                elif info.islnk():
                    kind = "hard link"
                elif info.isfile():
                    kind = "file"
                else:
                    kind = "special file"

                def opener(info: tarfile.TarInfo = info) -> IO[bytes]:
                    extracted = archive.extractfile(info)
                    assert extracted is not None
                    return extracted

                yield info.name, kind, opener
        except (tarfile.TarError, OSError, EOFError) as error:
            raise InvalidInput(f"the tar archive cannot be read: {error}") from None


def _member_path(name: str, strip_top_dir: bool) -> str | None:
    """A member's path as the project names it (None for `./` itself); with
    `strip_top_dir`, without the directory every member sits in (as GitHub's archives do)."""
    while name.startswith("./"):
        name = name[2:]
    if strip_top_dir and name:
        top, slash, rest = name.partition("/")
        if not slash or top in ("", ".", ".."):
            raise InvalidPath(f"{name!r} is not inside a top directory to strip")
        name = rest
    return name or None


class _Budget:
    def __init__(self, total: int) -> None:
        self.left = total
        self.total = total

    def take(self, size: int) -> None:
        self.left -= size
        if self.left < 0:
            raise PayloadTooLarge(f"the archive unpacks to over {self.total} bytes")


def _read_bounded(opener: Opener, limit: int, budget: _Budget) -> bytes | None:
    """A member's bytes, or None past `limit`; read in pieces, so a member that inflates
    without end is stopped at the cap (whatever its header declares)."""
    pieces: list[bytes] = []
    size = 0
    try:
        with opener() as member:
            while piece := member.read(READ_PIECE):
                size += len(piece)
                budget.take(len(piece))
                if size > limit:
                    return None
                pieces.append(piece)
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as error:
        raise InvalidInput(f"the archive cannot be read: {error}") from None
    except RuntimeError as error:  # zipfile: encrypted members
        raise InvalidInput(f"the archive cannot be read: {error}") from None
    return b"".join(pieces)
