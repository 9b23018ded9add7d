"""The prompting service: what the routes ask of personas, modules and templates beyond
storage (resolving a template for a preview, testing a script), and how a script module is
run for a caller (its limits, its model access, the paths hidden from it)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vibeforge.db.chat_tables import ChatSession
from vibeforge.db.engine import Database
from vibeforge.db.prompt_tables import Persona, PromptModule
from vibeforge.db.tables import Project, User
from vibeforge.db.types import utcnow
from vibeforge.modelconfigs.service import ModelConfigService
from vibeforge.prompting import jail_ctx
from vibeforge.prompting.asking import StandaloneAsker
from vibeforge.prompting.compose import Composed, RunModule, compose
from vibeforge.prompting.modules import ModuleService, module_spec
from vibeforge.prompting.personas import PersonaService
from vibeforge.prompting.resolver import ModuleSpec
from vibeforge.prompting.scripts import (
    ModelAsker,
    ScriptInput,
    ScriptLimits,
    ScriptResult,
    run_script,
)
from vibeforge.prompting.state import StateService, load_state
from vibeforge.prompting.variables import Variables, builtins
from vibeforge.sessions.service import SessionService

AskerFor = Callable[[str], ModelAsker]
"""The model access of a module that may use it, by module name."""


def script_runner(
    rows: Mapping[str, PromptModule], asker_for: AskerFor, hide_paths: list[str]
) -> RunModule:
    """Runs stored script modules with their own limits; only `uses_model` ones may ask."""

    async def run_module(spec: ModuleSpec, given: ScriptInput) -> ScriptResult:
        row = rows[spec.name]
        return await run_script(
            row.content,
            given,
            limits=ScriptLimits.of(row.limits),
            ask=asker_for(spec.name) if spec.uses_model else None,
            hide_paths=hide_paths,
        )

    return run_module


@dataclass(frozen=True, slots=True)
class PluginFunctionInfo:
    """One function of the ctx API."""

    name: str
    signature: str
    description: str
    needs_uses_model: bool


def plugin_functions() -> list[PluginFunctionInfo]:
    """The ctx API, read from the library that runs in the jail (one source of truth)."""
    functions = []
    for name, member in inspect.getmembers(jail_ctx.Ctx, inspect.isfunction):
        if name.startswith("_"):
            continue
        signature = (
            str(inspect.signature(member, eval_str=True))
            .replace("(self, ", "(")
            .replace("(self)", "()")
        )
        doc = " ".join((inspect.getdoc(member) or "").split())
        functions.append(
            PluginFunctionInfo(name, f"ctx.{name}{signature}", doc, name == "ask_model")
        )
    return functions


CTX_ATTRIBUTES = {
    "module": "the module's name",
    "stage": "before (building the prompt) or after (once the answer is stored)",
    "answer": "the answer, in a post-response module",
    "sample": "the sample's data, in a test run",
    "outputs": "what this module set with set_output so far",
}


class PromptingService:
    """Personas, modules and session state, and the work that spans them."""

    def __init__(
        self,
        db: Database,
        sessions: SessionService,
        models: ModelConfigService,
        data_dir: Path,
    ) -> None:
        self.db = db
        self.models = models
        self.personas = PersonaService(db, data_dir / "personas")
        self.modules = ModuleService(db)
        self.state = StateService(db, sessions)
        self._sessions = sessions
        self.hide_paths = [str(data_dir)]

    async def test_script(
        self,
        owner: User,
        script: str,
        given: ScriptInput,
        *,
        limits: ScriptLimits,
        uses_model: bool,
        model: str | None,
    ) -> tuple[ScriptResult, int]:
        """Run a script on a sample, as a module would run; its model calls are recorded."""
        asker = StandaloneAsker(self.db, self.models, owner, model) if uses_model else None
        result = await run_script(
            script, given, limits=limits, ask=asker, hide_paths=self.hide_paths
        )
        return result, asker.calls if asker else 0

    async def resolve_template(
        self,
        owner: User,
        template: str | None,
        variables: Mapping[str, Any],
        *,
        session_id: str | None,
        persona_id: str | None,
        budget: int | None,
        run_scripts: bool,
    ) -> Composed:
        """Resolve a template (or a persona's) for a preview: the session's messages feed the
        triggers, scripts run in the sandbox; their state changes are not kept."""
        session: ChatSession | None = None
        if session_id is not None:
            session = await self._sessions.get(owner, session_id)
        async with self.db.transaction() as db:
            persona: Persona | None = None
            if persona_id is not None:
                persona = await self.personas.owned(db, owner, persona_id)
            rows = await self.modules.all_of(db, owner)
            messages: list[dict[str, str]] = []
            state: dict[str, Any] = {}
            previous: dict[str, Any] = {}
            project_name = None
            if session is not None:
                history = await self._sessions.history(session.id, db_session=db)
                messages = [{"role": m.role, "content": m.content} for m in history if m.content]
                state, previous = await load_state(db, session.id)
                project = await db.get(Project, session.project_id)
                project_name = project.name if project else None
        model = await self.models.resolve(
            owner, persona.model if persona else None, session.model_config_id if session else None
        )
        layers = Variables(
            builtin=builtins(
                utcnow(),
                user=owner.email,
                project=project_name,
                model=model.label,
                persona=persona.name if persona else None,
            ),
            previous=previous,
            state=state,
            request=variables,
        )
        source = template if template is not None else (persona.template if persona else "")
        specs = {name: module_spec(row) for name, row in rows.items()}

        def asker_for(_module: str) -> ModelAsker:
            return StandaloneAsker(self.db, self.models, owner, model.config_id)

        runner = script_runner(rows, asker_for, self.hide_paths) if run_scripts else None
        if budget is None and persona is not None:
            budget = persona.token_budget
        return await compose(source, specs, layers, messages, run_module=runner, budget=budget)
