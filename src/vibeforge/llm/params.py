"""Per-request generation parameters: validation against a model's capabilities, and merging."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vibeforge.llm.errors import InvalidParameter

if TYPE_CHECKING:
    from vibeforge.llm.types import Capabilities

ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh"]


class Params(BaseModel):
    """Generation parameters; None means "not set" so that defaults can show through."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    stop: list[str] | None = Field(None, max_length=16)
    seed: int | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    logit_bias: dict[str, float] | None = None
    user: str | None = Field(None, max_length=256)
    response_format: dict[str, Any] | None = None  # OpenAI shape: {"type": "json_object"}, ...
    reasoning_effort: ReasoningEffort | None = None
    extra: dict[str, Any] = Field(default_factory=dict)  # provider-specific, passed through

    def set_names(self) -> set[str]:
        """Names of the parameters that carry a value."""
        names = {name for name in type(self).model_fields if getattr(self, name) is not None}
        if not self.extra:
            names.discard("extra")
        return names


PARAMETER_NAMES: frozenset[str] = frozenset(Params.model_fields)
"""Every parameter name vibeforge knows."""


def validate_params(
    capabilities: Capabilities, params: Mapping[str, Any] | Params | None
) -> Params:
    """Check parameters against what a model accepts; raise InvalidParameter naming the bad one."""
    if params is None:
        return Params()
    if isinstance(params, Params):
        names = params.set_names()
        checked = params
    else:
        names = {name for name, value in params.items() if value is not None}
        unknown = sorted(set(params) - PARAMETER_NAMES)
        if unknown:
            raise InvalidParameter(unknown[0], "unknown parameter")
        try:
            # `stop` may be sent as one string, as the OpenAI API allows.
            values = dict(params)
            if isinstance(values.get("stop"), str):
                values["stop"] = [values["stop"]]
            checked = Params.model_validate(values)
        except ValidationError as error:
            first = error.errors()[0]
            name = ".".join(str(part) for part in first["loc"]) or "params"
            raise InvalidParameter(name, first["msg"]) from None
    refused = sorted(names - capabilities.parameters - {"extra"})
    if refused:
        raise InvalidParameter(refused[0], "not accepted by this model")
    if checked.extra and "extra" not in capabilities.parameters:
        raise InvalidParameter("extra", "not accepted by this model")
    return checked


def merge_params(defaults: Params, overrides: Params) -> Params:
    """Per-request values over the model config's defaults; `extra` merges key by key."""
    values = defaults.model_dump(exclude_none=True)
    values.update(overrides.model_dump(exclude_none=True, exclude={"extra"}))
    values["extra"] = {**defaults.extra, **overrides.extra}
    return Params.model_validate(values)
