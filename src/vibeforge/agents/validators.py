"""Validators per file type: Python (ast + compile), JSON, TOML and YAML must parse."""

from __future__ import annotations

import ast
import json
import tomllib
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One validation error, located as precisely as the parser allows."""

    path: str
    message: str
    line: int | None = None
    column: int | None = None
    kind: str = "syntax"  # syntax | edit

    def render(self) -> str:
        """`path:line:col: message`, the shape compilers print and models recognise."""
        where = self.path
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.message}"


def _python(path: str, text: str) -> list[Problem]:
    try:
        tree = ast.parse(text, filename=path)
        # compile catches what the parser lets through (e.g. `return` outside a function).
        compile(tree, path, "exec", dont_inherit=True)
    except SyntaxError as error:
        return [Problem(path, f"SyntaxError: {error.msg}", error.lineno, error.offset)]
    except ValueError as error:  # e.g. NUL bytes
        return [Problem(path, f"ValueError: {error}")]
    return []


def _json(path: str, text: str) -> list[Problem]:
    try:
        json.loads(text)
    except json.JSONDecodeError as error:
        return [Problem(path, f"JSONDecodeError: {error.msg}", error.lineno, error.colno)]
    return []


def _toml(path: str, text: str) -> list[Problem]:
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        return [Problem(path, f"TOMLDecodeError: {error}")]
    return []


def _yaml(path: str, text: str) -> list[Problem]:
    import yaml  # imported on first use: most projects hold no YAML

    try:
        for _ in yaml.safe_load_all(text):
            pass
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        column = mark.column + 1 if mark is not None else None
        problem = getattr(error, "problem", None) or str(error)
        return [Problem(path, f"YAMLError: {problem}", line, column)]
    return []


VALIDATORS: dict[str, Callable[[str, str], list[Problem]]] = {
    ".py": _python,
    ".pyi": _python,
    ".json": _json,
    ".toml": _toml,
    ".yaml": _yaml,
    ".yml": _yaml,
}


def validator_for(path: str) -> str | None:
    """The name of the validator for a path (its suffix), or None when none applies."""
    suffix = "." + path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    return suffix if suffix in VALIDATORS else None


def validate_file(path: str, text: str) -> list[Problem]:
    """The problems of one file ([] when it is valid or its type has no validator)."""
    suffix = validator_for(path)
    return VALIDATORS[suffix](path, text) if suffix else []
