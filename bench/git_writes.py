"""Benchmark one file write to a project's repository, and what checking the new tree costs.

    .venv/bin/python bench/git_writes.py [--files N] [--writes N] [--src DIR]

Writes `--writes` one-file versions into a repository of `--files` files (through
`GitRepository.commit`, as the service does, with the shared object cache), and prints one JSON
object: the write latency (median, p95), how many git processes a write starts, and the time of
the tree check alone (listing the new tree and comparing it). `--src` imports vibeforge from
another checkout (e.g. `/work/main/src`) to compare before and after a change.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--writes", type=int, default=100)
    parser.add_argument("--src", default=str(ROOT / "src"))
    args = parser.parse_args()
    sys.path.insert(0, args.src)
    from vibeforge.projects.git import GitRepository, ObjectCache

    author = "bench <bench@example.com>"
    with tempfile.TemporaryDirectory() as scratch:
        repo = GitRepository(Path(scratch) / "repo", ObjectCache())
        files = {f"pkg{i % 10}/module_{i}.py": f"value = {i}\n".encode() for i in range(args.files)}
        head = repo.init(files, "Create", author)
        calls: list[str] = []
        run_git = repo._git

        def counted(*git_args: str, **kwargs: object):  # type: ignore[no-untyped-def]
            calls.append(git_args[0])
            return run_git(*git_args, **kwargs)  # type: ignore[arg-type]

        repo._git = counted  # type: ignore[method-assign]
        latencies = []
        for number in range(args.writes):
            started = time.perf_counter()
            head = repo.commit(
                {f"pkg{number % 10}/module_{number}.py": f"value = -{number}\n".encode()},
                message=f"write {number}",
                author=author,
                expected_head=head,
            )
            latencies.append((time.perf_counter() - started) * 1000)
        processes = len(calls) / args.writes
        check_ms = _tree_check_ms(repo, head) if hasattr(repo, "_tree_listing") else None
    latencies.sort()
    print(
        json.dumps(
            {
                "src": args.src,
                "files": args.files,
                "writes": args.writes,
                "write_ms_median": round(statistics.median(latencies), 2),
                "write_ms_p95": round(latencies[int(len(latencies) * 0.95) - 1], 2),
                "git_processes_per_write": round(processes, 2),
                "tree_check_ms": check_ms,
            }
        )
    )


def _tree_check_ms(repo: object, head: str) -> float:
    """The listing of a new tree plus its comparison, as one write pays them (median of 20)."""
    from vibeforge.projects.treecheck import verify_tree

    tree = repo._git("rev-parse", f"{head}^{{tree}}").stdout.decode().strip()  # type: ignore[attr-defined]
    existing = repo._tree_listing(head).entries  # type: ignore[attr-defined]
    samples = []
    for _ in range(20):
        started = time.perf_counter()
        listing = repo._tree_listing(tree)  # type: ignore[attr-defined]
        verify_tree(existing, {}, listing.entries)
        samples.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(samples), 2)


if __name__ == "__main__":
    main()
