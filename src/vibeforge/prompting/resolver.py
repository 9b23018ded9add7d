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
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from vibeforge.llm.tokens import estimate_tokens
from vibeforge.prompting.grammar import ModuleRef, Piece, TemplateError, Text, VariableRef, parse
from vibeforge.prompting.triggers import ALWAYS, Trigger, Window

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
    excluded: dict[tuple[str, str, tuple[str, ...]], Excluded] = {}
    scripts: dict[str, ModuleSpec] = {}
    after: dict[str, ModuleSpec] = {}

    def leave(name: str, reason: Reason, detail: str, path: tuple[str, ...]) -> None:
        excluded.setdefault((name, reason, path), Excluded(name, reason, detail, path))

    def walk(source: str, path: tuple[str, ...]) -> list[Piece | Node]:
        out: list[Piece | Node] = []
        for piece in parse(source):
            if not isinstance(piece, ModuleRef):
                out.append(piece)
                continue
            name = piece.name
            module = modules.get(name)
            if module is None:
                where = f"module @{path[-1]}" if path else "the template"
                raise TemplateError(f"unknown module @{name} (in {where}, offset {piece.offset})")
            if name in path:
                leave(name, "cycle", " -> ".join((*path, name)), path)
                continue
            if len(path) >= max_depth:
                leave(name, "depth_limit", f"nested deeper than {max_depth} levels", path)
                continue
            if not module.is_active:
                leave(name, "inactive", "the module is not active", path)
                continue
            why = module.trigger.matches(window, module.scan_depth)
            if why is None:
                detail = f"its {module.trigger.type} trigger did not match the last "
                leave(name, "trigger", detail + f"{module.scan_depth} messages", path)
                continue
            if module.stage == "after":
                after.setdefault(name, module)
                continue
            node = Node(module, (*path, name), why)
            if module.kind == "script":
                scripts.setdefault(name, module)
            else:
                node.children = walk(module.content, node.path)
            out.append(node)
        return out

    try:
        children = walk(template, ())
    except RecursionError:  # pragma: no cover - max_depth bounds the recursion
        raise TemplateError("the template nests too deeply") from None
    return Expansion(
        children,
        sorted(excluded.values(), key=lambda item: (item.module, item.reason, item.path)),
        run_order(list(scripts.values())),
        run_order(list(after.values())),
    )


SpanKey = tuple[str, str | None, tuple[str, ...], str | None, str | None]
"""kind, name, path, trigger, source: adjacent text with the same key is one span."""
Segment = tuple[str, SpanKey, "Node | None"]
"""A piece of the result: its text, its span key, the module occurrence owning it."""


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
    scripts = scripts or {}
    excluded = list(expansion.excluded)
    segments: list[Segment] = []
    failed: set[str] = set()
    budgeted = budget is not None

    def lay(children: list[Piece | Node], owner: Node | None) -> None:
        nonlocal budgeted
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
                value = variables.get(child.name)
                if value is None and child.default is not None:
                    value = Variable(child.default, "default")
                if value is None:
                    where = f"module @{name}" if name else "the template"
                    raise TemplateError(f"unknown variable ${{{child.name}}} (in {where})")
                key: SpanKey = ("variable", child.name, path, None, value.source)
                segments.append((value.text, key, owner))
            elif child.module.kind == "script":
                module = child.module
                budgeted = budgeted or module.token_budget is not None
                outcome = scripts.get(module.name)
                if isinstance(outcome, str):
                    key = ("script", module.name, child.path, child.trigger, None)
                    segments.append((outcome, key, child))
                elif module.name not in failed:
                    failed.add(module.name)
                    excluded.append(
                        outcome or Excluded(module.name, "not_run", "the script was not run", path)
                    )
            else:
                budgeted = budgeted or child.module.token_budget is not None
                lay(child.children, child)

    lay(expansion.children, None)
    if not budgeted:
        return _layout(segments, excluded, expansion, [])
    dropped, warnings = _apply_budgets(segments, excluded, budget)
    kept = [s for s in segments if s[2] is None or not _inside(s[2], dropped)]
    return _layout(kept, excluded, expansion, warnings)


def _tokens(text: str) -> int:
    """`estimate_tokens`, with its ASCII case inlined (it is most of a resolution's spans)."""
    return -(-len(text) // 4) if text.isascii() else estimate_tokens(text)


def _inside(node: Node, dropped: set[str]) -> bool:
    return any(name in dropped for name in node.path)


def _apply_budgets(
    segments: list[Segment], excluded: list[Excluded], budget: int | None
) -> tuple[set[str], list[str]]:
    """Drop modules over their own budget, then (lowest priority first) until the total fits;
    essential modules, and modules holding one, are never dropped. Returns the names dropped."""
    cost: dict[str, int] = {}
    specs: dict[str, ModuleSpec] = {}
    holders: dict[str, set[str]] = {}  # module -> modules in whose subtree it occurs
    for text, _, owner in segments:
        if owner is None:
            continue
        name = owner.module.name
        specs[name] = owner.module
        cost[name] = cost.get(name, 0) + _tokens(text)
        for ancestor in owner.path[:-1]:
            holders.setdefault(name, set()).add(ancestor)
    warnings: list[str] = []
    dropped: set[str] = set()
    protected = {name for name, spec in specs.items() if spec.essential}
    for name in list(protected):
        protected |= holders.get(name, set())
    for name in sorted(cost):
        spec = specs[name]
        if spec.token_budget is None or cost[name] <= spec.token_budget:
            continue
        detail = f"needs {cost[name]} tokens; its token_budget is {spec.token_budget}"
        if name in protected:
            warnings.append(f"@{name} {detail}, kept because it is essential")
        else:
            dropped.add(name)
            excluded.append(Excluded(name, "budget", detail))
    if budget is not None:
        total = _kept_cost(segments, dropped)
        # The reverse of the keeping order: lowest priority first, then the name sorting last.
        candidates = run_order(
            [spec for name, spec in specs.items() if name not in protected | dropped]
        )[::-1]
        for spec in candidates:
            if total <= budget:
                break
            if spec.name in dropped:
                continue
            dropped.add(spec.name)
            after = _kept_cost(segments, dropped)
            detail = f"dropped to fit the budget of {budget} tokens (saved {total - after})"
            excluded.append(Excluded(spec.name, "budget", detail))
            total = after
        if total > budget:
            warnings.append(
                f"the essential modules take {total} tokens, over the budget of {budget}"
            )
    for name in sorted(set(specs) - dropped):
        hidden = [a for a in holders.get(name, ()) if a in dropped]
        if hidden and all(
            _inside(owner, dropped)
            for _, _, owner in segments
            if owner is not None and owner.module.name == name
        ):
            excluded.append(
                Excluded(name, "budget", f"inside @{min(hidden)}, which the budget dropped")
            )
    return dropped, warnings


def _kept_cost(segments: list[Segment], dropped: set[str]) -> int:
    return sum(
        _tokens(text)
        for text, _, owner in segments
        if owner is not None and not _inside(owner, dropped)
    )


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
    tokens = -(-size // 4) if text.isascii() else estimate_tokens(text)  # as _tokens
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
