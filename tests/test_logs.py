"""Logs read by a person at a terminal are text; logs read by a machine are JSON lines."""

import json
import os
import pty
import subprocess
import sys

SCRIPT = (
    "import logging; from vibeforge.logs import configure_logging;"
    " configure_logging('INFO', json_lines={choice});"
    " logging.getLogger('vibeforge.runs').info('run %s started', 'R1', extra={{'run_id': 'R1'}})"
)


def _log_line(choice: str, *, terminal: bool) -> str:
    """What one log call writes to stderr, a pseudo-terminal or a pipe."""
    command = [sys.executable, "-c", SCRIPT.format(choice=choice)]
    if not terminal:
        done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=30)
        return done.stderr.strip()
    leader, follower = pty.openpty()
    try:
        subprocess.run(command, stderr=follower, check=True, timeout=30)
        return os.read(leader, 65536).decode().strip()
    finally:
        os.close(leader)
        os.close(follower)


def test_text_on_a_terminal_and_json_otherwise_unless_a_setting_says() -> None:
    on_terminal = _log_line("None", terminal=True)
    assert on_terminal.endswith("INFO vibeforge.runs: run R1 started")
    piped = json.loads(_log_line("None", terminal=False))
    assert piped["msg"] == "run R1 started" and piped["run_id"] == "R1"
    assert json.loads(_log_line("True", terminal=True))["level"] == "info"
    assert _log_line("False", terminal=False).endswith("vibeforge.runs: run R1 started")
