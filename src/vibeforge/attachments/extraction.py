"""Running the extraction worker: one process per job, a few at a time, killed at its
deadline or when the job is cancelled (the caller's task is cancelled: the process group
goes with it), so a hostile or huge file costs a bounded share of the machine."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from dataclasses import dataclass
from typing import Any

from vibeforge.errors import VibeforgeError

WORKER_MODULE = "vibeforge.attachments.worker"
MAX_ANSWER_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class WorkerLimits:
    """What one job may use, and the content limits it checks."""

    timeout_s: float = 60.0
    memory_mb: int = 1024
    pdf_pages: int = 1000
    image_pixels: int = 40_000_000


class ExtractionError(VibeforgeError):
    """The worker refused the file, failed, or ran out of time; `code` says which."""

    status = 422

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


class Extractor:
    """Runs worker jobs, at most `workers` at once."""

    def __init__(self, limits: WorkerLimits, workers: int = 2) -> None:
        self.limits = limits
        self._slots = asyncio.Semaphore(workers)

    async def run(self, job: dict[str, Any], timeout_s: float | None = None) -> dict[str, Any]:
        """The worker's answer to `job` (ExtractionError when it is a refusal or a failure)."""
        limits = self.limits
        deadline = timeout_s or limits.timeout_s
        job = {
            **job,
            "limits": {
                "memory_mb": limits.memory_mb,
                "cpu_s": deadline,
                "pdf_pages": limits.pdf_pages,
                "image_pixels": limits.image_pixels,
            },
        }
        async with self._slots:
            return await self._spawn(job, deadline)

    async def _spawn(self, job: dict[str, Any], deadline: float) -> dict[str, Any]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-I",  # no environment variables or user site-packages steer the interpreter
            "-m",
            WORKER_MODULE,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group, killed as one
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"},
        )
        try:
            stdout, stderr = await asyncio.wait_for(
                process.communicate(json.dumps(job).encode()), deadline
            )
        except TimeoutError:
            raise ExtractionError(
                "extraction_timeout", f"reading the file took over {deadline:g} s"
            ) from None
        finally:
            if process.returncode is None:
                _kill(process)
                with contextlib.suppress(Exception):
                    await asyncio.shield(process.wait())
        return _answer(process.returncode, stdout, stderr)


def _kill(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _answer(returncode: int | None, stdout: bytes, stderr: bytes) -> dict[str, Any]:
    line = stdout[:MAX_ANSWER_BYTES].strip().splitlines()[-1:] if stdout else []
    try:
        answer = json.loads(line[0]) if line else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        if returncode is not None and returncode < 0:
            signal_name = signal.Signals(-returncode).name
            reason = "its CPU time" if signal_name == "SIGXCPU" else f"signal {signal_name}"
            detail = f"reading the file was stopped by {reason}"
        elif b"MemoryError" in stderr:
            detail = "reading the file needs more memory than an extraction may use"
        else:
            detail = "the file could not be read"
        raise ExtractionError("extraction_failed", detail)
    if not answer.get("ok"):
        raise ExtractionError(
            str(answer.get("code") or "extraction_failed"), str(answer.get("detail"))[:500]
        )
    return answer
