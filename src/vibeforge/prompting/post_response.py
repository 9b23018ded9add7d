"""The post-response stage: after `done`, the post-response modules a persona's template
reaches run in the sandbox, one stage `module:NAME` each inside the stage `post_response`.
Their outputs are stored with the answer's message and become the session's last outputs
(variables of the next turn); their `set_var` changes join the session's state. A failed
module is reported in its stage update and skipped; a failed `required` one stops the stage
with an `error` event (the answer stands). The run's registry sends `post_response_complete`
when this is over, or `cancelled` if the run is cancelled meanwhile (nothing is then stored
for the modules).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from vibeforge.db.chat_tables import ChatMessage
from vibeforge.errors import InvalidInput, VibeforgeError
from vibeforge.prompting.compose import TRIGGER_MESSAGES, ModuleOutcome, RunModule, run_modules
from vibeforge.prompting.resolver import ModuleSpec, expand
from vibeforge.prompting.state import check_size, load_state, save_state, with_changes
from vibeforge.prompting.variables import Variables
from vibeforge.runs.context import RunContext
from vibeforge.runs.hooks import AfterWrites
from vibeforge.runs.protocol import RunFailed

STAGE = "post_response"


def plan_after(
    template: str, specs: Mapping[str, ModuleSpec], messages: Sequence[Mapping[str, str]]
) -> list[ModuleSpec]:
    """The post-response modules a template reaches whose triggers match the conversation
    with its answer, in run order (a template that does not resolve has none: its run failed
    in `resolve_prompt` already)."""
    scanned = [str(m["content"]) for m in messages[-TRIGGER_MESSAGES:]]
    try:
        return expand(template, specs, scanned).after
    except VibeforgeError:
        return []


def outcome_record(outcome: ModuleOutcome) -> dict[str, Any]:
    """What a message keeps of one post-response module's run."""
    return {
        "ok": outcome.ok,
        "outputs": outcome.result.outputs if outcome.ok else {},
        "error": outcome.error,
        "duration_ms": outcome.result.duration_ms,
        "model_calls": outcome.result.model_calls,
    }


class PostResponseWork:
    """One run's post-response modules, ready to run."""

    def __init__(
        self,
        modules: list[ModuleSpec],
        variables: Variables,
        messages: list[dict[str, str]],
        answer: str,
        run_module: RunModule,
    ) -> None:
        self.modules = modules
        self.variables = variables
        self.messages = messages
        self.answer = answer
        self.run_module = run_module

    async def __call__(self, ctx: RunContext) -> AfterWrites | None:
        """Run the modules as the stage `post_response`; return what to store."""
        async with ctx.stage(STAGE) as record:
            outcomes, changes, failed = await run_modules(
                self.modules,
                self.variables,
                self.messages,
                self.run_module,
                stage="after",
                answer=self.answer,
                staging=lambda name: ctx.stage(f"module:{name}"),
            )
            if failed is not None:
                detail = f"the required module @{failed.module} failed: {failed.error}"
                record["error"] = detail
                ctx.emit(RunFailed("module_failed", detail))
        outputs: dict[str, Any] = {}
        for outcome in outcomes:
            if outcome.ok:
                outputs.update(outcome.result.outputs)
        recorded = {outcome.module: outcome_record(outcome) for outcome in outcomes}
        message_id, session_id = ctx.assistant_message_id, ctx.session.id

        async def writes(db: AsyncSession) -> None:
            await db.execute(
                update(ChatMessage)
                .where(ChatMessage.id == message_id)
                .values(module_outputs=recorded)
            )
            state, _ = await load_state(db, session_id)
            try:
                variables = with_changes(state, changes)
            except InvalidInput:  # checked module by module already; never lose the rest
                variables = state
            try:
                check_size(outputs)
                kept = outputs
            except InvalidInput:
                kept = {}  # too big to carry as variables; the message still has them
            await save_state(db, session_id, variables=variables, outputs=kept)

        return writes
