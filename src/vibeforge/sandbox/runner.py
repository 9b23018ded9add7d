"""Run a program in the strongest available sandbox: spawn, cap output, kill at the deadline."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from vibeforge.errors import InvalidInput, Unavailable
from vibeforge.sandbox.commands import (
    IsolationMode,
    as_user_argv,
    bubblewrap_argv,
    prlimit_argv,
    sandbox_env,
    unshare_argv,
)
from vibeforge.sandbox.isolation import IsolationSupport, isolation_support
from vibeforge.sandbox.limits import KilledReason, Limits, MiB, SandboxResult
from vibeforge.sandbox.scratch import create_scratch, remove_scratch, validate_files
from vibeforge.sandbox.uids import UidLease, kill_every_process_of, lease_uid, processes_of

log = logging.getLogger(__name__)

DRAIN_GRACE_S = 2.0  # after the program is gone, how long its pipes may stay open
REAP_TIMEOUT_S = 5.0  # how long a killed uid may take to have no processes left
MEMORY_MARKERS = (b"MemoryError", b"Cannot allocate memory", b"std::bad_alloc", b"out of memory")

Converse = Callable[[bytes], Awaitable[bytes | None]]
"""Answers one line a program wrote on stdout with a line for its stdin (None: no answer)."""


async def run(
    argv: Sequence[str],
    *,
    files: Mapping[str, str | bytes] | None = None,
    stdin: bytes = b"",
    timeout_s: float = 10,
    memory_mb: int = 512,
    cpu_s: float | None = None,
    output_bytes: int = MiB,
    processes: int = 64,
    file_size_mb: int = 64,
    open_files: int = 256,
    isolation: IsolationMode | str | None = None,
    ro_paths: Sequence[str] = (),
    hide_paths: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    path: Sequence[str] = (),
    converse: Converse | None = None,
) -> SandboxResult:
    """Run `argv` in a fresh scratch directory holding `files`, never in this process.

    `isolation` picks a mode (default: the strongest this machine allows). Under bubblewrap,
    `ro_paths` are extra host paths shown read-only and `hide_paths` (the server's data
    directory, say) are masked wherever they fall inside a shown tree; the weaker modes show
    the whole filesystem as file permissions allow, so there they change nothing. `env` adds
    variables to the program's otherwise empty environment (not PATH or HOME), and `path`
    directories in front of its PATH (a virtual environment's `bin`, say).

    `converse` makes the run a conversation: each line the program writes on stdout is handed
    to it as it arrives (in order, one at a time), and what it returns is written to the
    program's stdin, which stays open after `stdin` until the program ends. The lines still
    count against `output_bytes` and are all in the result. If `converse` raises, the program
    is killed and the exception re-raised.
    """
    if isinstance(argv, str) or not argv or not all(isinstance(a, str) and a for a in argv):
        raise InvalidInput("argv must be a non-empty list of non-empty strings")
    if any("\x00" in a for a in argv):
        raise InvalidInput("argv may not contain NUL bytes")
    if not isinstance(stdin, bytes):
        raise InvalidInput("stdin must be bytes")
    limits = Limits(
        timeout_s=timeout_s,
        memory_mb=memory_mb,
        cpu_s=cpu_s,
        output_bytes=output_bytes,
        processes=processes,
        file_size_mb=file_size_mb,
        open_files=open_files,
    )
    checked_files = validate_files(files or {})
    _check_paths("ro_paths", ro_paths)
    _check_paths("hide_paths", hide_paths)
    _check_paths("path", path)
    extra_env = _checked_env(env or {})
    caps = await isolation_support()
    mode = _choose_mode(caps, isolation)
    preparing = asyncio.ensure_future(asyncio.to_thread(_prepare, checked_files, caps.is_root))
    try:
        lease, scratch = await asyncio.shield(preparing)
    except asyncio.CancelledError:
        # The thread finishes regardless; undo what it made, or a lease and a directory leak.
        with contextlib.suppress(Exception):
            await asyncio.to_thread(_release, *await preparing)
        raise
    try:
        job = _Job(caps, mode, limits, scratch, lease, list(ro_paths), list(hide_paths))
        job.extra_env, job.path = extra_env, list(path)
        return await job.run(list(argv), stdin, converse)
    finally:
        await asyncio.to_thread(_release, lease, scratch)


def _prepare(files: dict[PurePosixPath, bytes], is_root: bool) -> tuple[UidLease | None, Path]:
    """Lease a uid (as root) and build the scratch directory it owns."""
    lease = lease_uid() if is_root else None
    try:
        return lease, create_scratch(files, lease.uid if lease else None)
    except BaseException:
        if lease is not None:
            lease.release()
        raise


def _release(lease: UidLease | None, scratch: Path) -> None:
    """Delete the scratch directory, then hand the uid back unless it was retired."""
    try:
        remove_scratch(scratch)
    finally:
        if lease is not None and not lease_is_quarantined(lease):
            lease.release()


def _check_paths(name: str, paths: Sequence[str]) -> None:
    if isinstance(paths, str):
        raise InvalidInput(f"{name} must be a list of paths")
    for path in paths:
        if not isinstance(path, str) or not os.path.isabs(path) or not os.path.exists(path):
            raise InvalidInput(f"{name} entries must be existing absolute paths: {path!r}")


ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
RESERVED_ENV = frozenset({"PATH", "HOME"})  # the sandbox's own: `path` adds to PATH


def _checked_env(env: Mapping[str, str]) -> dict[str, str]:
    checked: dict[str, str] = {}
    for name, value in env.items():
        if not isinstance(name, str) or not ENV_NAME.fullmatch(name) or name in RESERVED_ENV:
            raise InvalidInput(f"env: {name!r} is not a variable the program may be given")
        if not isinstance(value, str) or "\x00" in value:
            raise InvalidInput(f"env: the value of {name} must be text without NUL")
        checked[name] = value
    return checked


def _choose_mode(caps: IsolationSupport, requested: IsolationMode | str | None) -> IsolationMode:
    if requested is None:
        if caps.strongest is None:
            raise Unavailable(f"no sandbox is possible on this machine: {caps.missing}")
        return caps.strongest
    try:
        mode = IsolationMode(requested)
    except ValueError:
        raise InvalidInput(f"unknown isolation mode {requested!r}") from None
    if mode not in caps.available:
        why = caps.missing.get(mode, "not available")
        raise InvalidInput(f"isolation mode {mode} is not available here: {why}")
    return mode


_quarantined: list[UidLease] = []


def lease_is_quarantined(lease: UidLease) -> bool:
    """True when a uid still had processes after the kill: it is never handed out again."""
    return lease in _quarantined


class _CappedPipe(asyncio.Protocol):
    """Keeps the first `cap` bytes of a pipe and discards the rest, so the writer never blocks."""

    def __init__(
        self, cap: int, on_overflow: asyncio.Event, lines: asyncio.Queue[bytes] | None = None
    ) -> None:
        self.cap = cap
        self.data = bytearray()
        self.truncated = False
        self._on_overflow = on_overflow
        self._lines = lines  # complete lines are also handed here, when the run converses
        self._line_start = 0
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        room = self.cap - len(self.data)
        if room > 0:
            self.data += data[:room]
            if self._lines is not None:
                self._split_lines()
        if len(data) > room:
            self.truncated = True
            self._on_overflow.set()

    def _split_lines(self) -> None:
        assert self._lines is not None
        while (end := self.data.find(b"\n", self._line_start)) >= 0:
            self._lines.put_nowait(bytes(self.data[self._line_start : end]))
            self._line_start = end + 1

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


class _Job:
    """One run: builds the command line for its mode, supervises it, leaves nothing behind."""

    def __init__(
        self,
        caps: IsolationSupport,
        mode: IsolationMode,
        limits: Limits,
        scratch: Path,
        lease: UidLease | None,
        ro_paths: list[str],
        hide_paths: list[str],
    ) -> None:
        self.caps, self.mode, self.limits = caps, mode, limits
        self.scratch, self.lease = scratch, lease
        self.ro_paths, self.hide_paths = ro_paths, hide_paths
        self.extra_env: dict[str, str] = {}
        self.path: list[str] = []

    def environment(self, home: str) -> dict[str, str]:
        """The program's whole environment, with its home at `home`."""
        return sandbox_env(home, self.extra_path(), self.extra_env)

    def extra_path(self) -> str | None:
        """What goes before the system PATH: the caller's directories, then a bound Python."""
        entries = list(self.path)
        if self.mode is IsolationMode.BUBBLEWRAP and self.caps.python_prefix:
            entries.append(os.path.join(self.caps.python_prefix, "bin"))
        return ":".join(entries) or None

    def command(self, argv: list[str]) -> tuple[list[str], dict[str, object]]:
        """The full command line and the extra spawn arguments (uid switch) for this mode."""
        caps, limits = self.caps, self.limits
        assert caps.prlimit is not None
        prefix = prlimit_argv(caps.prlimit, limits)
        uid = self.lease.uid if self.lease else None
        as_uid = as_user_argv(caps.setpriv, uid) if caps.setpriv and uid is not None else []
        if self.mode is IsolationMode.BUBBLEWRAP:
            assert caps.bwrap is not None
            ro = list(self.ro_paths)
            if caps.python_prefix:
                ro.append(caps.python_prefix)
            jail = bubblewrap_argv(
                caps.bwrap,
                limits,
                str(self.scratch),
                ro_paths=ro,
                hide_paths=self.hide_paths,
                extra_path=self.extra_path(),
                extra_env=self.extra_env,
            )
            return [*prefix, *as_uid, *jail, *argv], {}
        if self.mode is IsolationMode.UNSHARE:
            assert caps.unshare is not None and uid is not None
            # unshare needs root for the namespaces and drops to the uid itself; the spawn
            # only clears root's supplementary groups.
            assert caps.setpriv is not None
            clear = as_user_argv(caps.setpriv, None)
            return [*prefix, *clear, *unshare_argv(caps.unshare, uid, uid), *argv], {}
        return [*prefix, *as_uid, *argv], {}

    async def run(
        self, argv: list[str], stdin: bytes, converse: Converse | None = None
    ) -> SandboxResult:
        """Spawn, wait for exit, timeout or output overflow, then kill and collect."""
        started = time.monotonic()
        proc, pipes = await self._spawn(argv, stdin, interactive=converse is not None)
        loop = asyncio.get_running_loop()
        overflow = asyncio.Event()
        lines: asyncio.Queue[bytes] | None = asyncio.Queue() if converse else None
        out = _CappedPipe(self.limits.output_bytes, overflow, lines)
        err = _CappedPipe(self.limits.output_bytes, overflow)
        transports: list[asyncio.BaseTransport] = []
        tasks: list[asyncio.Task[Any]] = []
        reason: KilledReason | None = None
        failure: BaseException | None = None
        try:
            for pipe, protocol in zip(pipes, (out, err), strict=True):
                transport, _ = await loop.connect_read_pipe(lambda p=protocol: p, pipe)
                transports.append(transport)
            if converse is None or lines is None:
                feeding = asyncio.create_task(_feed(proc, stdin))
            else:
                feeding = asyncio.create_task(_converse(proc, stdin, lines, converse))
            exited = asyncio.create_task(proc.wait())
            overflowed = asyncio.create_task(overflow.wait())
            tasks += [feeding, exited, overflowed]
            watched = {exited, overflowed} | ({feeding} if converse else set())
            done, _ = await asyncio.wait(
                watched, timeout=self.limits.timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
            if feeding in done and converse is not None and exited not in done:
                failure = feeding.exception()  # the conversation broke: the program goes
            elif exited not in done:
                reason = "output_limit" if overflow.is_set() else "timeout"
            duration = time.monotonic() - started
        finally:
            # Also on cancellation: whatever happened, nothing of the run may survive it.
            killed = reason is not None or proc.returncode is None
            await self._kill_everything(proc, killed=killed)
            for task in tasks:
                task.cancel()
            if len(transports) == len(pipes):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        asyncio.gather(out.closed, err.closed), timeout=DRAIN_GRACE_S
                    )
            for transport in transports:
                transport.close()
            for pipe in pipes:
                pipe.close()  # a no-op for pipes their transport already closed
        if failure is not None:
            raise failure
        returncode = await proc.wait()
        exit_code = 128 - returncode if returncode < 0 else returncode
        return SandboxResult(
            exit_code=exit_code,
            stdout=bytes(out.data),
            stderr=bytes(err.data),
            duration_s=duration,
            killed_reason=reason or _inferred_reason(exit_code, bytes(err.data)),
            truncated=out.truncated or err.truncated,
            isolation=self.mode.value,
        )

    async def _spawn(
        self, argv: list[str], stdin: bytes, *, interactive: bool = False
    ) -> tuple[asyncio.subprocess.Process, list[BinaryIO]]:
        """Start the program with stdout and stderr on pipes; a cancelled start kills it."""
        command, spawn_args = self.command(argv)
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        spawning = asyncio.ensure_future(
            asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE
                if stdin or interactive
                else asyncio.subprocess.DEVNULL,
                stdout=out_write,
                stderr=err_write,
                cwd=self.scratch,
                env=self.environment(str(self.scratch)),
                start_new_session=True,  # its own process group, and no controlling terminal
                **spawn_args,  # type: ignore[arg-type]
            )
        )
        try:
            # Shielded: if the caller is cancelled mid-spawn, the child may already exist, and
            # asyncio would only kill the direct child, not what it started.
            proc = await asyncio.shield(spawning)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await self._kill_everything(await spawning, killed=True)
            _close_all(out_read, err_read)
            raise
        except BaseException:
            _close_all(out_read, err_read)
            raise
        finally:
            _close_all(out_write, err_write)  # the child holds its own copies
        return proc, [_reader(out_read), _reader(err_read)]

    async def _kill_everything(self, proc: asyncio.subprocess.Process, *, killed: bool) -> None:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        if self.lease is None:
            # No uid of our own: the process group is all we can reach. A process that called
            # setsid() escapes it (documented for the rlimits mode); bubblewrap's pid namespace
            # dies with its init, which --die-with-parent kills.
            await proc.wait()
            if self.mode is IsolationMode.RLIMITS:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            return
        assert self.caps.kill is not None
        uid = self.lease.uid
        if killed or self.mode is IsolationMode.SETUID:
            await kill_every_process_of(uid, self.caps.kill, self.caps.setpriv)
        await proc.wait()
        deadline = time.monotonic() + REAP_TIMEOUT_S
        while await asyncio.to_thread(processes_of, uid):
            if time.monotonic() > deadline:
                log.error("sandbox uid %s still has processes; it is retired", uid)
                _quarantined.append(self.lease)
                return
            await kill_every_process_of(uid, self.caps.kill, self.caps.setpriv)
            await asyncio.sleep(0.01)


def _close_all(*fds: int) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def _reader(fd: int) -> BinaryIO:
    """Wrap a pipe's read end for connect_read_pipe, which closes it with the transport."""
    return os.fdopen(fd, "rb", buffering=0)


async def _feed(proc: asyncio.subprocess.Process, data: bytes) -> None:
    """Write stdin and close it; a program that stops reading early is not an error."""
    if proc.stdin is None:
        return
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        proc.stdin.write(data)
        await proc.stdin.drain()
        proc.stdin.close()


async def _converse(
    proc: asyncio.subprocess.Process,
    first: bytes,
    lines: asyncio.Queue[bytes],
    converse: Converse,
) -> None:
    """Write `first`, then answer each stdout line as it comes; stdin stays open. Returns
    (without an answer) only if the program closed its stdin."""
    assert proc.stdin is not None
    try:
        if first:
            proc.stdin.write(first)
            await proc.stdin.drain()
        while True:
            reply = await converse(await lines.get())
            if reply is not None:
                proc.stdin.write(reply if reply.endswith(b"\n") else reply + b"\n")
                await proc.stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        await asyncio.Event().wait()  # the program stopped reading: wait for it to end


def _inferred_reason(exit_code: int, stderr: bytes) -> KilledReason | None:
    """Name the limit a program ran into from how it ended (the kernel does not say)."""
    if exit_code == 0:
        return None
    signum = exit_code - 128 if exit_code > 128 else None
    if signum == signal.SIGXCPU:
        return "cpu"
    if signum == signal.SIGXFSZ:
        return "file_size"
    tail = stderr[-4096:]
    if any(marker in tail for marker in MEMORY_MARKERS):
        return "memory"
    if b"File too large" in tail:
        return "file_size"
    if signum == signal.SIGKILL:
        return "signal"  # the hard CPU limit, or the kernel's OOM killer
    return None
