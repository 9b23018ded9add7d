"""One protocol, two transports: `/ws` and Socket.IO are held to the same behaviour, each test
run over both. Bad input is generated from the command models, so a new command is covered
without editing this file."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.servers import RunningServer
from tests.stubs import TOKEN, create_stub_model, until
from tests.wsclient import SioClient, WsClient
from vibeforge.llm.stub import Script, StubLLMServer
from vibeforge.runs.protocol import COMMANDS, Command

Client = WsClient | SioClient
ERROR_CODES = {"invalid_input", "invalid_path", "not_found", "payload_too_large"}


@pytest.fixture(params=["ws", "socketio"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def open_client(transport: str, server: RunningServer, token: str = TOKEN) -> Client:
    opener = WsClient.open if transport == "ws" else SioClient.open
    return await opener(server.url, token)


@pytest.fixture
async def session(http: httpx.AsyncClient, stub: StubLLMServer) -> dict[str, Any]:
    await create_stub_model(http, stub)
    project = (await http.post("/projects", json={"name": "sockets"})).json()
    return (await http.post(f"/projects/{project['id']}/sessions", json={})).json()


@pytest.fixture
async def client(transport: str, server: RunningServer) -> AsyncIterator[Client]:
    opened = await open_client(transport, server)
    yield opened
    await opened.close()


async def refusal(client: Client, type: str, data: Any) -> dict[str, Any]:
    """Send a bad command; the error it gets (the ack's, over Socket.IO, which also emits it)."""
    ack = await client.command(type, data)
    error = await client.until("error")
    if ack is not None:
        assert ack["ok"] is False, (type, data, ack)
        assert (ack["code"], ack["detail"]) == (error["data"]["code"], error["data"]["detail"])
    assert error["seq"] == 0
    assert set(error["data"]) - {"seq"} == {"code", "detail"}, error
    return dict(error["data"])


async def test_a_chat_streams_every_event_in_order_without_gaps(
    client: Client, stub: StubLLMServer, session: dict[str, Any]
) -> None:
    stub.script(
        Script(chunks=("Hel", "lo", " ✓"), usage={"prompt_tokens": 5, "completion_tokens": 3})
    )
    await client.send("subscribe", session_id=session["session_id"])
    assert (await client.next())["type"] == "session_start"
    assert (await client.next())["type"] == "snapshot"
    await client.send("chat", session_id=session["session_id"], prompt="hi", mode="chat")
    done = await client.until("done")
    run_events = [e for e in client.events if e["type"] not in ("session_start", "snapshot")]
    types = [event["type"] for event in run_events]
    assert types[0] == "chat_session_start"
    assert types.count("chunk") == 3 and "stage_update" in types and "token_usage" in types
    assert "".join(e["data"]["content"] for e in run_events if e["type"] == "chunk") == "Hello ✓"
    assert done["data"]["content"] == "Hello ✓" and done["data"]["status"] == "success"
    seqs = [event["seq"] for event in run_events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "numbered without gaps"
    assert {event["data"]["run_id"] for event in run_events} == {done["data"]["run_id"]}


async def test_a_reconnect_with_after_seq_gets_every_later_event_once(
    transport: str, server: RunningServer, stub: StubLLMServer, session: dict[str, Any]
) -> None:
    stub.script(Script(chunks=tuple(f"p{i} " for i in range(60)), chunk_delay=0.01))
    first = await open_client(transport, server)
    await first.send("chat", session_id=session["session_id"], prompt="go", mode="chat")
    for _ in range(10):
        await first.until("chunk")
    last_seen = first.events[-1]["seq"]
    await first.close()  # the run goes on without any client

    second = await open_client(transport, server)
    await second.send("subscribe", session_id=session["session_id"], after_seq=last_seen)
    await second.until("done", within=15)
    replayed = [e for e in second.events if e["type"] not in ("session_start", "snapshot")]
    seqs = [event["seq"] for event in replayed]
    assert seqs == list(range(last_seen + 1, last_seen + 1 + len(seqs)))
    text = "".join(
        e["data"]["content"] for e in first.events + second.events if e["type"] == "chunk"
    )
    assert text == "".join(f"p{i} " for i in range(60))
    await second.close()


async def test_a_cancel_stops_the_run_and_keeps_what_was_seen(
    client: Client, http: httpx.AsyncClient, stub: StubLLMServer, session: dict[str, Any]
) -> None:
    stub.script(Script(chunks=tuple(f"w{i} " for i in range(500)), chunk_delay=0.01))
    await client.send("chat", session_id=session["session_id"], prompt="go", mode="chat")
    start = await client.until("chat_session_start")
    for _ in range(5):
        await client.until("chunk")
    ack = await client.send("cancel", run_id=start["data"]["run_id"])
    assert ack is None or (ack["ok"] is True and ack["cancelled"] is True)
    await client.until("cancelled")
    seen = "".join(e["data"]["content"] for e in client.events if e["type"] == "chunk")
    await until(lambda: stub.requests[0].client_disconnected_at is not None, within=2)
    # Socket.IO acknowledges once the partial answer is stored; /ws sends `cancelled` first.
    for _ in range(1 if ack is not None else 100):
        messages = (await http.get(f"/sessions/{session['session_id']}/messages")).json()
        if messages["items"][-1]["status"] == "cancelled":
            break
        await asyncio.sleep(0.02)
    assert messages["items"][-1]["status"] == "cancelled"
    assert messages["items"][-1]["content"].startswith(seen), "every chunk the client saw is kept"


def _bad_values(schema: dict[str, Any]) -> list[Any]:
    """Values of the wrong type, or out of range, for a field's JSON schema."""
    kinds = {schema.get("type")} | {option.get("type") for option in schema.get("anyOf", [])}
    kinds.discard(None)
    if "string" in kinds:
        values: list[Any] = [123, ["x"], {"k": "v"}, True, "nul\x00inside"]
        if "maxLength" in schema or any("maxLength" in o for o in schema.get("anyOf", [])):
            values.append("x" * 1_000_000)
        return values
    if "integer" in kinds:
        return ["3", True, -1, 1.5]
    if "object" in kinds:
        return [[1, 2], "x", 3, {"nul\x00key": 1}]
    return [object.__name__]  # a type this generator does not know: at least a string


def bad_commands(
    valid: dict[str, dict[str, Any]], forms: list[tuple[str, dict[str, Any]]] = ()
) -> list[tuple[str, Any]]:
    """Every command with data that is not an object, and from each valid example (one per
    command, and one per further form of it) each field of the wrong type, each field the
    example has left out, and an unknown field."""
    cases: list[tuple[str, Any]] = [("teleport", {}), ("", {})]
    for kind in COMMANDS:
        cases += [(kind, "x"), (kind, [1, 2]), (kind, 5)]
    for kind, base in [*valid.items(), *forms]:
        schema = COMMANDS[kind].model_json_schema()
        cases.append((kind, {**base, "unknown_field": 1}))
        for name in base:
            cases.append((kind, {key: value for key, value in base.items() if key != name}))
        for name, field in schema.get("properties", {}).items():
            cases += [(kind, {**base, name: value}) for value in _bad_values(field)]
    return cases


def valid_bases(session: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A well-formed example of every command (what the bad cases spoil)."""
    session_id, project_id = session["session_id"], session["project_id"]
    bases = {
        "ping": {"ts": 1},
        "subscribe": {"session_id": session_id},
        "chat": {"session_id": session_id, "prompt": "hi", "mode": "chat"},
        "cancel": {"run_id": "no-such-run"},
        "upload_file": {"project_id": project_id, "path": "a.py", "content": "x = 1\n"},
        "delete_file": {"project_id": project_id, "path": "a.py"},
        "revert_version": {"project_id": project_id, "version_id": "0" * 40},
        "rename_file": {"project_id": project_id, "from": "main.py", "to": "b.py"},
    }
    assert set(bases) == set(COMMANDS), "a new command needs a valid example here"
    return bases


def other_forms(session: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """A valid example of each further form of a command (spoiled like the bases)."""
    session_id, project_id = session["session_id"], session["project_id"]
    return [
        ("upload_file", {"session_id": session_id, "name": "notes.txt", "data": "aGkK"}),
        ("upload_file", {"project_id": project_id, "name": "notes.txt", "content": "hi\n"}),
        ("upload_file", {"project_id": project_id, "path": "a.py", "data": "eCA9IDEK"}),
        ("delete_file", {"attachment_id": "no-such-attachment"}),
        ("revert_version", {"project_id": project_id, "version_id": "0" * 40, "path": "a.py"}),
    ]


def _spoils(model: type[Command], data: Any) -> bool:
    """Whether `data` is really invalid for `model` (ping's `ts` takes any JSON)."""
    try:
        model.model_validate(data)
    except Exception:
        return True
    return "\x00" in json.dumps(data, ensure_ascii=False)


async def test_every_bad_command_gets_the_error_shape_and_the_socket_stays_usable(
    client: Client, server: RunningServer, session: dict[str, Any]
) -> None:
    cases = [
        (kind, data)
        for kind, data in bad_commands(valid_bases(session), other_forms(session))
        if kind not in COMMANDS or _spoils(COMMANDS[kind], data)
    ]
    assert len(cases) > 60
    for kind, data in cases:
        error = await refusal(client, kind, data)
        assert error["code"] in ERROR_CODES, (kind, data, error)
    ack = await client.send("ping", ts="still here")
    assert (await client.until("pong"))["data"]["ts"] == "still here"
    assert ack is None or ack["ok"] is True
    assert server.crashes() == [], "no command may end in an unhandled exception"


async def test_another_users_ids_are_not_found(
    transport: str, server: RunningServer, http: httpx.AsyncClient, session: dict[str, Any]
) -> None:
    other = (await http.post("/users", json={"email": "intruder@example.com"})).json()
    intruder = await open_client(transport, server, other["token"])
    for kind, data in [*valid_bases(session).items(), *other_forms(session)]:
        if kind in ("ping", "cancel"):
            continue
        error = await refusal(intruder, kind, data)
        assert error["code"] == "not_found", (kind, error)
    versions = (await http.get(f"/projects/{session['project_id']}/versions")).json()["items"]
    assert len(versions) == 1, "nothing was written into the owner's project"
    await intruder.close()
    assert server.crashes() == []
