"""What resolution works with: modules as the resolver sees them, variables, the expansion
tree, and what it reports (spans, exclusions, the resolution)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from vibeforge.prompting.grammar import Piece
from vibeforge.prompting.triggers import ALWAYS, Trigger

MAX_DEPTH = 8
Reason = Literal["trigger", "budget", "cycle", "depth_limit", "inactive", "failed", "not_run"]
VariableSource = Literal["request", "output", "state", "previous", "builtin", "default"]


@dataclass(frozen=True, slots=True)
class ModuleSpec:
    """What resolution needs to know of a module."""

    name: str
    content: str = ""
    kind: Literal["simple", "script"] = "simple"
    stage: Literal["before", "after"] = "before"
    trigger: Trigger = ALWAYS
    scan_depth: int = 2
    priority: int = 0
    token_budget: int | None = None
    essential: bool = False
    is_active: bool = True
    required: bool = False
    uses_model: bool = False


@dataclass(frozen=True, slots=True)
class Variable:
    """A variable's text and where its value came from."""

    text: str
    source: VariableSource


class Span(NamedTuple):  # a tuple: hundreds are made per resolution, cheaply
    """One stretch of the result: `text[start:end]`, who produced it and its token count.

    kind `template`: the template's own text; `module`: a simple module's text (`name`), in
    `path` (the chain of modules from the template), included because of `trigger`; `script`:
    what a script module printed; `variable`: the value of `${name}`, from `source` (request,
    output, state, previous, builtin, or the reference's own default).
    """

    start: int
    end: int
    tokens: int
    kind: Literal["template", "module", "script", "variable"]
    name: str | None = None
    path: tuple[str, ...] = ()
    trigger: str | None = None
    source: VariableSource | None = None


@dataclass(frozen=True, slots=True)
class Excluded:
    """A module that was referenced but is not in the text, and why."""

    module: str
    reason: Reason
    detail: str
    path: tuple[str, ...] = ()


@dataclass
class Resolution:
    """The resolved text, its provenance spans (contiguous, covering the whole text), the
    modules left out with their reasons, and what else resolution found."""

    text: str
    spans: list[Span]
    excluded: list[Excluded]
    included: list[str]  # modules whose text is in the result, in order of first appearance
    after: list[str]  # post-response modules the template reaches, in run order
    warnings: list[str] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        """The token estimate of the text: the sum of its spans'."""
        return sum(span.tokens for span in self.spans)

    @property
    def stable(self) -> bool:
        """Whether the text can only change when the template or its modules do: no variable,
        no script and no module that a keyword or pattern let in."""
        return all(
            span.kind in ("template", "module") and span.trigger in (None, "always")
            for span in self.spans
        )


@dataclass
class Node:
    """A module occurrence in the expansion tree."""

    module: ModuleSpec
    path: tuple[str, ...]  # from the template to this module, itself included
    trigger: str
    children: list[Piece | Node] = field(default_factory=list)


@dataclass
class Expansion:
    """The tree of a template's references, before variables and scripts are filled in."""

    children: list[Piece | Node]
    excluded: list[Excluded]
    scripts: list[ModuleSpec]  # before-stage scripts reached, in run order
    after: list[ModuleSpec]  # after-stage modules reached, in run order


def run_order(modules: Sequence[ModuleSpec]) -> list[ModuleSpec]:
    """Modules in the order they run and are kept: priority (higher first), then name."""
    return sorted(modules, key=lambda module: (-module.priority, module.name))


SpanKey = tuple[str, str | None, tuple[str, ...], str | None, str | None]
"""kind, name, path, trigger, source: adjacent text with the same key is one span."""
Segment = tuple[str, SpanKey, Node | None]
"""A piece of the result: its text, its span key, the module occurrence owning it."""
