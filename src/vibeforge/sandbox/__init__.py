"""Running untrusted code in a subprocess jail: never in the server process.

result = await run(["python3", "main.py"], files={"main.py": "print(1)"}, timeout_s=5)
report = await isolation_report()   # for /health: the mode and what it protects against
"""

from vibeforge.sandbox.commands import IsolationMode
from vibeforge.sandbox.isolation import IsolationSupport, isolation_report, isolation_support
from vibeforge.sandbox.limits import KilledReason, Limits, SandboxResult
from vibeforge.sandbox.runner import run
from vibeforge.sandbox.scratch import read_tree

__all__ = [
    "IsolationMode",
    "IsolationSupport",
    "KilledReason",
    "Limits",
    "SandboxResult",
    "isolation_report",
    "isolation_support",
    "read_tree",
    "run",
]
