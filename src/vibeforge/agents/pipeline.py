"""The coding pipeline: coder → validate → fix → evaluate → apply, as one run's agent.

Every provider request is an LLMCall row (role coder, fixer or evaluator, with its iteration),
every step a span of the run's trace, every stage a `stage_update`. A prompt starting with
`/ask` is answered by the plain chat agent instead (questions need no pipeline).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from vibeforge.agents.candidate import Candidate, has_edits
from vibeforge.agents.chat import ChatAgent, history_messages
from vibeforge.agents.checks import ProjectCheck, run_check
from vibeforge.agents.evaluator import parse_verdict
from vibeforge.agents.prompt_parts import (
    PromptSource,
    gather_parts,
    system_prompt,
    user_message,
)
from vibeforge.agents.prompts import (
    CODER_IDENTITY,
    EVALUATOR_SYSTEM,
    MAP_FILE_BYTES,
    MAX_MAP_FILES,
    SMALL_PROJECT_CHARS,
    asks_question,
    coder_context,
    coder_instructions,
    evaluator_turn,
    fixer_turn,
    redo_turn,
    repo_map,
    without_code,
)
from vibeforge.agents.run_trace import RunTrace, traced_run
from vibeforge.agents.tools import TOOLS, Workspace, run_tool
from vibeforge.agents.validators import Problem, validator_for
from vibeforge.db.engine import Database
from vibeforge.edits import EditError
from vibeforge.llm import ChatRequest, Message
from vibeforge.projects.service import ProjectService
from vibeforge.proposals import ApplyOutcome, ProposalService, outcome_events
from vibeforge.runs.context import AgentResult, CallRecord, RunContext
from vibeforge.statuses import MessageStatus, ProposalStatus
from vibeforge.traces import SpanRecord, TraceStore
from vibeforge.usage import RunCounters

MAX_FIX_ITERATIONS = 3
MAX_EVAL_ROUNDS = 2
MAX_TOOL_ROUNDS = 4
ASK_PREFIX = "/ask"


class Pipeline:
    """One run of the pipeline: its context, trace, counters and conversation."""

    def __init__(
        self, agent: CodingAgent, ctx: RunContext, trace: RunTrace, counters: RunCounters
    ) -> None:
        self.agent = agent
        self.ctx = ctx
        self.trace = trace
        self.tracer = trace.tracer
        self.counters = counters
        self.messages: list[Message] = []
        self.replies: list[str] = []  # the edit replies of the current round, for the review
        self.check: ProjectCheck | None = None
        self.workspace: Workspace | None = None

    @property
    def offline(self) -> bool:
        """Whether the run uses the built-in offline model."""
        return self.ctx.model.spec.provider == "offline"

    def stage(self, name: str, **attributes: Any) -> AbstractAsyncContextManager[SpanRecord]:
        """A timed stage: announced with stage_update, recorded in the run, traced."""
        return self.trace.stage(name, **attributes)

    async def call(
        self, messages: list[Message], role: str, iteration: int, *, tools: bool = False
    ) -> CallRecord:
        """One provider request, traced; coder and fixer text streams to the client."""
        ctx = self.ctx
        publish = role != "evaluator"
        if publish and ctx.content:
            ctx.chunk(content="\n\n")  # keep successive replies apart in the message
        request = ChatRequest(
            messages=tuple(messages),
            params=ctx.params,
            tools=TOOLS if tools else (),
            purpose=role,
        )
        return await self.trace.call(request, role, iteration, publish=publish)

    async def coder(self, workspace: Workspace, iteration: int) -> str:
        """The coder's reply, after any read-only tool calls it makes first."""
        tools = self.ctx.model.chat.capabilities.tools
        for round_number in range(MAX_TOOL_ROUNDS + 1):
            offer = tools and round_number < MAX_TOOL_ROUNDS
            record = await self.call(self.messages, "coder", iteration, tools=offer)
            if not record.tool_calls:
                self.messages.append(Message(role="assistant", content=record.content))
                return record.content
            self.messages.append(
                Message(role="assistant", content=record.content, tool_calls=record.tool_calls)
            )
            for call in record.tool_calls:
                with self.tracer.span(
                    f"tool.{call.name}", "tool", arguments=call.arguments[:500]
                ) as span:
                    output = await run_tool(workspace, call)
                    span.attributes["output_chars"] = len(output)
                self.messages.append(Message(role="tool", content=output, tool_call_id=call.id))
        return ""  # unreachable: the last round offers no tools

    async def apply_reply(self, candidate: Candidate, reply: str) -> str | None:
        """Apply a reply to the candidate; the EditError report if it does not apply."""
        with self.tracer.span("edit.apply", "edit") as span:
            try:
                span.attributes["paths"] = await candidate.apply(reply)
            except EditError as error:
                self.counters.malformed_edits += 1
                span.status = "error"
                span.attributes["error"] = error.detail[:2000]
                return error.detail
        return None

    async def validate(self, candidate: Candidate) -> list[Problem]:
        """Run the validators of every changed file, each as a span, then the project's own
        check (when it has one and the files parse)."""
        problems: list[Problem] = []
        for path, found in candidate.problems():
            name = validator_for(path)
            if name is None:
                continue
            with self.tracer.span(f"validate{name}", "validator", path=path) as span:
                span.attributes["problems"] = [problem.render() for problem in found]
                if found:
                    span.status = "error"
            problems.extend(found)
        if not problems and self.check is not None and candidate.changes():
            with self.tracer.span("validate.check", "validator", command=self.check.shown) as span:
                assert self.workspace is not None
                failed = await run_check(self.check, self.workspace, candidate)
                if failed is not None:
                    span.status = "error"
                    span.attributes["problems"] = [failed.render()[:2000]]
                    problems.append(failed)
        return problems

    async def run(self) -> AgentResult:
        """The whole pipeline."""
        ctx = self.ctx
        async with self.stage("resolve_prompt"):
            projects = self.agent.projects
            workspace = await Workspace.open(projects, ctx.owner, ctx.project_id)
            self.workspace = workspace
            project = await projects.owned(ctx.owner, ctx.project_id)
            if project.check_command:
                self.check = ProjectCheck(project.check_command, project.check_timeout_s or 60.0)
            candidate = Candidate(workspace)
            shown, map_text, focus = await self.context(workspace)
            await candidate.load(list(shown))
            system = coder_instructions(ctx.model.edit_format, ctx.model.chat.capabilities.tools)
            context = coder_context(shown, map_text, focus)
            parts = await gather_parts(self.agent.sources, ctx)
            self.messages = [
                Message(
                    role="system",
                    content=system_prompt(system, parts, context, identity=CODER_IDENTITY),
                ),
                *past_turns(ctx),
                user_message(ctx.prompt, parts),
            ]
        for round_number in range(1, self.agent.max_eval_rounds + 1):
            async with self.stage("generate", iteration=round_number):
                reply = await self.coder(workspace, round_number)
            if not has_edits(reply, ctx.model.edit_format):
                # No edit: a question waits for the user; anything else is an answer, except
                # from the offline model, which only edits: its words say what it could not
                # do, so the user has to act (rephrase, or configure a real model).
                asked = asks_question(reply) or self.offline
                return AgentResult(
                    status=MessageStatus.NEEDS_INPUT if asked else MessageStatus.SUCCESS
                )
            candidate.reset()
            self.replies = [reply]
            async with self.stage("validate", iteration=0):
                report = await self.apply_reply(candidate, reply)
                problems = [] if report else await self.validate(candidate)
            fixed = await self.fix(candidate, report, problems)
            if fixed is not None:
                return fixed
            if not candidate.changes():
                # Every edit was already there. The offline model's edits come from the
                # request alone, so for it that means the request was not understood.
                status = MessageStatus.NEEDS_INPUT if self.offline else MessageStatus.SUCCESS
                return AgentResult(status=status)
            async with self.stage("evaluate", iteration=round_number) as span:
                verdict = await self.evaluate(candidate, round_number)
                span.attributes.update(approved=verdict.approved, reasoning=verdict.reasoning)
            if verdict.approved:
                async with self.stage("apply"):
                    return await self.propose(workspace, candidate, verdict.commit_message)
            self.counters.eval_rejections += 1
            originals = {p: t for p, t in candidate.original.items() if t is not None}
            self.messages.append(
                Message(role="user", content=redo_turn(ctx.prompt, verdict.reasoning, originals))
            )
        return AgentResult(
            status=MessageStatus.ERROR,
            error_code="review_rejected",
            error=f"the reviewer rejected the change {self.agent.max_eval_rounds} times; "
            f"last reason: {verdict.reasoning}",
            diff=candidate.diff() or None,
        )

    async def fix(
        self, candidate: Candidate, report: str | None, problems: list[Problem]
    ) -> AgentResult | None:
        """Turns of the fixer until the candidate applies and validates (None), or give up."""
        iteration = 0
        while report or problems:
            if iteration >= self.agent.max_fix_iterations:
                listed = report or "\n".join(problem.render() for problem in problems)
                return AgentResult(
                    status=MessageStatus.ERROR,
                    error_code="edit_failed",
                    error=f"no valid edit after {iteration} fix iterations:\n{listed}"[:4000],
                    diff=candidate.diff() or None,
                )
            iteration += 1
            self.counters.fix_iterations += 1
            async with self.stage("fix", iteration=iteration):
                turn = fixer_turn(problems, report, candidate.view())
                self.messages.append(Message(role="user", content=turn))
                record = await self.call(self.messages, "fixer", iteration)
                self.messages.append(Message(role="assistant", content=record.content))
            async with self.stage("validate", iteration=iteration):
                if not has_edits(record.content, self.ctx.model.edit_format):
                    self.counters.malformed_edits += 1
                    report, problems = "Your reply held no edit blocks.", problems
                    continue
                report = await self.apply_reply(candidate, record.content)
                if report is None:
                    self.replies.append(record.content)
                problems = [] if report else await self.validate(candidate)
        return None

    async def evaluate(self, candidate: Candidate, round_number: int) -> Any:
        """The evaluator's verdict on the candidate."""
        ctx = self.ctx
        default = "Update " + ", ".join(candidate.changes())
        messages = [
            Message(role="system", content=EVALUATOR_SYSTEM),
            Message(
                role="user", content=evaluator_turn(ctx.prompt, self.replies, candidate.diff())
            ),
        ]
        record = await self.call(messages, "evaluator", round_number)
        return parse_verdict(record.content, default[:72])

    async def propose(
        self, workspace: Workspace, candidate: Candidate, commit_message: str
    ) -> AgentResult:
        """Store the approved edit as a proposal; commit it at once when auto_apply is on."""
        ctx = self.ctx
        proposals = self.agent.proposals
        diff = candidate.diff()
        row = await proposals.create(
            ctx.owner,
            run_id=ctx.run_id,
            session_id=ctx.session.id,
            message_id=ctx.assistant_message_id,
            project_id=ctx.project_id,
            base_version=workspace.version_id,
            files=candidate.changes(),
            diff=diff,
            commit_message=commit_message,
        )
        if not await proposals.auto_apply(ctx.project_id, ctx.session):
            for event in outcome_events(ApplyOutcome(row)):
                ctx.emit(event)
            return AgentResult(
                status=MessageStatus.SUCCESS,
                diff=diff,
                proposal_id=row.id,
                proposal_status=ProposalStatus.PENDING,
            )
        with self.tracer.span("proposal.apply", "edit", proposal_id=row.id) as span:
            outcome = await proposals.apply(ctx.owner, row)
            span.attributes.update(status=row.status, merged=outcome.merged)
        for event in outcome_events(outcome):
            ctx.emit(event)
        applied = {
            "proposal_id": row.id,
            "proposal_status": row.status,
            "version_id": row.version_id,
        }
        if row.status == ProposalStatus.CONFLICT:
            return AgentResult(
                status=MessageStatus.ERROR,
                error_code="conflict",
                diff=diff,
                error=row.detail,
                **applied,
            )
        if outcome.merged and outcome.previous_head and row.version_id != outcome.previous_head:
            # What changed is what landed on the newer head, not the diff against the old base.
            _, _, diff = await self.agent.projects.diff(
                ctx.owner, ctx.project_id, row.version_id, outcome.previous_head
            )
        return AgentResult(status=MessageStatus.SUCCESS, diff=diff, **applied)

    async def context(self, workspace: Workspace) -> tuple[dict[str, str], str | None, str | None]:
        """The files to show, the repo map (global sessions) and the node in focus."""
        ctx = self.ctx
        node = ctx.session.node_id
        if node:
            path, _, symbol = node.partition("::")
            shown = await workspace.read_many([path])
            focus = f"`{symbol}` in {path}" if symbol else path
            return shown, None, focus
        paths = workspace.paths
        mappable = [p for p in paths[:MAX_MAP_FILES] if workspace.entries[p].size <= MAP_FILE_BYTES]
        texts = await workspace.read_many(mappable)
        if sum(workspace.entries[p].size for p in paths) <= SMALL_PROJECT_CHARS:
            return texts, repo_map(paths, texts), None
        mentioned = [p for p in paths if p in ctx.prompt or p.rsplit("/", 1)[-1] in ctx.prompt]
        return await workspace.read_many(mentioned), repo_map(paths, texts), None


def past_turns(ctx: RunContext) -> list[Message]:
    """The session's history, with the code of past replies left out."""
    return [
        Message(role=m.role, content=without_code(m.text)) if m.role == "assistant" else m
        for m in history_messages(ctx.history)
    ]


@dataclass
class CodingAgent:
    """The default agent of sessions: ask for a change in words, get a validated commit."""

    projects: ProjectService
    proposals: ProposalService
    traces: TraceStore
    db: Database  # for the run's counters
    chat: ChatAgent  # answers `/ask` questions
    sources: Sequence[PromptSource] = ()  # persona, modules, attachments, ...
    max_fix_iterations: int = MAX_FIX_ITERATIONS
    max_eval_rounds: int = MAX_EVAL_ROUNDS

    async def __call__(self, ctx: RunContext) -> AgentResult:
        """Run the pipeline (or the chat agent for `/ask`), storing trace and counters."""
        if ctx.prompt.lstrip().startswith(ASK_PREFIX):
            ctx.prompt = ctx.prompt.lstrip()[len(ASK_PREFIX) :].strip() or ctx.prompt
            return await self.chat(ctx)
        counters = RunCounters()

        async def save_counters(status: str) -> None:
            await counters.save(
                self.db,
                run_id=ctx.run_id,
                owner_id=ctx.owner.id,
                project_id=ctx.project_id,
                session_id=ctx.session.id,
                status=status,
            )

        async with traced_run(ctx, "coding", self.traces, after=save_counters) as trace:
            result = await Pipeline(self, ctx, trace, counters).run()
            trace.finish(result, **counters.as_dict())
        result.counters = counters.as_dict()
        return result
