"""Pass rates of repeated runs: the Wilson score interval, and when runs disagree."""

from __future__ import annotations

import math
from collections.abc import Sequence

Z_95 = 1.959963984540054


def wilson_interval(passes: int, total: int, z: float = Z_95) -> tuple[float, float]:
    """The 95 % confidence interval of a pass rate (Wilson score); (0, 1) with no runs."""
    if total <= 0:
        return 0.0, 1.0
    rate = passes / total
    denominator = 1 + z * z / total
    centre = (rate + z * z / (2 * total)) / denominator
    spread = z * math.sqrt(rate * (1 - rate) / total + z * z / (4 * total * total)) / denominator
    return round(max(0.0, centre - spread), 4), round(min(1.0, centre + spread), 4)


def rate_of(statuses: Sequence[str]) -> dict[str, object]:
    """Counts, the pass rate over the decided runs (passed or failed), its interval, and
    `flaky` when decided runs disagree."""
    passed = sum(status == "passed" for status in statuses)
    failed = sum(status == "failed" for status in statuses)
    decided = passed + failed
    low, high = wilson_interval(passed, decided)
    return {
        "runs": len(statuses),
        "passed": passed,
        "failed": failed,
        "error": sum(status == "error" for status in statuses),
        "cancelled": sum(status == "cancelled" for status in statuses),
        "pass_rate": round(passed / decided, 4) if decided else None,
        "ci_low": low if decided else None,
        "ci_high": high if decided else None,
        "flaky": passed > 0 and failed > 0,
    }
