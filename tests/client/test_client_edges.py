"""The client's edges: a newer server's events and fields, the sync wrapper, REST helpers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from tests.servers import RunningServer
from tests.stubs import TOKEN
from vibeforge.client import ApiError, Callbacks, Client, Run, SyncClient
from vibeforge.runs.protocol import Chunk, Done, PostResponseComplete


def _frame(type: str, seq: int, **data: Any) -> str:
    payload = {"session_id": "s1", "project_id": "p1", "run_id": "r1", **data}
    return json.dumps({"type": type, "seq": seq, "data": payload})


async def test_unknown_event_types_and_fields_are_skipped_and_seq_still_counts() -> None:
    client = Client("http://127.0.0.1:9", TOKEN)
    try:
        run = Run(client, "s1", "r1", "m1", "t1", Callbacks())
        client.runs[run.id] = run
        client.socket.last_seq["s1"] = 0
        frames = [
            _frame("chunk", 1, content="a", thinking="", added_later={"x": 1}),
            _frame("some_future_event", 2, anything=True),
            _frame("chunk", 2, content="dup"),  # a replay overlapping live events
            _frame("chunk", 3, content="b"),
            _frame(
                "done",
                4,
                message_id="m1",
                status="success",
                content="ab",
                diff=None,
                trace_id="t1",
                token_usage={},
                new_field=1,
            ),
            _frame("post_response_complete", 5),
        ]
        for frame in frames:
            client.socket._frame(frame)
        events = [event async for event in run]
        assert events[:2] == [Chunk("a", ""), Chunk("b", "")]
        assert isinstance(events[2], Done) and events[2].content == "ab"
        assert events[3] == PostResponseComplete("r1")
        assert client.socket.last_seq["s1"] == 5 and client.runs == {}
    finally:
        await client.aclose()


async def test_a_jump_in_seq_is_not_delivered_until_replayed() -> None:
    client = Client("http://127.0.0.1:9", TOKEN)
    try:
        run = Run(client, "s1", "r1", "m1", "t1", Callbacks())
        client.runs[run.id] = run
        client.socket.last_seq["s1"] = 0
        client.socket._frame(_frame("chunk", 1, content="a"))
        client.socket._frame(_frame("chunk", 3, content="c"))  # 2 was lost on the way
        assert run.content == "a" and client.socket.last_seq["s1"] == 1
        client.socket._frame(_frame("chunk", 2, content="b"))  # the replay
        client.socket._frame(_frame("chunk", 3, content="c"))
        assert run.content == "abc"
    finally:
        await client.aclose()


def test_the_sync_client_streams_and_answers_rest_calls(server: RunningServer) -> None:
    with SyncClient(server.url, TOKEN) as client:
        project = client.create_project("sync")
        session = client.open_session(project["id"])
        run = client.send(session["session_id"], "say something", mode="chat")
        events = list(run)
        done = run.result()
        text = "".join(event.content for event in events if isinstance(event, Chunk))
        assert done.status == "success" and text == done.content and text
        messages = client.messages(session["session_id"])
        assert [m["role"] for m in messages] == ["user", "assistant"]
        assert messages[1]["content"] == text
        with pytest.raises(ApiError) as refused:
            client.get_project("no-such-project")
        assert refused.value.status == 404


async def test_file_paths_with_reserved_characters_round_trip(
    server: RunningServer, http: httpx.AsyncClient
) -> None:
    async with Client(server.url, TOKEN) as client:
        project = await client.create_project("files")
        with pytest.raises(ApiError) as refused:  # reached the server as a path, not a query
            await client.write_file(project["id"], "q?x.py", "")
        assert refused.value.code == "invalid_path" and "'?'" in refused.value.detail
        for path in ("dir/a b.py", "hash#1.py", "pct%41.py"):
            await client.write_file(project["id"], path, f"# {path}\n")
            read = await client.read_file(project["id"], path)
            assert read["path"] == path and read["content"] == f"# {path}\n"
        versions = await client.list_versions(project["id"])
        diff = await client.version_diff(project["id"], versions[0]["id"])
        assert "pct%41.py" in diff["diff"]
        await client.revert(project["id"], versions[-1]["id"])
        tree = await client.list_files(project["id"])
        assert [entry["path"] for entry in tree["items"]] == ["main.py"]
        listed = await asyncio.gather(client.list_projects(), client.list_models())
        assert [p["id"] for p in listed[0]] == [project["id"]] and listed[1] == []
