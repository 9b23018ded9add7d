"""When a module applies: always, on keywords, or on a pattern, in the last messages it reads.

A trigger reads the module's `scan_depth` newest messages of the conversation (the user's new
message counts as the newest). Patterns are RE2 expressions (`google-re2`): matching takes time
linear in the text, so no pattern a user saves can stall the server (Python's `re` backtracks
exponentially on patterns like `(a+)+$`); back-references and look-around are refused when the
module is saved.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import re2

from vibeforge.errors import InvalidInput

MAX_PATTERN = 1000
MAX_KEYS = 50
RE2_MEMORY = 8 << 20


@dataclass(frozen=True, slots=True)
class Always:
    """Applies whenever it is referenced."""

    type: Literal["always"] = "always"

    def matches(self, window: Window, depth: int) -> str | None:
        """Why it applies ("always")."""
        return "always"


@dataclass(frozen=True, slots=True)
class Keyword:
    """Applies when any (or all) of its keys occur in the messages it reads."""

    keys: tuple[str, ...]
    match: Literal["any", "all"] = "any"
    case_sensitive: bool = False
    whole_word: bool = False
    type: Literal["keyword"] = "keyword"

    def matches(self, window: Window, depth: int) -> str | None:
        """The keys that matched, or None."""
        text = window.text(depth, folded=not self.case_sensitive)
        if not text:
            return None
        found = [key for key in self.keys if _has_key(text, key, self)]
        if not found or (self.match == "all" and len(found) < len(self.keys)):
            return None
        return "keyword: " + ", ".join(found)


@dataclass(frozen=True, slots=True)
class Pattern:
    """Applies when its RE2 pattern matches the messages it reads."""

    pattern: str
    case_sensitive: bool = False
    type: Literal["regex"] = "regex"

    def matches(self, window: Window, depth: int) -> str | None:
        """The pattern, when it matched."""
        text = window.text(depth)
        if text and compile_pattern(self.pattern, self.case_sensitive).search(text):
            return f"regex: {self.pattern}"
        return None


Trigger = Always | Keyword | Pattern
ALWAYS = Always()


class Window:
    """The newest messages of a conversation, joined per depth once however many triggers
    read them."""

    def __init__(self, messages: Sequence[str]) -> None:
        self.messages = list(messages)
        self._texts: dict[tuple[int, bool], str] = {}

    def text(self, depth: int, *, folded: bool = False) -> str:
        """The `depth` newest messages, one per line; case-folded when `folded`."""
        key = (depth, folded)
        cached = self._texts.get(key)
        if cached is None:
            chosen = self.messages[-depth:] if depth > 0 else []
            cached = "\n".join(chosen)
            if folded:
                cached = cached.casefold()
            self._texts[key] = cached
        return cached


def _has_key(text: str, key: str, trigger: Keyword) -> bool:
    needle = key if trigger.case_sensitive else key.casefold()
    if not trigger.whole_word:
        return needle in text
    if needle not in text:
        return False
    return _whole_word(needle).search(text) is not None


@lru_cache(maxsize=4096)
def _whole_word(needle: str) -> re.Pattern[str]:
    # An escaped literal between boundaries: no backtracking beyond the literal itself.
    return re.compile(r"(?<!\w)" + re.escape(needle) + r"(?!\w)")


@lru_cache(maxsize=1024)
def compile_pattern(pattern: str, case_sensitive: bool) -> Any:
    """The compiled RE2 pattern; InvalidInput when RE2 refuses it."""
    options = re2.Options()
    options.log_errors = False
    options.case_sensitive = case_sensitive
    options.max_mem = RE2_MEMORY
    try:
        return re2.compile(pattern, options)
    except re2.error as error:
        reason = error.args[0] if error.args else "invalid pattern"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise InvalidInput(f"trigger.pattern is not a valid RE2 pattern: {reason}") from None


def trigger_of(data: dict[str, Any] | None) -> Trigger:
    """A stored trigger (its JSON form) as a Trigger; InvalidInput for a malformed one."""
    if not data or data.get("type", "always") == "always":
        return ALWAYS
    kind = data.get("type")
    if kind == "keyword":
        keys = data.get("keys")
        if not isinstance(keys, list) or not keys or len(keys) > MAX_KEYS:
            raise InvalidInput(f"trigger.keys must hold 1 to {MAX_KEYS} keywords")
        if not all(isinstance(key, str) and key.strip() for key in keys):
            raise InvalidInput("trigger.keys must be non-blank text")
        match = data.get("match", "any")
        if match not in ("any", "all"):
            raise InvalidInput("trigger.match must be any or all")
        return Keyword(
            keys=tuple(keys),
            match=match,
            case_sensitive=bool(data.get("case_sensitive", False)),
            whole_word=bool(data.get("whole_word", False)),
        )
    if kind == "regex":
        pattern = data.get("pattern")
        if not isinstance(pattern, str) or not pattern or len(pattern) > MAX_PATTERN:
            raise InvalidInput(f"trigger.pattern must be 1 to {MAX_PATTERN} characters")
        case_sensitive = bool(data.get("case_sensitive", False))
        compile_pattern(pattern, case_sensitive)
        return Pattern(pattern, case_sensitive)
    raise InvalidInput("trigger.type must be always, keyword or regex")


def trigger_data(trigger: Trigger) -> dict[str, Any]:
    """The JSON form of a trigger, as stored and returned."""
    if isinstance(trigger, Keyword):
        return {
            "type": "keyword",
            "keys": list(trigger.keys),
            "match": trigger.match,
            "case_sensitive": trigger.case_sensitive,
            "whole_word": trigger.whole_word,
        }
    if isinstance(trigger, Pattern):
        return {
            "type": "regex",
            "pattern": trigger.pattern,
            "case_sensitive": trigger.case_sensitive,
        }
    return {"type": "always"}
