"""The offline model only edits: when it changes nothing, the message says the user must act
(`needs_input`), never `success`."""

import httpx
import pytest

APP = "def greet(name):\n    return 'Hello, ' + name\n"


@pytest.fixture
async def session_id(client: httpx.AsyncClient) -> str:
    project = (await client.post("/projects", json={"name": "off", "main_file": "app.py"})).json()
    await client.put(f"/projects/{project['id']}/files/app.py", json={"content": APP})
    return (await client.post(f"/projects/{project['id']}/sessions", json={})).json()["session_id"]


async def _say(client: httpx.AsyncClient, session_id: str, prompt: str) -> dict:  # type: ignore[type-arg]
    answer = await client.post(f"/sessions/{session_id}/messages", json={"prompt": prompt})
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.mark.parametrize(
    "prompt",
    [
        "make it faster",  # not an edit it understands: it answers with what it can do
        "rename missing to other",  # nothing to rename
        "add a docstring to nothing_here",
    ],
)
async def test_an_offline_reply_without_a_change_needs_input(
    client: httpx.AsyncClient, session_id: str, prompt: str
) -> None:
    outcome = await _say(client, session_id, prompt)
    assert outcome["status"] == "needs_input", outcome
    assert outcome["version_id"] is None and outcome["diff"] is None
    assert outcome["content"], "its words say why"


async def test_asking_again_for_a_done_change_needs_input(
    client: httpx.AsyncClient, session_id: str
) -> None:
    first = await _say(client, session_id, "rename greet to welcome")
    assert first["status"] == "success" and first["version_id"]
    again = await _say(client, session_id, 'change "greet" to "welcome"')
    assert again["status"] == "needs_input", again
