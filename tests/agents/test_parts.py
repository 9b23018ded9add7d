"""The pipeline's pure parts: validators, the verdict parser, the offline fixer, the demo."""

from __future__ import annotations

import pytest

from vibeforge.agents.candidate import has_edits
from vibeforge.agents.evaluator import parse_verdict
from vibeforge.agents.prompts import repo_map, top_level_definitions
from vibeforge.agents.validators import validate_file
from vibeforge.llm.offline_rules import answer


@pytest.mark.parametrize(
    ("path", "text", "expected"),
    [
        ("a.py", "def f(:\n", "a.py:1:7: SyntaxError: invalid syntax"),
        ("a.py", "return 1\n", "a.py:1:1: SyntaxError: 'return' outside function"),
        ("c.json", '{"a" 1}', "c.json:1:6: JSONDecodeError: Expecting ':' delimiter"),
        ("c.toml", "a = \n", "c.toml: TOMLDecodeError: Invalid value (at line 1, column 5)"),
        (
            "c.yaml",
            "a: [1, 2\n",
            "c.yaml:2:1: YAMLError: expected ',' or ']', but got '<stream end>'",
        ),
    ],
)
def test_validators_report_where_and_what(path: str, text: str, expected: str) -> None:
    (problem,) = validate_file(path, text)
    assert problem.render() == expected


def test_valid_files_and_unknown_types_have_no_problems() -> None:
    assert validate_file("a.py", "x = 1\n") == []
    assert validate_file("c.json", "[1]") == []
    assert validate_file("c.toml", "a = 1\n") == []
    assert validate_file("c.yml", "a: 1\n") == []
    assert validate_file("notes.txt", "{{{") == []


@pytest.mark.parametrize(
    ("reply", "approved", "message"),
    [
        ('{"approved": true, "reasoning": "ok", "commit_message": "Fix it"}', True, "Fix it"),
        ('Sure:\n```json\n{"approved": false, "reasoning": "no"}\n```', False, "Update a.py"),
        ('I think {"approved": "yes", "commit_message": "Do\\nmore"} works', True, "Do"),
        ("approved: no, it breaks add()", False, "Update a.py"),
        ("Looks fine to me!", False, "Update a.py"),
    ],
)
def test_the_verdict_is_read_robustly_and_silence_is_a_rejection(
    reply: str, approved: bool, message: str
) -> None:
    verdict = parse_verdict(reply, "Update a.py")
    assert (verdict.approved, verdict.commit_message) == (approved, message)


def test_a_question_is_not_an_edit_unless_whole_files_are_asked_for() -> None:
    question = "Do you mean this?\n```python\nprint(1)\n```\n"
    assert not has_edits(question, "search-replace")
    assert has_edits(question, "whole")
    assert not has_edits("Which file?", "whole")
    assert has_edits("a.py\n```\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n```\n", "udiff")


def test_the_repo_map_lists_top_level_definitions() -> None:
    files = {"a.py": "import os\nX = 1\nclass A:\n    def m(self): ...\nasync def f(a, *b): ...\n"}
    files["web/app.js"] = "export function go() {}\nconst y = 2\n"
    assert top_level_definitions("a.py", files["a.py"]) == ["X", "class A", "def f(a, *b)"]
    assert repo_map(["a.py", "b.bin", "web/app.js"], files) == (
        "a.py: X, class A, def f(a, *b)\nb.bin\nweb/app.js: go, y"
    )


def test_the_offline_model_repairs_a_reported_syntax_error() -> None:
    broken = "def total(a, b):\n    return (a + b\n\n\nif total(1, 2) == 3\n    print('ok')\n"
    turn = "Your edit left these errors:\napp.py:2:12: SyntaxError: '(' was never closed\n"
    reply = answer(turn, {"app.py": broken.replace("== 3\n", "== 3:\n")})
    assert "<<<<<<< SEARCH\n    return (a + b\n=======\n    return (a + b)\n" in reply
    turn = "Your edit left these errors:\napp.py:5:20: SyntaxError: expected ':'\n"
    reply = answer(turn, {"app.py": broken.replace("(a + b\n", "(a + b)\n")})
    assert "=======\nif total(1, 2) == 3:\n>>>>>>> REPLACE" in reply
    assert "could not repair" in answer("x.py:1: SyntaxError: bad", {"x.py": "def f(:\n"})


def test_the_demo_runs_offline_and_the_fixer_repairs_the_deliberate_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from vibeforge.demo import run_demo

    assert run_demo() == 0
    printed = capsys.readouterr().out
    assert "SyntaxError: '(' was never closed" in printed
    assert "llm   fixer     iteration 1" in printed
    assert "    return (a + b)\n" in printed
    assert printed.rstrip().endswith("demo succeeded")
