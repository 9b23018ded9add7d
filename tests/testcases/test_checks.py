"""Each check type passing and failing, on literal observations (no sandbox)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from vibeforge.testcases.checks import Check, Observed, evaluate, evaluate_all, parse_path

CHECKS = TypeAdapter(Check)


def seen(stdout: str = "", **fields: Any) -> Observed:
    values: dict[str, Any] = {
        "stdout": stdout,
        "stderr": "",
        "exit_code": 0,
        "duration_ms": 10.0,
        "killed_reason": None,
    }
    values.update(fields)
    return Observed(**values)


CASES = [
    ({"type": "equals", "value": "42"}, seen(" 42\n"), seen("41")),
    ({"type": "equals", "value": "42\n", "trim": False}, seen("42\n"), seen(" 42\n")),
    ({"type": "contains", "value": "ok"}, seen("all ok"), seen("all good")),
    ({"type": "not_contains", "value": "Traceback"}, seen("fine"), seen("Traceback (most")),
    ({"type": "regex", "pattern": r"^\d{3}$"}, seen("123"), seen("12a")),
    (
        {"type": "json_path", "path": "$.a[1].b", "value": 2},
        seen('{"a": [0, {"b": 2}]}'),
        seen('{"a": [0, {"b": 3}]}'),
    ),
    (
        {"type": "json_path", "path": "$['x y']", "value": "z"},
        seen('{"x y": "z"}'),
        seen("not json"),
    ),
    ({"type": "exit_code", "value": 2}, seen(exit_code=2), seen(exit_code=0)),
    ({"type": "max_duration_ms", "value": 50}, seen(duration_ms=49.0), seen(duration_ms=51.0)),
    ({"type": "stderr_empty"}, seen(), seen(stderr="warning")),
]


@pytest.mark.parametrize(("spec", "passing", "failing"), CASES, ids=[c[0]["type"] for c in CASES])
def test_each_check_passes_and_fails(
    spec: dict[str, Any], passing: Observed, failing: Observed
) -> None:
    check = CHECKS.validate_python(spec)
    assert evaluate(check, passing)["passed"] is True
    failed = evaluate(check, failing)
    assert failed["passed"] is False
    assert failed["type"] == spec["type"]


def test_json_true_is_not_one_but_one_is_one_point_oh() -> None:
    check = CHECKS.validate_python({"type": "json_path", "path": "$.n", "value": 1})
    assert evaluate(check, seen('{"n": 1.0}'))["passed"] is True
    assert evaluate(check, seen('{"n": true}'))["passed"] is False


def test_a_missing_path_says_so() -> None:
    check = CHECKS.validate_python({"type": "json_path", "path": "$.a.b", "value": 1})
    result = evaluate(check, seen('{"a": {}}'))
    assert (result["passed"], result["detail"]) == (False, "nothing at $.a.b")


def test_a_pattern_that_runs_too_long_decides_nothing() -> None:
    check = CHECKS.validate_python({"type": "regex", "pattern": r"^(a|aa)+$"})
    result = evaluate(check, seen("a" * 5000 + "b"))
    assert result["passed"] is None
    assert "took longer" in result["detail"]


def test_what_was_seen_is_shortened() -> None:
    check = CHECKS.validate_python({"type": "contains", "value": "zzz"})
    assert evaluate(check, seen("x" * 1000))["saw"].endswith("... (1000 characters)")


def test_the_implied_checks_come_first() -> None:
    results = evaluate_all([], seen(exit_code=137, killed_reason="memory"))
    assert [(r["type"], r["passed"]) for r in results] == [
        ("completed", False),
        ("exit_code", False),
    ]


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "nope"},
        {"type": "regex", "pattern": "("},
        {"type": "json_path", "path": "a.b", "value": 1},
        {"type": "contains"},
        {"type": "exit_code", "value": 256},
        {"type": "equals", "value": "x", "extra": 1},
    ],
)
def test_bad_checks_are_refused(spec: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        CHECKS.validate_python(spec)


def test_json_paths_parse() -> None:
    assert parse_path("$.a['b c'][2].d") == ["a", "b c", 2, "d"]
    with pytest.raises(ValueError):
        parse_path("$.a[")
