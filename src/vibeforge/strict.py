"""Strict input models: the base of every request body and client command."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator


def has_nul(value: Any) -> bool:
    """Whether a NUL character hides anywhere in a JSON value (keys included)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(key) or has_nul(item) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return any(has_nul(item) for item in value)
    return False


class Strict(BaseModel):
    """Input from a client: unknown fields are an error, not silently dropped, and no text
    may hold a NUL character (PostgreSQL cannot store one; no text file has one)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _no_nul(self) -> Strict:
        for name in type(self).model_fields:
            if has_nul(getattr(self, name)):
                raise ValueError(f"{name} contains a NUL character")
        return self


def describe_errors(errors: Sequence[Any]) -> str:
    """Pydantic's validation errors as one line a person can act on: `field: problem; ...`."""
    problems = []
    for error in errors:
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        problems.append(f"{location or 'body'}: {message}")
    return "; ".join(problems) or "invalid input"
