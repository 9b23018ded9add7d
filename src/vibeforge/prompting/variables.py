"""The variables a resolution sees, in layers: built-ins, the last answer's outputs, the
session's state, this run's module outputs, then the request's own (each over the one before).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from vibeforge.prompting.resolver import Variable, VariableSource

# Lowest first: a later layer's value wins.
LAYERS: tuple[VariableSource, ...] = ("builtin", "previous", "state", "output", "request")


def as_text(value: Any) -> str:
    """A variable's value as it appears in a prompt: text as is, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def builtins(
    now: datetime,
    *,
    user: str | None = None,
    project: str | None = None,
    model: str | None = None,
    persona: str | None = None,
) -> dict[str, Any]:
    """`${date}` and `${time}` (UTC), and the user, project, model and persona when known."""
    values: dict[str, Any] = {"date": now.strftime("%Y-%m-%d"), "time": now.strftime("%H:%M")}
    known = {"user": user, "project": project, "model": model, "persona": persona}
    values.update({name: value for name, value in known.items() if value is not None})
    return values


class Variables:
    """The layers of one resolution; modules may add outputs and state as they run."""

    def __init__(self, **layers: Mapping[str, Any]) -> None:
        unknown = set(layers) - set(LAYERS)
        if unknown:
            raise ValueError(f"unknown variable layers: {sorted(unknown)}")
        self.layers: dict[str, dict[str, Any]] = {
            name: dict(layers.get(name, {})) for name in LAYERS
        }

    def values(self) -> dict[str, Any]:
        """Every variable's value (what `ctx.get_var` reads)."""
        merged: dict[str, Any] = {}
        for name in LAYERS:
            merged.update(self.layers[name])
        return merged

    def resolved(self) -> dict[str, Variable]:
        """Every variable as text with its source (what templates read)."""
        merged: dict[str, Variable] = {}
        for name in LAYERS:
            for key, value in self.layers[name].items():
                merged[key] = Variable(as_text(value), name)  # type: ignore[arg-type]
        return merged

    def set_state(self, changes: Mapping[str, Any]) -> None:
        """Apply a module's `set_var` changes (None forgets)."""
        for key, value in changes.items():
            if value is None:
                self.layers["state"].pop(key, None)
            else:
                self.layers["state"][key] = value

    def add_outputs(self, outputs: Mapping[str, Any]) -> None:
        """A module's outputs, for the modules and the template after it."""
        self.layers["output"].update(outputs)
