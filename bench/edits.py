"""Benchmark the edit engine: the corpus scorer's figures and timing, plus a 20,000-line file.

    .venv/bin/python bench/edits.py [--corpus PATH] [--jobs N]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from vibeforge.edits import EditError, apply_edit  # noqa: E402

CORPUS_DIR = ROOT.parent / "shared" / "edit-corpus"
ADAPTER = "vibeforge.edits.corpus_adapter:apply"


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


def main(argv: list[str] | None = None) -> int:
    """Run both measurements and print them as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=CORPUS_DIR / "public.jsonl")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    result = {
        "corpus": str(args.corpus),
        "score": run_scorer(args.corpus, args.jobs),
        "big_file": big_file_timings(),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
