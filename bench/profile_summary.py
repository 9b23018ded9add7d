"""Summarise py-spy collapsed stacks (`--profile-format raw`): where a server's CPU went.

Prints JSON: the share of samples per area (the package a sample's innermost frame belongs
to, with the event loop's own work apart), and the functions with the most samples, inclusive
and self. Not a benchmark of its own: with no file given it prints an empty summary.

    .venv/bin/python bench/profile_summary.py bench/results/NAME/stream-k200.txt [--top 25]
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^():]*)(?::\d+)?\)$")


def frames_of(stack: str) -> list[tuple[str, str]]:
    """(function, file) per frame of one collapsed stack, outermost first."""
    found = []
    for frame in stack.split(";"):
        match = _FRAME.match(frame.strip())
        found.append((match["function"], match["file"]) if match else (frame, ""))
    return found


def area(file: str) -> str:
    """The package a file belongs to (`vibeforge/runs`, `uvicorn`, `asyncio`, ...)."""
    parts = file.split("/")
    if parts[0] == "vibeforge" and len(parts) > 2:
        return "/".join(parts[:2])
    return parts[0] or "?"


def summarise(path: Path | None, top: int) -> dict[str, object]:
    total = 0
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    if path is not None:
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            samples = int(count)
            total += samples
            frames = frames_of(stack)
            names = [f"{function} ({file})" for function, file in frames]
            for name in set(names):
                inclusive[name] += samples
            own[names[-1]] += samples
            areas[area(frames[-1][1])] += samples

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100 * n / max(total, 1), 1)) for name, n in counter.most_common(top)]

    return {
        "samples": total,
        "self_percent_by_area": share(areas),
        "inclusive_percent": share(inclusive),
        "self_percent": share(own),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("stacks", type=Path, nargs="?")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    print(json.dumps(summarise(args.stacks, args.top), indent=1))


if __name__ == "__main__":
    main()
