"""Strict input models: the base of every request body and client command."""

from __future__ import annotations

import types
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, ClassVar, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    JsonValue,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError


def has_nul(value: Any) -> bool:
    """Whether a NUL character hides anywhere in a JSON value (keys included)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(key) or has_nul(item) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return any(has_nul(item) for item in value)
    return False


def admits_null(annotation: Any) -> bool:
    """Whether a field's type accepts `null` (`X | None`, `Optional[X]`, `Any`, JSON)."""
    if annotation in (Any, JsonValue, None, type(None)):
        return True
    if get_origin(annotation) in (Union, types.UnionType):
        return any(admits_null(member) for member in get_args(annotation))
    return False


def _is_bool(annotation: Any) -> bool:
    """Whether a field's type is a boolean (`bool`, `bool | None`)."""
    if annotation is bool:
        return True
    if get_origin(annotation) in (Union, types.UnionType):
        members = [member for member in get_args(annotation) if member is not type(None)]
        return members == [bool]
    return False


def _is_number(annotation: Any) -> bool:
    """Whether a field's type is a number only (`int`, `float`, optionally `None`)."""
    if annotation in (int, float):
        return True
    if get_origin(annotation) in (Union, types.UnionType):
        members = [member for member in get_args(annotation) if member is not type(None)]
        return bool(members) and all(member in (int, float) for member in members)
    return False


def _iso_only(value: Any) -> Any:
    if isinstance(value, (int, float)) or (
        isinstance(value, str) and value.strip().lstrip("+-").replace(".", "", 1).isdigit()
    ):
        raise PydanticCustomError("iso_datetime", "must be an ISO 8601 date and time, not a number")
    return value


# A moment written as ISO 8601 text: pydantic would also read a number as a Unix time,
# which the schema (`format: date-time`) does not allow.
IsoDatetime = Annotated[datetime, BeforeValidator(_iso_only)]


def _drop_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def omittable(**constraints: Any) -> Any:
    """A field of a partial update that may be left out (unchanged) but is never `null`:
    the value it sets cannot be empty. Its OpenAPI schema is neither nullable nor required."""
    return Field(default=None, json_schema_extra=_drop_default, **constraints)


NO_NUL = r"^[^\u0000]*$"
"""The schema's statement that a text holds no NUL character (the rule `Strict` enforces)."""


def _forbid_nul(schema: dict[str, Any]) -> None:
    """State NO_NUL on a property's schema: on its text, or the text members of a union or
    the items of a list (a pattern of its own already says what the text may hold)."""
    if schema.get("type") == "string" and not ({"pattern", "enum", "const"} & set(schema)):
        schema["pattern"] = NO_NUL
    for member in schema.get("anyOf", ()):
        _forbid_nul(member)
    if isinstance(schema.get("items"), dict):
        _forbid_nul(schema["items"])


class Strict(BaseModel):
    """A request body: unknown fields are an error, not silently dropped, `null` is refused
    where the type does not allow it (with a message naming the field), and no text may hold
    a NUL character (PostgreSQL cannot store one; no text file has one)."""

    model_config = ConfigDict(extra="forbid")
    # Fields a service rule checks (and names in its error) instead of this one.
    checked_by_service: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        target = handler.resolve_ref_schema(schema)
        properties = target.get("properties", {})
        for name, field in cls.model_fields.items():
            prop = properties.get(field.alias or name)
            if prop is not None and name not in cls.checked_by_service:
                _forbid_nul(prop)
        return schema

    @field_validator("*", mode="before")
    @classmethod
    def _null_only_where_nullable(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if value is None and field is not None and not admits_null(field.annotation):
            raise PydanticCustomError(
                "null_not_allowed", "may not be null (leave the field out to keep its value)"
            )
        return value

    @field_validator("*", mode="before")
    @classmethod
    def _booleans_are_not_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        # Pydantic's lax mode reads 0/1 as false/true and true as 1; the schema says
        # `boolean` or `number`, so a client relying on that would break on a stricter peer.
        field = cls.model_fields.get(info.field_name or "")
        if field is None:
            return value
        if _is_bool(field.annotation) and value is not None and not isinstance(value, bool):
            raise PydanticCustomError("bool_type", "must be true or false")
        if _is_number(field.annotation) and isinstance(value, bool):
            raise PydanticCustomError("number_type", "must be a number, not true or false")
        return value

    @model_validator(mode="after")
    def _no_nul(self) -> Strict:
        for name in type(self).model_fields:
            if name not in self.checked_by_service and has_nul(getattr(self, name)):
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
