"""Random and malformed socket frames for the socket fuzz tests (seeded, so a failure replays)."""

from __future__ import annotations

import json
import random
from typing import Any

from vibeforge.runs.protocol import COMMANDS

STRANGE_TEXT = ["", "\x00", "nul\x00inside", "é" * 3, "\ud800", "../../etc/passwd", "x" * 70_000]
STRANGE_NUMBERS = [0, -1, 2**63, -(2**64), 1.5, 1e308, True, False]


def random_json(rng: random.Random, ids: list[str], depth: int = 0) -> Any:
    """A JSON value of any shape, drawing strings from `ids` (own and another user's) often."""
    choice = rng.randrange(9 if depth < 3 else 6)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice(STRANGE_NUMBERS)
    if choice == 2:
        return rng.choice(STRANGE_TEXT)
    if choice in (3, 4, 5):
        return rng.choice(ids) if ids and rng.random() < 0.7 else _text(rng)
    if choice in (6, 7):
        fields = [*_field_names(), _text(rng)]
        return {
            rng.choice(fields): random_json(rng, ids, depth + 1) for _ in range(rng.randrange(5))
        }
    return [random_json(rng, ids, depth + 1) for _ in range(rng.randrange(4))]


def _text(rng: random.Random) -> str:
    return "".join(
        chr(rng.choice([rng.randrange(32, 127), rng.randrange(0x80, 0x3000)]))
        for _ in range(rng.randrange(12))
    )


def _field_names() -> list[str]:
    return sorted({name for model in COMMANDS.values() for name in model.model_fields})


def random_command(rng: random.Random, ids: list[str]) -> tuple[str, Any]:
    """A command name (mostly real ones) and random data."""
    kind = rng.choice([*COMMANDS, *COMMANDS, "", "auth", "teleport", _text(rng)])
    data: Any = random_json(rng, ids)
    if rng.random() < 0.6:  # mostly an object with the command's own fields
        model = COMMANDS.get(kind)
        names = list(model.model_fields) if model else _field_names()
        data = {name: random_json(rng, ids, 1) for name in names if rng.random() < 0.8}
    return kind, data


def malformed_ws_frames() -> list[str | bytes]:
    """Frames no well-behaved /ws client sends."""
    deep = "[" * 100_000 + "]" * 100_000
    return [
        "",
        "not json",
        "{",
        "null",
        "[]",
        "5",
        '"chat"',
        "{}",
        '{"type": 5}',
        '{"type": null, "data": {}}',
        '{"data": {}}',
        '{"type": "chat"}',
        '{"type": "chat", "data": "x"}',
        '{"type": "ping", "data": {}, "extra": 1}',
        '{"type": "subscribe", "data": {"session_id": "\\u0000"}}',
        '{"type": "cancel", "data": {"run_id": "' + "r" * 200_000 + '"}}',
        deep,
        b"\xff\xfe\x00binary",
        b"",
        json.dumps({"type": "ping", "data": {"ts": 1}}).encode(),
        bytes(range(256)),
        "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
    ]


def malformed_sio_packets() -> list[str | bytes]:
    """Socket.IO packets (engine.io type 4, message) that break the protocol one way or another."""
    return [
        "4",
        "42",
        "42[",
        "42[]",
        "42[5]",
        "42[null]",
        '42["ping"]',
        '42["chat","a","b"]',
        '42["chat",{"session_id":5}]',
        '421["subscribe",{"session_id":"\\u0000"}]',
        '42/other,["ping",{}]',
        '45-["chat",{"_placeholder":true,"num":0}]',
        "49",
        "42" + "[" * 100_000 + "]" * 100_000,
        "4x",
        "6",
        "9",
        '42["' + "e" * 50_000 + '",{}]',
        b"\x00\x01\x02",
        "",
        "x",
        "\x00",
    ]
