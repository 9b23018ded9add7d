"""`vibeforge chat`: one session in the terminal, its transcript kept on disk through anything.

A turn is journaled before it is sent and chunk by chunk as it streams (store.py); the
answer, its proposals and its usage are written into the Markdown transcript when it ends.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import httpx

from vibeforge.client.errors import ApiError, ClientError
from vibeforge.client.terminal.keys import Interrupts
from vibeforge.client.terminal.render import Screen, usage_text
from vibeforge.client.terminal.store import TranscriptFile, default_transcript_dir
from vibeforge.client.terminal.transcript import Section

if TYPE_CHECKING:
    from vibeforge.client.client import Client
    from vibeforge.client.run import Run
    from vibeforge.runs.protocol import Done, ProposalMade

DEFAULT_PROJECT = "scratch"


class ExitChat(Exception):
    """The user asked to leave (a second Ctrl-C, /quit)."""


@dataclass
class ChatOptions:
    """What the command line asked for."""

    project: str | None = None
    session: str | None = None
    node: str | None = None
    model: str | None = None
    mode: str | None = None
    params: dict[str, Any] | None = None
    json: bool = False
    message: str | None = None
    transcript: Path | None = None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _add_usage(total: dict[str, Any], usage: dict[str, Any] | None) -> None:
    for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
        total[name] = total.get(name, 0) + int((usage or {}).get(name) or 0)
    cost = (usage or {}).get("cost_usd")
    if cost is not None:
        total["cost_usd"] = (total.get("cost_usd") or 0.0) + cost


class Chat:
    """One session of one project, driven from the terminal."""

    def __init__(self, client: Client, options: ChatOptions, screen: Screen, log: Screen) -> None:
        self.client = client
        self.options = options
        self.screen = screen  # the answer
        self.log = log  # stages, usage, notes: stderr with -m, so stdout is the answer alone
        self.model = options.model
        self.mode = options.mode
        self.session: dict[str, Any] = {}
        self.project: dict[str, Any] = {}
        self.store: TranscriptFile | None = None
        self.usage: dict[str, Any] = {}  # the session's total so far
        self.pending_proposal: str | None = None
        self.last_proposal: str | None = None
        self.run_model: str | None = None  # the model label the last run reported

    # -- setting up --------------------------------------------------------------------------

    async def open(self) -> None:
        """Find the project and session, open the transcript and fold in an interrupted turn."""
        client, options = self.client, self.options
        if options.session:
            self.session = await client.get_session(options.session)
            self.project = await client.get_project(self.session["project_id"])
        else:
            self.project = await self._project(options.project or DEFAULT_PROJECT)
            self.session = await client.open_session(self.project["id"], options.node)
        path = options.transcript or default_transcript_dir() / f"{self.session['session_id']}.md"
        meta = {
            "session_id": self.session["session_id"],
            "project_id": self.project["id"],
            "project": self.project.get("name"),
            "node_id": self.session.get("node_id"),
        }
        self.store = TranscriptFile(path, meta)
        recovered = self.store.open()
        if recovered is not None:
            self.log.line(
                f"recovered an interrupted turn ({len(recovered.body)} characters) into {path}",
                "yellow",
            )
        for section in self.store.transcript.sections:
            if section.kind == "assistant":
                _add_usage(self.usage, section.meta.get("usage"))

    async def _project(self, ref: str) -> dict[str, Any]:
        projects = await self.client.list_projects()
        for project in projects:
            if ref in (project["id"], project["name"]):
                return project
        self.log.line(f"created project {ref!r}", "dim")
        return await self.client.create_project(ref)

    def close(self) -> None:
        """Release the transcript."""
        if self.store is not None:
            self.store.close()

    def banner(self) -> None:
        """Where the chat is, and how to leave it."""
        node = f" · {self.session['node_id']}" if self.session.get("node_id") else ""
        self.log.line(f"{self.project.get('name')}{node} · session {self.session['session_id']}")
        assert self.store is not None
        self.log.line(
            f"transcript {self.store.path} · Enter sends, Esc Enter adds a line, "
            "Esc or Ctrl-C stops a run, /help for commands",
            "dim",
        )

    # -- a turn ------------------------------------------------------------------------------

    async def turn(self, prompt: str, interrupts: Interrupts | None = None) -> Done | None:
        """Send one message and show its run; the outcome, or None if it was refused."""
        assert self.store is not None
        turn = uuid.uuid4().hex
        at = _now()
        self.store.begin(turn, prompt, at=at, mode=self.mode, model=self.model)
        try:
            run = await self.client.send(
                self.session["session_id"],
                prompt,
                model=self.model,
                params=self.options.params,
                mode=self.mode,
            )
        except (ClientError, httpx.HTTPError) as error:
            said = f"refused: {error}" if isinstance(error, ApiError) else f"not sent: {error}"
            self.log.line(said, "red")
            self.store.end(
                Section("user", prompt, {"turn": turn, "at": at}),
                Section("note", said, {"turn": turn}),
            )
            return None
        self.store.started(run_id=run.id, message_id=run.message_id)
        self.run_model = None
        interrupts = interrupts or Interrupts()
        diffs: list[Section] = []
        try:
            done = await self._follow(run, interrupts, diffs)
        except ExitChat:
            self.store.end(*self._sections(turn, at, prompt, run, None, diffs, "interrupted"))
            raise
        except ClientError as error:  # the connection was lost for good; the run may go on
            self.log.line(f"lost the run: {error}", "red")
            note = Section("note", f"lost the run: {error} (vibeforge export has it)", {})
            self.store.end(*self._sections(turn, at, prompt, run, None, diffs, "interrupted"), note)
            return None
        self.store.end(*self._sections(turn, at, prompt, run, done, diffs, done.status))
        return done

    async def _follow(self, run: Run, interrupts: Interrupts, diffs: list[Section]) -> Done:
        shown = asyncio.create_task(self._show(run, diffs))
        cancel = asyncio.create_task(interrupts.cancel.wait())
        leave = asyncio.create_task(interrupts.exit.wait())
        try:
            with interrupts.watching():
                while not shown.done():
                    await asyncio.wait({shown, cancel, leave}, return_when=asyncio.FIRST_COMPLETED)
                    if leave.done():
                        raise ExitChat
                    if cancel.done() and not shown.done():
                        cancel = asyncio.create_task(asyncio.Event().wait())  # once
                        self.log.line("cancelling…", "yellow")
                        try:
                            await run.cancel()
                        except Exception as error:  # the run may have ended meanwhile
                            self.log.line(f"cancel failed: {error}", "red")
        finally:
            for task in (cancel, leave):
                task.cancel()
            if not shown.done():
                shown.cancel()
        shown.result()
        return await run.result()

    async def _show(self, run: Run, diffs: list[Section]) -> None:
        # Loaded by now (the run came over the socket); imported here so the prompt need not.
        from vibeforge.runs.protocol import (
            Cancelled,
            ChatSessionStart,
            Chunk,
            CodeChanged,
            Done,
            Interrupted,
            ProposalMade,
            RunFailed,
            StageUpdate,
        )

        assert self.store is not None
        async for event in run:
            match event:
                case Chunk(content=content, thinking=thinking):
                    if thinking:
                        self.screen.text(thinking, "dim")
                    if content:
                        self.store.chunk(content)
                        self.screen.text(content)
                case ChatSessionStart(model=model):
                    self.run_model = model
                    self.store.started(model=model)
                    self.log.line(f"· {model}", "dim")
                case StageUpdate(stage=stage, status=status):
                    if status == "running":
                        self.log.line(f"· {stage}", "dim")
                    elif status == "failed":
                        self.log.line(f"· {stage} failed", "red")
                case ProposalMade():
                    self._proposal(event, diffs)
                case CodeChanged(version_id=version_id, files=files):
                    self.log.line(f"version {version_id[:12]}: {', '.join(files)}", "green")
                case RunFailed(code=code, detail=detail):
                    self.log.line(f"error {code}: {detail}", "red")
                case Cancelled():
                    self.log.line("cancelled", "yellow")
                case Interrupted():
                    self.log.line("interrupted: the server stopped", "yellow")
                case Done(token_usage=usage):
                    _add_usage(self.usage, usage)
                    self.log.line(
                        f"{event.status} · {usage_text(usage)} · session {usage_text(self.usage)}",
                        "dim",
                    )

    def _proposal(self, event: ProposalMade, diffs: list[Section]) -> None:
        self.screen.line()
        self.screen.diff(event.diff)
        self.last_proposal = event.proposal_id
        if event.status == "pending":
            self.pending_proposal = event.proposal_id
            hint = " (/accept or /reject)"
        else:
            hint = f" as version {event.version_id[:12]}" if event.version_id else ""
        self.log.line(f"proposal {event.proposal_id[:12]} {event.status}{hint}", "cyan")
        meta = {"proposal_id": event.proposal_id, "proposal_status": event.status}
        diffs.append(
            Section("diff", event.diff if event.diff.endswith("\n") else event.diff + "\n", meta)
        )

    def _sections(
        self,
        turn: str,
        at: str,
        prompt: str,
        run: Run,
        done: Done | None,
        diffs: list[Section],
        status: str,
    ) -> list[Section]:
        usage = (done.token_usage if done else run.usage) or {}
        meta = {
            "turn": turn,
            "status": status,
            "model": self.run_model or self.model,
            "run_id": run.id,
            "message_id": run.message_id,
            "tokens": usage.get("total_tokens"),
            "cost_usd": usage.get("cost_usd"),
            "usage": usage or None,
        }
        body = done.content if done is not None else run.content
        user = Section("user", prompt, {"turn": turn, "at": at})
        return [user, Section("assistant", body, meta), *diffs]


def print_envelope(out: TextIO) -> Any:
    """An `on_envelope` hook printing each event as one NDJSON line."""

    def write(run: Run, kind: str, seq: int, data: dict[str, Any]) -> None:
        out.write(json.dumps({"type": kind, "seq": seq, "data": data}, ensure_ascii=False) + "\n")
        out.flush()

    return write


async def send_lines(chat: Chat, lines: list[str] | None = None) -> int:
    """Non-interactive: send `-m TEXT`, or each line of stdin as it arrives (until its end);
    0 if every run succeeded."""
    failed = False
    pending = list(lines) if lines is not None else None
    while True:
        if pending is not None:
            if not pending:
                break
            prompt = pending.pop(0)
        else:
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line:
                break
            prompt = line.rstrip("\n")
        if not prompt.strip():
            continue
        try:
            done = await chat.turn(prompt)
        except ExitChat:
            return 130
        chat.screen.end_line()
        failed = failed or done is None or done.status not in ("success", "needs_input")
    return 1 if failed else 0
