"""One server per data directory: a lock file held for the process's life.

A second `vibeforge serve` on the same data directory would run start-up recovery against the
first one's live runs (deleting their journals, marking their messages interrupted), so the
lock is taken before anything else touches the directory, and a refused process names the
one holding it. The lock is `flock(2)` on `DATA_DIR/server.lock`: the kernel drops it when the
process dies, however it dies, so a stale file never blocks a restart.

Several processes sharing one data directory (PostgreSQL and Redis) is the
scale-out issue's business: with `VIBEFORGE_SHARED_DATA_DIR=true` each process takes the lock
shared instead, an exclusive holder and shared ones exclude each other, and start-up recovery
runs only in a process that found the directory unused (it briefly holds the lock
exclusively); with other processes alive their journals are theirs. That mode refuses SQLite.
A SQLite database outside the data directory is locked the same way (`DB-FILE.server-lock`),
so two servers with their own directories cannot share one SQLite file either.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from sqlalchemy.engine import make_url

LOCK_FILE = "server.lock"


class DataDirInUse(RuntimeError):
    """Another process holds the data directory."""

    def __init__(self, data_dir: Path, holder: str | None) -> None:
        who = f"process {holder}" if holder else "another process"
        super().__init__(
            f"the data directory {data_dir} is in use by {who} (a vibeforge server); stop it "
            "first, or give this one its own VIBEFORGE_DATA_DIR"
        )
        self.holder = holder

    @classmethod
    def sqlite_in_use(cls, database: Path, holder: str | None) -> DataDirInUse:
        """The SQLite file is served by another process already."""
        error = cls(database, holder)
        who = f"process {holder}" if holder else "another process"
        error.args = (
            f"the SQLite database {database} is in use by {who} (a vibeforge server); SQLite "
            "serves one process: for several, use PostgreSQL (VIBEFORGE_DATABASE_URL) and "
            "Redis (VIBEFORGE_REDIS_URL), see docs/deploy.md",
        )
        return error

    @classmethod
    def misconfigured(cls, data_dir: Path) -> DataDirInUse:
        """Sharing was asked for with SQLite, which one process at a time may use."""
        error = cls(data_dir, None)
        error.args = (
            "several processes on one data directory (VIBEFORGE_SHARED_DATA_DIR, or scale-out "
            "with VIBEFORGE_REDIS_URL) need a shared database: set VIBEFORGE_DATABASE_URL to "
            "PostgreSQL; SQLite is used by one process at a time",
        )
        return error


class DataDirLock:
    """The lock of one data directory, held until `release` or the process's end."""

    def __init__(self, data_dir: Path, fd: int, shared: bool, alone: bool) -> None:
        self.data_dir = data_dir
        self.path = data_dir / LOCK_FILE
        self._fd: int | None = fd
        self.shared = shared
        # Whether no other process held the directory when this one took it: only then may
        # start-up recovery treat leftover journals as abandoned.
        self.alone = alone
        self.database_lock: DataDirLock | None = None  # a SQLite file outside data_dir

    @classmethod
    def acquire(
        cls, data_dir: Path, *, shared: bool = False, lock_file: str = LOCK_FILE
    ) -> DataDirLock:
        """Take the directory's lock (exclusive unless `shared`), or raise DataDirInUse."""
        path = data_dir / lock_file
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                alone = True
            except BlockingIOError:
                if not shared:
                    raise
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                alone = False
        except BlockingIOError:
            os.close(fd)
            raise DataDirInUse(data_dir, _holder(path)) from None
        if alone:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(data_dir, fd, shared, alone)

    def after_recovery(self) -> None:
        """A shared lock taken alone (for recovery) is shared from now on."""
        if self.shared and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_SH)

    def release(self) -> None:
        """Let another process have the directory."""
        if self.database_lock is not None:
            self.database_lock.release()
            self.database_lock = None
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _holder(path: Path) -> str | None:
    """The pid the lock file names (written by the exclusive holder), if readable."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return text if text.isdigit() else None


def lock_data_dir(data_dir: Path, database_url: str, *, shared: bool) -> DataDirLock:
    """The lock a server over `data_dir` needs: exclusive, or shared (never with SQLite,
    whose database cannot be shared between hosts)."""
    if shared and database_url.startswith("sqlite"):
        raise DataDirInUse.misconfigured(data_dir)
    lock = DataDirLock.acquire(data_dir, shared=shared)
    database = _sqlite_file(database_url)
    if database is not None and database.parent.resolve() != data_dir.resolve():
        try:
            lock.database_lock = DataDirLock.acquire(
                database.parent, lock_file=f"{database.name}.server-lock"
            )
        except DataDirInUse as error:
            lock.release()
            raise DataDirInUse.sqlite_in_use(database, error.holder) from None
    return lock


def _sqlite_file(database_url: str) -> Path | None:
    """The file of a SQLite database URL (None for other databases or in-memory ones)."""
    if not database_url.startswith("sqlite"):
        return None
    name = make_url(database_url).database
    return Path(name).expanduser() if name and name != ":memory:" else None
