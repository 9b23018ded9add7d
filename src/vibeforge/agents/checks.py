"""The project's own check (its tests, a linter) run in the sandbox on a candidate edit."""

from __future__ import annotations

from dataclasses import dataclass

from vibeforge.agents.candidate import Candidate
from vibeforge.agents.tools import Workspace
from vibeforge.agents.validators import Problem
from vibeforge.sandbox import run

MAX_CHECK_BYTES = 64 * 1024 * 1024
REPORT_CHARS = 4000
CHECK_PATH = "(check)"


@dataclass(frozen=True, slots=True)
class ProjectCheck:
    """A command (argv) run with the candidate files as its working directory."""

    argv: list[str]
    timeout_s: float = 60.0

    @property
    def shown(self) -> str:
        """The command as a person would type it."""
        return " ".join(self.argv)


async def candidate_tree(workspace: Workspace, candidate: Candidate) -> dict[str, str]:
    """Every text file of the base version with the candidate's changes laid over it."""
    files = await workspace.read_many(workspace.paths)
    for path, text in candidate.current.items():
        if text is None:
            files.pop(path, None)
        else:
            files[path] = text
    return files


async def run_check(
    check: ProjectCheck, workspace: Workspace, candidate: Candidate
) -> Problem | None:
    """None when the check passes; otherwise what it printed, for the fixer."""
    files = await candidate_tree(workspace, candidate)
    if sum(len(text) for text in files.values()) > MAX_CHECK_BYTES:
        return Problem(CHECK_PATH, "the project is too large to check in the sandbox", kind="check")
    result = await run(
        check.argv,
        files=files,
        timeout_s=check.timeout_s,
        memory_mb=1024,
        output_bytes=256 * 1024,
    )
    if result.exit_code == 0 and result.killed_reason is None:
        return None
    output = (result.stdout + result.stderr).decode("utf-8", "replace").strip()
    if result.killed_reason is not None:
        verdict = f"was stopped ({result.killed_reason})"
    else:
        verdict = f"exited with status {result.exit_code}"
    tail = output[-REPORT_CHARS:]
    return Problem(
        CHECK_PATH, f"the project check `{check.shown}` {verdict}:\n{tail}", kind="check"
    )
