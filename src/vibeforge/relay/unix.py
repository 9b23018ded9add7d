"""The relay served on a Unix socket in a private directory, with the in-jail forwarder beside
it: a sandbox is shown that directory read-only and reaches vibeforge through the socket alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from vibeforge.relay.asgi import relay_app
from vibeforge.relay.relay import Relay

log = logging.getLogger("vibeforge.relay")
FORWARDER = Path(__file__).with_name("jail_forwarder.py")
SOCKET_NAME = "relay.sock"


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside a running server: the host process keeps its own signal handlers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _prepare_directory() -> Path:
    directory = Path(tempfile.mkdtemp(prefix="vibeforge-relay-"))
    directory.chmod(0o711)
    shutil.copyfile(FORWARDER, directory / FORWARDER.name)
    (directory / FORWARDER.name).chmod(0o644)
    return directory


class UnixRelayServer:
    """One relay endpoint per process, started on first use."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.directory: Path | None = None
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    @property
    def socket_path(self) -> str:
        """Where the relay listens."""
        assert self.directory is not None
        return str(self.directory / SOCKET_NAME)

    @property
    def forwarder_path(self) -> str:
        """The script a sandbox runs to reach the socket over loopback TCP."""
        assert self.directory is not None
        return str(self.directory / FORWARDER.name)

    async def start(self) -> None:
        """Listen, unless already listening."""
        async with self._lock:
            if self._task is not None and not self._task.done():
                return
            # A short path under the temp directory: Unix socket paths hold 107 bytes. The
            # directory can be entered but not listed by the sandbox's own uids (0711).
            directory = await asyncio.to_thread(_prepare_directory)
            config = uvicorn.Config(
                relay_app(self.relay),
                uds=str(directory / SOCKET_NAME),
                lifespan="off",
                log_level="warning",
                access_log=False,
                timeout_graceful_shutdown=1,
            )
            server = _EmbeddedServer(config)
            task = asyncio.create_task(server.serve(), name="relay-server")
            while not server.started:
                if task.done():
                    shutil.rmtree(directory, ignore_errors=True)
                    task.result()
                    raise RuntimeError("the relay server stopped before it started")
                await asyncio.sleep(0.005)
            os.chmod(directory / SOCKET_NAME, 0o666)  # any sandbox uid may connect; tokens decide
            self.directory, self._server, self._task = directory, server, task

    async def close(self) -> None:
        """Stop listening and remove the directory."""
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(Exception):
                await self._task
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
        self.directory, self._server, self._task = None, None, None
