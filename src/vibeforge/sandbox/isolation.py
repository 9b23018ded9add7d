"""What isolation this machine allows: probed once, cached, and reported by /health."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field

from vibeforge.sandbox.commands import (
    MODES_STRONGEST_FIRST,
    IsolationMode,
    as_user_argv,
    bubblewrap_argv,
    prlimit_argv,
    sandbox_env,
    unshare_argv,
)
from vibeforge.sandbox.limits import Limits
from vibeforge.sandbox.uids import UID_RANGE, lease_uid

# What each mode protects against, as data, so /health and the docs say the same thing.
PROTECTIONS: dict[IsolationMode, dict[str, bool]] = {
    IsolationMode.BUBBLEWRAP: {
        "killed_as_a_whole": True,  # pid namespace: nothing outlives the run
        "rlimits": True,
        "empty_environment": True,
        "unprivileged_uid": True,
        "no_network": True,
        "private_filesystem_view": True,
    },
    IsolationMode.UNSHARE: {
        "killed_as_a_whole": True,
        "rlimits": True,
        "empty_environment": True,
        "unprivileged_uid": True,
        "no_network": True,
        "private_filesystem_view": False,  # reads what file permissions let any user read
    },
    IsolationMode.SETUID: {
        "killed_as_a_whole": True,  # every process of the run's own uid is killed
        "rlimits": True,
        "empty_environment": True,
        "unprivileged_uid": True,
        "no_network": False,
        "private_filesystem_view": False,
    },
    IsolationMode.RLIMITS: {
        "killed_as_a_whole": False,  # a process that calls setsid() leaves the group
        "rlimits": True,
        "empty_environment": True,
        "unprivileged_uid": False,  # the server's own uid: its files are the sandbox's files
        "no_network": False,
        "private_filesystem_view": False,
    },
}


@dataclass(frozen=True, slots=True)
class IsolationSupport:
    """The tools found and the isolation modes that passed a real probe, strongest first."""

    is_root: bool
    prlimit: str | None
    bwrap: str | None
    unshare: str | None
    kill: str | None
    setpriv: str | None
    python_prefix: str | None  # an interpreter outside /usr to bind, when /usr has none
    available: tuple[IsolationMode, ...]
    missing: dict[str, str] = field(default_factory=dict)

    @property
    def strongest(self) -> IsolationMode | None:
        """The mode `run` uses unless told otherwise."""
        return self.available[0] if self.available else None

    def report(self) -> dict[str, object]:
        """A JSON-ready description for /health."""
        mode = self.strongest
        return {
            "mode": mode.value if mode else "none",
            "available": [m.value for m in self.available],
            "protections": dict(PROTECTIONS[mode]) if mode else {},
            "runs_as": (
                f"a uid of its own from {UID_RANGE.start}-{UID_RANGE.stop - 1}"
                if self.is_root
                else f"the server's uid {os.geteuid()}"
            ),
            "unavailable": dict(self.missing),
            "tools": {"bwrap": self.bwrap, "unshare": self.unshare, "prlimit": self.prlimit},
        }


def _python_prefix() -> str | None:
    # Debian's /usr/bin/python3 is inside every mode's view. Without it, bubblewrap binds the
    # base interpreter the server runs on (never the server's venv, which holds its packages).
    if os.path.exists("/usr/bin/python3") or os.path.exists("/usr/local/bin/python3"):
        return None
    prefix = sys.base_prefix
    return prefix if not prefix.startswith("/usr") else None


async def _succeeds(argv: list[str], *, cwd: str) -> str | None:
    """Run a probe; None when it exits 0, otherwise why it failed."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            cwd=cwd,
            env=sandbox_env(cwd),
            start_new_session=True,
        )
        _, stderr = await asyncio.wait_for(proc.communicate(), timeout=10)
    except (OSError, TimeoutError) as exc:
        return f"{type(exc).__name__}: {exc}"
    if proc.returncode == 0:
        return None
    return stderr.decode(errors="replace").strip()[-300:] or f"exit {proc.returncode}"


async def probe() -> IsolationSupport:
    """Find the tools and try each mode for real on this machine."""
    is_root = os.geteuid() == 0
    prlimit, bwrap = shutil.which("prlimit"), shutil.which("bwrap")
    unshare, kill = shutil.which("unshare"), shutil.which("kill")
    setpriv = shutil.which("setpriv")
    python_prefix = _python_prefix()
    available: list[IsolationMode] = []
    missing: dict[str, str] = {}
    limits = Limits(timeout_s=10)
    true = shutil.which("true") or "/bin/true"
    lease = lease_uid() if is_root else None
    uid = lease.uid if lease else None
    scratch = tempfile.mkdtemp(prefix="vibeforge-probe-")
    try:
        if uid is not None:
            os.chown(scratch, uid, uid)
        if prlimit is None:
            missing["all"] = "prlimit (util-linux) not found"
            return IsolationSupport(
                is_root, None, bwrap, unshare, kill, setpriv, python_prefix, (), missing
            )
        if is_root and setpriv is None:
            missing["all"] = "setpriv (util-linux) not found: cannot drop root"
            return IsolationSupport(
                is_root, prlimit, bwrap, unshare, kill, None, python_prefix, (), missing
            )
        as_user = as_user_argv(setpriv, uid) if setpriv and uid is not None else []
        limit_args = prlimit_argv(prlimit, limits)
        if bwrap is None:
            missing[IsolationMode.BUBBLEWRAP] = "bwrap not found (Debian package bubblewrap)"
        else:
            ro = [python_prefix] if python_prefix else []
            jail = bubblewrap_argv(bwrap, limits, scratch, ro_paths=ro)
            why = await _succeeds([*limit_args, *as_user, *jail, true], cwd=scratch)
            if why is None:
                available.append(IsolationMode.BUBBLEWRAP)
            else:
                missing[IsolationMode.BUBBLEWRAP] = why
        if not is_root:
            reason = "needs root to switch to an unprivileged uid"
            missing[IsolationMode.UNSHARE] = missing[IsolationMode.SETUID] = reason
            available.append(IsolationMode.RLIMITS)
        else:
            missing[IsolationMode.RLIMITS] = "never used as root: rlimits do not bind root"
            assert uid is not None
            if unshare is None:
                missing[IsolationMode.UNSHARE] = "unshare (util-linux) not found"
            else:
                assert setpriv is not None
                clear = as_user_argv(setpriv, None)
                argv = [*limit_args, *clear, *unshare_argv(unshare, uid, uid), true]
                why = await _succeeds(argv, cwd=scratch)
                if why is None:
                    available.append(IsolationMode.UNSHARE)
                else:
                    missing[IsolationMode.UNSHARE] = why
            if kill is None:
                missing[IsolationMode.SETUID] = "kill (procps) not found"
            else:
                available.append(IsolationMode.SETUID)
        ordered = tuple(m for m in MODES_STRONGEST_FIRST if m in available)
        return IsolationSupport(
            is_root, prlimit, bwrap, unshare, kill, setpriv, python_prefix, ordered, missing
        )
    finally:
        if lease:
            lease.release()
        shutil.rmtree(scratch, ignore_errors=True)


_cached: IsolationSupport | None = None


async def isolation_support() -> IsolationSupport:
    """What isolation this machine supports, probed on first use only."""
    global _cached
    if _cached is None:
        _cached = await probe()
    return _cached


async def isolation_report() -> dict[str, object]:
    """What `/health` shows: the mode in use, what it protects against, and what is missing."""
    return (await isolation_support()).report()
