"""Usage of LLM calls: reports grouped by model, role or day, and the pipeline's run counters."""

from vibeforge.usage.counters import RunCounters
from vibeforge.usage.report import usage_report

__all__ = ["RunCounters", "usage_report"]
