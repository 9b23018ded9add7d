"""`vibeforge export` (a transcript rebuilt from the server, the authority) and `vibeforge
resume` (recent sessions, from the transcripts on this machine and then the server)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vibeforge.client.rest import RestClient
from vibeforge.client.terminal.store import default_transcript_dir
from vibeforge.client.terminal.transcript import (
    Section,
    Transcript,
    TranscriptError,
    parse,
    render,
)


def transcript_of(
    session: dict[str, Any], project: dict[str, Any], messages: list[dict[str, Any]]
) -> Transcript:
    """The transcript of a session's stored messages."""
    meta = {
        "session_id": session["session_id"],
        "project_id": project["id"],
        "project": project.get("name"),
        "node_id": session.get("node_id"),
        "exported": True,
    }
    sections = []
    for message in messages:
        turn = message.get("run_id") or message["id"]
        if message["role"] == "user":
            sections.append(Section("user", message["content"], {"turn": turn}))
            continue
        usage = message.get("token_usage") or {}
        meta_of = {
            "turn": turn,
            "status": message["status"],
            "model": message.get("model"),
            "run_id": message.get("run_id"),
            "message_id": message["id"],
            "tokens": usage.get("total_tokens"),
            "cost_usd": usage.get("cost_usd"),
            "usage": usage or None,
        }
        if message.get("error"):
            meta_of["error"] = message["error"]
        if message.get("archived"):
            meta_of["archived"] = True
        sections.append(Section("assistant", message["content"], meta_of))
        diff = message.get("diff")
        if diff:
            body = diff if diff.endswith("\n") else diff + "\n"
            sections.append(Section("diff", body, {"turn": turn}))
    return Transcript(meta, sections)


async def export(client: RestClient, session_id: str, format: str, include_archived: bool) -> str:
    """A session as Markdown (`md`) or as its stored JSON (`json`)."""
    session = await client.get_session(session_id)
    project = await client.get_project(session["project_id"])
    messages = await client.messages(session_id, include_archived=include_archived)
    if format == "json":
        summary = {key: project[key] for key in ("id", "name")}
        document = {"session": session, "project": summary, "messages": messages}
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return render(transcript_of(session, project, messages))


@dataclass
class Recent:
    """A session one could reopen."""

    session_id: str
    project: str
    summary: str
    transcript: Path | None = None


def local_sessions(directory: Path | None = None) -> list[Recent]:
    """Sessions with a transcript on this machine, the most recently written first."""
    folder = directory or default_transcript_dir()
    if not folder.is_dir():
        return []
    found = []
    files = sorted(folder.glob("*.md"), key=lambda path: path.stat().st_mtime, reverse=True)
    for path in files:
        try:
            transcript = parse(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, TranscriptError):
            continue
        prompts = [s.body for s in transcript.sections if s.kind == "user"]
        last = prompts[-1].splitlines()[0][:60] if prompts and prompts[-1] else "(no messages)"
        session_id = str(transcript.meta.get("session_id", path.stem))
        project = str(transcript.meta.get("project") or transcript.meta.get("project_id"))
        found.append(Recent(session_id, project, f"{len(prompts)} turns · {last}", path))
    return found


async def recent_sessions(client: RestClient, limit: int = 20) -> list[Recent]:
    """This machine's sessions first, then the server's others, newest projects first."""
    recent = []
    for local in local_sessions()[:limit]:
        try:
            await client.get_session(local.session_id)  # of this server and this user
        except Exception:
            continue
        recent.append(local)
    known = {entry.session_id for entry in recent}
    for project in await client.list_projects():
        if len(recent) >= limit:
            break
        for session in await client.list_sessions(project["id"]):
            if session["session_id"] not in known:
                node = f" · {session['node_id']}" if session.get("node_id") else ""
                summary = f"{session['last_seq']} events{node}"
                recent.append(Recent(session["session_id"], project["name"], summary))
    return recent[:limit]
