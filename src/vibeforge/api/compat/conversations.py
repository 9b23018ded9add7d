"""The persona chat system's conversations, as vibeforge sessions of one project per user.

A conversation is a node session (`node_id` `conversation/ID`) of the caller's project named
`persona-chat`, made on first use; its persona is the session's persona. So a conversation
gets the runs, history, cancellation and ownership checks of every session.
"""

from __future__ import annotations

from sqlalchemy import select

from vibeforge.db.chat_tables import ChatSession
from vibeforge.db.tables import Project, User
from vibeforge.db.types import new_id
from vibeforge.errors import Conflict, NotFound
from vibeforge.projects.naming import project_name_key
from vibeforge.services import Services

HOME_PROJECT = "persona-chat"
NODE_PREFIX = "conversation/"
DETACHED_PREFIX = "deleted-conversation/"


async def home_project(services: Services, owner: User) -> str:
    """The id of the owner's `persona-chat` project, created when missing."""
    for _ in range(2):  # a concurrent first use creates it once; the loser finds it
        async with services.db.transaction() as db:
            found = await db.scalar(
                select(Project.id).where(
                    Project.owner_id == owner.id,
                    Project.name_key == project_name_key(HOME_PROJECT),
                    Project.state == "ready",
                )
            )
        if found is not None:
            return found
        try:
            created = await services.projects.create(
                owner, HOME_PROJECT, "conversations of the persona chat API", "notes.md"
            )
        except Conflict:
            continue
        return created.id
    raise Conflict(f"a project named {HOME_PROJECT!r} exists but is not ready")


async def create_conversation(
    services: Services, owner: User, persona_id: str | None
) -> ChatSession:
    """A new conversation, speaking as `persona_id` (an id of the owner's, or None)."""
    if persona_id is not None:
        await services.prompting.personas.get(owner, persona_id)  # 404 before anything is made
    project_id = await home_project(services, owner)
    session, _ = await services.sessions.open(owner, project_id, NODE_PREFIX + new_id())
    if persona_id is not None:
        await services.prompting.personas.choose(owner, ChatSession, session.id, persona_id)
        session.persona_id = persona_id
    return session


async def get_conversation(services: Services, owner: User, conversation_id: str) -> ChatSession:
    """One of the owner's conversations; another user's (or any other session) is 404."""
    session = await services.sessions.get(owner, conversation_id)
    if not (session.node_id or "").startswith(NODE_PREFIX):
        raise NotFound(f"no conversation {conversation_id!r}")
    return session


async def by_persona(services: Services, owner: User, persona_id: str) -> ChatSession:
    """The owner's newest conversation speaking as the persona; NotFound when none does."""
    await services.prompting.personas.get(owner, persona_id)
    async with services.db.transaction() as db:
        found = await db.scalar(
            select(ChatSession)
            .join(Project, Project.id == ChatSession.project_id)
            .where(
                ChatSession.owner_id == owner.id,
                ChatSession.persona_id == persona_id,
                ChatSession.node_id.startswith(NODE_PREFIX, autoescape=True),
                Project.name_key == project_name_key(HOME_PROJECT),
                Project.state == "ready",
            )
            .order_by(ChatSession.created_at.desc(), ChatSession.id.desc())
            .limit(1)
        )
    if found is None:
        raise NotFound(f"persona {persona_id!r} has no conversation")
    return found


async def detach(services: Services, owner: User, conversation_id: str) -> None:
    """Make a (cleared) conversation's session no conversation any more: it keeps its
    archived messages, and is found by vibeforge's own API only."""
    await services.sessions.retire(owner, conversation_id, DETACHED_PREFIX)
