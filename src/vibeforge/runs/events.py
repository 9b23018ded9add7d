"""Server events: typed once, encoded to their wire form once, sent to every subscriber."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import orjson


def encode(value: Any) -> str:
    """Compact JSON text. orjson first (a chunk's envelope in under a microsecond, against
    about 8 with `json`); what it refuses (integers past 64 bits, lone surrogates, keys that
    are not text) is encoded by `json` exactly as before."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Event:
    """One server event; `wire` is the JSON envelope every transport sends as it is."""

    type: str
    data: dict[str, Any]
    project_id: str
    session_id: str | None
    seq: int
    wire: str = field(repr=False)

    @classmethod
    def make(
        cls,
        type: str,
        data: dict[str, Any],
        *,
        project_id: str,
        session_id: str | None,
        seq: int,
    ) -> Event:
        """An event with its envelope `{"type", "seq", "data"}` encoded."""
        payload = {"session_id": session_id, "project_id": project_id, **data}
        return cls(type, payload, project_id, session_id, seq, wire_of(type, seq, payload))

    @classmethod
    def from_wire(cls, wire: str) -> Event:
        """Rebuild an event from its envelope (journal replay)."""
        envelope = json.loads(wire)
        data = envelope["data"]
        return cls(
            envelope["type"],
            data,
            data.get("project_id", ""),
            data.get("session_id"),
            int(envelope["seq"]),
            wire,
        )


def wire_of(type: str, seq: int, payload: dict[str, Any]) -> str:
    """The envelope `{"type", "seq", "data"}` of an event whose data is `payload`."""
    return encode({"type": type, "seq": seq, "data": payload})


def envelope(type: str, data: dict[str, Any], seq: int = 0) -> str:
    """A wire envelope for a reply to one client (pong, error): not journaled, seq 0."""
    return wire_of(type, seq, data)
