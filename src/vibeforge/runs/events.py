"""Server events: typed once, encoded to their wire form once, sent to every subscriber."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


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
        wire = json.dumps({"type": type, "seq": seq, "data": payload}, separators=(",", ":"))
        return cls(type, payload, project_id, session_id, seq, wire)

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


def envelope(type: str, data: dict[str, Any], seq: int = 0) -> str:
    """A wire envelope for a reply to one client (pong, error): not journaled, seq 0."""
    return json.dumps({"type": type, "seq": seq, "data": data}, separators=(",", ":"))
