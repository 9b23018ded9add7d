"""Keys while a run streams: Esc or the first Ctrl-C cancels the run, a second Ctrl-C exits.

On a terminal the keys are read in raw mode (prompt_toolkit's input, so Esc is told apart
from the escape sequences of other keys); Ctrl-C then arrives as a key, not a signal. SIGINT
is handled too, for a chat whose input is not a terminal (a pipe, `-m`) or a `kill -INT`.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Iterator
from typing import Any

FLUSH_ESCAPE_S = 0.05  # a lone Esc is known once nothing follows it this soon


class Interrupts:
    """Watches for the user asking to stop; `cancel` and `exit` are set when they do."""

    def __init__(self) -> None:
        self.cancel = asyncio.Event()
        self.exit = asyncio.Event()
        self.presses = 0

    def interrupt(self) -> None:
        """A Ctrl-C (key or signal): the first cancels, the next exits."""
        self.presses += 1
        if self.presses == 1:
            self.cancel.set()
        else:
            self.exit.set()

    def escape(self) -> None:
        """Esc cancels (it never exits)."""
        self.cancel.set()

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        """Watch the keyboard and SIGINT while the block runs."""
        loop = asyncio.get_running_loop()
        with contextlib.ExitStack() as stack:
            try:
                loop.add_signal_handler(signal.SIGINT, self.interrupt)
                stack.callback(loop.remove_signal_handler, signal.SIGINT)
            except (NotImplementedError, RuntimeError):  # not the main thread
                pass
            if sys.stdin.isatty():
                stack.enter_context(self._keys(loop))
            yield

    @contextlib.contextmanager
    def _keys(self, loop: asyncio.AbstractEventLoop) -> Iterator[None]:
        from prompt_toolkit.input import create_input
        from prompt_toolkit.keys import Keys

        keyboard = create_input()
        pending: list[asyncio.TimerHandle] = []

        def handle(keys: list[Any]) -> None:
            for press in keys:
                if press.key == Keys.ControlC:
                    self.interrupt()
                elif press.key == Keys.Escape:
                    self.escape()

        def flush() -> None:
            pending.clear()
            handle(keyboard.flush_keys())

        def readable() -> None:
            handle(keyboard.read_keys())
            if not pending:  # a lone Esc waits in the parser until flushed
                pending.append(loop.call_later(FLUSH_ESCAPE_S, flush))

        with keyboard.raw_mode(), keyboard.attach(readable):
            try:
                yield
            finally:
                for timer in pending:
                    timer.cancel()
