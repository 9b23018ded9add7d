"""Token budgets: a module's own cap, and the cap of all modules together, applied lowest
priority first; `essential` modules, and those holding one, are never dropped."""

from __future__ import annotations

from vibeforge.llm.tokens import estimate_tokens
from vibeforge.prompting.model import Excluded, ModuleSpec, Node, Segment, run_order


def tokens(text: str) -> int:
    """`estimate_tokens`, with its ASCII case inlined (it is most of a resolution's spans)."""
    return -(-len(text) // 4) if text.isascii() else estimate_tokens(text)


def inside(node: Node, dropped: set[str]) -> bool:
    """Whether a module occurrence is (or sits inside) a dropped module."""
    return any(name in dropped for name in node.path)


def apply_budgets(
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
        cost[name] = cost.get(name, 0) + tokens(text)
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
            inside(owner, dropped)
            for _, _, owner in segments
            if owner is not None and owner.module.name == name
        ):
            excluded.append(
                Excluded(name, "budget", f"inside @{min(hidden)}, which the budget dropped")
            )
    return dropped, warnings


def _kept_cost(segments: list[Segment], dropped: set[str]) -> int:
    return sum(
        tokens(text)
        for text, _, owner in segments
        if owner is not None and not inside(owner, dropped)
    )
