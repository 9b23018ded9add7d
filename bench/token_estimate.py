"""How close vibeforge's token estimate (`vibeforge.llm.tokens`) comes to a real tokenizer.

The reference is o200k_base (GPT-4o's BPE) from `bpe-openai`, which ships its vocabulary (no
download); it is not a dependency of vibeforge, so install it into the venv to run this:
`.venv/bin/pip install bpe-openai`. Without it the script says so and exits 0. The corpus is
this repository's Python, Markdown, HTML, JS and CSS files, plus any directories given.
Prints JSON: the estimate / real ratio in total and its spread over the files.

    .venv/bin/python bench/token_estimate.py [DIR ...]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from vibeforge.llm.tokens import estimate_tokens

ROOT = Path(__file__).resolve().parent.parent
SUFFIXES = {".py", ".md", ".html", ".js", ".css", ".txt"}
MIN_TOKENS = 20  # ratios of tiny files say little


def corpus(directories: list[Path]) -> list[str]:
    """The texts measured: every file with a known suffix under the directories."""
    texts = []
    for directory in directories:
        for path in sorted(directory.rglob("*")):
            skipped = {".venv", ".git", "node_modules"} & set(path.parts) or any(
                part.endswith(".egg-info") for part in path.parts
            )
            if path.is_file() and path.suffix in SUFFIXES and not skipped:
                texts.append(path.read_text(errors="replace"))
    return texts


def main() -> None:
    """Measure and print JSON."""
    try:
        import bpe_openai
    except ImportError:
        print(json.dumps({"skipped": "bpe-openai is not installed (pip install bpe-openai)"}))
        return
    encoding = bpe_openai.get_encoding("o200k_base")
    directories = [ROOT / "src", ROOT / "tests", ROOT / "docs", *map(Path, sys.argv[1:])]
    texts = corpus(directories)
    real = [len(encoding.encode(text)) for text in texts]
    started = time.perf_counter()
    estimated = [estimate_tokens(text) for text in texts]
    seconds = time.perf_counter() - started
    ratios = sorted(e / r for e, r in zip(estimated, real, strict=True) if r >= MIN_TOKENS)

    def at(share: float) -> float:
        return round(ratios[min(len(ratios) - 1, int(share * len(ratios)))], 3)

    print(
        json.dumps(
            {
                "reference": "o200k_base (bpe-openai)",
                "files": len(texts),
                "real_tokens": sum(real),
                "estimated_tokens": sum(estimated),
                "ratio_total": round(sum(estimated) / sum(real), 3),
                "ratio_p10": at(0.1),
                "ratio_median": at(0.5),
                "ratio_p90": at(0.9),
                "ratio_min": at(0.0),
                "ratio_max": at(1.0),
                "estimate_us_per_kb": round(seconds * 1e6 / (sum(len(t) for t in texts) / 1000), 2),
            }
        )
    )


if __name__ == "__main__":
    main()
