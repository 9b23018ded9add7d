"""Finding a secret, or any recognisable piece of it, in text or bytes a test collected."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

FRAGMENT = 8


def forms(secret: str) -> list[str]:
    """The secret as providers echo it: whole, JSON-escaped, URL-encoded, in basic auth."""
    basic = base64.b64encode(f"user:{secret}".encode()).decode()
    return [secret, json.dumps(secret)[1:-1], quote(secret, safe=""), basic[8:].rstrip("=")]


def fragments(secret: str) -> set[str]:
    """Every run of FRAGMENT characters of every form of the secret."""
    return {
        form[i : i + FRAGMENT] for form in forms(secret) for i in range(len(form) - FRAGMENT + 1)
    }


def leaks(haystack: str | bytes, secret: str) -> list[str]:
    """The fragments of the secret found in the haystack (none, if nothing leaked)."""
    if isinstance(haystack, bytes):
        return sorted(f for f in fragments(secret) if f.encode() in haystack)
    return sorted(f for f in fragments(secret) if f in haystack)
