"""Per-request parameters checked on the client exactly as the server checks them.

The rule is the server's own (`vibeforge.llm.params.validate_params`) against the capabilities
its provider table declares for the model config's provider (`vibeforge.llm.providers`, which
imports no provider SDK), so a request the server would refuse is refused here with the same
code and detail, before anything is sent. With no stored config to name the provider (the
server's default model), names and values are checked and the server judges the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vibeforge.client.errors import ApiError
from vibeforge.errors import VibeforgeError


def check_params(provider: str | None, params: Mapping[str, Any]) -> None:
    """Raise ApiError (422 `invalid_parameter`) for parameters the server would refuse."""
    # Imported here: pydantic and the LLM layer's types are needed only when params are sent.
    from vibeforge.llm.params import PARAMETER_NAMES, validate_params
    from vibeforge.llm.providers import PROVIDER_INFO
    from vibeforge.llm.types import Capabilities

    info = PROVIDER_INFO.get(provider) if provider else None
    capabilities = (
        info.capabilities() if info is not None else Capabilities(parameters=PARAMETER_NAMES)
    )
    try:
        validate_params(capabilities, params)
    except VibeforgeError as error:
        raise ApiError.of(error) from None
