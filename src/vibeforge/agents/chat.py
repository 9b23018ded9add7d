"""The chat agent: one streamed answer with the session's history and its node's code."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vibeforge.agents.prompt_parts import PromptSource, gather_parts, system_prompt, user_message
from vibeforge.agents.run_trace import traced_run
from vibeforge.db.chat_tables import ChatMessage
from vibeforge.errors import InvalidInput, NotFound
from vibeforge.llm import ChatRequest, Message
from vibeforge.projects.paths import normalize_path
from vibeforge.projects.service import ProjectService
from vibeforge.runs.context import AgentResult, RunContext
from vibeforge.statuses import MessageStatus
from vibeforge.traces import TraceStore

IDENTITY = (
    "You are vibeforge, a careful coding assistant working inside the user's project. "
    "Answer concisely."
)
INSTRUCTIONS = "When you change code, show the change as SEARCH/REPLACE blocks."
SYSTEM_PROMPT = f"{IDENTITY} {INSTRUCTIONS}"  # what a run without a persona is told
MAX_CONTEXT_FILE_CHARS = 60_000


def history_messages(history: list[ChatMessage]) -> list[Message]:
    """The stored conversation as model messages; empty and failed turns are left out."""
    messages = []
    for stored in history:
        if stored.role not in ("user", "assistant") or not stored.content:
            continue
        if stored.status in (MessageStatus.ERROR, MessageStatus.STREAMING):
            continue
        messages.append(Message(role=stored.role, content=stored.content))  # type: ignore[arg-type]
    return messages


async def node_context(projects: ProjectService, ctx: RunContext) -> str | None:
    """The file a node session is about, fenced with its path, if it exists."""
    node = ctx.session.node_id
    if not node:
        return None
    try:
        path = normalize_path(node.split("::", 1)[0])
        # The run's session is its owner's, in a ready project: no second ownership query.
        found = await projects.read_head_file(ctx.project_id, path)
    except (NotFound, InvalidInput):
        return None
    text = found.content[:MAX_CONTEXT_FILE_CHARS]
    return f"The user is working on this file:\n\n{found.path}\n```\n{text}\n```"


@dataclass
class ChatAgent:
    """Answers the prompt in one streamed call, traced like every run."""

    projects: ProjectService
    traces: TraceStore
    sources: Sequence[PromptSource] = ()  # persona, modules, attachments, ...

    async def __call__(self, ctx: RunContext) -> AgentResult:
        """Resolve the prompt, stream the answer, report."""
        async with traced_run(ctx, "chat", self.traces) as trace:
            async with trace.stage("resolve_prompt"):
                parts = await gather_parts(self.sources, ctx)
                context = await node_context(self.projects, ctx)
                system = system_prompt(INSTRUCTIONS, parts, context, identity=IDENTITY)
                messages = (
                    Message(role="system", content=system),
                    *history_messages(ctx.history),
                    user_message(ctx.prompt, parts),
                )
            async with trace.stage("generate"):
                request = ChatRequest(messages=messages, params=ctx.params, purpose="chat")
                await trace.call(request, "chat")
            result = AgentResult(status=MessageStatus.SUCCESS)
            trace.finish(result)
        return result
