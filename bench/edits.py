"""Benchmark the edit engine: corpus scores (strict and whitespace-forgiving), time per case,
and edits on a 20,000-line file.

    .venv/bin/python bench/edits.py [--corpus PATH] [--jobs N] [--no-scorer]

Prints one JSON object. `strict` counts a result right only when it equals the expected file
byte for byte; `forgiving` also accepts a result that differs only in whitespace-only lines
(their content, or how many there are) and the final newline. Times are per case, measured
in this process one case after another.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from vibeforge.edits import EditError, apply_edit  # noqa: E402

# A worktree sits one level deeper than the main checkout; the corpus is shared by both.
CORPUS_DIRS = [
    ROOT.parent / "shared" / "edit-corpus",
    ROOT.parent.parent / "shared" / "edit-corpus",
]
ADAPTER = "vibeforge.edits.corpus_adapter:apply"
CASE_LIMIT_S = 2.0  # the scorer's per-case limit: slower counts as a refusal


class _Timeout(BaseException):
    """A case ran past CASE_LIMIT_S."""


def _alarm(_signum: int, _frame: FrameType | None) -> None:
    raise _Timeout


def run_scorer(corpus: Path, jobs: int) -> dict[str, object]:
    """Run score.py on the corpus and return its machine-readable score line as a dict."""
    command = [sys.executable, str(corpus.parent / "score.py"), str(corpus), ADAPTER]
    command += ["--jobs", str(jobs)]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True, env=env)
    line = next(x for x in done.stdout.splitlines() if x.startswith("score "))
    figures: dict[str, object] = {"line": line}
    for key, value in re.findall(r"(\w+)=([\d.]+)", line):
        figures[key] = float(value) if "." in value else int(value)
    return figures


def forgiving_form(text: str) -> list[str]:
    """A file's lines without its whitespace-only lines (so also without the final newline)."""
    return [line for line in text.split("\n") if line.strip()]


def _outcome(case: dict, output: str | None, strict: bool) -> str:
    expected = case["expected"]
    if output is None:
        if expected is None:
            return "refused_ok"
        return "correct" if case.get("accept_refusal") else "wrongly_refused"
    if expected is None:
        return "wrong"
    same = output == expected if strict else forgiving_form(output) == forgiving_form(expected)
    return "correct" if same else "wrong"


def _rates(outcomes: list[str], must_refuse: list[bool]) -> dict[str, float | int]:
    counts = Counter(outcomes)
    refuse_n = sum(must_refuse)
    apply_n = len(outcomes) - refuse_n
    return {
        "n": len(outcomes),
        "correct": round(counts["correct"] / max(1, apply_n), 4),
        "refused_ok": round(counts["refused_ok"] / max(1, refuse_n), 4),
        "wrong": round(counts["wrong"] / max(1, len(outcomes)), 4),
        "wrong_count": counts["wrong"],
        "wrongly_refused": round(counts["wrongly_refused"] / max(1, apply_n), 4),
    }


def score_in_process(corpus: Path) -> dict[str, object]:
    """Apply every case here, one after another: strict and forgiving rates, time per case."""
    cases = [json.loads(line) for line in corpus.read_text(encoding="utf-8").splitlines() if line]
    outputs: list[str | None] = []
    times: list[float] = []
    previous = signal.signal(signal.SIGALRM, _alarm)
    try:
        for case in cases:
            start = time.perf_counter()
            signal.setitimer(signal.ITIMER_REAL, CASE_LIMIT_S)
            try:
                output: str | None = apply_edit(
                    case["original"], case["edit"], fmt=case["format"], path=case["path"]
                )
            except (Exception, _Timeout):  # any failure is a refusal, as in score.py
                output = None
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            times.append(time.perf_counter() - start)
            outputs.append(output)
    finally:
        signal.signal(signal.SIGALRM, previous)
    must_refuse = [case["expected"] is None for case in cases]
    result: dict[str, object] = {}
    by_format: dict[str, dict[str, object]] = {}
    for name, strict in (("strict", True), ("forgiving", False)):
        outcomes = [_outcome(c, o, strict) for c, o in zip(cases, outputs, strict=True)]
        result[name] = _rates(outcomes, must_refuse)
        for fmt in sorted({c["format"] for c in cases}):
            mine = [k for k, c in enumerate(cases) if c["format"] == fmt]
            rates = _rates([outcomes[k] for k in mine], [must_refuse[k] for k in mine])
            by_format.setdefault(fmt, {"n": rates["n"], "refused_ok": rates["refused_ok"]})
            by_format[fmt][name] = f"correct={rates['correct']} wrong={rates['wrong_count']}"
    result["by_format"] = by_format
    ordered = sorted(times)
    result["time_per_case_ms"] = {
        "median": round(1000 * statistics.median(ordered), 3),
        "p99": round(1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 3),
        "max": round(1000 * ordered[-1], 3),
    }
    return result


def big_file(functions: int = 2000) -> str:
    """A 20,000-line Python file of small, distinct functions."""
    parts = []
    for number in range(functions):
        parts.append(
            f"def function_{number}(value):\n"
            f'    """Return value transformed by rule {number}."""\n'
            f"    if value is None:\n"
            f"        return None\n"
            f"    total = value + {number}\n"
            f"    for step in range(3):\n"
            f"        total = total * 2 - step\n"
            f"    return total\n"
            f"\n"
            f"\n"
        )
    return "".join(parts)


def _timed(apply: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        try:
            apply()
        except EditError:
            pass
        times.append(time.perf_counter() - start)
    return round(1000 * statistics.median(times), 2)


def big_file_timings() -> dict[str, float]:
    """Milliseconds to apply typical edits to the 20,000-line file (median of 5)."""
    text = big_file()
    site = "    total = value + 1990\n    for step in range(3):\n"
    search_replace = (
        "big.py\n<<<<<<< SEARCH\n" + site + "=======\n"
        "    total = value + 1991\n    for step in range(3):\n>>>>>>> REPLACE\n"
    )
    shifted = search_replace.replace("    total", "        total").replace("    for", "        for")
    udiff = (
        "--- a/big.py\n+++ b/big.py\n@@ -10,4 +10,4 @@\n"
        " def function_1500(value):\n"
        '     """Return value transformed by rule 1500."""\n'
        "-    if value is None:\n+    if value is None or value == 0:\n"
        "         return None\n"
    )
    dropped = udiff.replace('     """Return value transformed by rule 1500."""\n', "")
    whole_lines = text.split("\n")
    whole_lines[10_000:19_990] = ["# ... existing code ..."]
    whole = "big.py\n```python\n" + "\n".join(whole_lines) + "```\n"
    failing = search_replace.replace("1990", "19900")
    return {
        "lines": text.count("\n"),
        "search_replace_ms": _timed(lambda: apply_edit(text, search_replace, path="big.py")),
        "indent_shifted_ms": _timed(lambda: apply_edit(text, shifted, path="big.py")),
        "udiff_bad_lineno_ms": _timed(lambda: apply_edit(text, udiff, path="big.py")),
        "udiff_dropped_context_ms": _timed(lambda: apply_edit(text, dropped, path="big.py")),
        "whole_elided_ms": _timed(lambda: apply_edit(text, whole, path="big.py")),
        "refusal_with_report_ms": _timed(lambda: apply_edit(text, failing, path="big.py")),
    }


def _default_corpus() -> Path:
    found = next((d for d in CORPUS_DIRS if (d / "public.jsonl").exists()), CORPUS_DIRS[0])
    return found / "public.jsonl"


def main(argv: list[str] | None = None) -> int:
    """Run the measurements and print them as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=None)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--no-scorer", action="store_true", help="skip the corpus's score.py")
    args = parser.parse_args(argv)
    corpus = args.corpus or _default_corpus()
    result: dict[str, object] = {"corpus": str(corpus)}
    if not args.no_scorer:
        result["scorer"] = run_scorer(corpus, args.jobs)
    result.update(score_in_process(corpus))
    result["big_file"] = big_file_timings()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
