"""Transcripts: Markdown that parses back exactly, journals that survive being cut anywhere."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vibeforge.client.terminal.store import TranscriptBusy, TranscriptFile, read_journal
from vibeforge.client.terminal.transcript import (
    Section,
    Transcript,
    TranscriptError,
    parse,
    render,
)

tricky_lines = st.sampled_from(
    [
        '<!-- vibeforge:section {"kind": "user"} -->',
        "\\<!-- vibeforge:section {} -->",
        "\\\\<!-- vibeforge:transcript {} -->",
        "## You",
        "```",
        "````diff",
        "",
        "-->",
        "plain text ünïcödé 🙂",
        "\r",
    ]
)
bodies = st.lists(st.one_of(tricky_lines, st.text(max_size=40)), max_size=8).map("\n".join)
metas = st.dictionaries(
    st.sampled_from(["turn", "status", "model", "tokens", "note"]),
    st.one_of(st.text(max_size=20), st.integers(), st.none()),
    max_size=4,
)


@st.composite
def sections(draw: st.DrawFn) -> Section:
    kind = draw(st.sampled_from(["user", "assistant", "diff", "note"]))
    body = draw(bodies)
    if kind == "diff" and not body.endswith("\n"):
        body += "\n"  # a diff is stored with its last newline
    return Section(kind, body, draw(metas))


@given(st.lists(sections(), max_size=6), st.text(max_size=30))
def test_any_transcript_round_trips(items: list[Section], project: str) -> None:
    transcript = Transcript({"session_id": "s", "project": project}, items)
    back = parse(render(transcript))
    assert back.meta == transcript.meta
    assert [(s.kind, s.body, s.meta) for s in back.sections] == [
        (s.kind, s.body, s.meta) for s in items
    ]


def test_a_transcript_cut_short_is_refused_not_misread() -> None:
    text = render(
        Transcript(
            {"session_id": "s"},
            [Section("user", "hello", {"turn": "1"}), Section("assistant", "hi\nthere", {})],
        )
    )
    boundaries = {len(text)}
    refused = 0
    for end in range(1, len(text)):
        try:
            parsed = parse(text[:end])
        except TranscriptError:
            refused += 1
            continue
        # Only a cut exactly between sections reads as a (shorter) transcript.
        boundaries.add(end)
        assert render(parsed) == text[:end]
    assert refused > len(text) - 10


def _store(path: Path) -> TranscriptFile:
    return TranscriptFile(path, {"session_id": "s", "project": "p"})


def test_a_journal_cut_at_any_byte_recovers_a_prefix_of_the_turn(tmp_path: Path) -> None:
    path = tmp_path / "t.md"
    store = _store(path)
    store.open()
    store.begin("turn-1", "the prompt", at="now")
    store.started(run_id="r1", message_id="m1")
    pieces = ["Hel", "lo, ", "wörld", "\n<!-- vibeforge:section {} -->\n", "!"]
    for piece in pieces:
        store.chunk(piece)
    store.close()
    journal = store.journal_path.read_bytes()
    full = "".join(pieces)
    for end in range(len(journal) + 1):
        case = tmp_path / f"case{end}"
        case.mkdir()
        target = case / "t.md"
        target.write_text(path.read_text())
        (case / "t.md.journal").write_bytes(journal[:end])
        recovered_store = _store(target)
        recovered = recovered_store.open()
        recovered_store.close()
        transcript = parse(target.read_text())
        assert not (case / "t.md.journal").exists()
        if recovered is None:
            assert transcript.sections == []  # not even the prompt line was whole
            continue
        user, answer = transcript.sections
        assert user.body == "the prompt" and answer.meta["status"] == "interrupted"
        assert full.startswith(answer.body)
    assert answer.body == full and answer.meta["message_id"] == "m1"


def test_a_journal_left_after_the_rename_is_not_folded_in_twice(tmp_path: Path) -> None:
    path = tmp_path / "t.md"
    store = _store(path)
    store.open()
    store.begin("turn-1", "q", at="now")
    store.chunk("answer")
    journal = store.journal_path.read_bytes()
    store.end(
        Section("user", "q", {"turn": "turn-1"}), Section("assistant", "answer", {"turn": "turn-1"})
    )
    store.close()
    store.journal_path.write_bytes(journal)  # as if killed between the rename and the unlink
    again = _store(path)
    assert again.open() is None
    again.close()
    assert [s.body for s in parse(path.read_text()).sections] == ["q", "answer"]
    assert not again.journal_path.exists()


def test_stale_temporary_files_are_removed_and_a_second_chat_is_refused(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.md"
    (tmp_path / ".t.md.abc123.tmp").write_text("half a rewrite")
    (tmp_path / ".other.md.x.tmp").write_text("another transcript's")
    store = _store(path)
    store.open()
    assert not (tmp_path / ".t.md.abc123.tmp").exists()
    assert (tmp_path / ".other.md.x.tmp").exists(), "only this transcript's are its own"
    with pytest.raises(TranscriptBusy):
        _store(path).open()
    store.close()
    second = _store(path)
    second.open()  # the lock went with the first
    second.close()


def test_every_chunk_is_in_the_journal_before_chunk_returns(tmp_path: Path) -> None:
    store = _store(tmp_path / "t.md")
    store.open()
    store.begin("t", "q")
    for index in range(50):
        store.chunk(f"c{index}")
        # Read through another file descriptor: what a process killed now would leave.
        records = read_journal(store.journal_path)
        assert records[-1] == {"c": f"c{index}"}
    store.close()
    assert os.stat(store.journal_path).st_size > 0
    assert json.loads(store.journal_path.read_text().splitlines()[0])["prompt"] == "q"
