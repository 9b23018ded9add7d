"""Run starts under a burst: opens written together, lookups made together, writers in turn."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import event, select

from vibeforge.db.batching import KeyedBatch
from vibeforge.db.chat_tables import ChatMessage, ChatSession, Run
from vibeforge.db.engine import Database
from vibeforge.db.tables import User
from vibeforge.errors import NotFound
from vibeforge.projects.service import ProjectService
from vibeforge.runs.store import RunStore
from vibeforge.sessions.service import SessionService
from vibeforge.statuses import MessageStatus, RunStatus
from vibeforge.users.service import UserService

pytestmark = pytest.mark.db


@dataclass
class Setup:
    db: Database
    sessions: SessionService
    store: RunStore
    user: User
    project_id: str


@pytest.fixture
async def setup(tmp_path: Path, database_url: str) -> AsyncIterator[Setup]:
    db = Database(database_url)
    await db.upgrade()
    user, _ = await UserService(db).create("burst@example.com")
    projects = ProjectService(db, tmp_path / "projects", 1 << 20)
    project = await projects.create(user, "burst")
    sessions = SessionService(db)
    yield Setup(db, sessions, RunStore(db, sessions), user, project.id)
    await db.dispose()


async def open_sessions(setup: Setup, count: int) -> list[ChatSession]:
    return [
        (await setup.sessions.open(setup.user, setup.project_id, f"node-{index}"))[0]
        for index in range(count)
    ]


async def test_a_burst_of_opens_writes_every_run_with_its_own_history(setup: Setup) -> None:
    sessions = await open_sessions(setup, 30)
    first = await setup.store.open(sessions[0], "earlier question", "m")
    opened = await asyncio.gather(
        *(setup.store.open(session, f"prompt {i}", "m") for i, session in enumerate(sessions))
    )
    assert len({run.run_id for run in opened}) == 30
    # Only the first session had a message before: each run sees its own session's history.
    assert [m.content for m in opened[0].history] == ["earlier question", ""]
    assert all(run.history == [] for run in opened[1:])
    async with setup.db.transaction() as db:
        runs = {row.id: row for row in await db.scalars(select(Run))}
        messages = list(await db.scalars(select(ChatMessage).order_by(ChatMessage.position)))
    assert set(runs) == {first.run_id, *(run.run_id for run in opened)}
    assert all(row.status == RunStatus.RUNNING for row in runs.values())
    in_first = [m for m in messages if m.session_id == sessions[0].id]
    assert [(m.position, m.role, m.status) for m in in_first] == [
        (1, "user", MessageStatus.SUCCESS),
        (2, "assistant", MessageStatus.STREAMING),
        (3, "user", MessageStatus.SUCCESS),
        (4, "assistant", MessageStatus.STREAMING),
    ]
    assert {m.content for m in messages if m.role == "user"} >= {f"prompt {i}" for i in range(30)}


async def test_a_batch_of_opens_inserts_its_messages_in_one_statement(setup: Setup) -> None:
    """The user's message and the answer have None in different columns; the ORM, left to
    itself, leaves those keys out, and alternating key sets split a batch into one INSERT
    per row: 200 round trips to the database thread for a burst of 100."""
    sessions = await open_sessions(setup, 20)
    await setup.store.open(sessions[0], "warm-up", "m")
    executed: list[tuple[str, bool]] = []

    def seen(_conn: object, _cursor: object, statement: str, *rest: object) -> None:
        if statement.startswith("INSERT"):
            executed.append((statement.split("(")[0].strip(), bool(rest[-1])))

    engine = setup.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        # Held writer turn: every open below queues behind it and goes into one batch.
        blocker = asyncio.create_task(setup.store.open(sessions[0], "first", "m"))
        await asyncio.sleep(0)
        await asyncio.gather(
            *(setup.store.open(session, f"p{i}", "m") for i, session in enumerate(sessions[1:]))
        )
        await blocker
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    inserts = [name for name, _ in executed if name == "INSERT INTO chat_messages"]
    # One statement for the blocker's batch and one for the 19 queued behind it (either an
    # executemany or one multi-row INSERT, as the dialect prefers), never one per row.
    assert len(inserts) == 2, executed
    async with setup.db.transaction() as db:
        count = len(list(await db.scalars(select(ChatMessage.id))))
    assert count == 2 * 21


async def test_an_open_whose_caller_went_away_leaves_no_running_run(setup: Setup) -> None:
    (session,) = await open_sessions(setup, 1)
    # Keep the writer busy, so the next open waits for its turn, then give up waiting.
    blocker = asyncio.create_task(setup.store.open(session, "first", "m"))
    waiting = asyncio.create_task(setup.store.open(session, "abandoned", "m"))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await blocker
    for _ in range(100):
        async with setup.db.transaction() as db:
            statuses = {
                message.content: status
                for message, status in await db.execute(
                    select(ChatMessage, Run.status).join(Run, Run.user_message_id == ChatMessage.id)
                )
            }
        if statuses.get("abandoned", RunStatus.CANCELLED) != RunStatus.RUNNING:
            break
        await asyncio.sleep(0.02)
    assert statuses["first"] == RunStatus.RUNNING
    assert statuses.get("abandoned", RunStatus.CANCELLED) == RunStatus.CANCELLED


async def test_lookups_made_together_share_one_query() -> None:
    fetched: list[set[str]] = []
    release = asyncio.Event()

    async def fetch(keys: set[str]) -> dict[str, str]:
        fetched.append(set(keys))
        await release.wait()
        return {key: key.upper() for key in keys if key != "missing"}

    batch: KeyedBatch[str, str] = KeyedBatch(fetch)
    first = asyncio.create_task(batch.get("a"))
    await asyncio.sleep(0)
    # Asked while the first fetch runs: answered together by the next one.
    later = [asyncio.create_task(batch.get(key)) for key in ("b", "c", "b", "missing")]
    await asyncio.sleep(0)
    release.set()
    assert await first == "A"
    assert [await task for task in later] == ["B", "C", "B", None]
    assert fetched == [{"a"}, {"b", "c", "missing"}]


async def test_a_failed_fetch_fails_only_its_own_callers() -> None:
    calls = 0

    async def fetch(keys: set[str]) -> dict[str, str]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database down")
        return {key: key for key in keys}

    batch: KeyedBatch[str, str] = KeyedBatch(fetch)
    with pytest.raises(RuntimeError):
        await batch.get("x")
    assert await batch.get("y") == "y"


async def test_batched_session_lookups_keep_each_owner_to_their_own(setup: Setup) -> None:
    (mine,) = await open_sessions(setup, 1)
    other, _ = await UserService(setup.db).create("other@example.com")
    found, refused = await asyncio.gather(
        setup.sessions.get(setup.user, mine.id),
        setup.sessions.get(other, mine.id),
        return_exceptions=True,
    )
    assert isinstance(found, ChatSession) and found.id == mine.id
    assert isinstance(refused, NotFound)


async def test_concurrent_writers_never_meet_at_the_sqlite_lock(setup: Setup) -> None:
    sessions = await open_sessions(setup, 10)
    inside, most = 0, 0

    async def write(index: int) -> None:
        nonlocal inside, most
        async with setup.db.transaction(writes=True) as db:
            inside += 1
            most = max(most, inside)
            db.add(
                ChatMessage(
                    session_id=sessions[index].id, position=100, role="user", content=str(index)
                )
            )
            await db.flush()
            await asyncio.sleep(0.01)  # a writer that holds its transaction a while
            inside -= 1

    await asyncio.gather(*(write(i) for i in range(10)))
    async with setup.db.transaction() as db:
        rows = list(
            await db.scalars(select(ChatMessage.content).where(ChatMessage.position == 100))
        )
    assert sorted(rows) == sorted(str(i) for i in range(10)), "no writer lost to a lock"
    if setup.db.dialect == "sqlite":
        assert most == 1, "SQLite writers of one process take turns"
    else:
        assert most > 1, "PostgreSQL writers run side by side"
