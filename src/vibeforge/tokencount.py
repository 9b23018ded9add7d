"""The token estimate of a text, with no dependencies: the rule `llm.tokens` explains (4
characters a token, 0.75 of a token for each character of the wide scripts), importable where
the LLM layer is not wanted (the attachment extraction worker process starts fast)."""

from __future__ import annotations

import math

CHARS_PER_TOKEN = 4.0
WIDE_SCRIPT_START = 0x2E80  # CJK radicals onwards: Chinese, Japanese, Korean
WIDE_TOKENS_PER_CHAR = 0.75
TOKENS_PER_IMAGE = 765


def estimate_tokens(text: str) -> int:
    """About how many tokens a text is; at least 1 for any non-empty text."""
    if not text:
        return 0
    wide = sum(1 for char in text if ord(char) >= WIDE_SCRIPT_START) if not text.isascii() else 0
    return max(1, math.ceil((len(text) - wide) / CHARS_PER_TOKEN + wide * WIDE_TOKENS_PER_CHAR))
