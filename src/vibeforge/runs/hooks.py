"""What may happen around a run's agent, supplied from outside the registry (the prompting
package does): the setup a run's persona decides before it starts, and the post-response
work after its answer is stored.

The registry's order: setup → agent → (answer stored, `done` out) → post-response work,
streaming `stage_update`s and cancellable like the rest → its writes stored with the run's
end → `post_response_complete` (or `cancelled`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from vibeforge.db.chat_tables import ChatSession
from vibeforge.db.tables import User
from vibeforge.runs.context import RunContext
from vibeforge.runs.protocol import Chat

AfterWrites = Callable[[AsyncSession], Awaitable[None]]
"""Rows the post-response work writes, in the transaction that stores the run's end."""


@dataclass(frozen=True, slots=True)
class RunSetup:
    """What a run's persona decides before it starts."""

    persona_id: str | None = None
    model: str | None = None  # the persona's model (config id or name), if the message names none
    params: dict[str, Any] | None = None  # the persona's parameters, under the message's own


class PostResponse(Protocol):
    """The work of one run after its answer is stored."""

    async def __call__(self, ctx: RunContext) -> AfterWrites | None:
        """Do it, reporting through ctx; what to store (None: nothing). CancelledError when
        the run is cancelled."""
        ...


class RunHooks(Protocol):
    """The setup and the post-response work of runs."""

    async def setup(self, owner: User, command: Chat, session: ChatSession) -> RunSetup:
        """Before the run starts: its persona, and the model and parameters that come with it;
        a VibeforgeError refuses the message."""
        ...

    async def post_response(self, ctx: RunContext) -> PostResponse | None:
        """Once the agent answered, before the answer is stored: the work to do after it, or
        None (then `post_response_complete` follows `done` at once)."""
        ...
