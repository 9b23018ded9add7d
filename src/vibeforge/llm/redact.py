"""Keeping a connection's secrets out of everything a provider sends back.

A provider (or a proxy in front of it) may echo the API key in an error message, an error body,
a raw response or even the streamed text: whole, quoted, JSON-escaped, URL-encoded, base64 of a
basic-auth `user:key`, or masked as OpenAI does (`sk-abc1****wxyz`). Every such text passes
through a `Redactor` built from the connection's secrets before anything stores, logs or sends
it (see `guard.py`). The rule is deliberately blunt: any run of `FRAGMENT` or more characters
that occurs inside one of a secret's forms is replaced by `MARK`, as is a masked form that
starts with the secret's first characters or ends with its last ones.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit

from vibeforge.llm.spec import ModelSpec

MARK = "[redacted]"
FRAGMENT = 8  # a run this long inside a secret's form is redacted
MIN_SECRET = 8  # shorter values (`ollama`, `EMPTY`, `none`) are keyless placeholders, not secrets
MASKED_PREFIX = 3  # `sk-` + a mask is taken for a masked key
MASKED_SUFFIX = 4  # a mask + the key's last 4 characters is taken for a masked key
_MASK = re.compile(r"[*•…xX.]{3,}|…+")
_SENSITIVE_HEADER = re.compile(r"auth|key|token|secret|cookie|password", re.IGNORECASE)
_SENSITIVE_QUERY = re.compile(r"key|token|secret|sig|password|auth", re.IGNORECASE)
# Variables the provider SDKs read when a config has no key of its own.
_SDK_KEY_VARIABLES = {
    "anthropic": ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"),
    "openai": ("OPENAI_API_KEY",),
    "openrouter": ("OPENAI_API_KEY",),
    "openai-compatible": ("OPENAI_API_KEY",),
}


def secrets_of(spec: ModelSpec, environ: Mapping[str, str] | None = None) -> list[str]:
    """Every secret a connection sends: its key (or the SDK's key variable when it has none),
    credentials in sensitive headers, and the password and key-like query values of its URL."""
    environ = os.environ if environ is None else environ
    found: list[str] = []
    if spec.api_key:
        found.append(spec.api_key)
    else:
        found += [
            environ[name] for name in _SDK_KEY_VARIABLES.get(spec.provider, ()) if name in environ
        ]
    for name, value in spec.extra_headers.items():
        if _SENSITIVE_HEADER.search(name):
            found += _credentials(value)
    if spec.base_url:
        parts = urlsplit(spec.base_url)
        if parts.password:
            found.append(unquote(parts.password))
        found += [value for name, value in parse_qsl(parts.query) if _SENSITIVE_QUERY.search(name)]
    return [secret for secret in dict.fromkeys(found) if len(secret) >= MIN_SECRET]


def _credentials(header_value: str) -> list[str]:
    """The secret parts of an auth header: the value, its credential, a basic-auth password."""
    values = [header_value]
    scheme, _, credential = header_value.partition(" ")
    if credential:
        values.append(credential.strip())
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credential.strip(), validate=True).decode()
            except ValueError:
                decoded = ""
            values += [part for part in decoded.split(":", 1) if part]
    return values


def _forms(secret: str) -> set[str]:
    """The ways a secret may be written back: as is, JSON-escaped, URL-encoded, base64."""
    forms = {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        quote(secret, safe=""),
        quote_plus(secret),
    }
    raw = secret.encode()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        for offset in range(3):
            # In `user:key` the key starts at any byte offset modulo 3; the characters that
            # depend on the key alone are those after the first base64 group.
            encoded = encode(b"\0" * offset + raw).decode().rstrip("=")
            forms.add(encoded[4:] if offset else encoded)
    return {form for form in forms if len(form) >= FRAGMENT}


class Redactor:
    """Replaces every trace of some secrets in text and in JSON-like values."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = tuple(s for s in dict.fromkeys(secrets) if len(s) >= MIN_SECRET)
        forms = set().union(*(_forms(secret) for secret in self.secrets))
        self._grams = {f[i : i + FRAGMENT] for f in forms for i in range(len(f) - FRAGMENT + 1)}
        # Every shorter piece of a form: text ending in one may be the start of a secret.
        self._pieces = {
            f[i : i + size] for f in forms for size in range(1, FRAGMENT) for i in range(len(f))
        }
        alphabet = "".join(sorted(set("".join(forms))))
        self._runs = re.compile(f"[{re.escape(alphabet)}]{{{FRAGMENT},}}") if forms else None

    def __bool__(self) -> bool:
        return bool(self.secrets)

    def spans(self, text: str) -> list[tuple[int, int]]:
        """The merged [start, end) ranges of `text` that belong to a secret."""
        if self._runs is None:
            return []
        found: list[tuple[int, int]] = []
        grams = self._grams
        for run in self._runs.finditer(text):
            start: int | None = None
            end = 0
            for i in range(run.start(), run.end() - FRAGMENT + 1):
                if text[i : i + FRAGMENT] in grams:
                    if start is None:
                        start = i
                    end = i + FRAGMENT
                elif start is not None and i >= end:
                    found.append((start, end))
                    start = None
            if start is not None:
                found.append((start, end))
        found += self._masked(text)
        return _merge(found)

    def _masked(self, text: str) -> list[tuple[int, int]]:
        if "*" not in text and "•" not in text and "…" not in text and "..." not in text:
            return []
        found = []
        for mask in _MASK.finditer(text):
            start, end = mask.span()
            for secret in self.secrets:
                left = _key_start_before(text, start, secret)
                right = _key_end_after(text, end, secret)
                if left >= MASKED_PREFIX or right >= MASKED_SUFFIX:
                    found.append((start - left, end + right))
        return found

    def held_from(self, text: str, spans: list[tuple[int, int]]) -> int:
        """Where the undecided end of streamed text begins (`spans` are the text's): a secret
        found near the end may go on, and a short ending that occurs in a secret may start one."""
        if spans and spans[-1][1] > len(text) - FRAGMENT:
            return spans[-1][0]
        for size in range(min(FRAGMENT - 1, len(text)), 0, -1):
            if text[-size:] in self._pieces:
                return len(text) - size
        return len(text)

    def redact(self, text: str) -> str:
        """The text with every trace of the secrets replaced by MARK."""
        if not self.secrets or len(text) < MASKED_PREFIX + 3:
            return text
        return _render(text, self.spans(text))

    def redact_value(self, value: Any) -> Any:
        """A JSON-like value with every string in it (keys included) redacted."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {self.redact_value(k): self.redact_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.redact_value(item) for item in value]
        return value


class StreamRedactor:
    """Redacts text that arrives in pieces: a piece's undecided end is held for the next one,
    so a secret split across chunks is still caught."""

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._held = ""

    def feed(self, piece: str) -> str:
        """The text that is now safe to pass on (possibly empty)."""
        text = self._held + piece
        spans = self._redactor.spans(text)
        cut = self._redactor.held_from(text, spans)
        self._held = text[cut:]
        # No span crosses the cut: one that reaches near the end is held whole.
        return _render(text[:cut], [span for span in spans if span[1] <= cut])

    def flush(self) -> str:
        """Whatever is still held, redacted: the stream ended."""
        text, self._held = self._held, ""
        return self._redactor.redact(text)


def _key_start_before(text: str, position: int, secret: str) -> int:
    """How many of the secret's first characters end just before `position`."""
    for size in range(min(position, len(secret) - 1), 0, -1):
        if text[position - size : position] == secret[:size]:
            return size
    return 0


def _key_end_after(text: str, position: int, secret: str) -> int:
    """How many of the secret's last characters start at `position`."""
    for size in range(min(len(text) - position, len(secret) - 1), 0, -1):
        if text[position : position + size] == secret[-size:]:
            return size
    return 0


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _render(text: str, spans: list[tuple[int, int]]) -> str:
    if not spans:
        return text
    pieces, position = [], 0
    for start, end in spans:
        pieces += [text[position:start], MARK]
        position = end
    pieces.append(text[position:])
    return "".join(pieces)
