"""The command lines that put a program into each isolation mode (pure: no processes here)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from enum import StrEnum

from vibeforge.sandbox.limits import Limits, MiB


class IsolationMode(StrEnum):
    """Isolation modes, strongest first."""

    BUBBLEWRAP = "bubblewrap"  # namespaces + an allow-listed read-only filesystem view
    UNSHARE = "unshare"  # network/pid/ipc namespaces + setuid; the host filesystem by permission
    SETUID = "setuid"  # an unprivileged uid + rlimits; shares network and filesystem
    RLIMITS = "rlimits"  # a non-root server: rlimits + process group, same uid as the server


MODES_STRONGEST_FIRST = tuple(IsolationMode)

SCRATCH_IN_SANDBOX = "/scratch"  # where bubblewrap mounts the scratch directory
BASE_PATH = "/usr/local/bin:/usr/bin:/bin"

# Host paths bubblewrap shows (read-only); everything else, the server's data directory
# included, does not exist inside. /etc is reduced to what the dynamic linker and time zone
# handling read.
SYSTEM_DIRS = ("/usr",)
MERGED_USR_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/localtime",
)


def sandbox_env(
    home: str, extra_path: str | None = None, extra_env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The whole environment a sandboxed program gets: nothing of the server's, only what the
    caller adds (`extra_env`, `extra_path` before the system PATH)."""
    path = f"{extra_path}:{BASE_PATH}" if extra_path else BASE_PATH
    return {
        **(extra_env or {}),
        "PATH": path,
        "HOME": home,
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "USER": "sandbox",
        "LOGNAME": "sandbox",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def prlimit_argv(prlimit: str, limits: Limits) -> list[str]:
    """Set rlimits in the child itself before exec: preexec_fn is unsafe in a threaded server."""
    cpu = limits.cpu_seconds
    memory = limits.memory_mb * MiB
    file_size = limits.file_size_mb * MiB
    return [
        prlimit,
        f"--cpu={cpu}:{cpu + 1}",  # SIGXCPU at the soft limit, SIGKILL one second later
        f"--as={memory}",
        f"--data={memory}",
        f"--fsize={file_size}",
        f"--nproc={limits.processes}",
        f"--nofile={limits.open_files}",
        "--core=0",
        "--",
    ]


def _root_layout() -> list[str]:
    args: list[str] = []
    for directory in SYSTEM_DIRS:
        args += ["--ro-bind", directory, directory]
    for path in MERGED_USR_LINKS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in ETC_FILES:
        args += ["--ro-bind-try", path, path]
    return args


def bubblewrap_argv(
    bwrap: str,
    limits: Limits,
    scratch: str,
    *,
    ro_paths: Sequence[str] = (),
    hide_paths: Sequence[str] = (),
    extra_path: str | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> list[str]:
    """bwrap arguments: every namespace, no way back to more privilege, an allow-listed view."""
    args = [
        bwrap,
        "--unshare-all",  # user, pid, net, ipc, uts, cgroup
        "--unshare-user",  # required by --disable-userns, and maps our uid to itself
        "--disable-userns",  # no nested user namespaces: a large kernel attack surface
        "--die-with-parent",
        "--new-session",  # no TIOCSTI into a terminal the server may hold
        "--hostname",
        "sandbox",
        *_root_layout(),
    ]
    tmp_bytes = str(limits.tmp_mb * MiB)
    args += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        # /dev, /dev/shm and / are tmpfs that the sandbox could fill without bound (tmpfs pages
        # are not counted by RLIMIT_AS), so they are sized or read-only.
        "--size",
        tmp_bytes,
        "--tmpfs",
        "/dev/shm",
        "--remount-ro",
        "/dev",
        "--size",
        tmp_bytes,
        "--tmpfs",
        "/tmp",
    ]
    # After /tmp, so that a path shown from the host's /tmp is not covered by the tmpfs.
    for path in ro_paths:
        args += ["--ro-bind", path, path]
    args += _masks(hide_paths, [*SYSTEM_DIRS, *ETC_FILES, *ro_paths])
    args += [
        "--bind",
        scratch,
        SCRATCH_IN_SANDBOX,
        "--remount-ro",
        "/",
        "--chdir",
        SCRATCH_IN_SANDBOX,
        "--clearenv",
    ]
    for key, value in sandbox_env(SCRATCH_IN_SANDBOX, extra_path, extra_env).items():
        args += ["--setenv", key, value]
    args.append("--")
    return args


def _masks(hide_paths: Sequence[str], shown: Sequence[str]) -> list[str]:
    """Cover hidden paths that fall inside a shown tree (a data directory under /usr/local)."""
    args: list[str] = []
    for path in hide_paths:
        real = os.path.realpath(path)
        if not any(real == top or real.startswith(top.rstrip("/") + "/") for top in shown):
            continue  # outside every bound tree: it does not exist in the sandbox at all
        if os.path.isdir(real):
            args += ["--perms", "0000", "--tmpfs", real, "--remount-ro", real]
        elif os.path.exists(real):
            args += ["--ro-bind", "/dev/null", real]
    return args


def as_user_argv(setpriv: str, uid: int | None) -> list[str]:
    """A prefix that runs the rest of the command line as `uid` with no supplementary groups
    (with `uid` None: as root, only shedding root's groups).

    A command prefix rather than spawn arguments, because uvloop (the server's event loop) has
    no `user`/`group`/`extra_groups` for subprocesses.
    """
    if uid is None:
        return [setpriv, "--clear-groups", "--"]
    return [setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]


def unshare_argv(unshare: str, uid: int, gid: int) -> list[str]:
    """unshare(1) arguments: new network, pid, ipc and uts namespaces, then drop to uid/gid."""
    return [
        unshare,
        "--net",
        "--ipc",
        "--uts",
        "--pid",
        "--fork",
        "--kill-child",  # if unshare dies, the namespace's init (the program) dies with it
        "--mount-proc",  # a /proc that shows only the sandbox's processes
        f"--setgid={gid}",
        f"--setuid={uid}",
        "--",
        # The first process of a pid namespace is its init, and the kernel drops the signals an
        # init has no handler for: SIGXCPU at the CPU limit would do nothing. A shell as init
        # runs the program as an ordinary child and exits with its status (128 + N on signal N).
        # Two commands, so the shell cannot exec the program in its own place.
        "/bin/sh",
        "-c",
        '"$@"; exit $?',
        "sandbox-init",
    ]
