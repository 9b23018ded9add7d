"""`vibeforge edit apply FILE EDIT`: apply an LLM edit to a file, print it or write it back."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vibeforge.atomic import write_atomically
from vibeforge.edits.apply import apply_edit_reported
from vibeforge.edits.errors import EditError
from vibeforge.edits.model import FORMATS

__all__ = ["main", "write_atomically"]

EXIT_REFUSED = 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vibeforge edit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    apply = commands.add_parser(
        "apply",
        help="apply an edit reply to a file; print the new file, or write it with --in-place",
        description="A reply without --format must hold search/replace blocks, a diff, or a "
        "fenced file (or a raw file under its path line); prose is refused, never written.",
    )
    apply.add_argument("file", type=Path, help="the file to edit (may not exist yet)")
    apply.add_argument("edit", type=Path, help="a file holding the model's reply ('-' = stdin)")
    apply.add_argument("--format", choices=FORMATS, default=None, help="detected when omitted")
    apply.add_argument("--path", default=None, help="the file's project path (default: FILE)")
    apply.add_argument(
        "--in-place",
        action="store_true",
        help="write the result to FILE (atomically: a refused or failed edit leaves it as it was)",
    )
    return parser


def _read(path: Path) -> str:
    # newline="" keeps CRLF endings, so the engine can preserve them.
    with path.open(encoding="utf-8", newline="") as handle:
        return handle.read()


def main(argv: list[str]) -> int:
    """Run `edit apply`; print (or write) the new file, or the refusal report to stderr (3)."""
    args = _parser().parse_args(argv)
    original = _read(args.file) if args.file.exists() else ""
    if str(args.edit) == "-":
        reply = sys.stdin.read()
    else:
        try:
            reply = _read(args.edit)
        except OSError as error:
            print(f"cannot read the edit: {error}", file=sys.stderr)
            return 2
    try:
        result, reports = apply_edit_reported(
            original, reply, fmt=args.format, path=args.path or str(args.file)
        )
    except EditError as error:
        print(error.detail, file=sys.stderr)
        return EXIT_REFUSED
    for report in reports:
        if report.reason:
            print(f"block {report.index + 1}: {report.reason}", file=sys.stderr)
    if not args.in_place:
        sys.stdout.write(result)
        sys.stdout.flush()
        return 0
    if result == original and args.file.exists():
        print(f"unchanged: {args.file}", file=sys.stderr)
        return 0
    try:
        write_atomically(args.file, result)
    except OSError as error:
        print(f"cannot write {args.file}: {error}", file=sys.stderr)
        return 2
    print(f"wrote {args.file}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
