"""The LLM judge of `expected_behavior`: a structured verdict `{pass, reason}` or nothing.

The verdict must be JSON with a boolean `pass` and a `reason` that quotes the program's output
(so a reader can check it against what the program printed). A reply that is not such a verdict
gets one more turn saying what was wrong; a second bad reply makes the run an `error`, never a
pass.
"""

from __future__ import annotations

import json
import re
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from vibeforge.llm import ChatModel, ChatRequest, Message, TextDelta
from vibeforge.relay.recorder import CallRecorder

OUTPUT_CHARS = 8000  # of stdout shown to the judge
QUOTE_CHARS = 12  # a quote is at least this long (or the whole output when shorter)
JUDGE_SYSTEM = (
    "You are a strict judge of a program's behaviour in one test. You get the input the "
    "program was given, the behaviour expected of it, and what it printed. Decide whether the "
    'behaviour matches. Answer with JSON only: {"pass": true or false, "reason": "..."}. The '
    "reason must quote the program's output word for word (in quotation marks) where it "
    "supports the verdict."
)
FENCED = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.DOTALL)


class VerdictUnreadable(ValueError):
    """A judge reply that is not a usable verdict; the message says why."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The judge's decision; `passed` None means it could not decide (the run is an error)."""

    passed: bool | None
    reason: str
    attempts: int
    replies: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        """How a test run stores it."""
        return {
            "pass": self.passed,
            "reason": self.reason,
            "attempts": self.attempts,
            "replies": list(self.replies),
        }


def shown_output(stdout: str) -> str:
    """What of the output the judge sees."""
    if len(stdout) <= OUTPUT_CHARS:
        return stdout
    return stdout[:OUTPUT_CHARS] + f"\n[... {len(stdout) - OUTPUT_CHARS} more characters]"


def judge_messages(prompt: str, expected: str, stdout: str, exit_code: int) -> list[Message]:
    """The judge's conversation for one run."""
    turn = (
        f"Input given to the program:\n<input>\n{prompt}\n</input>\n\n"
        f"Expected behaviour:\n<expected>\n{expected}\n</expected>\n\n"
        f"The program exited with status {exit_code} and printed:\n"
        f"<output>\n{shown_output(stdout)}\n</output>"
    )
    return [Message(role="system", content=JUDGE_SYSTEM), Message(role="user", content=turn)]


def _candidates(text: str) -> list[Any]:
    stripped = text.strip()
    found: list[Any] = []
    for piece in [stripped, *FENCED.findall(stripped)]:
        try:
            found.append(json.loads(piece))
        except ValueError:
            pass
    decoder = json.JSONDecoder()
    for start in (i for i, char in enumerate(stripped) if char == "{"):
        try:
            found.append(decoder.raw_decode(stripped, start)[0])
        except ValueError:
            continue
    return found


def _quotes(reason: str, output: str) -> bool:
    """Whether the reason repeats a piece of the output (whitespace runs count as one)."""
    said, printed = " ".join(reason.split()), " ".join(output.split())
    if not printed:
        return True  # nothing was printed: there is nothing to quote
    size = min(QUOTE_CHARS, len(printed))
    pieces = {printed[i : i + size] for i in range(len(printed) - size + 1)}
    return any(said[i : i + size] in pieces for i in range(len(said) - size + 1))


def parse_verdict(text: str, output: str) -> tuple[bool, str]:
    """`(pass, reason)` from a reply (bare, fenced or embedded JSON); VerdictUnreadable if the
    reply holds no object with a boolean `pass` and a reason quoting the output."""
    objects = [item for item in _candidates(text) if isinstance(item, dict) and "pass" in item]
    if not objects:
        raise VerdictUnreadable('no JSON object with a "pass" field')
    verdict = objects[0]
    if not isinstance(verdict["pass"], bool):
        raise VerdictUnreadable('"pass" must be true or false')
    reason = verdict.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise VerdictUnreadable('"reason" must be a non-empty string')
    if not _quotes(reason, shown_output(output)):
        raise VerdictUnreadable("the reason does not quote the program's output")
    return verdict["pass"], reason.strip()


async def judge(
    model: ChatModel,
    recorder: CallRecorder,
    *,
    prompt: str,
    expected: str,
    stdout: str,
    exit_code: int,
) -> Verdict:
    """Ask the judge, once more if its first reply is unusable; every call is recorded."""
    messages = judge_messages(prompt, expected, stdout, exit_code)
    replies: list[str] = []
    why = ""
    for attempt in (1, 2):
        request = ChatRequest(messages=tuple(messages), purpose="judge")
        text: list[str] = []
        async with aclosing(recorder.stream(model, request, iteration=attempt)) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    text.append(event.text)
        reply = "".join(text)
        replies.append(reply)
        try:
            passed, reason = parse_verdict(reply, stdout)
        except VerdictUnreadable as problem:
            why = str(problem)
            messages += [
                Message(role="assistant", content=reply),
                Message(
                    role="user",
                    content=f"That answer cannot be used: {why}. Answer again with JSON only: "
                    '{"pass": true or false, "reason": "..."}, quoting the output.',
                ),
            ]
            continue
        return Verdict(passed, reason, attempt, tuple(replies))
    return Verdict(None, f"the judge gave no usable verdict in 2 replies: {why}", 2, tuple(replies))
