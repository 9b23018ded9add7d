"""Schemathesis hooks for the schema fuzz run: who the fuzzer is, and the error-shape check.

Loaded by the `schemathesis` CLI through SCHEMATHESIS_HOOKS; the test passes the server's
address and the admin token in VIBEFORGE_FUZZ_URL and VIBEFORGE_FUZZ_TOKEN.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import httpx
import schemathesis

REVOKE = "/auth/tokens/{token_id}"


def _url() -> str:
    return os.environ["VIBEFORGE_FUZZ_URL"]


def _admin() -> str:
    return os.environ["VIBEFORGE_FUZZ_TOKEN"]


def _bearer(case: schemathesis.Case, token: str) -> None:
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}


@schemathesis.auth(refresh_interval=None).apply_to(method="DELETE", path=REVOKE)
class DisposableUser:
    """Revocation runs as a user made for that one request, so whatever token id the fuzzer
    picks (the admin's included, read from GET /auth/tokens), it can only revoke its own
    throwaway token: the admin token the rest of the run uses stays valid."""

    def get(self, case: schemathesis.Case, ctx: schemathesis.AuthContext) -> str:
        email = f"fuzz-{uuid.uuid4().hex[:12]}@example.com"
        response = httpx.post(
            f"{_url()}/users",
            json={"email": email},
            headers={"Authorization": f"Bearer {_admin()}"},
            timeout=30,
        )
        response.raise_for_status()
        return str(response.json()["token"])

    def set(self, case: schemathesis.Case, data: str, ctx: schemathesis.AuthContext) -> None:
        _bearer(case, data)


@schemathesis.auth(refresh_interval=None).skip_for(method="DELETE", path=REVOKE)
class Admin:
    """Every other operation runs as the server's admin."""

    def get(self, case: schemathesis.Case, ctx: schemathesis.AuthContext) -> str:
        return _admin()

    def set(self, case: schemathesis.Case, data: str, ctx: schemathesis.AuthContext) -> None:
        _bearer(case, data)


@schemathesis.check
def error_shape(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """Every 4xx and 5xx answers exactly `{"error": CODE, "detail": TEXT}`."""
    if response.status_code < 400:
        return None
    try:
        body = json.loads(response.content)
    except ValueError as error:
        raise AssertionError(f"a {response.status_code} whose body is not JSON") from error
    if not (
        isinstance(body, dict)
        and isinstance(body.get("error"), str)
        and isinstance(body.get("detail"), str)
    ):
        raise AssertionError(f"a {response.status_code} not in the error shape: {body!r}")
    if set(body) != {"error", "detail"} and _declares_plain_error(case, response.status_code):
        raise AssertionError(f"a {response.status_code} with more than the error: {body!r}")
    return None


def _declares_plain_error(case: schemathesis.Case, status: int) -> bool:
    """Whether the operation documents this status as the bare error shape (a failed run's
    answer to POST .../messages documents its own, with the message it kept)."""
    declared = case.operation.definition.raw.get("responses", {}).get(str(status))
    return declared is None or "#/components/schemas/Error" in json.dumps(declared)


@schemathesis.hook
def map_case(context: schemathesis.HookContext, case: schemathesis.Case) -> schemathesis.Case:
    """A schema-valid case sends no made-up `cursor`: a cursor is opaque, valid only as a
    page's `next` handed it out (an invented one is rightly refused; negative cases keep it)."""
    if case.query and "cursor" in case.query and _positive(case):
        case.query = {name: value for name, value in case.query.items() if name != "cursor"}
    return case


def _positive(case: schemathesis.Case) -> bool:
    meta = case.meta
    return meta is None or meta.generation.mode == schemathesis.GenerationMode.POSITIVE
