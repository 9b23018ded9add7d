"""Properties of resolution that must hold for any input (hypothesis)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from vibeforge.prompting.grammar import TemplateError, escape, parse
from vibeforge.prompting.resolver import ModuleSpec, Variable, resolve
from vibeforge.prompting.triggers import ALWAYS, Keyword

NAMES = ["a", "b", "c", "d", "e", "f_2"]
VARIABLES = {"x": Variable("X-value", "request"), "名前": Variable("ゆき", "state")}
words = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
piece = st.one_of(
    words.map(escape),
    st.sampled_from(NAMES).map(lambda name: f" @{name} "),
    st.sampled_from(sorted(VARIABLES)).map(lambda name: "${" + name + "}"),
)
source = st.lists(piece, max_size=8).map("".join)
module = st.builds(
    lambda name, content, priority, essential, budget, keyed: ModuleSpec(
        name,
        content,
        priority=priority,
        essential=essential,
        token_budget=budget,
        trigger=Keyword(("deploy",)) if keyed else ALWAYS,
    ),
    st.sampled_from(NAMES),
    source,
    st.integers(-3, 3),
    st.booleans(),
    st.none() | st.integers(1, 20),
    st.booleans(),
)
messages = st.lists(st.sampled_from(["deploy now", "hello", "ok"]), max_size=4)


@settings(max_examples=300, deadline=None)
@given(
    template=source,
    specs=st.lists(module, max_size=6, unique_by=lambda m: m.name),
    window=messages,
    budget=st.none() | st.integers(0, 60),
)
def test_spans_cover_the_text_exactly_and_resolution_is_deterministic(
    template: str, specs: list[ModuleSpec], window: list[str], budget: int | None
) -> None:
    modules = {spec.name: spec for spec in specs}
    try:
        result = resolve(template, modules, VARIABLES, window, budget=budget)
    except TemplateError as error:
        assert "unknown module" in error.detail
        return
    position = 0
    for span in result.spans:
        assert span.start == position < span.end
        position = span.end
    assert position == len(result.text)
    assert "".join(result.text[s.start : s.end] for s in result.spans) == result.text
    assert result.tokens == sum(span.tokens for span in result.spans)
    shuffled = list(specs)
    random.Random(len(template)).shuffle(shuffled)
    again = resolve(template, {s.name: s for s in shuffled}, VARIABLES, window, budget=budget)
    assert (again.text, again.spans, again.excluded) == (result.text, result.spans, result.excluded)
    dropped = {item.module for item in result.excluded if item.reason == "budget"}
    assert not dropped & set(result.included), "a module the budget dropped left no text"
    assert not any(modules[name].essential for name in dropped), "essential is never dropped"


@settings(max_examples=300, deadline=None)
@given(text=words)
def test_escaped_text_resolves_to_itself(text: str) -> None:
    result = resolve(escape(text), {})
    assert result.text == text
    assert all(span.kind == "template" for span in result.spans)


@settings(max_examples=500, deadline=None)
@given(text=st.text(max_size=40))
def test_parsing_any_text_either_works_or_says_why(text: str) -> None:
    try:
        parse(text)
    except TemplateError as error:
        assert error.detail
