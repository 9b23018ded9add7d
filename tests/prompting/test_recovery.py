"""A crash during the post-response stage: the stored answer survives recovery untouched."""

from __future__ import annotations

from typing import Any

import httpx

from vibeforge.db.chat_tables import ChatSession
from vibeforge.runs.events import Event
from vibeforge.runs.journal import RunJournal


async def test_recovering_a_run_whose_answer_was_stored_keeps_the_answer(
    app: Any, client: httpx.AsyncClient, stub_model: dict, project_id: str, session_id: str
) -> None:
    answered = await client.post(
        f"/sessions/{session_id}/messages", json={"prompt": "hi", "mode": "chat"}
    )
    outcome = answered.json()
    services = app.state.services
    stored = (await client.get(f"/sessions/{session_id}")).json()["last_seq"]
    # What a crash in the post-response stage leaves: the journal of a finished run holding
    # events after `done` (a stage update the clients saw), never committed.
    journal = RunJournal(services.settings.resolved_data_dir / "journal", outcome["run_id"])
    seen = Event.make(
        "stage_update",
        {"run_id": outcome["run_id"], "stage": "post_response", "status": "running"},
        project_id=project_id,
        session_id=session_id,
        seq=stored + 3,
    )
    journal.append(seen)
    journal.close()
    assert await services.runs.recover() == 1
    messages = (await client.get(f"/sessions/{session_id}/messages")).json()["items"]
    assert (messages[-1]["status"], messages[-1]["content"]) == ("success", outcome["content"])
    run = (await client.get(f"/runs/{outcome['run_id']}")).json()
    assert run["status"] == "succeeded"
    async with services.db.transaction() as db:
        row = await db.get(ChatSession, session_id)
    assert row is not None and row.last_seq == stored + 3, "numbering continues past it"
    assert not journal.path.exists()
