"""Composing a prompt: expand the template, run the script modules it reaches (in the sandbox,
through a callback the caller supplies), then render. The same script loop runs the
post-response modules after an answer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from vibeforge.errors import InvalidInput, VibeforgeError
from vibeforge.prompting.resolver import Excluded, ModuleSpec, Resolution, expand, render
from vibeforge.prompting.scripts import ScriptInput, ScriptResult
from vibeforge.prompting.state import with_changes
from vibeforge.prompting.variables import Variables

TRIGGER_MESSAGES = 100  # the most a trigger's scan_depth may read
WINDOW_MESSAGES = 50  # what a script is shown of the conversation
WINDOW_MESSAGE_CHARS = 20_000

RunModule = Callable[[ModuleSpec, ScriptInput], Awaitable[ScriptResult]]
"""Runs one script module in the sandbox (with its limits and its access to the model)."""
Staging = Callable[[str], AbstractAsyncContextManager[dict[str, Any]]]
"""A stage around one module's run, by module name (a run's `stage_update`s)."""


class ModuleFailed(VibeforgeError):
    """A module marked `required` failed, so the run (or its post-response stage) stops."""

    code = "module_failed"
    status = 422


@dataclass
class ModuleOutcome:
    """One script module's run: what it produced, or why it is left out."""

    module: str
    result: ScriptResult
    error: str | None  # the script's error, or a state over its size cap

    @property
    def ok(self) -> bool:
        """Whether its text, outputs and state changes count."""
        return self.error is None


@dataclass
class Composed:
    """A resolution, the modules that ran for it and the state changes they made."""

    resolution: Resolution
    outcomes: list[ModuleOutcome] = field(default_factory=list)
    state_changes: dict[str, Any] = field(default_factory=dict)


def window(messages: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    """The newest messages a script is shown, each cut to a size a pipe carries quickly."""
    return [
        {"role": str(m["role"]), "content": str(m["content"])[:WINDOW_MESSAGE_CHARS]}
        for m in messages[-WINDOW_MESSAGES:]
    ]


@asynccontextmanager
async def _unstaged(_name: str) -> AsyncIterator[dict[str, Any]]:
    yield {}


async def run_modules(
    specs: Sequence[ModuleSpec],
    variables: Variables,
    messages: list[dict[str, str]],
    run_module: RunModule,
    *,
    stage: str,
    answer: str | None = None,
    staging: Staging = _unstaged,
) -> tuple[list[ModuleOutcome], dict[str, Any], ModuleOutcome | None]:
    """Run script modules in order, each seeing the outputs and state the earlier ones left,
    each inside `staging(name)` (a stage whose record gets the module's `error`, or its
    `outputs`). A failure leaves its module out; a `required` module's failure stops the loop.
    Returns the outcomes, the state changes made, and the required module that failed."""
    outcomes: list[ModuleOutcome] = []
    changes: dict[str, Any] = {}
    for spec in specs:
        given = ScriptInput(
            module=spec.name,
            stage=stage,
            variables=variables.values(),
            outputs=dict(variables.layers["output"]),
            messages=messages,
            answer=answer,
        )
        async with staging(spec.name) as record:
            result = await run_module(spec, given)
            error = result.error
            if result.ok:
                try:
                    with_changes(variables.layers["state"], result.variables)
                except InvalidInput as too_big:
                    error = too_big.detail
            if error is None:
                record["outputs"] = result.outputs
            else:
                record["error"] = error
        outcome = ModuleOutcome(spec.name, result, error)
        outcomes.append(outcome)
        if not outcome.ok:
            if spec.required:
                return outcomes, changes, outcome
            continue
        variables.add_outputs(result.outputs)
        variables.set_state(result.variables)
        changes.update(result.variables)
    return outcomes, changes, None


async def compose(
    template: str,
    specs: Mapping[str, ModuleSpec],
    variables: Variables,
    messages: Sequence[Mapping[str, str]],
    *,
    run_module: RunModule | None,
    budget: int | None = None,
    staging: Staging = _unstaged,
) -> Composed:
    """Resolve `template` with its script modules run through `run_module` (None: scripts are
    left out as not run), each inside `staging(name)`."""
    shown = window(messages)
    scanned = [str(m["content"]) for m in messages[-TRIGGER_MESSAGES:]]
    expansion = expand(template, specs, scanned)
    outcomes: list[ModuleOutcome] = []
    changes: dict[str, Any] = {}
    if run_module is not None and expansion.scripts:
        outcomes, changes, failed = await run_modules(
            expansion.scripts, variables, shown, run_module, stage="before", staging=staging
        )
        if failed is not None:
            raise ModuleFailed(f"the required module @{failed.module} failed: {failed.error}")
    texts: dict[str, str | Excluded] = {
        o.module: o.result.text if o.ok else Excluded(o.module, "failed", o.error or "failed")
        for o in outcomes
    }
    resolution = render(expansion, variables.resolved(), scripts=texts, budget=budget)
    return Composed(resolution, outcomes, changes)
