"""Cursor pagination shared by every list endpoint: `{"items": [...], "next": CURSOR | null}`."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

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


def decode_time_cursor(cursor: str) -> tuple[datetime, str]:
    """The (timestamp, id) key of a cursor made by `encode_cursor(time.isoformat(), id)`."""
    stamp, last_id = decode_cursor(cursor, 2)
    try:
        return datetime.fromisoformat(stamp), last_id
    except (TypeError, ValueError):
        raise InvalidInput("cursor is not valid") from None
