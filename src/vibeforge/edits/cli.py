"""`vibeforge edit apply FILE EDIT`: apply an LLM edit to a file and print the result."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vibeforge.edits.apply import apply_edit
from vibeforge.edits.errors import EditError
from vibeforge.edits.model import FORMATS

EXIT_REFUSED = 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vibeforge edit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    apply = commands.add_parser("apply", help="apply an edit reply to a file, print the new file")
    apply.add_argument("file", type=Path, help="the file to edit (may not exist yet)")
    apply.add_argument("edit", type=Path, help="a file holding the model's reply ('-' = stdin)")
    apply.add_argument("--format", choices=FORMATS, default=None, help="detected when omitted")
    apply.add_argument("--path", default=None, help="the file's project path (default: FILE)")
    return parser


def _read(path: Path) -> str:
    # newline="" keeps CRLF endings, so the engine can preserve them.
    with path.open(encoding="utf-8", newline="") as handle:
        return handle.read()


def main(argv: list[str]) -> int:
    """Run `edit apply`; print the new file, or the refusal report to stderr with exit code 3."""
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
        result = apply_edit(original, reply, fmt=args.format, path=args.path or str(args.file))
    except EditError as error:
        print(error.detail, file=sys.stderr)
        return EXIT_REFUSED
    sys.stdout.write(result)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
