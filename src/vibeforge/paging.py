"""Cursor pagination shared by every list endpoint: `{"items": [...], "next": CURSOR | null}`."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import Select, tuple_

from vibeforge.errors import InvalidInput

T = TypeVar("T")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list and the cursor of the next one (None on the last page)."""

    items: list[T]
    next: str | None


def encode_cursor(*values: Any) -> str:
    """An opaque cursor holding the key of the next item."""
    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    """The values of a cursor made by encode_cursor; InvalidInput for anything else."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidInput("cursor is not valid") from None
    if not isinstance(values, list) or len(values) != arity:
        raise InvalidInput("cursor is not valid")
    return values


class _Dated(Protocol):
    id: Any
    created_at: Any


D = TypeVar("D", bound=_Dated)


def newest_first(query: Select[Any], table: Any, limit: int, cursor: str | None) -> Select[Any]:
    """`query` ordered newest first by (created_at, id), from after `cursor`, one row more than
    a page (which tells whether there is a next one)."""
    if cursor:
        after, last_id = decode_time_cursor(cursor)
        query = query.where(tuple_(table.created_at, table.id) < (after, last_id))
    return query.order_by(table.created_at.desc(), table.id.desc()).limit(limit + 1)


def newest_page(rows: list[D], limit: int) -> Page[D]:
    """The page of rows a `newest_first` query returned."""
    if len(rows) <= limit:
        return Page(rows, None)
    rows = rows[:limit]
    return Page(rows, encode_cursor(rows[-1].created_at.isoformat(), rows[-1].id))


def decode_time_cursor(cursor: str) -> tuple[datetime, str]:
    """The (timestamp, id) key of a cursor made by `encode_cursor(time.isoformat(), id)`."""
    stamp, last_id = decode_cursor(cursor, 2)
    try:
        return datetime.fromisoformat(stamp), last_id
    except (TypeError, ValueError):
        raise InvalidInput("cursor is not valid") from None
