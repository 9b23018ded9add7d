"""Proposals: approved edits waiting for, or given, a decision; applying them safely.

A proposal is always applied on top of the version it was made against; when the project has
moved on, its files are merged three-way (`proposals.merge`). Any conflict marks the whole
proposal `conflict`; nothing is written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update

from vibeforge.db.agent_tables import Proposal
from vibeforge.db.chat_tables import ChatSession
from vibeforge.db.engine import Database
from vibeforge.db.tables import Project, User
from vibeforge.db.types import new_id, utcnow
from vibeforge.errors import Conflict, NotFound
from vibeforge.paging import Page, newest_first, newest_page
from vibeforge.projects.service import ProjectService
from vibeforge.proposals.merge import three_way
from vibeforge.runs.protocol import CodeChanged, ProposalMade, ServerEvent
from vibeforge.statuses import ProposalStatus

Publish = Callable[[ServerEvent], object]
AfterApply = Callable[[User, Proposal], Awaitable[None]]
APPLY_ATTEMPTS = 3  # the head may move between the merge and the commit; retry that race


@dataclass
class ApplyOutcome:
    """What applying a proposal did."""

    proposal: Proposal
    previous_head: str | None = None
    merged: bool = False
    conflicts: list[str] = field(default_factory=list)


def outcome_events(outcome: ApplyOutcome) -> list[ServerEvent]:
    """The `proposal` event, and `code_changed` when a version was made."""
    row = outcome.proposal
    events: list[ServerEvent] = [
        ProposalMade(
            proposal_id=row.id,
            status=row.status,
            base_version=row.base_version,
            version_id=row.version_id,
            paths=sorted(row.files),
            diff=row.diff,
            commit_message=row.commit_message,
            merged=outcome.merged,
            conflicts=outcome.conflicts,
        )
    ]
    if row.status == ProposalStatus.APPLIED and row.version_id != outcome.previous_head:
        assert row.version_id is not None
        events.append(
            CodeChanged(
                version_id=row.version_id,
                files=sorted(row.files),
                project_id=row.project_id,
                previous_version_id=outcome.previous_head,
                proposal_id=row.id,
                message=row.commit_message,
            )
        )
    return events


class ProposalService:
    """Creating, applying, accepting and rejecting proposals, scoped to their owner."""

    def __init__(
        self,
        db: Database,
        projects: ProjectService,
        publish_project: Callable[[str, ServerEvent], object],
    ) -> None:
        self._db = db
        self._projects = projects
        self._publish_project = publish_project
        # Called after a proposal made a new version (the tests' run_tests_on_apply hook).
        self.after_apply: AfterApply | None = None

    def _publish(self, outcome: ApplyOutcome) -> None:
        for event in outcome_events(outcome):
            self._publish_project(outcome.proposal.project_id, event)

    async def auto_apply(self, project_id: str, session: ChatSession) -> bool:
        """The session's auto_apply if set, else its project's."""
        if session.auto_apply is not None:
            return session.auto_apply
        async with self._db.transaction() as db:
            value = await db.scalar(select(Project.auto_apply).where(Project.id == project_id))
        return True if value is None else bool(value)

    async def set_project_auto_apply(self, owner: User, project_id: str, value: bool) -> None:
        """Change a project's default."""
        async with self._db.transaction() as db:
            found = await db.execute(
                update(Project)
                .where(Project.id == project_id, Project.owner_id == owner.id)
                .where(Project.state == "ready")
                .values(auto_apply=value)
            )
            if found.rowcount == 0:  # type: ignore[attr-defined]
                raise NotFound(f"no project {project_id!r}")

    async def set_session_auto_apply(
        self, owner: User, session_id: str, value: bool | None
    ) -> None:
        """Override (or with None, inherit) the project's default for one session."""
        async with self._db.transaction() as db:
            found = await db.execute(
                update(ChatSession)
                .where(ChatSession.id == session_id, ChatSession.owner_id == owner.id)
                .values(auto_apply=value)
            )
            if found.rowcount == 0:  # type: ignore[attr-defined]
                raise NotFound(f"no session {session_id!r}")

    async def create(self, owner: User, **values: Any) -> Proposal:
        """Store a new pending proposal."""
        row = Proposal(
            id=new_id(),
            owner_id=owner.id,
            status=ProposalStatus.PENDING,
            created_at=utcnow(),
            **values,
        )
        async with self._db.transaction() as db:
            db.add(row)
        return row

    async def get(self, owner: User, proposal_id: str) -> Proposal:
        """One of the owner's proposals."""
        async with self._db.transaction() as db:
            row = await db.scalar(
                select(Proposal).where(Proposal.id == proposal_id, Proposal.owner_id == owner.id)
            )
        if row is None:
            raise NotFound(f"no proposal {proposal_id!r}")
        return row

    async def list(
        self,
        owner: User,
        project_id: str,
        status: ProposalStatus | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Proposal]:
        """A project's proposals, newest first; only those of `status` if given."""
        await self._projects.owned(owner, project_id)
        query = select(Proposal).where(
            Proposal.project_id == project_id, Proposal.owner_id == owner.id
        )
        return await self._page(query, status, limit, cursor)

    async def list_for_session(
        self,
        owner: User,
        session_id: str,
        status: ProposalStatus | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Proposal]:
        """The proposals a session's runs made, newest first; only those of `status` if given.
        Another user's session is not found, as every resource of theirs."""
        async with self._db.transaction() as db:
            found = await db.scalar(
                select(ChatSession.id).where(
                    ChatSession.id == session_id, ChatSession.owner_id == owner.id
                )
            )
        if found is None:
            raise NotFound(f"no session {session_id!r}")
        query = select(Proposal).where(
            Proposal.session_id == session_id, Proposal.owner_id == owner.id
        )
        return await self._page(query, status, limit, cursor)

    async def _page(
        self, query: Any, status: ProposalStatus | None, limit: int, cursor: str | None
    ) -> Page[Proposal]:
        if status is not None:
            query = query.where(Proposal.status == status)
        async with self._db.transaction() as db:
            rows = list(await db.scalars(newest_first(query, Proposal, limit, cursor)))
        return newest_page(rows, limit)

    async def _decide(self, row: Proposal, **values: Any) -> Proposal:
        values.setdefault("decided_at", utcnow())
        async with self._db.transaction() as db:
            await db.execute(update(Proposal).where(Proposal.id == row.id).values(**values))
        for name, value in values.items():
            setattr(row, name, value)
        return row

    async def apply(self, owner: User, row: Proposal) -> ApplyOutcome:
        """Commit a proposal on the head, merging three-way when the head has moved."""
        repo = self._projects.repository(row.project_id)
        for _ in range(APPLY_ATTEMPTS):
            head, _ = await self._projects.list_files(owner, row.project_id)
            merged = head != row.base_version
            if merged:
                changes, conflicts = await asyncio.to_thread(
                    three_way, repo, row.base_version, head, row.files
                )
                if conflicts:
                    detail = "the project changed since this edit was made: " + ", ".join(conflicts)
                    await self._decide(row, status=ProposalStatus.CONFLICT, detail=detail)
                    return ApplyOutcome(row, head, merged, conflicts)
            else:
                changes = dict(row.files)
            if not changes:
                await self._decide(row, status=ProposalStatus.APPLIED, version_id=head)
                return ApplyOutcome(row, head, merged)
            try:
                written = await self._projects.write_files(
                    owner, row.project_id, changes, row.commit_message, expected_head=head
                )
            except Conflict:
                continue  # the head moved after we read it: merge again on the new head
            detail = "merged three-way onto a newer version" if merged else None
            await self._decide(
                row, status=ProposalStatus.APPLIED, version_id=written.version_id, detail=detail
            )
            if written.changed and self.after_apply is not None:
                await self.after_apply(owner, row)
            return ApplyOutcome(row, head, merged)
        await self._decide(
            row, status=ProposalStatus.CONFLICT, detail="the project kept changing; retry"
        )
        return ApplyOutcome(row, None, True, sorted(row.files))

    async def accept(self, owner: User, proposal_id: str) -> ApplyOutcome:
        """Apply a pending proposal; a merge conflict marks it `conflict` and raises Conflict."""
        row = await self.get(owner, proposal_id)
        if row.status != "pending":
            raise Conflict(f"the proposal is {row.status}, not pending")
        outcome = await self.apply(owner, row)
        self._publish(outcome)
        if row.status == "conflict":
            raise Conflict(row.detail or "the proposal conflicts with the project")
        return outcome

    async def reject(self, owner: User, proposal_id: str) -> Proposal:
        """Decline a pending (or conflicting) proposal."""
        row = await self.get(owner, proposal_id)
        if row.status not in ("pending", "conflict"):
            raise Conflict(f"the proposal is {row.status}; only pending ones can be rejected")
        await self._decide(row, status=ProposalStatus.REJECTED)
        self._publish(ApplyOutcome(row))
        return row
