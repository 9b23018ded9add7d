"""Personas and modules in runs: the persona a run speaks as (setup), its resolved template as
the first part of the system prompt (with the before-modules run in `resolve_prompt`), and the
post-response modules after the answer.

A run speaks as the persona its message names, else its session's, else its project's. The
persona's template, resolved, is an identity part of the system prompt: the agent's own
"You are ..." sentence is left out, its instructions (the coder's edit format) stay, and the
project's code follows as before. Its model and parameters apply unless the message gives its
own. Each script module runs as a stage `module:NAME` (`stage_update` running, then finished
or failed with the error as `detail`); a failed module is left out of the prompt, a failed
`required` one fails the run (`module_failed`).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from vibeforge.agents.prompt_parts import PromptPart
from vibeforge.db.chat_tables import ChatSession
from vibeforge.db.engine import Database
from vibeforge.db.prompt_tables import Persona, PromptModule
from vibeforge.db.tables import Project, User
from vibeforge.db.types import utcnow
from vibeforge.prompting.asking import run_asker
from vibeforge.prompting.compose import RunModule, compose, window
from vibeforge.prompting.modules import ModuleService, module_spec
from vibeforge.prompting.personas import PersonaService
from vibeforge.prompting.post_response import PostResponseWork, plan_after
from vibeforge.prompting.resolver import ModuleSpec
from vibeforge.prompting.service import script_runner
from vibeforge.prompting.state import load_state, save_state, with_changes
from vibeforge.prompting.variables import Variables, builtins
from vibeforge.runs.context import RunContext
from vibeforge.runs.hooks import PostResponse, RunSetup
from vibeforge.runs.protocol import Chat


def conversation(ctx: RunContext, answer: str | None = None) -> list[dict[str, str]]:
    """The run's conversation as modules see it: the history, the new message (and the
    answer, once there is one)."""
    messages = [
        {"role": m.role, "content": m.content}
        for m in ctx.history
        if m.role in ("user", "assistant") and m.content
    ]
    messages.append({"role": "user", "content": ctx.prompt})
    if answer:
        messages.append({"role": "assistant", "content": answer})
    return messages


@dataclass
class Loaded:
    """What a run's persona needs, read in one transaction."""

    persona: Persona
    rows: dict[str, PromptModule]
    state: dict[str, Any]
    previous: dict[str, Any]
    project: str | None

    @cached_property
    def specs(self) -> dict[str, ModuleSpec]:
        """The modules as the resolver reads them."""
        return {name: module_spec(row) for name, row in self.rows.items()}

    def variables(self, ctx: RunContext) -> Variables:
        """The variable layers of this run (before its modules add theirs)."""
        now = utcnow()
        return Variables(
            builtin=builtins(
                now,
                user=ctx.owner.email,
                project=self.project,
                model=ctx.model.label,
                persona=self.persona.name,
            ),
            previous=self.previous,
            state=self.state,
        )


class PersonaRuns:
    """The prompt source and run hooks of personas and modules."""

    def __init__(
        self,
        db: Database,
        personas: PersonaService,
        modules: ModuleService,
        hide_paths: list[str],
    ) -> None:
        self._db = db
        self._personas = personas
        self._modules = modules
        self._hide_paths = hide_paths
        # What `parts` loaded and computed, for the same run's post-response planning; an
        # entry goes when its run's context is garbage (a run that never answered).
        self._prepared: dict[str, tuple[Loaded, Variables]] = {}

    async def setup(self, owner: User, command: Chat, session: ChatSession) -> RunSetup:
        """The persona the run speaks as, with its model and parameters."""
        persona = await self._personas.for_run(owner, command.persona_id, session)
        if persona is None:
            return RunSetup()
        return RunSetup(persona.id, persona.model, persona.params)

    async def load(self, ctx: RunContext) -> Loaded | None:
        """The run's persona, the owner's modules and the session's state."""
        if ctx.persona_id is None:
            return None
        async with self._db.transaction() as db:
            persona = await db.get(Persona, ctx.persona_id)
            if persona is None or persona.owner_id != ctx.owner.id:
                return None  # deleted since the run started
            rows = await self._modules.all_of(db, ctx.owner)
            state, previous = await load_state(db, ctx.session.id)
            project = await db.get(Project, ctx.project_id)
        return Loaded(persona, rows, state, previous, project.name if project else None)

    def runner(self, ctx: RunContext, loaded: Loaded) -> RunModule:
        """Runs the loaded modules' scripts for this run; their model calls are the run's."""
        return script_runner(loaded.rows, lambda name: run_asker(ctx, name), self._hide_paths)

    async def parts(self, ctx: RunContext) -> list[PromptPart]:
        """The persona's resolved template, its before-modules run (`resolve_prompt` stage)."""
        loaded = await self.load(ctx)
        if loaded is None:
            return []
        variables = loaded.variables(ctx)
        composed = await compose(
            loaded.persona.template,
            loaded.specs,
            variables,
            conversation(ctx),
            run_module=self.runner(ctx, loaded),
            budget=loaded.persona.token_budget,
            staging=lambda name: ctx.stage(f"module:{name}"),
        )
        if composed.state_changes:
            async with self._db.transaction() as db:
                state, _ = await load_state(db, ctx.session.id)
                merged = with_changes(state, composed.state_changes)
                await save_state(db, ctx.session.id, variables=merged)
        self._prepared[ctx.run_id] = (loaded, variables)
        weakref.finalize(ctx, self._prepared.pop, ctx.run_id, None)
        text = composed.resolution.text
        return [
            PromptPart(
                text=text,
                source=f"persona:{loaded.persona.id}",
                stable=composed.resolution.stable,
                identity=bool(text.strip()),
            )
        ]

    async def post_response(self, ctx: RunContext) -> PostResponse | None:
        """The post-response modules the persona's template reaches, if any. They see what
        the before-modules left: their outputs and the state as they changed it."""
        prepared = self._prepared.pop(ctx.run_id, None)
        if prepared is None:  # the agent asked for no prompt parts: load afresh
            loaded = await self.load(ctx)
            if loaded is None:
                return None
            prepared = (loaded, loaded.variables(ctx))
        loaded, variables = prepared
        answer = "".join(ctx.content)
        messages = conversation(ctx, answer)
        after = plan_after(loaded.persona.template, loaded.specs, messages)
        if not after:
            return None
        return PostResponseWork(
            after, variables, window(messages), answer, self.runner(ctx, loaded)
        )
