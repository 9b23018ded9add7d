"""Template resolution: the text of a template with its modules and variables, and a provenance
map saying where every character of it came from. Pure: no I/O, no clock, no randomness.

Two steps, because script modules run in the sandbox between them:
`expand` walks `@references` (triggers, cycles, the depth limit, inactive modules) into a tree
and lists the script modules it reached; `render` fills in variables and the scripts' text,
applies the token budgets and lays the tree out as text and spans. `resolve` is both, for
templates whose scripts have already run (or that have none).

Determinism: the same inputs give the same output. Where an order is chosen (which module the
budget drops first, which script runs first) it is priority (higher first), then name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vibeforge.llm.tokens import estimate_tokens
from vibeforge.prompting.budgets import apply_budgets, inside
from vibeforge.prompting.grammar import ModuleRef, Piece, TemplateError, Text, VariableRef, parse
from vibeforge.prompting.model import (
    MAX_DEPTH,
    Excluded,
    Expansion,
    ModuleSpec,
    Node,
    Reason,
    Resolution,
    Segment,
    Span,
    SpanKey,
    Variable,
    VariableSource,
    run_order,
)
from vibeforge.prompting.triggers import Window

__all__ = [  # the model's names, so callers import resolution from one place
    "MAX_DEPTH",
    "Excluded",
    "Expansion",
    "ModuleSpec",
    "Node",
    "Resolution",
    "Span",
    "Variable",
    "VariableSource",
    "expand",
    "render",
    "resolve",
    "run_order",
]


def expand(
    template: str,
    modules: Mapping[str, ModuleSpec],
    messages: Sequence[str] | Window = (),
    *,
    max_depth: int = MAX_DEPTH,
) -> Expansion:
    """Walk the template's references. An unknown module is a TemplateError naming it; a
    module left out (trigger, cycle, depth limit, inactive) is listed with its reason."""
    window = messages if isinstance(messages, Window) else Window(messages)
    walker = _Walker(modules, window, max_depth)
    try:
        children = walker.walk(template, ())
    except RecursionError:  # pragma: no cover - max_depth bounds the recursion
        raise TemplateError("the template nests too deeply") from None
    return Expansion(
        children,
        sorted(walker.excluded.values(), key=lambda item: (item.module, item.reason, item.path)),
        run_order(list(walker.scripts.values())),
        run_order(list(walker.after.values())),
    )


class _Walker:
    """One expansion's walk. A class, not a recursive closure: a closure that calls itself is
    a reference cycle, which would keep every resolution's objects alive until the cyclic
    collector runs (measured: its pauses were most of resolution's p99)."""

    def __init__(self, modules: Mapping[str, ModuleSpec], window: Window, max_depth: int) -> None:
        self.modules = modules
        self.window = window
        self.max_depth = max_depth
        self.excluded: dict[tuple[str, str, tuple[str, ...]], Excluded] = {}
        self.scripts: dict[str, ModuleSpec] = {}
        self.after: dict[str, ModuleSpec] = {}

    def leave(self, name: str, reason: Reason, detail: str, path: tuple[str, ...]) -> None:
        self.excluded.setdefault((name, reason, path), Excluded(name, reason, detail, path))

    def walk(self, source: str, path: tuple[str, ...]) -> list[Piece | Node]:
        out: list[Piece | Node] = []
        for piece in parse(source):
            if not isinstance(piece, ModuleRef):
                out.append(piece)
                continue
            name = piece.name
            module = self.modules.get(name)
            if module is None:
                where = f"module @{path[-1]}" if path else "the template"
                raise TemplateError(f"unknown module @{name} (in {where}, offset {piece.offset})")
            if name in path:
                self.leave(name, "cycle", " -> ".join((*path, name)), path)
                continue
            if len(path) >= self.max_depth:
                self.leave(name, "depth_limit", f"nested deeper than {self.max_depth} levels", path)
                continue
            if not module.is_active:
                self.leave(name, "inactive", "the module is not active", path)
                continue
            why = module.trigger.matches(self.window, module.scan_depth)
            if why is None:
                detail = f"its {module.trigger.type} trigger did not match the last "
                self.leave(name, "trigger", detail + f"{module.scan_depth} messages", path)
                continue
            if module.stage == "after":
                self.after.setdefault(name, module)
                continue
            node = Node(module, (*path, name), why)
            if module.kind == "script":
                self.scripts.setdefault(name, module)
            else:
                node.children = self.walk(module.content, node.path)
            out.append(node)
        return out


def render(
    expansion: Expansion,
    variables: Mapping[str, Variable],
    *,
    scripts: Mapping[str, str | Excluded] | None = None,
    budget: int | None = None,
) -> Resolution:
    """Fill in variables and script text, apply the budgets, and lay out text and spans.

    `scripts` maps a script module to its printed text, or to why it is left out (it failed);
    a script with no entry is left out as `not_run`. An unknown variable is a TemplateError.
    """
    layer = _Layer(variables, scripts or {}, list(expansion.excluded), budget is not None)
    layer.lay(expansion.children, None)
    if not layer.budgeted:
        return _layout(layer.segments, layer.excluded, expansion, [])
    dropped, warnings = apply_budgets(layer.segments, layer.excluded, budget)
    kept = [s for s in layer.segments if s[2] is None or not inside(s[2], dropped)]
    return _layout(kept, layer.excluded, expansion, warnings)


class _Layer:
    """One rendering's walk of the tree into segments (a class for the reason _Walker is)."""

    def __init__(
        self,
        variables: Mapping[str, Variable],
        scripts: Mapping[str, str | Excluded],
        excluded: list[Excluded],
        budgeted: bool,
    ) -> None:
        self.variables = variables
        self.scripts = scripts
        self.excluded = excluded
        self.budgeted = budgeted  # whether any budget applies (else no tokens are counted)
        self.segments: list[Segment] = []
        self.failed: set[str] = set()

    def lay(self, children: list[Piece | Node], owner: Node | None) -> None:
        segments = self.segments
        path = owner.path if owner else ()
        name = owner.module.name if owner else None
        own: SpanKey = (
            ("module", name, path, owner.trigger, None)
            if owner
            else ("template", None, (), None, None)
        )
        for child in children:
            if isinstance(child, Text):
                segments.append((child.text, own, owner))
            elif isinstance(child, VariableRef):
                value = self.variables.get(child.name)
                if value is None and child.default is not None:
                    value = Variable(child.default, "default")
                if value is None:
                    where = f"module @{name}" if name else "the template"
                    raise TemplateError(f"unknown variable ${{{child.name}}} (in {where})")
                key: SpanKey = ("variable", child.name, path, None, value.source)
                segments.append((value.text, key, owner))
            elif child.module.kind == "script":
                module = child.module
                self.budgeted = self.budgeted or module.token_budget is not None
                outcome = self.scripts.get(module.name)
                if isinstance(outcome, str):
                    key = ("script", module.name, child.path, child.trigger, None)
                    segments.append((outcome, key, child))
                elif module.name not in self.failed:
                    self.failed.add(module.name)
                    self.excluded.append(
                        outcome or Excluded(module.name, "not_run", "the script was not run", path)
                    )
            else:
                self.budgeted = self.budgeted or child.module.token_budget is not None
                self.lay(child.children, child)


def _layout(
    segments: list[Segment], excluded: list[Excluded], expansion: Expansion, warnings: list[str]
) -> Resolution:
    texts: list[str] = []
    spans: list[Span] = []
    included: dict[str, None] = {}
    position = 0
    current: SpanKey | None = None
    buffered: list[str] = []
    last_owner: Node | None = None
    for text, key, owner in segments:
        if not text:
            continue
        if owner is not None and owner is not last_owner:
            last_owner = owner
            for name in owner.path:
                included.setdefault(name, None)
        if key is current or key == current:
            buffered.append(text)
            continue
        if current is not None:
            position = _close(current, buffered, position, texts, spans)
        current, buffered = key, [text]
    if current is not None:
        _close(current, buffered, position, texts, spans)
    return Resolution(
        text="".join(texts),
        spans=spans,
        excluded=sorted(excluded, key=_excluded_order),
        included=list(included),
        after=[module.name for module in expansion.after],
        warnings=warnings,
    )


def _close(
    key: SpanKey, buffered: list[str], position: int, texts: list[str], spans: list[Span]
) -> int:
    text = buffered[0] if len(buffered) == 1 else "".join(buffered)
    texts.append(text)
    size = len(text)
    tokens = -(-size // 4) if text.isascii() else estimate_tokens(text)  # as budgets.tokens
    spans.append(Span(position, position + size, tokens, *key))  # type: ignore[arg-type]
    return position + size


def _excluded_order(item: Excluded) -> tuple[Any, ...]:
    return (item.module, item.reason, item.path)


def resolve(
    template: str,
    modules: Mapping[str, ModuleSpec],
    variables: Mapping[str, Variable] | None = None,
    messages: Sequence[str] = (),
    *,
    scripts: Mapping[str, str | Excluded] | None = None,
    budget: int | None = None,
    max_depth: int = MAX_DEPTH,
) -> Resolution:
    """Expand and render in one call (scripts, if any, must have run: their text in
    `scripts`)."""
    expansion = expand(template, modules, messages, max_depth=max_depth)
    return render(expansion, variables or {}, scripts=scripts, budget=budget)
