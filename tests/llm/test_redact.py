"""The redactor on literal strings: every form a key may be echoed in, and split streams."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.leaks import leaks
from vibeforge.llm import ModelSpec
from vibeforge.llm.redact import MARK, Redactor, StreamRedactor, secrets_of

KEY = 'sk-vf-7Hq2+Lm9/Xr4"Tz8=Wc3Nb6Ys1Kd5Pg0'
PLAIN = "sk-proj-Zq8XvT2mLw5NcR7bY1kH4dF9gJ3sA6pE0uQ"


def echoes(key: str) -> list[str]:
    """A key in every form a provider or proxy has been seen to repeat it."""
    return [
        f"Incorrect API key provided: {key}.",
        f"key '{key}' refused",
        f'key "{key}" refused',
        json.dumps({"error": {"param": key}}),
        json.dumps({"error": {"param": key}}, ensure_ascii=True),
        f"GET /v1?key={quote(key, safe='')}",
        f"GET /v1?key={quote_plus(key)}",
        f"Incorrect API key provided: {key[:8]}{'*' * 30}{key[-4:]}.",
        f"key {key[:3]}****...{key[-4:]} is invalid",
        f"prefix {key[:12]}... only",
        f"key ending …{key[-6:]}",
        f"Authorization: Basic {base64.b64encode(f'user:{key}'.encode()).decode()}",
        f"Authorization: Basic {base64.b64encode(f'u:{key}'.encode()).decode()}",
        f"Authorization: Basic {base64.b64encode(f'{key}:'.encode()).decode()}",
        f"Authorization: Basic {base64.urlsafe_b64encode(f'ab:{key}'.encode()).decode()}",
        f"Bearer {key}{key}",
    ]


def test_every_echoed_form_of_a_key_is_redacted() -> None:
    for key in (KEY, PLAIN):
        redactor = Redactor([key])
        for echoed in echoes(key):
            redacted = redactor.redact(echoed)
            assert not leaks(redacted, key), (echoed, redacted)
            assert MARK in redacted, echoed


def test_ordinary_text_is_left_alone() -> None:
    redactor = Redactor([PLAIN])
    for text in (
        "def assemble(chunks): return ''.join(chunks)  # *** important ***",
        "Wait... the stars (****) mean nothing here",
        "sk- is how OpenAI keys start; xxxx marks a placeholder",
        "",
    ):
        assert redactor.redact(text) == text


def test_values_nested_in_raw_responses_are_redacted() -> None:
    redactor = Redactor([PLAIN])
    raw = {"choices": [{"message": {"content": f"the key is {PLAIN}"}}], PLAIN: [1, PLAIN[4:]]}
    redacted = redactor.redact_value(raw)
    assert not leaks(json.dumps(redacted), PLAIN)
    assert redacted["choices"][0]["message"]["content"] == f"the key is {MARK}"


def test_short_placeholders_are_not_secrets() -> None:
    assert not Redactor(["ollama", "EMPTY", ""])
    assert Redactor(["ollama"]).redact("ask ollama") == "ask ollama"


def test_the_secrets_of_a_connection() -> None:
    basic = base64.b64encode(b"alice:hunter2-long-password").decode()
    spec = ModelSpec(
        "ollama",
        "m",
        base_url="https://bob:s3cret-password@proxy.example/api?api_key=query-key-123456&v=2",
        api_key=PLAIN,
        extra_headers={"Authorization": f"Basic {basic}", "X-Title": "vibeforge-public"},
    )
    found = secrets_of(spec, environ={})
    assert PLAIN in found and "hunter2-long-password" in found
    assert "s3cret-password" in found and "query-key-123456" in found
    assert "vibeforge-public" not in found
    keyless = ModelSpec("openai", "m")
    assert secrets_of(keyless, environ={"OPENAI_API_KEY": PLAIN}) == [PLAIN]
    assert secrets_of(ModelSpec("anthropic", "m"), environ={"ANTHROPIC_API_KEY": KEY}) == [KEY]


def _stream(redactor: Redactor, text: str, cuts: list[int]) -> tuple[list[str], str]:
    stream = StreamRedactor(redactor)
    pieces, start = [], 0
    for cut in [*sorted(set(cuts)), len(text)]:
        pieces.append(stream.feed(text[start:cut]))
        start = cut
    pieces.append(stream.flush())
    return pieces, "".join(pieces)


@settings(max_examples=300, deadline=None)
@given(
    key=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=8),
    before=st.text(max_size=30),
    after=st.text(max_size=30),
    which=st.integers(min_value=0, max_value=15),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=12),
)
def test_a_key_split_anywhere_across_stream_chunks_never_passes(
    key: str, before: str, after: str, which: int, cuts: list[int]
) -> None:
    echoed = echoes(key)[which]
    text = before + echoed + after
    _, streamed = _stream(Redactor([key]), text, [c for c in cuts if c < len(text)])
    assert not leaks(streamed, key)


@settings(max_examples=200, deadline=None)
@given(
    words=st.lists(st.sampled_from(["def", "return", "hello", "  ", "\n", "é", "値", "(x)"])),
    cuts=st.lists(st.integers(min_value=0, max_value=100), max_size=10),
)
def test_streamed_text_without_the_key_arrives_whole(words: list[str], cuts: list[int]) -> None:
    text = "".join(words)
    _, streamed = _stream(Redactor([PLAIN]), text, [c for c in cuts if c < len(text)])
    assert streamed == text
