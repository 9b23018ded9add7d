"""Pieces of a run's system prompt that come from outside the agent (a persona, prompt
modules, attachments), each saying where it came from.

Agents are built with a list of `PromptSource`s and ask each for its parts in the
`resolve_prompt` stage; the parts go first in the system prompt, in the order the sources were
given, so a provider's prompt cache keeps hitting across turns (`stable` parts stay put).

A part may say who the agent is (`identity`: a persona). The agent then leaves out its own
identity sentence ("You are the coder of vibeforge, ...") but keeps its instructions: the coder
is still told how to write edit blocks in its edit format, whoever it speaks as.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from vibeforge.llm import ImagePart, Message, TextPart
from vibeforge.runs.context import RunContext


@dataclass(frozen=True, slots=True)
class PromptPart:
    """Text for the system prompt, and what produced it (e.g. `persona:ID`); `images` go
    with the user's message (attachments a model that takes images should see)."""

    text: str
    source: str
    stable: bool = True  # the same on every turn of the session: part of the cached prefix
    identity: bool = False  # who the agent is (a persona): replaces the agent's own identity
    images: tuple[ImagePart, ...] = ()


class PromptSource(Protocol):
    """Something that contributes to the system prompt of runs."""

    async def parts(self, ctx: RunContext) -> list[PromptPart]:
        """The parts for this run (none is fine); raise a VibeforgeError to stop the run."""
        ...


async def gather_parts(sources: Sequence[PromptSource], ctx: RunContext) -> list[PromptPart]:
    """Every source's parts, in the sources' order, stable parts first."""
    parts = [part for source in sources for part in await source.parts(ctx)]
    return [part for part in parts if part.stable] + [part for part in parts if not part.stable]


def system_prompt(
    base: str, parts: Sequence[PromptPart], *after: str | None, identity: str = ""
) -> str:
    """The system prompt: the parts, then the agent's own text (its `identity`, unless a part
    gives one, then `base`, its instructions), then what follows it."""
    pieces = [part.text for part in parts if part.text.strip()]
    persona = any(part.identity and part.text.strip() for part in parts)
    pieces.append(base if persona or not identity else f"{identity} {base}")
    pieces.extend(piece for piece in after if piece)
    return "\n\n".join(piece.strip() for piece in pieces if piece.strip())


def user_message(prompt: str, parts: Sequence[PromptPart]) -> Message:
    """The user's turn: the prompt, with the parts' images after it (if any)."""
    images = [image for part in parts for image in part.images]
    if not images:
        return Message(role="user", content=prompt)
    return Message(role="user", content=(TextPart(prompt), *images))
