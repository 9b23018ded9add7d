"""A transcript on disk that survives anything: a journal per turn, atomic rewrites, recovery.

While a turn streams, every chunk is appended to `NAME.journal` beside the transcript with one
`write(2)` (so it is in the kernel before the next chunk is read, and a kill -9 cannot lose
it). When the turn ends the Markdown is rewritten atomically (a temporary file in the same
directory, fsync, rename over the old one, fsync of the directory) and then the journal is
removed. A crash at any moment therefore leaves the previous transcript whole and the partial
turn in the journal; the next start folds it in, marked interrupted. Each turn has an id, so a
crash between the rename and the journal's removal does not fold a turn in twice. A lock
(`NAME.lock`, held with flock while a chat has the transcript open, released by the kernel
when the process dies) keeps two chats from writing one transcript.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

from vibeforge.atomic import write_atomically
from vibeforge.client.terminal.transcript import Section, Transcript, parse, render

PRIVATE = 0o600  # a conversation is its user's alone


class TranscriptBusy(RuntimeError):
    """Another chat has this transcript open."""


def default_transcript_dir() -> Path:
    """Where transcripts live unless --transcript says otherwise (the user's data directory)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "vibeforge" / "transcripts"


class TranscriptFile:
    """One session's transcript, open for one chat."""

    def __init__(self, path: Path, meta: dict[str, Any]) -> None:
        self.path = path
        self.journal_path = path.with_name(path.name + ".journal")
        self.lock_path = path.with_name(path.name + ".lock")
        self.transcript = Transcript(meta)
        self._lock: int | None = None
        self._journal: int | None = None
        self._turn: dict[str, Any] | None = None
        self._chunks: list[str] = []

    def open(self) -> Section | None:
        """Take the lock, clear what a crash left, load the transcript and fold in an
        interrupted turn; returns the section it recovered, if any."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock)
            self._lock = None
            raise TranscriptBusy(f"{self.path} is open in another vibeforge chat") from None
        for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            stale.unlink(missing_ok=True)  # a rewrite cut off before its rename
        if self.path.exists():
            loaded = parse(self.path.read_text(encoding="utf-8"))
            self.transcript = Transcript({**loaded.meta, **self.transcript.meta}, loaded.sections)
        recovered = self._recover()
        if not self.path.exists():
            write_atomically(self.path, render(self.transcript), mode=PRIVATE)
        return recovered

    def close(self) -> None:
        """Release the lock (a turn still open stays in its journal)."""
        if self._journal is not None:
            os.close(self._journal)
            self._journal = None
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    # -- a turn ------------------------------------------------------------------------------

    def begin(self, turn: str, prompt: str, **meta: Any) -> None:
        """A turn starts: its prompt is on disk (fsynced) before it is sent."""
        self._turn = {"turn": turn, "prompt": prompt, **meta}
        self._chunks = []
        self._journal = os.open(
            self.journal_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600
        )
        self._append(self._turn)
        os.fsync(self._journal)

    def started(self, **run: Any) -> None:
        """The server accepted the turn: its run and message ids."""
        self._append({"run": run})

    def chunk(self, text: str) -> None:
        """A piece of the answer, in the kernel before this returns."""
        self._chunks.append(text)
        self._append({"c": text})

    def end(self, *sections: Section) -> None:
        """The turn ended: write it into the Markdown, atomically, then drop the journal."""
        self.transcript.sections.extend(sections)
        write_atomically(self.path, render(self.transcript), mode=PRIVATE)
        if self._journal is not None:
            os.close(self._journal)
            self._journal = None
        self.journal_path.unlink(missing_ok=True)
        self._turn = None

    def add(self, *sections: Section) -> None:
        """Sections outside a turn (a note, a diff asked for): one atomic rewrite."""
        self.transcript.sections.extend(sections)
        write_atomically(self.path, render(self.transcript), mode=PRIVATE)

    def _append(self, record: dict[str, Any]) -> None:
        assert self._journal is not None, "begin() first"
        os.write(self._journal, (json.dumps(record, ensure_ascii=False) + "\n").encode())

    # -- recovery ----------------------------------------------------------------------------

    def _recover(self) -> Section | None:
        if not self.journal_path.exists():
            return None
        records = read_journal(self.journal_path)
        recovered: Section | None = None
        if records and records[0].get("turn") and records[0]["turn"] not in self.transcript.turns():
            sections = interrupted_sections(records)
            self.transcript.sections.extend(sections)
            recovered = sections[-1]
            write_atomically(self.path, render(self.transcript), mode=PRIVATE)
        self.journal_path.unlink(missing_ok=True)
        return recovered


def read_journal(path: Path) -> list[dict[str, Any]]:
    """A journal's records, up to the first that a crash cut short."""
    records = []
    for line in path.read_bytes().split(b"\n"):
        try:
            record = json.loads(line)
        except ValueError:
            break
        if not isinstance(record, dict):
            break
        records.append(record)
    return records


def interrupted_sections(records: list[dict[str, Any]]) -> list[Section]:
    """The prompt and the partial answer of a turn its chat did not live to finish."""
    turn = records[0]
    run: dict[str, Any] = {}
    for record in records[1:]:
        if isinstance(record.get("run"), dict):
            run = record["run"]
    text = "".join(str(record["c"]) for record in records if "c" in record)
    common = {"turn": turn["turn"]}
    user = Section("user", str(turn.get("prompt", "")), {**common, "at": turn.get("at")})
    meta = {**common, "status": "interrupted", "model": run.get("model"), **run}
    meta["interrupted"] = "the chat stopped mid-turn; the server's copy: vibeforge export"
    return [user, Section("assistant", text, meta)]
