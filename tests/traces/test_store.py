"""Traces stored together: every span kept, nested as recorded, in one INSERT per batch."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import event

from vibeforge.db.engine import Database
from vibeforge.traces.store import TraceStore
from vibeforge.traces.tracer import Tracer
from vibeforge.users.service import UserService

pytestmark = pytest.mark.db


async def test_traces_saved_together_keep_every_span_in_one_statement(
    tmp_path: Path, database_url: str
) -> None:
    db = Database(database_url)
    await db.upgrade()
    user, _ = await UserService(db).create("traces@example.com")
    store = TraceStore(db)
    tracers = []
    for index in range(12):
        tracer = Tracer(f"{index:032x}", user.id, run_id=f"run-{index}")
        with tracer.span("run", "agent", mode="chat"):
            with tracer.span("generate", "llm", model="m", tokens=index):
                pass
            with pytest.raises(RuntimeError), tracer.span("failing", "stage"):
                raise RuntimeError("boom")
        tracers.append(tracer)
    inserts: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.startswith("INSERT INTO spans"):
            inserts.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        first = asyncio.create_task(store.save(tracers[0]))
        await asyncio.sleep(0)  # the rest queue behind it: one batch
        await asyncio.gather(*(store.save(tracer) for tracer in tracers[1:]))
        await first
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", seen)
    assert len(inserts) == 2, "one statement per batch, not one per span"
    trace = await store.load(user, tracers[5].trace_id)
    by_name = {span.name: span for span in trace.spans}
    assert set(by_name) == {"run", "generate", "failing"}
    assert by_name["generate"].parent_id == by_name["run"].id
    assert by_name["run"].parent_id is None
    assert by_name["failing"].status == "error"
    assert by_name["generate"].attributes == {"model": "m", "tokens": 5}
    await db.dispose()
