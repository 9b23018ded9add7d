"""The chat agent: one streamed answer with the session's history and its node's code."""

from __future__ import annotations

from vibeforge.agents.run_trace import traced_run
from vibeforge.db.chat_tables import ChatMessage
from vibeforge.errors import InvalidInput, NotFound
from vibeforge.llm import ChatRequest, Message
from vibeforge.runs.context import AgentResult, RunContext

SYSTEM_PROMPT = (
    "You are vibeforge, a careful coding assistant working inside the user's project. "
    "Answer concisely. When you change code, show the change as SEARCH/REPLACE blocks."
)
MAX_CONTEXT_FILE_CHARS = 60_000


def history_messages(history: list[ChatMessage]) -> list[Message]:
    """The stored conversation as model messages; empty and failed turns are left out."""
    messages = []
    for stored in history:
        if stored.role not in ("user", "assistant") or not stored.content:
            continue
        if stored.status in ("error", "streaming"):
            continue
        messages.append(Message(role=stored.role, content=stored.content))  # type: ignore[arg-type]
    return messages


async def node_context(ctx: RunContext) -> str | None:
    """The file a node session is about, fenced with its path, if it exists."""
    node = ctx.session.node_id
    if not node or ctx.services is None:
        return None
    path = node.split("::", 1)[0]
    try:
        found = await ctx.services.projects.read_file(ctx.owner, ctx.project_id, path)
    except (NotFound, InvalidInput):
        return None
    text = found.content[:MAX_CONTEXT_FILE_CHARS]
    return f"The user is working on this file:\n\n{found.path}\n```\n{text}\n```"


class ChatAgent:
    """Answers the prompt in one streamed call, traced like every run."""

    async def __call__(self, ctx: RunContext) -> AgentResult:
        """Resolve the prompt, stream the answer, report."""
        async with traced_run(ctx, "chat") as trace:
            async with trace.stage("resolve_prompt"):
                system = SYSTEM_PROMPT
                context = await node_context(ctx)
                if context:
                    system = f"{system}\n\n{context}"
                messages = (
                    Message(role="system", content=system),
                    *history_messages(ctx.history),
                    Message(role="user", content=ctx.prompt),
                )
            async with trace.stage("generate"):
                await trace.call(ChatRequest(messages=messages, params=ctx.params), "chat")
            result = AgentResult(status="success")
            trace.finish(result)
        return result
