"""Attachments in runs: whole when they fit, an exact report when they do not, images only
to models that take them, and no message sent while an attachment is still extracting."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.attachments.conftest import settled, upload
from tests.attachments.files import csv_table, image_bytes, numbered_pdf
from tests.stubs import create_stub_model
from vibeforge.llm.stub import Script, StubLLMServer

BUDGET = 3000


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    """A small attachment budget, so a modest file overflows it."""
    return settings.model_copy(update={"attachment_context_tokens": BUDGET})


async def attached(client: httpx.AsyncClient, session_id: str, name: str, data: bytes) -> str:
    response = await upload(client, name, data, session_id=session_id)
    assert response.status_code == 201, response.text
    found = await settled(client, response.json()["id"])
    assert found["state"] == "ready", found
    return str(found["id"])


async def ask(client: httpx.AsyncClient, session_id: str, **extra: Any) -> dict[str, Any]:
    response = await client.post(
        f"/sessions/{session_id}/messages",
        json={"prompt": "what is in it?", "mode": "chat", **extra},
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def system_text(stub: StubLLMServer) -> str:
    return str(stub.requests[-1].body["messages"][0]["content"])


async def test_an_attachment_that_fits_is_sent_whole_and_reported(
    client: httpx.AsyncClient, stub: StubLLMServer, stub_model: dict[str, Any], session_id: str
) -> None:
    notes = "".join(f"note {n}: the launch code is {n * 7}\n" for n in range(1, 41))
    attachment_id = await attached(client, session_id, "notes.txt", notes.encode())
    stub.script(Script(chunks=("read it",)))
    outcome = await ask(client, session_id)
    system = system_text(stub)
    assert notes in system, "every line of the file reached the model"
    assert '<attachment name="notes.txt" kind="text">' in system
    full = (await client.get(f"/messages/{outcome['message_id']}/full")).json()
    report = full["message"]["context_report"]
    assert report["budget_tokens"] == BUDGET
    (entry,) = report["attachments"]
    assert entry["attachment_id"] == attachment_id
    assert (entry["status"], entry["unit"], entry["count"]) == ("full", "line", 40)
    assert entry["included"] == [[1, 40]] and entry["left_out"] == []
    assert entry["tokens"] > 0 and entry["included_tokens"] >= entry["tokens"]


async def test_a_csv_over_the_budget_says_which_rows_went_in_and_which_did_not(
    client: httpx.AsyncClient, stub: StubLLMServer, stub_model: dict[str, Any], session_id: str
) -> None:
    table = csv_table(400)
    await attached(client, session_id, "people.csv", table.encode())
    stub.script(Script(chunks=("partial",)))
    outcome = await ask(client, session_id)
    full = (await client.get(f"/messages/{outcome['message_id']}/full")).json()
    (entry,) = full["message"]["context_report"]["attachments"]
    assert entry["status"] == "partial" and entry["unit"] == "row" and entry["count"] == 400
    (first, last) = entry["included"][0]
    assert first == 1 and 1 < last < 400
    assert entry["left_out"] == [[last + 1, 400]]
    assert entry["included_tokens"] <= BUDGET < entry["tokens"]
    system = system_text(stub)
    assert "col1,col2,col3,col4" in system, "the header row goes with the rows"
    assert f"row{last}," in system and f"row{last + 1}," not in system
    assert f"people.csv rows {last + 1}-400" in system, "the model is told what is missing"
    assert f"(rows 1-{last} of 400 included)" in system


async def test_a_pdf_over_the_budget_is_cut_at_whole_pages(
    client: httpx.AsyncClient, stub: StubLLMServer, stub_model: dict[str, Any], session_id: str
) -> None:
    await attached(client, session_id, "report.pdf", numbered_pdf(30))
    stub.script(Script(chunks=("pages",)))
    outcome = await ask(client, session_id)
    message = (await client.get(f"/messages/{outcome['message_id']}/full")).json()["message"]
    (entry,) = message["context_report"]["attachments"]
    assert (entry["status"], entry["unit"], entry["count"]) == ("partial", "page", 30)
    last = entry["included"][0][1]
    assert entry["included"] == [[1, last]] and entry["left_out"] == [[last + 1, 30]]
    system = system_text(stub)
    assert f"[page {last}]" in system and f"[page {last + 1}]" not in system
    assert f"Page {last} line 40 of the report." in system
    assert f"report.pdf pages {last + 1}-30" in system


async def test_attachments_are_a_stable_prefix_across_turns(
    client: httpx.AsyncClient, stub: StubLLMServer, stub_model: dict[str, Any], session_id: str
) -> None:
    await attached(client, session_id, "a.md", b"# Title\n\nSome notes.\n")
    await attached(client, session_id, "b.json", b'{"key": [1, 2, 3]}\n')
    stub.script(Script(chunks=("one",)), Script(chunks=("two",)))
    await ask(client, session_id)
    first = system_text(stub)
    await ask(client, session_id)
    second = system_text(stub)
    assert first == second, "the same attachments make the same system prompt every turn"
    assert first.index('name="a.md"') < first.index('name="b.json"'), "oldest first"
    assert 'kind="json"' in first and 'kind="markdown"' in first


@pytest.mark.parametrize("accepts", [True, False])
async def test_an_image_goes_to_a_model_that_takes_images_and_is_described_otherwise(
    client: httpx.AsyncClient, stub: StubLLMServer, session_id: str, accepts: bool
) -> None:
    await create_stub_model(client, stub, name="vision", accepts_images=accepts)
    await attached(client, session_id, "photo.png", image_bytes("PNG", (300, 200)))
    stub.script(Script(chunks=("seen",)))
    outcome = await ask(client, session_id)
    user_turn = stub.requests[-1].body["messages"][-1]["content"]
    full = (await client.get(f"/messages/{outcome['message_id']}/full")).json()
    (entry,) = full["message"]["context_report"]["attachments"]
    if accepts:
        assert isinstance(user_turn, list)
        assert user_turn[0] == {"type": "text", "text": "what is in it?"}
        image_url = user_turn[1]["image_url"]["url"]
        assert user_turn[1]["type"] == "image_url"
        assert image_url.startswith("data:image/jpeg;base64,")
        assert entry["status"] == "full"
        assert "attached to the user's message as an image" in system_text(stub)
    else:
        assert user_turn == "what is in it?", "no image part for a model that takes none"
        assert entry["status"] == "unavailable"
        assert "this model does not accept images" in system_text(stub)
    assert "photo.png (300x200 image)" in system_text(stub)


async def test_a_message_naming_an_extracting_attachment_is_refused_or_waits(
    client: httpx.AsyncClient, stub: StubLLMServer, stub_model: dict[str, Any], session_id: str
) -> None:
    response = await upload(client, "big.pdf", numbered_pdf(1000, 60), session_id=session_id)
    attachment_id = response.json()["id"]
    refused = await client.post(
        f"/sessions/{session_id}/messages",
        json={"prompt": "summarise", "mode": "chat", "attachments": [attachment_id]},
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"] == "attachment_not_ready"
    assert "big.pdf" in refused.json()["detail"]
    implicit = await client.post(
        f"/sessions/{session_id}/messages", json={"prompt": "summarise", "mode": "chat"}
    )
    assert implicit.status_code == 409, "the session's attachments count without naming them"
    assert stub.requests == [], "nothing reached the model"
    messages = (await client.get(f"/sessions/{session_id}/messages")).json()["items"]
    assert messages == [], "a refused message stores nothing"

    stub.script(Script(chunks=("waited",)))
    waited = await ask(client, session_id, attachments=[attachment_id], wait_for_attachments=True)
    assert waited["status"] == "success"
    found = (await client.get(f"/attachments/{attachment_id}")).json()
    assert found["state"] == "ready"
    assert "[page 1]\nPage 1 line 1 of the report." in system_text(stub)


async def test_unknown_or_foreign_attachments_are_not_found(
    client: httpx.AsyncClient,
    other_client: httpx.AsyncClient,
    stub_model: dict[str, Any],
    session_id: str,
) -> None:
    project = (await other_client.post("/projects", json={"name": "theirs"})).json()
    session = (await other_client.post(f"/projects/{project['id']}/sessions", json={})).json()
    theirs = await upload(other_client, "t.txt", b"secret\n", session_id=session["session_id"])
    for named in (["no-such-attachment"], [theirs.json()["id"]]):
        response = await client.post(
            f"/sessions/{session_id}/messages",
            json={"prompt": "x", "mode": "chat", "attachments": named},
        )
        assert response.status_code == 404, response.text
        assert response.json()["error"] == "not_found"


async def test_messages_sent_together_each_see_their_own_session_s_attachments(
    client: httpx.AsyncClient,
    other_client: httpx.AsyncClient,
    stub: StubLLMServer,
    stub_model: dict[str, Any],
    project_id: str,
    session_id: str,
) -> None:
    # Run starts made together share one attachment lookup: each still gets its own.
    sessions = [session_id]
    for node in ("a.py", "b.py"):
        opened = await client.post(f"/projects/{project_id}/sessions", json={"node_id": node})
        sessions.append(opened.json()["session_id"])
    shared = await upload(client, "shared.txt", b"the project's own notes\n", project_id=project_id)
    assert (await settled(client, shared.json()["id"]))["state"] == "ready"
    for index in (1, 2):
        await attached(client, sessions[index], f"s{index}.txt", f"only for {index}\n".encode())
    theirs = (await other_client.post("/projects", json={"name": "theirs"})).json()
    await upload(other_client, "t.txt", b"someone else's\n", project_id=theirs["id"])
    stub.rule(Script(chunks=("ok",)))
    answers = await asyncio.gather(
        *(
            client.post(
                f"/sessions/{session}/messages",
                json={"prompt": f"turn {index}", "mode": "chat"},
            )
            for index, session in enumerate(sessions)
        )
    )
    assert all(answer.status_code == 200 for answer in answers), [a.text for a in answers]
    systems = {
        record.body["messages"][-1]["content"]: record.body["messages"][0]["content"]
        for record in stub.requests
    }
    for index in range(3):
        system = systems[f"turn {index}"]
        assert "the project's own notes" in system
        assert "someone else's" not in system
        for other in (1, 2):
            assert (f"only for {other}" in system) == (other == index)
