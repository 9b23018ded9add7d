"""Deterministic checks of a program's run: each says pass or fail, and what it saw.

A check that cannot be decided (a pattern that runs too long) reports `passed: null`, which
makes the run an `error`, never a pass. Two checks are implied: the program must end by itself
(not be killed for time, memory or output), and exit 0 unless an `exit_code` check says which
status is expected.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import regex
from pydantic import Discriminator, Field, JsonValue, Tag, field_validator

from vibeforge.strict import Strict

SHOWN_CHARS = 200  # how much of what a check saw it reports
REGEX_TIMEOUT_S = 1.0
MAX_PATTERN_CHARS = 2000


class Equals(Strict):
    """The output equals `value` (surrounding whitespace ignored unless `trim` is false)."""

    type: Literal["equals"]
    value: str = Field(max_length=100_000)
    trim: bool = True


class Contains(Strict):
    """The output contains `value`."""

    type: Literal["contains"]
    value: str = Field(min_length=1, max_length=100_000)


class NotContains(Strict):
    """The output does not contain `value`."""

    type: Literal["not_contains"]
    value: str = Field(min_length=1, max_length=100_000)


class Regex(Strict):
    """The output matches `pattern` somewhere (Python syntax, searched with a time limit)."""

    type: Literal["regex"]
    pattern: str = Field(min_length=1, max_length=MAX_PATTERN_CHARS)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            regex.compile(pattern)
        except regex.error as error:
            raise ValueError(f"not a valid pattern: {error}") from None
        return pattern


class JsonPath(Strict):
    """The output is JSON and the value at `path` (`$.a.b[0]`, `$['key']`) equals `value`."""

    type: Literal["json_path"]
    path: str = Field(
        min_length=1,
        max_length=500,
        # The grammar `parse_path` reads, so that a path the schema allows is accepted.
        json_schema_extra={
            "pattern": r"^\$(\.[^.\[\u0000]+|\[\s*(-?[0-9]+|"
            r"""'[^\]\u0000]*'|"[^\]\u0000]*")\s*\])*$"""
        },
    )
    value: JsonValue = None

    @field_validator("path")
    @classmethod
    def _parses(cls, path: str) -> str:
        parse_path(path)
        return path


class ExitCode(Strict):
    """The program exits with `value`."""

    type: Literal["exit_code"]
    value: int = Field(default=0, ge=0, le=255)


class MaxDuration(Strict):
    """The program finishes within `value` milliseconds."""

    type: Literal["max_duration_ms"]
    value: float = Field(gt=0)


class StderrEmpty(Strict):
    """The program writes nothing to stderr."""

    type: Literal["stderr_empty"]


def _kind(value: Any) -> str | None:
    return value.get("type") if isinstance(value, dict) else getattr(value, "type", None)


Check = Annotated[
    Annotated[Equals, Tag("equals")]
    | Annotated[Contains, Tag("contains")]
    | Annotated[NotContains, Tag("not_contains")]
    | Annotated[Regex, Tag("regex")]
    | Annotated[JsonPath, Tag("json_path")]
    | Annotated[ExitCode, Tag("exit_code")]
    | Annotated[MaxDuration, Tag("max_duration_ms")]
    | Annotated[StderrEmpty, Tag("stderr_empty")],
    # A function, not a field name: the strict base's validators run on every field.
    Discriminator(
        _kind,
        custom_error_type="invalid_check",
        custom_error_message="type must be one of equals, contains, not_contains, regex, "
        "json_path, exit_code, max_duration_ms, stderr_empty",
    ),
]


@dataclass(frozen=True, slots=True)
class Observed:
    """What the program did."""

    stdout: str
    stderr: str
    exit_code: int
    duration_ms: float
    killed_reason: str | None


def _shown(value: Any) -> Any:
    if isinstance(value, str) and len(value) > SHOWN_CHARS:
        return value[:SHOWN_CHARS] + f"... ({len(value)} characters)"
    return value


def _result(
    kind: str, passed: bool | None, expected: Any, saw: Any, detail: str = ""
) -> dict[str, Any]:
    return {
        "type": kind,
        "passed": passed,
        "expected": _shown(expected),
        "saw": _shown(saw),
        "detail": detail,
    }


def parse_path(path: str) -> list[str | int]:
    """The steps of a JSON path: `$`, then `.name`, `[index]` or `['name']` steps."""
    if not path.startswith("$"):
        raise ValueError("a JSON path starts with $")
    steps: list[str | int] = []
    position = 1
    while position < len(path):
        char = path[position]
        if char == ".":
            end = position + 1
            while end < len(path) and path[end] not in ".[":
                end += 1
            name = path[position + 1 : end]
            if not name:
                raise ValueError(f"empty name at character {position}")
            steps.append(name)
            position = end
        elif char == "[":
            end = path.find("]", position)
            if end < 0:
                raise ValueError(f"unclosed [ at character {position}")
            inner = path[position + 1 : end].strip()
            if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "'\"":
                steps.append(inner[1:-1])
            elif inner.lstrip("-").isdigit():
                steps.append(int(inner))
            else:
                raise ValueError(f"[{inner}] is neither an index nor a quoted name")
            position = end + 1
        else:
            raise ValueError(f"unexpected {char!r} at character {position}")
    return steps


def _at_path(document: Any, steps: list[str | int]) -> tuple[bool, Any]:
    value = document
    for step in steps:
        in_list = isinstance(step, int) and isinstance(value, list)
        if in_list and -len(value) <= step < len(value):  # type: ignore[operator]
            value = value[step]
            continue
        if isinstance(step, str) and isinstance(value, dict) and step in value:
            value = value[step]
            continue
        return False, None
    return True, value


def _same(got: Any, want: Any) -> bool:
    """JSON equality: 1 equals 1.0, but true is not 1."""
    numbers = (int, float)
    if isinstance(got, numbers) and isinstance(want, numbers):
        return not isinstance(got, bool) and not isinstance(want, bool) and got == want
    return type(got) is type(want) and got == want


def evaluate(check: Any, seen: Observed) -> dict[str, Any]:
    """One check against what the program did (blocking: a regex search may take a second)."""
    output = seen.stdout
    match check:
        case Equals(value=value, trim=trim):
            got, want = (output.strip(), value.strip()) if trim else (output, value)
            return _result("equals", got == want, value, output)
        case Contains(value=value):
            return _result("contains", value in output, value, output)
        case NotContains(value=value):
            at = output.find(value)
            detail = f"found at character {at}" if at >= 0 else ""
            return _result("not_contains", at < 0, value, output, detail)
        case Regex(pattern=pattern):
            try:
                found = regex.search(pattern, output, timeout=REGEX_TIMEOUT_S)
            except TimeoutError:
                detail = f"the pattern took longer than {REGEX_TIMEOUT_S} s; it decides nothing"
                return _result("regex", None, pattern, output, detail)
            saw = found.group(0) if found else output
            return _result("regex", found is not None, pattern, saw)
        case JsonPath(path=path, value=value):
            try:
                document = json.loads(output)
            except ValueError:
                return _result("json_path", False, value, output, "the output is not JSON")
            present, got = _at_path(document, parse_path(path))
            if not present:
                return _result("json_path", False, value, None, f"nothing at {path}")
            return _result("json_path", _same(got, value), value, got)
        case ExitCode(value=value):
            return _result("exit_code", seen.exit_code == value, value, seen.exit_code)
        case MaxDuration(value=value):
            took = round(seen.duration_ms, 2)
            return _result("max_duration_ms", seen.duration_ms <= value, value, took)
        case StderrEmpty():
            return _result("stderr_empty", seen.stderr == "", "", seen.stderr)
    raise AssertionError(f"unknown check {check!r}")  # pragma: no cover


def evaluate_all(checks: list[Any], seen: Observed) -> list[dict[str, Any]]:
    """The implied checks (ended by itself, exit status), then every given check."""
    results: list[dict[str, Any]] = []
    if seen.killed_reason is not None:
        expected = "the program ends by itself"
        stopped = _result(
            "completed", False, expected, seen.killed_reason, "stopped by the sandbox"
        )
        results.append(stopped)
    if not any(isinstance(check, ExitCode) for check in checks):
        results.append(_result("exit_code", seen.exit_code == 0, 0, seen.exit_code, "implied"))
    results.extend(evaluate(check, seen) for check in checks)
    return results
