"""The offline model: deterministic, paced like a real model, useful with no provider at all.

It understands a few simple, stated edits (see offline_rules) and answers review prompts
marked with REVIEW_MARKER; anything else gets a polite note on what it can do.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator

from vibeforge.llm.offline_rules import REVIEW_MARKER, answer, find_files, review
from vibeforge.llm.params import PARAMETER_NAMES, merge_params, validate_params
from vibeforge.llm.spec import ModelSpec
from vibeforge.llm.tokens import estimate_tokens
from vibeforge.llm.types import (
    Capabilities,
    ChatRequest,
    Finished,
    StreamEvent,
    TextDelta,
    Usage,
    UsageReport,
)

MODEL_NAME = "offline"
DEFAULT_CHUNK_DELAY = 0.015  # seconds between chunks: about the pace of a fast hosted model

# It accepts every parameter (and ignores most), so switching to it never breaks a request.
CAPABILITIES = Capabilities(
    streaming=True, tools=False, thinking=False, images=False, parameters=PARAMETER_NAMES
)

_PIECES = re.compile(r"\s*\S+|\s+")


class OfflineModel:
    """A ChatModel that needs no network."""

    def __init__(self, spec: ModelSpec | None = None, chunk_delay: float = DEFAULT_CHUNK_DELAY):
        self.spec = spec or ModelSpec("offline", MODEL_NAME)
        self.capabilities = CAPABILITIES
        self.chunk_delay = chunk_delay

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> OfflineModel:
        """The model for a spec; `default_params.extra["chunk_delay"]` sets the pace."""
        delay = spec.default_params.extra.get("chunk_delay", DEFAULT_CHUNK_DELAY)
        return cls(spec, float(delay))

    def reply(self, request: ChatRequest) -> str:
        """The whole answer to a request, computed at once."""
        prompt = "\n".join(message.text for message in request.messages)
        last_user = next((m.text for m in reversed(request.messages) if m.role == "user"), "")
        if REVIEW_MARKER in prompt:
            return review(prompt)
        return answer(last_user, find_files(prompt))

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """The answer word by word, a chunk every `chunk_delay` seconds."""
        params = validate_params(
            self.capabilities, merge_params(self.spec.default_params, request.params)
        )
        text = self.reply(request)
        stop_reason = "stop"
        for stop in params.stop or ():
            if stop and stop in text:
                text = text[: text.index(stop)]
        if params.max_tokens is not None and estimate_tokens(text) > params.max_tokens:
            text, stop_reason = text[: params.max_tokens * 4], "length"
        for number, piece in enumerate(_PIECES.findall(text)):
            if number and self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
            yield TextDelta(piece)
        prompt_tokens = sum(estimate_tokens(message.text) for message in request.messages)
        usage = Usage(
            prompt_tokens=prompt_tokens,
            completion_tokens=estimate_tokens(text),
            cost_usd=0.0,
            cost_source="provider",
            source="estimated",  # counted by the estimator: there is no tokenizer behind it
        )
        yield UsageReport(usage)
        yield Finished(stop_reason, _raw(text, stop_reason, usage))


def _raw(text: str, stop_reason: str, usage: Usage) -> dict[str, object]:
    """The answer in OpenAI's chat.completion shape, labelled offline throughout."""
    return {
        "id": f"offline-{int(time.time() * 1000)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODEL_NAME,
        "system_fingerprint": "vibeforge-offline",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": stop_reason,
            }
        ],
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
            "cost": 0.0,
        },
    }
