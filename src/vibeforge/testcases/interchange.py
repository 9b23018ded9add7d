"""Tests as promptfoo-style YAML: `tests:` with `description`, `vars` and `assert`.

promptfoo's own types map one to one (`equals`, `contains`, `not-contains`, `regex`,
`latency` with `threshold` as max_duration_ms, `llm-rubric` as expected_behavior); the checks
promptfoo has no type for are written `exit-code`, `stderr-empty` and `json-path` (value
`{path, equals}`). Tags go in `metadata.tags`, the judge model in `metadata.judge_model`. The
input is `vars.input` (or `vars.prompt`, or the only var). Anchors and aliases are refused, so
a small document cannot expand into a huge one.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import ValidationError

from vibeforge.errors import InvalidInput
from vibeforge.strict import describe_errors
from vibeforge.testcases.views import TestCreate, TestOut

MAX_TESTS = 1000
_TO_OURS = {
    "equals": "equals",
    "contains": "contains",
    "not-contains": "not_contains",
    "regex": "regex",
    "exit-code": "exit_code",
    "stderr-empty": "stderr_empty",
}
_TO_THEIRS = {ours: theirs for theirs, ours in _TO_OURS.items()}


class _NoAliasLoader(yaml.SafeLoader):
    """The safe loader without anchors and aliases (the "billion laughs" expansion)."""

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            raise InvalidInput("YAML anchors and aliases are not accepted")
        event = self.peek_event()
        if getattr(event, "anchor", None):
            raise InvalidInput("YAML anchors and aliases are not accepted")
        return super().compose_node(parent, index)


def _check(item: Any, where: str) -> tuple[str, Any]:
    """One `assert` entry as ("check", spec) or ("rubric", text)."""
    if not isinstance(item, dict) or not isinstance(item.get("type"), str):
        raise InvalidInput(f"{where}: each assert needs a type")
    kind, value = item["type"], item.get("value")
    if kind == "llm-rubric":
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput(f"{where}: llm-rubric needs a text value")
        return "rubric", value
    if kind == "latency":
        return "check", {"type": "max_duration_ms", "value": item.get("threshold", value)}
    if kind == "json-path":
        spec = value if isinstance(value, dict) else {}
        return "check", {"type": "json_path", "path": spec.get("path"), "value": spec.get("equals")}
    if kind not in _TO_OURS:
        raise InvalidInput(f"{where}: assert type {kind!r} is not supported")
    ours = _TO_OURS[kind]
    if ours == "regex":
        return "check", {"type": "regex", "pattern": value}
    if ours == "stderr_empty":
        return "check", {"type": "stderr_empty"}
    if ours == "exit_code":
        return "check", {"type": "exit_code", "value": 0 if value is None else value}
    return "check", {"type": ours, "value": value}


def _input(variables: Any, where: str) -> str:
    if not isinstance(variables, dict):
        raise InvalidInput(f"{where}: vars must be a mapping")
    for name in ("input", "prompt"):
        if name in variables:
            return str(variables[name])
    if len(variables) == 1:
        return str(next(iter(variables.values())))
    raise InvalidInput(f"{where}: name the input `vars.input`")


def parse_tests(text: str) -> list[TestCreate]:
    """The tests a YAML document describes; InvalidInput naming the first bad one."""
    try:
        document = yaml.load(text, Loader=_NoAliasLoader)
    except yaml.YAMLError as error:
        raise InvalidInput(f"not valid YAML: {error}") from None
    tests = document.get("tests") if isinstance(document, dict) else None
    if not isinstance(tests, list):
        raise InvalidInput("the document needs a `tests:` list")
    if len(tests) > MAX_TESTS:
        raise InvalidInput(f"at most {MAX_TESTS} tests per import")
    created = []
    for number, item in enumerate(tests):
        where = f"tests[{number}]"
        if not isinstance(item, dict):
            raise InvalidInput(f"{where} must be a mapping")
        checks, rubrics = [], []
        for position, entry in enumerate(item.get("assert") or []):
            kind, value = _check(entry, f"{where}.assert[{position}]")
            (rubrics if kind == "rubric" else checks).append(value)
        metadata = item.get("metadata") or {}
        body = {
            "name": str(item.get("description") or f"test {number + 1}"),
            "input_prompt": _input(item.get("vars") or {}, where),
            "expected_behavior": "\n".join(rubrics) or None,
            "checks": checks,
            "tags": metadata.get("tags") or [] if isinstance(metadata, dict) else [],
            "judge_model": metadata.get("judge_model") if isinstance(metadata, dict) else None,
        }
        try:
            created.append(TestCreate.model_validate(body))
        except ValidationError as error:
            raise InvalidInput(f"{where}: {describe_errors(error.errors())}") from None
    return created


def _assertion(check: dict[str, Any]) -> dict[str, Any]:
    kind = check["type"]
    if kind == "max_duration_ms":
        return {"type": "latency", "threshold": check["value"]}
    if kind == "json_path":
        return {"type": "json-path", "value": {"path": check["path"], "equals": check["value"]}}
    if kind == "regex":
        return {"type": "regex", "value": check["pattern"]}
    if kind == "stderr_empty":
        return {"type": "stderr-empty"}
    entry: dict[str, Any] = {"type": _TO_THEIRS[kind], "value": check["value"]}
    if kind == "equals" and check.get("trim") is False:
        entry["trim"] = False  # a vibeforge extension; promptfoo compares exactly
    return entry


def export_tests(tests: list[TestOut]) -> str:
    """The tests as a promptfoo-style YAML document."""
    items = []
    for test in tests:
        asserts = [_assertion(check) for check in test.checks]
        if test.expected_behavior:
            asserts.append({"type": "llm-rubric", "value": test.expected_behavior})
        item: dict[str, Any] = {"description": test.name, "vars": {"input": test.input_prompt}}
        if asserts:
            item["assert"] = asserts
        metadata: dict[str, Any] = {}
        if test.tags:
            metadata["tags"] = test.tags
        if test.judge_model:
            metadata["judge_model"] = test.judge_model
        if metadata:
            item["metadata"] = metadata
        items.append(item)
    return yaml.safe_dump({"tests": items}, sort_keys=False, allow_unicode=True)
