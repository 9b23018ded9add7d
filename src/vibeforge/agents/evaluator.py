"""Reading the evaluator's verdict `{approved, reasoning, commit_message}` from its reply."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

MAX_COMMIT_MESSAGE = 200
_FENCE = re.compile(r"```(?:json)?\s*\n(.*?)\n```", re.S)
_APPROVED = re.compile(r"\bapproved?\b\W{0,5}(true|false|yes|no)\b", re.I)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The evaluator's decision."""

    approved: bool
    reasoning: str
    commit_message: str


def _objects(text: str) -> list[Any]:
    """Every JSON object in the text: fenced blocks first, then each balanced {...}."""
    candidates = [match.group(1) for match in _FENCE.finditer(text)]
    decoder = json.JSONDecoder()
    for index, char in enumerate(text):
        if char == "{":
            try:
                value, _ = decoder.raw_decode(text[index:])
            except json.JSONDecodeError:
                continue
            candidates.append(json.dumps(value))
    found = []
    for candidate in candidates:
        try:
            found.append(json.loads(candidate))
        except json.JSONDecodeError:
            continue
    return found


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "approve", "approved", "1")
    return bool(value)


def parse_verdict(text: str, default_message: str) -> Verdict:
    """The verdict in a reply: JSON (bare, fenced or embedded), else an `approved: yes/no` line.

    A reply that says nothing recognisable is a rejection: an edit is never committed on a
    verdict nobody gave.
    """
    for value in _objects(text):
        if isinstance(value, dict) and "approved" in value:
            message = str(value.get("commit_message") or "").strip() or default_message
            return Verdict(
                approved=_truthy(value["approved"]),
                reasoning=str(value.get("reasoning") or "").strip(),
                commit_message=message.splitlines()[0][:MAX_COMMIT_MESSAGE],
            )
    match = _APPROVED.search(text)
    if match:
        approved = match.group(1).lower() in ("true", "yes")
        return Verdict(approved, text.strip()[:2000], default_message)
    return Verdict(
        False, "The reviewer's answer held no verdict: " + text.strip()[:500], default_message
    )
