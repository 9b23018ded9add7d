"""The offline model: deterministic edits as SEARCH/REPLACE blocks, reviews, pacing, labels."""

from __future__ import annotations

import json
import keyword
import time

from hypothesis import given
from hypothesis import strategies as st

from vibeforge.llm import ChatRequest, Message, ModelSpec, Params, collect
from vibeforge.llm.factory import build_chat_model
from vibeforge.llm.offline import OfflineModel
from vibeforge.llm.offline_rules import HELP, REJECT_MARKER, REVIEW_MARKER, answer, find_files

APP = 'def greet(name):\n    return "Hello, " + name\n\n\ndef main():\n    print(greet("world"))\n'
PROMPT = f"app.py\n```python\n{APP}```\n\n"


def blocks(text: str) -> list[tuple[str, str]]:
    """(search, replace) pairs of every block in an answer."""
    pairs = []
    for part in text.split("<<<<<<< SEARCH\n")[1:]:
        search, _, rest = part.partition("=======\n")
        pairs.append((search, rest.partition(">>>>>>> REPLACE")[0]))
    return pairs


def apply(content: str, text: str) -> str:
    for search, replace in blocks(text):
        assert content.count(search) == 1, search
        content = content.replace(search, replace)
    return content


async def ask(prompt: str) -> str:
    return (
        await collect(OfflineModel(chunk_delay=0), ChatRequest((Message("user", prompt),)))
    ).text


def test_files_are_found_after_their_path_line():
    assert find_files(PROMPT) == {"app.py": APP}
    assert find_files("`src/x.py`:\n```\nx = 1\n```") == {"src/x.py": "x = 1\n"}


async def test_rename_produces_unique_blocks_that_apply_cleanly():
    text = await ask(PROMPT + "Please rename greet to welcome.")
    assert "app.py\n```python\n<<<<<<< SEARCH\n" in text
    assert apply(APP, text) == APP.replace("greet", "welcome")


async def test_change_quoted_text():
    text = await ask(PROMPT + 'change "Hello, " to "Hi, "')
    assert apply(APP, text) == APP.replace("Hello, ", "Hi, ")


async def test_add_a_function_with_arguments_and_return():
    text = await ask(PROMPT + "add a function add_numbers that takes a, b and returns a + b")
    result = apply(APP, text)
    assert 'def add_numbers(a, b):\n    """Add numbers."""\n    return a + b\n' in result
    compile(result, "app.py", "exec")


async def test_add_docstrings_everywhere_without_overlapping_blocks():
    result = apply(APP, await ask(PROMPT + "add docstrings"))
    assert result.startswith('"""App."""\n\ndef greet(name):\n    """Greet."""\n')
    assert 'def main():\n    """Main."""\n' in result
    compile(result, "app.py", "exec")


async def test_repeated_lines_get_enough_context_to_be_unique():
    content = "x = 1\nprint(x)\ny = 2\nprint(x)\n"
    text = await ask(f"m.py\n```python\n{content}```\nchange print(x) to print(y)")
    assert apply(content, text) == content.replace("print(x)", "print(y)")


# Names of the generated program's own words (keywords, `value`) are not names to rename.
OWN_WORDS = set(keyword.kwlist) | {"value"}


@given(
    st.from_regex(r"[a-z]{3,8}", fullmatch=True).filter(lambda name: name not in OWN_WORDS),
    st.from_regex(r"[A-Z][a-z]{2,6}", fullmatch=True),
)
def test_rename_round_trips_on_generated_names(old: str, new: str):
    content = f"def {old}():\n    return 1\n\n\nvalue = {old}() + {old}()\n"
    text = answer(f"rename {old} to {new}", {"gen.py": content})
    assert apply(content, text).count(new) == 3


async def test_unknown_requests_get_a_polite_explanation():
    text = await ask("What's the weather like?")
    assert text == HELP and "offline model" in text


async def test_review_marker_gives_json_verdicts():
    edit = await ask(PROMPT + "rename greet to welcome")
    approved = await ask(f"{REVIEW_MARKER}\nRequest: rename greet to welcome\n{edit}")
    verdict = json.loads(approved)
    assert verdict == {
        "approved": True,
        "reasoning": verdict["reasoning"],
        "commit_message": "Rename greet to welcome",
    }
    rejected = json.loads(await ask(f"{REVIEW_MARKER} {REJECT_MARKER}\n{edit}"))
    assert rejected["approved"] is False and rejected["commit_message"]
    assert json.loads(await ask(f"{REVIEW_MARKER}\nnothing here"))["approved"] is False


async def test_it_is_paced_deterministic_and_labelled_offline():
    model = build_chat_model(
        ModelSpec("offline", "offline", default_params=Params(extra={"chunk_delay": 0.005}))
    )
    request = ChatRequest((Message("user", PROMPT + "rename greet to welcome"),))
    started = time.monotonic()
    first = await collect(model, request)
    elapsed = time.monotonic() - started
    second = await collect(model, request)
    assert first.text == second.text
    pieces = len([p for p in first.text.split() if p])
    assert elapsed >= 0.005 * (pieces - 1) * 0.8
    assert first.raw["model"] == "offline" and "offline" in first.raw["system_fingerprint"]
    assert first.usage is not None and first.usage.completion_tokens > 0
    assert first.usage.cost_usd == 0.0
    assert ModelSpec("offline", "offline").label.startswith("offline")


async def test_max_tokens_truncates_with_length():
    model = OfflineModel(chunk_delay=0)
    request = ChatRequest((Message("user", "hi"),), params=Params(max_tokens=3))
    completion = await collect(model, request)
    assert completion.stop_reason == "length" and len(completion.text) <= 12
