"""How long the reliability suite runs: a bounded budget in `make test`, more in `make soak`."""

from __future__ import annotations

import os

SOAK = os.environ.get("VIBEFORGE_SOAK") == "1"


def scaled(quick: int, soak: int) -> int:
    """`quick` in an ordinary run, `soak` under `make soak` (VIBEFORGE_SOAK=1)."""
    return soak if SOAK else quick
