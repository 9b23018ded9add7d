"""What a sandboxed run may use (Limits) and what it reports back (SandboxResult)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from vibeforge.errors import InvalidInput

KilledReason = Literal["timeout", "cpu", "memory", "output_limit", "file_size", "signal"]
"""Why a run did not end on its own terms; None in a result means it exited by itself."""

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource limits for one run; every value must be positive."""

    timeout_s: float = 10.0
    memory_mb: int = 512
    cpu_s: float | None = None  # None: a second past the wall-clock timeout, which wins
    output_bytes: int = MiB  # per stream: stdout and stderr are capped separately
    processes: int = 64  # RLIMIT_NPROC: processes and threads of the sandbox uid
    file_size_mb: int = 64
    open_files: int = 256
    tmp_mb: int = 64  # the private /tmp (bubblewrap only); tmpfs pages escape RLIMIT_AS

    def __post_init__(self) -> None:
        for name in (
            "timeout_s",
            "memory_mb",
            "output_bytes",
            "processes",
            "file_size_mb",
            "open_files",
            "tmp_mb",
        ):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise InvalidInput(f"sandbox limit {name} must be a positive number, got {value!r}")
        if self.cpu_s is not None and (not isinstance(self.cpu_s, (int, float)) or self.cpu_s <= 0):
            raise InvalidInput(f"sandbox limit cpu_s must be positive, got {self.cpu_s!r}")
        if not math.isfinite(self.timeout_s):
            raise InvalidInput("sandbox limit timeout_s must be finite")

    @property
    def cpu_seconds(self) -> int:
        """The RLIMIT_CPU soft limit in whole seconds (the kernel counts whole seconds)."""
        if self.cpu_s is None:
            # A busy single-threaded program should be reported as a timeout, not race it.
            return math.ceil(self.timeout_s) + 1
        return max(1, math.ceil(self.cpu_s))


@dataclass(frozen=True, slots=True)
class SandboxResult:
    """The outcome of one sandboxed run.

    `exit_code` follows the shell convention in every mode: 128 + N when signal N ended the
    process. `killed_reason` is None when the program exited by itself; "memory", "cpu" and
    "file_size" are inferred from signals and error messages (see docs/sandbox.md).
    """

    exit_code: int
    stdout: bytes
    stderr: bytes
    duration_s: float
    killed_reason: KilledReason | None
    truncated: bool
    isolation: str

    @property
    def ok(self) -> bool:
        """True when the program exited with status 0 and was not killed."""
        return self.exit_code == 0 and self.killed_reason is None
