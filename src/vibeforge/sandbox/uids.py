"""Unprivileged uids for sandboxed runs: one per concurrent run, locked across processes."""

from __future__ import annotations

import asyncio
import fcntl
import os
import random
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from vibeforge.errors import Unavailable
from vibeforge.sandbox.commands import as_user_argv

# systemd's DynamicUser range: uids with no passwd entry, no files and no login, set aside for
# transient services. A uid of our own per run means RLIMIT_NPROC counts only that run, and
# "kill every process of this uid" cannot hit anything else.
UID_RANGE = range(61184, 65520)


@dataclass(slots=True)
class UidLease:
    """One uid (gid = uid) held for one run; release() hands it back."""

    uid: int
    _fd: int

    @property
    def gid(self) -> int:
        """The matching gid: a group nobody else is in."""
        return self.uid

    def release(self) -> None:
        """Give the uid back; closing the lock file drops the flock."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _lock_dir() -> Path:
    # /run is root-only on Debian; the temp dir is the fallback for odd containers. Either way
    # the directory must be ours and not a symlink, or another user could steal our leases.
    for base in (Path("/run"), Path(tempfile.gettempdir())):
        path = base / "vibeforge-sandbox-uids"
        try:
            path.mkdir(mode=0o700, exist_ok=True)
        except OSError:
            continue
        info = path.lstat()
        if stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid():
            return path
    raise Unavailable("no private directory for sandbox uid locks")


def lease_uid() -> UidLease:
    """Lock a free uid of UID_RANGE, across every process on this machine.

    The search starts at a random place: a uid just given back may still own zombies that the
    host's init has not reaped yet, and RLIMIT_NPROC counts them against the next run.
    """
    lock_dir = _lock_dir()
    start = random.randrange(len(UID_RANGE))
    for index in range(len(UID_RANGE)):
        uid = UID_RANGE[(start + index) % len(UID_RANGE)]
        fd = os.open(lock_dir / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return UidLease(uid, fd)
    raise Unavailable("every sandbox uid is in use")


async def kill_every_process_of(uid: int, kill_binary: str, setpriv: str) -> None:
    """SIGKILL every process running as `uid`, including ones that left the process group.

    kill(-1) from a process of that uid reaches exactly the processes it may signal: its own
    uid's. The kernel makes this race-free against fork (a forking parent with SIGKILL pending
    cannot complete the fork).
    """
    proc = await asyncio.create_subprocess_exec(
        *as_user_argv(setpriv, uid),
        kill_binary,
        "-KILL",
        "-1",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        env={},
    )
    await proc.wait()


def processes_of(uid: int) -> list[int]:
    """Live (non-zombie) processes whose real, effective or saved uid is `uid`."""
    found: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            # status, not the owner of /proc/PID: a process can make itself non-dumpable, and
            # then /proc/PID belongs to root.
            with open(f"/proc/{entry}/status", encoding="ascii", errors="replace") as handle:
                status = handle.read()
        except OSError:
            continue  # it exited while we looked
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("State", "").strip().startswith("Z"):
            continue
        uids = fields.get("Uid", "").split()[:3]
        if str(uid) in uids:
            found.append(int(entry))
    return found
