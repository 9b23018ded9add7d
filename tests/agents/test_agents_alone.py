"""The agents without the app: built with their own services on a temporary git project, fed
by the in-process scripted model, which answers each call by its declared purpose."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from vibeforge.agents.chat import ChatAgent
from vibeforge.agents.pipeline import CodingAgent
from vibeforge.agents.prompt_parts import PromptPart
from vibeforge.db.engine import Database
from vibeforge.db.tables import User
from vibeforge.llm import ChatRequest, ModelSpec, ProviderServerError
from vibeforge.llm.testing import ScriptedModel, by_purpose
from vibeforge.modelconfigs.service import ResolvedModel
from vibeforge.projects.service import ProjectService
from vibeforge.proposals import ProposalService
from vibeforge.runs.bus import InProcessBus, session_topic
from vibeforge.runs.context import Agent, AgentResult, RunContext
from vibeforge.runs.journal import RunJournal
from vibeforge.runs.store import RunStore
from vibeforge.runs.streams import Streams
from vibeforge.sessions.service import SessionService
from vibeforge.statuses import MessageStatus, ProposalStatus
from vibeforge.traces import TraceStore
from vibeforge.users.service import UserService

APP_PY = 'def greet(name):\n    return "Hello, " + name\n'


def edit(search: str, replace: str) -> str:
    """A coder reply with one SEARCH/REPLACE block on app.py."""
    return f"app.py\n```python\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n```\n"


def approve(approved: bool = True, reasoning: str = "fine") -> str:
    """An evaluator verdict."""
    return json.dumps({"approved": approved, "reasoning": reasoning, "commit_message": "Do it"})


@dataclass
class Ran:
    """A finished run: its context, and its result or the exception it raised."""

    ctx: RunContext
    result: AgentResult | None
    failure: Exception | None = None

    @property
    def outcome(self) -> AgentResult:
        assert self.result is not None, self.failure
        return self.result


@dataclass
class Workbench:
    """The services the agents use, on one user's project with one session."""

    db: Database
    projects: ProjectService
    proposals: ProposalService
    traces: TraceStore
    sessions: SessionService
    streams: Streams
    user: User
    project_id: str
    journal_dir: Path

    def coding(self, **limits: int) -> CodingAgent:
        chat = ChatAgent(projects=self.projects, traces=self.traces)
        return CodingAgent(
            projects=self.projects,
            proposals=self.proposals,
            traces=self.traces,
            db=self.db,
            chat=chat,
            **limits,
        )

    async def run(
        self, agent: Agent, prompt: str, model: ScriptedModel, provider: str = "openai-compatible"
    ) -> Ran:
        """One run of `agent` for `prompt`, its rows opened as the registry opens them;
        `provider`: what the model says it is (`offline` for the built-in one)."""
        session, _ = await self.sessions.open(self.user, self.project_id, None)
        opened = await RunStore(self.db, self.sessions).open(session, prompt, "scripted")
        ctx = RunContext(
            run_id=opened.run_id,
            trace_id=opened.trace_id,
            owner=self.user,
            session=session,
            prompt=prompt,
            params=ChatRequest(()).params,
            model=ResolvedModel(ModelSpec(provider, "scripted"), model, None),  # type: ignore[arg-type]
            user_message_id=opened.user_message_id,
            assistant_message_id=opened.assistant_message_id,
            history=opened.history,
            streams=self.streams,
            stream=self.streams.get(self.project_id, session.id, session.last_seq),
            journal=RunJournal(self.journal_dir, opened.run_id),
        )
        try:
            return Ran(ctx, await agent(ctx))
        except Exception as failure:
            return Ran(ctx, None, failure)
        finally:
            ctx.journal.discard()


@pytest.fixture
async def bench(tmp_path: Path, database_url: str) -> AsyncIterator[Workbench]:
    db = Database(database_url)
    await db.upgrade()
    user, _ = await UserService(db).create("alone@example.com")
    projects = ProjectService(db, tmp_path / "projects", 1 << 20)
    project = await projects.create(user, "alone", main_file="app.py")
    await projects.write_files(user, project.id, {"app.py": APP_PY}, "start")
    streams = Streams(InProcessBus())
    yield Workbench(
        db=db,
        projects=projects,
        proposals=ProposalService(db, projects, streams.emit_project),
        traces=TraceStore(db),
        sessions=SessionService(db),
        streams=streams,
        user=user,
        project_id=project.id,
        journal_dir=tmp_path / "journal",
    )
    await db.dispose()


async def test_the_pipeline_commits_an_approved_edit(bench: Workbench) -> None:
    model = ScriptedModel(
        respond=by_purpose(
            {
                "coder": edit("def greet(name):\n", "def welcome(name):\n"),
                "evaluator": approve(),
            }
        )
    )
    ran = await bench.run(bench.coding(), "rename greet to welcome", model)
    result, ctx = ran.outcome, ran.ctx
    assert result.status == MessageStatus.SUCCESS
    assert result.proposal_status == ProposalStatus.APPLIED and result.version_id
    assert model.purposes() == ["coder", "evaluator"]
    found = await bench.projects.read_file(bench.user, bench.project_id, "app.py")
    assert found.content == APP_PY.replace("greet", "welcome")
    assert [call.role for call in ctx.calls] == ["coder", "evaluator"]
    trace = await bench.traces.load(bench.user, ctx.trace_id)
    assert {span.name for span in trace.spans} >= {"run", "generate", "llm.coder", "apply"}


async def test_a_broken_edit_goes_to_the_fixer(bench: Workbench) -> None:
    broken = "def welcome(name:\n"
    model = ScriptedModel(
        respond=by_purpose(
            {
                "coder": edit("def greet(name):\n", broken),
                "fixer": edit(broken, "def welcome(name):\n"),
                "evaluator": approve(),
            }
        )
    )
    ran = await bench.run(bench.coding(), "rename greet", model)
    assert ran.outcome.status == MessageStatus.SUCCESS
    assert model.purposes() == ["coder", "fixer", "evaluator"]
    assert ran.outcome.counters == {
        "malformed_edits": 0,
        "fix_iterations": 1,
        "eval_rejections": 0,
    }


async def test_a_rejection_goes_back_to_the_coder_then_gives_up(bench: Workbench) -> None:
    model = ScriptedModel(
        respond=by_purpose(
            {
                "coder": edit("def greet(name):\n", "def hello(name):\n"),
                "evaluator": approve(False, "wrong name"),
            }
        )
    )
    ran = await bench.run(bench.coding(max_eval_rounds=2), "rename greet to welcome", model)
    result = ran.outcome
    assert result.status == MessageStatus.ERROR and result.error_code == "review_rejected"
    assert "wrong name" in (result.error or "")
    assert model.purposes() == ["coder", "evaluator", "coder", "evaluator"]
    found = await bench.projects.read_file(bench.user, bench.project_id, "app.py")
    assert found.content == APP_PY, "nothing was committed"


async def test_a_question_needs_input_and_changes_nothing(bench: Workbench) -> None:
    model = ScriptedModel(["Which name do you want instead of greet?"])
    ran = await bench.run(bench.coding(), "rename it", model)
    assert ran.outcome.status == MessageStatus.NEEDS_INPUT
    assert ran.outcome.proposal_id is None


async def test_ask_is_answered_by_the_chat_agent(bench: Workbench) -> None:
    model = ScriptedModel(["It greets."])
    ran = await bench.run(bench.coding(), "/ask what does greet do?", model)
    assert ran.outcome.status == MessageStatus.SUCCESS
    assert model.purposes() == ["chat"]
    assert model.requests[0].messages[-1].text == "what does greet do?"
    assert "".join(ran.ctx.content) == "It greets."


async def test_chunks_are_published_in_order_and_journaled(bench: Workbench) -> None:
    model = ScriptedModel(["one two three"])
    subscription = bench.streams.bus.subscribe()
    session, _ = await bench.sessions.open(bench.user, bench.project_id, None)
    bench.streams.bus.follow(subscription, session_topic(session.id))
    agent = ChatAgent(projects=bench.projects, traces=bench.traces)
    await bench.run(agent, "count", model)
    events = []
    while (event := subscription.get_nowait()) is not None:
        events.append(event)
    chunks = [event.data["content"] for event in events if event.type == "chunk"]
    assert "".join(chunks) == "one two three"
    seqs = [event.seq for event in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


async def test_a_provider_failure_is_raised_with_its_attempt_recorded(bench: Workbench) -> None:
    model = ScriptedModel([ProviderServerError("scripted", 500, "down")])
    agent = ChatAgent(projects=bench.projects, traces=bench.traces)
    ran = await bench.run(agent, "hello", model)
    assert isinstance(ran.failure, ProviderServerError)
    assert [(call.status, call.error_code) for call in ran.ctx.calls] == [
        ("error", "provider_server_error")
    ]
    trace = await bench.traces.load(bench.user, ran.ctx.trace_id)
    root = next(span for span in trace.spans if span.name == "run")
    assert root.status == "error"


@dataclass
class FixedSource:
    """A prompt source with one part, recording the runs it was asked for."""

    text: str
    asked: list[str]

    async def parts(self, ctx: RunContext) -> list[PromptPart]:
        self.asked.append(ctx.run_id)
        return [PromptPart(self.text, "test:fixed")]


async def test_prompt_sources_open_the_system_prompt_of_both_agents(bench: Workbench) -> None:
    source = FixedSource("You are Ada, terse and exact.", [])
    chat = ChatAgent(projects=bench.projects, traces=bench.traces, sources=[source])
    model = ScriptedModel(["Hi."])
    await bench.run(chat, "hello", model)
    system = model.requests[0].messages[0]
    assert system.role == "system" and system.text.startswith("You are Ada, terse and exact.\n\n")
    coding = bench.coding()
    coding.sources = [source]
    model = ScriptedModel(["Which file?"])
    ran = await bench.run(coding, "change it", model)
    assert model.requests[0].messages[0].text.startswith("You are Ada, terse and exact.\n\n")
    assert len(source.asked) == 2 and source.asked[1] == ran.ctx.run_id


@pytest.mark.parametrize(
    ("provider", "status"),
    [("offline", MessageStatus.NEEDS_INPUT), ("openai-compatible", MessageStatus.SUCCESS)],
)
async def test_an_edit_that_changes_nothing_needs_input_from_the_offline_model(
    bench: Workbench, provider: str, status: MessageStatus
) -> None:
    already = edit('    return "Hello, " + name\n', '    return "Hello, " + name\n')
    model = ScriptedModel(respond=by_purpose({"coder": already, "evaluator": approve()}))
    ran = await bench.run(bench.coding(), "keep greeting", model, provider=provider)
    assert ran.outcome.status == status
    assert ran.outcome.proposal_id is None
