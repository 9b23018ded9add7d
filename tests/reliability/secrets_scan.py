"""The secrets scan after a fuzz run: every API key and token the run stored, looked for in
every response it got (schemathesis' cassette), the server's log and the database's bytes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# A generated key shorter than this is too likely to occur by chance ("0", "abc").
MIN_SECRET = 16
ISSUING = {("POST", "/users"), ("POST", "/auth/tokens")}  # where a token is shown, once


@dataclass
class Exchange:
    """One request of the cassette and its answer."""

    method: str
    path: str
    sent: str
    answer: str


@dataclass
class Secrets:
    """What the run stored that nobody may read back."""

    tokens: set[str] = field(default_factory=set)
    keys: set[str] = field(default_factory=set)


def exchanges(cassette: Path) -> list[Exchange]:
    """The cassette's requests and responses, as text."""
    document = yaml.safe_load(cassette.read_text())
    found = []
    for interaction in document.get("http_interactions") or []:
        request, response = interaction["request"], interaction.get("response") or {}
        path = "/" + request["uri"].split("/", 3)[3].split("?", 1)[0]
        sent = request["uri"] + json.dumps(request.get("headers")) + _body(request)
        answer = json.dumps(response.get("headers")) + _body(response)
        found.append(Exchange(request["method"], path, sent, answer))
    return found


def _body(message: dict[str, Any]) -> str:
    body = message.get("body") or {}
    return str(body.get("string") or body.get("base64_string") or "")


def stored_secrets(every: list[Exchange], admin_token: str) -> Secrets:
    """The admin's token, every token the run was issued, every API key it sent."""
    secrets = Secrets(tokens={admin_token})
    for exchange in every:
        if (exchange.method, exchange.path) in ISSUING and '"token"' in exchange.answer:
            body = json.loads(exchange.answer[exchange.answer.index("{", 2) :])
            secrets.tokens.add(str(body.get("token")))
        if exchange.path.startswith("/models") and exchange.method in ("POST", "PATCH"):
            try:
                sent = json.loads(exchange.sent[exchange.sent.index("}") + 1 :] or "null")
            except ValueError:
                continue
            key = sent.get("api_key") if isinstance(sent, dict) else None
            if isinstance(key, str) and len(key) >= MIN_SECRET:
                secrets.keys.add(key)
    return secrets


def leaks(every: list[Exchange], secrets: Secrets, log: str, database: bytes) -> list[str]:
    """Where a secret was found: an answer (other than the one issuing that token, or one
    echoing what its own request sent), the log, the database."""
    found = []
    for secret in secrets.tokens | secrets.keys:
        for exchange in every:
            issuing = (exchange.method, exchange.path) in ISSUING and secret in secrets.tokens
            if secret in exchange.answer and not issuing and secret not in exchange.sent:
                found.append(f"{exchange.method} {exchange.path} answered {secret[:6]}...")
        if secret in log:
            found.append(f"the log holds {secret[:6]}...")
        if secret.encode() in database:
            found.append(f"the database holds {secret[:6]}...")
    return found
