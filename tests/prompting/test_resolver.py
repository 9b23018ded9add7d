"""Template resolution: escapes, references, variables, triggers, budgets and provenance."""

from __future__ import annotations

import pytest

from vibeforge.prompting.grammar import ModuleRef, TemplateError, Text, VariableRef, parse
from vibeforge.prompting.resolver import ModuleSpec, Variable, resolve
from vibeforge.prompting.triggers import Keyword, Pattern, trigger_of


def mods(*specs: ModuleSpec) -> dict[str, ModuleSpec]:
    return {spec.name: spec for spec in specs}


def var(text: str, source: str = "request") -> Variable:
    return Variable(text, source)  # type: ignore[arg-type]


def covered(result) -> str:  # type: ignore[no-untyped-def]
    """The text rebuilt from the spans, checking they are contiguous."""
    position = 0
    pieces = []
    for span in result.spans:
        assert span.start == position and span.end > span.start
        pieces.append(result.text[span.start : span.end])
        position = span.end
    assert position == len(result.text)
    return "".join(pieces)


# -- grammar ------------------------------------------------------------------------------------


def test_escapes_give_literal_at_dollar_and_backslash() -> None:
    assert resolve(r"mail \@team, pay \${price} or \\@x", mods(ModuleSpec("x", "X"))).text == (
        r"mail @team, pay ${price} or \X"
    )
    assert resolve(r"C:\path\n stays", {}).text == r"C:\path\n stays"


def test_an_at_inside_a_word_or_before_no_name_is_text() -> None:
    assert resolve("write to ada@example.com @ noon, @!", {}).text == (
        "write to ada@example.com @ noon, @!"
    )


@pytest.mark.parametrize("bad", ["@Greeting", "@café", "@日本", "@" + "a" * 51, "@9lives"])
def test_an_at_that_starts_an_invalid_name_is_an_error_naming_it(bad: str) -> None:
    with pytest.raises(TemplateError) as raised:
        resolve(f"hello {bad} there", {})
    assert bad[:10] in raised.value.detail and "invalid module reference" in raised.value.detail


@pytest.mark.parametrize("bad", ["${", "${ x}", "${1x}", "${a..b}", "${a-b}", "${}"])
def test_malformed_variables_are_errors(bad: str) -> None:
    with pytest.raises(TemplateError):
        parse(f"x {bad} y")


def test_parse_yields_pieces_with_offsets() -> None:
    assert parse("a @b ${c.d} e") == (
        Text("a "),
        ModuleRef("b", 2),
        Text(" "),
        VariableRef("c.d", 5),
        Text(" e"),
    )


# -- references and variables -------------------------------------------------------------------


def test_unknown_module_and_unknown_variable_are_errors_naming_them() -> None:
    with pytest.raises(TemplateError) as raised:
        resolve("x @nope", {})
    assert "@nope" in raised.value.detail
    with pytest.raises(TemplateError) as raised:
        resolve("x @a", mods(ModuleSpec("a", "uses ${mystery}")))
    assert "${mystery}" in raised.value.detail and "@a" in raised.value.detail


def test_unicode_variable_names_and_text_survive() -> None:
    result = resolve(
        "Bonjour ${prénom} — @zen ${日本}",
        mods(ModuleSpec("zen", "禅の心 🧘")),
        {"prénom": var("Zoë"), "日本": var("東京")},
    )
    assert result.text == "Bonjour Zoë — 禅の心 🧘 東京"
    assert covered(result) == result.text
    assert [s.name for s in result.spans if s.kind == "variable"] == ["prénom", "日本"]


def test_a_default_stands_in_for_an_unknown_variable_only() -> None:
    result = resolve("${topic:-nothing yet}|${known:-x}|${empty:-}", {}, {"known": var("K")})
    assert result.text == "nothing yet|K|"
    assert [(s.name, s.source) for s in result.spans if s.kind == "variable"] == [
        ("topic", "default"),
        ("known", "request"),
    ]
    with pytest.raises(TemplateError):
        parse("${bad name:-x}")


def test_variable_values_are_never_parsed_as_templates() -> None:
    result = resolve(
        "Said: ${said}", mods(ModuleSpec("secret", "SECRET")), {"said": var("@secret")}
    )
    assert result.text == "Said: @secret" and result.included == []


def test_nested_modules_resolve_and_record_their_path() -> None:
    modules = mods(
        ModuleSpec("outer", "[@inner]"), ModuleSpec("inner", "<@leaf>"), ModuleSpec("leaf", "L")
    )
    result = resolve("@outer", modules)
    assert result.text == "[<L>]"
    leaf = next(s for s in result.spans if s.name == "leaf")
    assert leaf.path == ("outer", "inner", "leaf")
    assert result.included == ["outer", "inner", "leaf"]


def test_a_cycle_is_cut_and_reported_with_its_path() -> None:
    modules = mods(ModuleSpec("a", "A @b"), ModuleSpec("b", "B @a"))
    result = resolve("@a", modules)
    assert result.text == "A B "
    (cut,) = result.excluded
    assert (cut.module, cut.reason, cut.detail) == ("a", "cycle", "a -> b -> a")


def test_the_depth_limit_is_eight_and_reported() -> None:
    chain = [ModuleSpec(f"m{i}", f"{i} @m{i + 1}") for i in range(12)]
    chain.append(ModuleSpec("m12", "end"))
    result = resolve("@m0", mods(*chain))
    assert result.text == "0 1 2 3 4 5 6 7 "
    (deep,) = result.excluded
    assert (deep.module, deep.reason) == ("m8", "depth_limit")


def test_an_inactive_module_is_left_out_and_reported() -> None:
    result = resolve("x @off y", mods(ModuleSpec("off", "OFF", is_active=False)))
    assert result.text == "x  y"
    assert [(e.module, e.reason) for e in result.excluded] == [("off", "inactive")]


# -- triggers -----------------------------------------------------------------------------------


def test_keyword_triggers_read_only_their_scan_depth() -> None:
    modules = mods(
        ModuleSpec("shallow", "S", trigger=Keyword(("deploy",)), scan_depth=1),
        ModuleSpec("deep", "D", trigger=Keyword(("deploy",)), scan_depth=3),
    )
    messages = ["we should deploy", "ok", "what next?"]
    result = resolve("@shallow@deep", modules, messages=messages)
    assert result.text == "D"
    (left,) = result.excluded
    assert (left.module, left.reason) == ("shallow", "trigger")
    assert "1 messages" in left.detail
    deep = next(s for s in result.spans if s.name == "deep")
    assert deep.trigger == "keyword: deploy"


def test_keyword_options_case_whole_word_and_all() -> None:
    def hit(trigger: Keyword, text: str) -> bool:
        result = resolve("@m", mods(ModuleSpec("m", "M", trigger=trigger)), messages=[text])
        return result.text == "M"

    assert hit(Keyword(("Deploy",)), "time to DEPLOY")
    assert not hit(Keyword(("Deploy",), case_sensitive=True), "time to deploy")
    assert hit(Keyword(("cat",)), "concatenate")
    assert not hit(Keyword(("cat",), whole_word=True), "concatenate")
    assert hit(Keyword(("cat",), whole_word=True), "the cat, sat")
    assert hit(Keyword(("straße",), whole_word=True), "Die STRASSE ist lang")  # casefold
    assert not hit(Keyword(("a", "b"), match="all"), "only a here")
    assert hit(Keyword(("a", "b"), match="all"), "a and b")


def test_regex_triggers_use_re2_and_cannot_backtrack() -> None:
    modules = mods(ModuleSpec("m", "M", trigger=Pattern(r"(a+)+$")))
    result = resolve("@m", modules, messages=["a" * 100_000 + "!"])
    assert result.text == "" and result.excluded[0].reason == "trigger"
    with pytest.raises(Exception) as raised:
        trigger_of({"type": "regex", "pattern": r"(a)\1"})
    assert "RE2" in str(raised.value)
    assert (
        resolve(
            "@m",
            mods(ModuleSpec("m", "M", trigger=Pattern(r"err(or)?\s+\d+"))),
            messages=["saw ERROR 42"],
        ).text
        == "M"
    )


def test_after_stage_modules_are_listed_to_run_later_not_inlined() -> None:
    modules = mods(
        ModuleSpec("note", "n", kind="script", stage="after", priority=1),
        ModuleSpec("sum", "s", kind="script", stage="after", priority=9),
    )
    result = resolve("hi @note @sum", modules)
    assert result.text == "hi  " and result.after == ["sum", "note"]


# -- budgets ------------------------------------------------------------------------------------


def test_the_budget_drops_the_lowest_priority_non_essential_module_and_says_so() -> None:
    modules = mods(
        ModuleSpec("rules", "r" * 40, priority=10),
        ModuleSpec("lore", "l" * 40, priority=1),
        ModuleSpec("extra", "e" * 40, priority=1),
        ModuleSpec("core", "c" * 40, priority=0, essential=True),
    )
    result = resolve("@rules|@lore|@extra|@core", modules, budget=25)
    # 10 tokens each: rules and core stay; of lore and extra (same priority) the name that
    # sorts last goes first, and one drop is not enough, so both go.
    assert result.text == "r" * 40 + "|||" + "c" * 40
    dropped = [(e.module, e.reason) for e in result.excluded]
    assert dropped == [("extra", "budget"), ("lore", "budget")]
    result = resolve("@rules|@lore|@extra|@core", modules, budget=35)
    assert [e.module for e in result.excluded] == ["lore"]  # extra sorts last: dropped first


def test_essential_is_never_dropped_even_over_budget() -> None:
    modules = mods(
        ModuleSpec("big", "b" * 400, essential=True, token_budget=10),
        ModuleSpec("holder", "[@big]"),
        ModuleSpec("small", "s" * 8),
    )
    result = resolve("@holder @small", modules, budget=5)
    assert "b" * 400 in result.text and "s" not in result.text.replace("b", "")
    assert [(e.module, e.reason) for e in result.excluded] == [("small", "budget")]
    assert any("essential" in warning for warning in result.warnings)


def test_a_module_over_its_own_budget_is_dropped_with_the_numbers() -> None:
    result = resolve("x @chatty", mods(ModuleSpec("chatty", "word " * 50, token_budget=20)))
    assert result.text == "x "
    (left,) = result.excluded
    assert left.reason == "budget" and "needs 63 tokens; its token_budget is 20" in left.detail


def test_modules_only_inside_a_dropped_module_are_reported() -> None:
    modules = mods(ModuleSpec("parent", "p" * 80 + " @child"), ModuleSpec("child", "c"))
    result = resolve("@parent", modules, budget=1)
    assert result.text == ""
    assert {(e.module, e.reason) for e in result.excluded} == {
        ("parent", "budget"),
        ("child", "budget"),
    }


# -- scripts ------------------------------------------------------------------------------------


def test_script_text_is_inserted_verbatim_and_failures_are_reported() -> None:
    from vibeforge.prompting.resolver import Excluded

    modules = mods(
        ModuleSpec("mood", "print(1)", kind="script"),
        ModuleSpec("broken", "raise", kind="script"),
    )
    result = resolve(
        "[@mood][@broken]",
        modules,
        scripts={"mood": "calm @not_a_ref", "broken": Excluded("broken", "failed", "boom")},
    )
    assert result.text == "[calm @not_a_ref][]"
    assert [s.kind for s in result.spans] == ["template", "script", "template"]
    assert [(e.module, e.reason, e.detail) for e in result.excluded] == [
        ("broken", "failed", "boom")
    ]
    assert not result.stable
    assert resolve("[@mood]", modules).excluded[0].reason == "not_run"


def test_a_plain_template_is_stable_and_variables_make_it_unstable() -> None:
    assert resolve("a @m", mods(ModuleSpec("m", "b"))).stable
    assert not resolve("a ${x}", {}, {"x": var("1")}).stable
