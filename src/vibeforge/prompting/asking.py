"""`ctx.ask_model` on the server's side: a script's question sent to the session's model, each
call recorded as an LLMCall of role `module`.

In a run the run records the call (`run_asker`), so it is stored, counted and traced with the
run's other calls; outside a run (a script tested on a sample, a template resolved for a
preview) `StandaloneAsker` stores the row itself.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from contextlib import aclosing

from vibeforge.db.chat_tables import LLMCall
from vibeforge.db.engine import Database
from vibeforge.db.tables import User
from vibeforge.db.types import new_id, utcnow
from vibeforge.llm import ChatRequest, Message, Params
from vibeforge.llm.tokens import completed_usage
from vibeforge.llm.usage import with_cost
from vibeforge.modelconfigs.service import ModelConfigService
from vibeforge.prompting.scripts import ModelAsker
from vibeforge.runs.calls import CallRecord, error_code
from vibeforge.runs.context import RunContext
from vibeforge.statuses import CallStatus

ROLE = "module"


def module_request(prompt: str, system: str | None, params: Params) -> ChatRequest:
    """The request a module's question becomes."""
    messages = (Message(role="system", content=system),) if system else ()
    user = Message(role="user", content=prompt)
    return ChatRequest(messages=(*messages, user), params=params, purpose=ROLE)


def run_asker(ctx: RunContext, module: str) -> ModelAsker:
    """Questions of `module` during a run, recorded by the run (not streamed to clients)."""
    counter = itertools.count(1)

    async def ask(prompt: str, system: str | None) -> str:
        request = module_request(prompt, system, ctx.params)
        record = await ctx.stream_model(request, role=ROLE, iteration=next(counter), publish=False)
        return record.content

    return ask


class StandaloneAsker:
    """Questions outside any run, with the owner's model (or `model`), each stored as an
    LLMCall of role `module` with no run, session or project."""

    def __init__(
        self, db: Database, models: ModelConfigService, owner: User, model: str | None
    ) -> None:
        self._db, self._models, self._owner, self._model = db, models, owner, model
        self.calls = 0

    async def __call__(self, prompt: str, system: str | None) -> str:
        """Ask, record, answer."""
        resolved = await self._models.resolve(self._owner, self._model)
        request = module_request(prompt, system, resolved.spec.default_params)
        self.calls += 1
        record = CallRecord(role=ROLE, iteration=self.calls, model=resolved.label)
        status: CallStatus = CallStatus.SUCCESS
        failure: Exception | None = None
        try:
            async with aclosing(resolved.chat.stream(request)) as events:
                async for event in events:
                    record.feed(event)
        except asyncio.CancelledError:
            status = CallStatus.CANCELLED
            raise
        except Exception as error:
            status, failure = CallStatus.ERROR, error
            raise
        finally:
            usage = with_cost(
                completed_usage(record.usage, request, record.content), resolved.spec.prices
            )
            row = LLMCall(
                id=new_id(),
                owner_id=self._owner.id,
                model=record.model,
                role=ROLE,
                iteration=record.iteration,
                status=status,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                cached_tokens=usage.cached_tokens,
                reasoning_tokens=usage.reasoning_tokens,
                cost_usd=usage.cost_usd,
                cost_source=usage.cost_source,
                usage_source=usage.source,
                latency_ms=round((time.perf_counter() - record.started) * 1000, 2),
                raw=record.raw,
                error=str(failure) if failure else None,
                error_code=error_code(failure) if failure else None,
                created_at=utcnow(),
            )
            async with self._db.transaction() as db:
                db.add(row)
        return record.content
