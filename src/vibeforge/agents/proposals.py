"""Proposals: approved edits waiting for, or given, a decision; applying them safely.

A proposal is always applied on top of the version it was made against. When the project has
moved on, each changed file is merged three-way with `git merge-file` (base = the file at the
proposal's base, ours = the head, theirs = the proposal) on temporary files: git's merge is the
one users already trust, and it refuses overlapping changes instead of guessing. Any conflict
marks the whole proposal `conflict`; nothing is written.
"""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from vibeforge.db.agent_tables import Proposal
from vibeforge.db.chat_tables import ChatSession
from vibeforge.db.engine import Database
from vibeforge.db.tables import Project, User
from vibeforge.db.types import new_id, utcnow
from vibeforge.errors import Conflict, InvalidPath, NotFound
from vibeforge.projects.git import GitRepository
from vibeforge.projects.service import ProjectService

Emit = Callable[[str, dict[str, Any]], Any]
APPLY_ATTEMPTS = 3  # the head may move between the merge and the commit; retry that race


@dataclass
class ApplyOutcome:
    """What applying a proposal did."""

    proposal: Proposal
    previous_head: str | None = None
    merged: bool = False
    conflicts: list[str] = field(default_factory=list)


def _read(repo: GitRepository, rev: str, path: str) -> str | None:
    try:
        return repo.read(rev, path).decode("utf-8")
    except (NotFound, InvalidPath, UnicodeDecodeError):
        return None


def merge_text(base: str, ours: str, theirs: str) -> tuple[str, bool]:
    """Three-way merge of one file's text; returns the result and whether it is clean."""
    with tempfile.TemporaryDirectory(prefix="vf-merge-") as scratch:
        paths = []
        for name, text in (("ours", ours), ("base", base), ("theirs", theirs)):
            path = Path(scratch) / name
            path.write_text(text, encoding="utf-8")
            paths.append(str(path))
        result = subprocess.run(
            ["git", "merge-file", "-p", "--quiet", *paths],
            capture_output=True,
            timeout=60,
            check=False,
        )
    if result.returncode < 0 or result.returncode > 127:
        raise Conflict("git merge-file failed")
    return result.stdout.decode("utf-8", "replace"), result.returncode == 0


def three_way(
    repo: GitRepository, base: str, head: str, files: dict[str, str | None]
) -> tuple[dict[str, str | None], list[str]]:
    """The changes to write on `head` so it gets the proposal's edits, and the paths that
    conflict (blocking)."""
    changes: dict[str, str | None] = {}
    conflicts: list[str] = []
    for path, theirs in files.items():
        original, ours = _read(repo, base, path), _read(repo, head, path)
        if ours == original:
            changes[path] = theirs  # the head did not touch this file
        elif ours == theirs:
            continue  # the head already holds exactly this change
        elif theirs is None or ours is None:
            conflicts.append(path)  # deleted on one side, changed on the other
        else:
            merged, clean = merge_text(original or "", ours, theirs)
            if clean:
                changes[path] = merged
            else:
                conflicts.append(path)
    return changes, conflicts


def proposal_out(row: Proposal) -> dict[str, Any]:
    """A proposal as the API and the events show it."""
    return {
        "id": row.id,
        "project_id": row.project_id,
        "session_id": row.session_id,
        "run_id": row.run_id,
        "message_id": row.message_id,
        "base_version": row.base_version,
        "status": row.status,
        "paths": sorted(row.files),
        "files": row.files,
        "diff": row.diff,
        "commit_message": row.commit_message,
        "version_id": row.version_id,
        "detail": row.detail,
        "created_at": row.created_at.isoformat(),
        "decided_at": row.decided_at.isoformat() if row.decided_at else None,
    }


def announce(outcome: ApplyOutcome, emit: Emit) -> None:
    """Publish the `proposal` event, and `code_changed` when a version was made."""
    row = outcome.proposal
    emit(
        "proposal",
        {
            "proposal_id": row.id,
            "status": row.status,
            "base_version": row.base_version,
            "version_id": row.version_id,
            "paths": sorted(row.files),
            "diff": row.diff,
            "commit_message": row.commit_message,
            "merged": outcome.merged,
            "conflicts": outcome.conflicts,
        },
    )
    if row.status == "applied" and row.version_id != outcome.previous_head:
        emit(
            "code_changed",
            {
                "project_id": row.project_id,
                "version_id": row.version_id,
                "previous_version_id": outcome.previous_head,
                "files": sorted(row.files),
                "proposal_id": row.id,
                "message": row.commit_message,
            },
        )


class ProposalService:
    """Creating, applying, accepting and rejecting proposals, scoped to their owner."""

    def __init__(self, db: Database, projects: ProjectService, emit_project: Callable) -> None:
        self._db = db
        self._projects = projects
        self._emit_project = emit_project

    async def auto_apply(self, project_id: str, session: ChatSession) -> bool:
        """The session's auto_apply if set, else its project's."""
        if session.auto_apply is not None:
            return session.auto_apply
        async with self._db.session() as db:
            value = await db.scalar(select(Project.auto_apply).where(Project.id == project_id))
        return True if value is None else bool(value)

    async def set_project_auto_apply(self, owner: User, project_id: str, value: bool) -> None:
        """Change a project's default."""
        async with self._db.session() as db:
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
        async with self._db.session() as db:
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
            id=new_id(), owner_id=owner.id, status="pending", created_at=utcnow(), **values
        )
        async with self._db.session() as db:
            db.add(row)
        return row

    async def get(self, owner: User, proposal_id: str) -> Proposal:
        """One of the owner's proposals."""
        async with self._db.session() as db:
            row = await db.scalar(
                select(Proposal).where(Proposal.id == proposal_id, Proposal.owner_id == owner.id)
            )
        if row is None:
            raise NotFound(f"no proposal {proposal_id!r}")
        return row

    async def _decide(self, row: Proposal, **values: Any) -> Proposal:
        values.setdefault("decided_at", utcnow())
        async with self._db.session() as db:
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
                    await self._decide(row, status="conflict", detail=detail)
                    return ApplyOutcome(row, head, merged, conflicts)
            else:
                changes = dict(row.files)
            if not changes:
                await self._decide(row, status="applied", version_id=head)
                return ApplyOutcome(row, head, merged)
            try:
                written = await self._projects.write_files(
                    owner, row.project_id, changes, row.commit_message, expected_head=head
                )
            except Conflict:
                continue  # the head moved after we read it: merge again on the new head
            detail = "merged three-way onto a newer version" if merged else None
            await self._decide(row, status="applied", version_id=written.version_id, detail=detail)
            return ApplyOutcome(row, head, merged)
        await self._decide(row, status="conflict", detail="the project kept changing; retry")
        return ApplyOutcome(row, None, True, sorted(row.files))

    async def accept(self, owner: User, proposal_id: str) -> ApplyOutcome:
        """Apply a pending proposal; a merge conflict marks it `conflict` and raises Conflict."""
        row = await self.get(owner, proposal_id)
        if row.status != "pending":
            raise Conflict(f"the proposal is {row.status}, not pending")
        outcome = await self.apply(owner, row)
        announce(outcome, lambda kind, data: self._emit_project(row.project_id, kind, data))
        if row.status == "conflict":
            raise Conflict(row.detail or "the proposal conflicts with the project")
        return outcome

    async def reject(self, owner: User, proposal_id: str) -> Proposal:
        """Decline a pending (or conflicting) proposal."""
        row = await self.get(owner, proposal_id)
        if row.status not in ("pending", "conflict"):
            raise Conflict(f"the proposal is {row.status}; only pending ones can be rejected")
        await self._decide(row, status="rejected")
        announce(
            ApplyOutcome(row), lambda kind, data: self._emit_project(row.project_id, kind, data)
        )
        return row
