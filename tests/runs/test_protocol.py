"""The typed protocol: every command validated one way, every event encoded and decoded."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vibeforge.errors import InvalidInput
from vibeforge.runs.events import Event
from vibeforge.runs.events import envelope as envelope_of
from vibeforge.runs.protocol import (
    COMMANDS,
    EVENTS,
    REPLIES,
    Chat,
    Chunk,
    Done,
    SessionStart,
    Subscribe,
    command_of,
    decode_event,
    event_data,
    parse_command,
)


def test_envelopes_and_flat_messages_name_the_same_command() -> None:
    wrapped = parse_command({"type": "chat", "data": {"session_id": "s", "prompt": "hi"}})
    flat = parse_command({"type": "chat", "session_id": "s", "prompt": "hi"})
    assert wrapped == flat == Chat(session_id="s", prompt="hi")


@pytest.mark.parametrize(
    ("message", "says"),
    [
        ([1, 2], "a message is"),
        ({"type": 3, "data": {}}, "a message is"),
        ({"type": "chat", "data": "x"}, "a message is"),
        ({"type": "teleport", "data": {}}, "unknown message type"),
        ({"type": "chat", "data": {"session_id": "s"}}, "prompt: Field required"),
        ({"type": "chat", "data": {"session_id": "s", "prompt": "   "}}, "blank"),
        ({"type": "chat", "data": {"session_id": 123, "prompt": "x"}}, "session_id"),
        ({"type": "chat", "data": {"session_id": "s", "prompt": "x", "params": [1, 2]}}, "params"),
        ({"type": "chat", "data": {"session_id": "s", "prompt": "x", "params": "x"}}, "params"),
        ({"type": "chat", "data": {"session_id": "s", "prompt": "x", "mode": "y"}}, "mode"),
        ({"type": "chat", "data": {"session_id": "s", "prompt": "x", "extra": 1}}, "extra"),
        ({"type": "chat", "data": {"session_id": "s", "prompt": "a\x00b"}}, "NUL"),
        ({"type": "subscribe", "data": {}}, "session_id or project_id"),
        ({"type": "subscribe", "data": {"session_id": "s", "after_seq": -1}}, "after_seq"),
        ({"type": "subscribe", "data": {"session_id": "s", "after_seq": True}}, "after_seq"),
        ({"type": "subscribe", "data": {"session_id": "s", "after_seq": "3"}}, "after_seq"),
        ({"type": "cancel", "data": {"run_id": ""}}, "run_id"),
        ({"type": "upload_file", "data": {"project_id": "p", "path": "a"}}, "content"),
        ({"type": "revert_version", "data": {"project_id": "p"}}, "version_id"),
    ],
)
def test_bad_commands_are_refused_with_a_reason(message: Any, says: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_command(message)
    assert says in refused.value.detail


@given(st.sampled_from(sorted(COMMANDS)), st.dictionaries(st.text(), st.none() | st.integers()))
def test_any_data_is_a_command_or_invalid_input(kind: str, data: dict[str, Any]) -> None:
    try:
        command = command_of(kind, data)
    except InvalidInput as refused:
        assert refused.detail
    else:
        assert command.type == kind


def test_ping_echoes_any_json_null_included() -> None:
    assert command_of("ping", {"ts": None}) == command_of("ping", {})
    assert command_of("ping", {"ts": {"a": [1, "b"]}}).ts == {"a": [1, "b"]}  # type: ignore[attr-defined]


def test_subscribe_takes_a_session_or_a_project() -> None:
    assert parse_command({"type": "subscribe", "data": {"project_id": "p"}}) == Subscribe(
        project_id="p"
    )
    replay = command_of("subscribe", {"session_id": "s", "after_seq": 0})
    assert isinstance(replay, Subscribe) and replay.after_seq == 0


def _example(event_type: type[Any]) -> Any:
    values: dict[str, Any] = {}
    for field in dataclasses.fields(event_type):
        if (
            field.default is not dataclasses.MISSING
            or field.default_factory is not dataclasses.MISSING
        ):
            continue
        values[field.name] = {
            "int": 7,
            "dict[str, Any]": {"k": 1},
            "list[str]": ["a.py"],
            "float | None": 1.5,
            "str | None": "x",
        }.get(str(field.type), f"{field.name}-value")
    return event_type(**values)


@pytest.mark.parametrize("event_type", list(EVENTS.values()))
def test_every_event_survives_its_wire_form(event_type: type[Any]) -> None:
    event = _example(event_type)
    wire = Event.make(event.type, event_data(event), project_id="p", session_id="s", seq=3).wire
    envelope = json.loads(wire)
    assert envelope["type"] == event.type and envelope["seq"] == 3
    assert decode_event(envelope["type"], envelope["data"], envelope["seq"]) == event


@pytest.mark.parametrize("event_type", list(REPLIES.values()))
def test_every_reply_survives_its_wire_form(event_type: type[Any]) -> None:
    event = _example(event_type)
    envelope = json.loads(envelope_of(event.type, event_data(event)))
    assert envelope["seq"] == 0
    assert decode_event(envelope["type"], envelope["data"], envelope["seq"]) == event


def test_session_start_names_its_scope_type_on_the_wire() -> None:
    start = SessionStart("s", "p", "node", "app.py", 4)
    assert event_data(start)["type"] == "node"
    assert decode_event("session_start", event_data(start)) == start


def test_unknown_events_decode_to_none_and_unknown_fields_are_ignored() -> None:
    assert decode_event("from_the_future", {}) is None
    assert decode_event("chunk", {"content": "a", "later_field": 1}) == Chunk("a")


def test_done_carries_the_error_code() -> None:
    done = Done("r", "m", "error", "", None, "t", {}, error="boom", error_code="provider_timeout")
    assert event_data(done)["error_code"] == "provider_timeout"


def test_the_rest_outcome_of_a_run_has_the_fields_of_done() -> None:
    from vibeforge.api.chat_schemas import RunResult

    done_fields = {field.name for field in dataclasses.fields(Done)}
    assert set(RunResult.model_fields) == done_fields
