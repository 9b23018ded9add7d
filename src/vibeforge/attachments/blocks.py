"""What extraction makes of a text: numbered blocks (pages, rows or lines) with their tokens,
so a prompt can take whole ones while they fit and say exactly which it left out.

Pure functions over text, used by the extraction worker; `Extract` is the shape written to
`extract.json` and read back by the context budget.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from vibeforge.attachments.kinds import Kind
from vibeforge.tokencount import estimate_tokens

BLOCK_CHARS = 2000  # lines and rows are grouped into blocks of about this size
CSV_DELIMITERS = ",;\t|"


@dataclass(frozen=True, slots=True)
class Block:
    """Units `start` to `end` (1-based, inclusive) of an attachment, as text."""

    start: int
    end: int
    text: str
    tokens: int


@dataclass(frozen=True, slots=True)
class Extract:
    """An attachment as the model may see it: its blocks, and for CSV the header row."""

    kind: str
    unit: str  # page | row | line | image
    count: int  # how many units there are
    blocks: list[Block] = field(default_factory=list)
    header: str | None = None
    width: int | None = None
    height: int | None = None
    image_file: str | None = None  # the model's copy of an image, beside the blob
    image_media_type: str | None = None

    @property
    def tokens(self) -> int:
        """Every block's tokens (and the header's)."""
        header = estimate_tokens(self.header) if self.header else 0
        return header + sum(block.tokens for block in self.blocks)

    def to_json(self) -> dict[str, Any]:
        """The form written to extract.json."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Extract:
        """Read back what to_json wrote."""
        blocks = [Block(**block) for block in data.get("blocks", [])]
        return cls(**{**data, "blocks": blocks})


def decode_text(data: bytes) -> str:
    """UTF-8 bytes as text, without a byte order mark."""
    return data.decode("utf-8").removeprefix("\ufeff")


def text_extract(text: str, kind: Kind) -> Extract:
    """A text attachment's blocks, its flavour checked against the content: a CSV that does
    not parse as a table or a JSON file that does not parse is plain text, and text that
    parses as a JSON object or array is JSON."""
    if kind == Kind.CSV:
        table = csv_extract(text)
        if table is not None:
            return table
        kind = Kind.TEXT
    elif kind == Kind.JSON and not _is_json(text):
        kind = Kind.TEXT
    elif kind == Kind.TEXT and text.lstrip()[:1] in ("{", "[") and _is_json(text):
        kind = Kind.JSON
    lines = text.splitlines(keepends=True)
    return Extract(kind=kind, unit="line", count=len(lines), blocks=group(lines))


def csv_extract(text: str) -> Extract | None:
    """A table's header and rows, or None when the text is not a table (one column, or
    quoting that does not parse)."""
    records = [record for record in split_records(text) if record.strip()]
    if len(records) < 2:
        return None
    try:
        dialect = csv.Sniffer().sniff(records[0], delimiters=CSV_DELIMITERS)
        header = next(csv.reader(io.StringIO(records[0]), dialect))
        widths = {len(row) for row in csv.reader(io.StringIO("".join(records[1:])), dialect)}
    except (csv.Error, StopIteration):
        return None
    if len(header) < 2 or max(widths, default=0) < 2:
        return None
    rows = records[1:]
    return Extract(
        kind=Kind.CSV, unit="row", count=len(rows), blocks=group(rows), header=records[0]
    )


def split_records(text: str) -> list[str]:
    """CSV records with their line endings: a line break inside quotes does not end one."""
    records: list[str] = []
    pending: list[str] = []
    quotes = 0
    for line in text.splitlines(keepends=True):
        pending.append(line)
        quotes += line.count('"')
        if quotes % 2 == 0:
            records.append("".join(pending))
            pending, quotes = [], 0
    if pending:
        records.append("".join(pending))
    return records


def group(units: list[str], size: int = BLOCK_CHARS) -> list[Block]:
    """Consecutive units gathered into blocks of about `size` characters; a unit longer than
    that is cut into pieces that each keep its number."""
    blocks: list[Block] = []
    pending: list[str] = []
    first = 1
    length = 0

    def close(last: int) -> None:
        nonlocal pending, length
        if pending:
            text = "".join(pending)
            blocks.append(Block(first, last, text, estimate_tokens(text)))
        pending, length = [], 0

    for number, unit in enumerate(units, start=1):
        if len(unit) > size:
            close(number - 1)
            for offset in range(0, len(unit), size):
                piece = unit[offset : offset + size]
                blocks.append(Block(number, number, piece, estimate_tokens(piece)))
            first = number + 1
            continue
        if length + len(unit) > size:
            close(number - 1)
            first = number
        pending.append(unit)
        length += len(unit)
    close(len(units))
    return blocks


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
