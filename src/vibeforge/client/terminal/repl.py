"""The interactive loop of `vibeforge chat`: a multi-line prompt and the slash commands."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx

from vibeforge.client.errors import ClientError
from vibeforge.client.terminal.chat import Chat, ExitChat
from vibeforge.client.terminal.keys import Interrupts
from vibeforge.client.terminal.render import usage_text
from vibeforge.client.terminal.transcript import Section

PROMPT = "you› "
PREPARE_AFTER_S = 0.05
HELP = """\
/model [NAME]     list model configs, or use NAME from now on (`default`: the server's choice)
/mode code|chat   the coding pipeline (code) or one plain answer (chat)
/reset            clear the session's history (old messages stay readable, archived)
/diff             the last proposal's diff, or the newest version's
/accept, /reject  decide the pending proposal
/undo             revert the last version (as a new version)
/cost             tokens and cost of this session and its project
/quit             leave (so does Ctrl-D, or Ctrl-C at the prompt)
Enter sends; Esc Enter (or Alt-Enter) adds a line; a paste keeps its lines. While a run
streams, Esc or Ctrl-C cancels it on the server; a second Ctrl-C leaves."""


def _prompt_session() -> Any:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.key_binding import KeyBindings

    bindings = KeyBindings()

    # Ctrl-J sends too: text typed ahead while a run streams reaches the prompt through the
    # terminal's line discipline, which turns its Enter into a line feed.
    @bindings.add("enter")
    @bindings.add("c-j")
    def _send(event: Any) -> None:
        event.current_buffer.validate_and_handle()

    @bindings.add("escape", "enter")
    def _newline(event: Any) -> None:
        event.current_buffer.insert_text("\n")

    return PromptSession(multiline=True, key_bindings=bindings, prompt_continuation="   … ")


async def repl(chat: Chat) -> int:
    """Read and send messages until the user leaves."""
    session = _prompt_session()
    chat.banner()
    # Once the prompt is on screen, load the event side and follow the session while the
    # user types, so the first message starts streaming at once.
    loop = asyncio.get_running_loop()
    preparing: list[asyncio.Task[None]] = []

    async def prepare() -> None:
        with contextlib.suppress(Exception):  # the first message will say what is wrong
            await chat.client.prepare(chat.session["session_id"])

    loop.call_later(PREPARE_AFTER_S, lambda: preparing.append(loop.create_task(prepare())))
    while True:
        try:
            text: str = await session.prompt_async(PROMPT)
        except (EOFError, KeyboardInterrupt):
            return 0
        text = text.strip()
        if not text:
            continue
        try:
            if text.startswith("/"):
                if not await command(chat, text):
                    return 0
                continue
            await chat.turn(text, Interrupts())
        except ExitChat:
            return 130
        except (ClientError, httpx.HTTPError) as error:
            chat.log.line(f"failed: {error}", "red")
        chat.screen.end_line()


async def command(chat: Chat, text: str) -> bool:
    """Carry out a slash command; False to leave."""
    name, _, argument = text.partition(" ")
    argument = argument.strip()
    client, log = chat.client, chat.log
    project_id = chat.project["id"]
    match name:
        case "/quit" | "/exit" | "/q":
            return False
        case "/help":
            log.line(HELP)
        case "/model":
            await _model(chat, argument)
        case "/mode":
            if argument not in ("code", "chat"):
                log.line("/mode code or /mode chat", "red")
            else:
                chat.mode = argument
                log.line(f"mode {argument}", "dim")
        case "/reset":
            await client.clear_session(chat.session["session_id"])
            _note(chat, "the session's history was cleared (/reset)")
            log.line("history cleared", "yellow")
        case "/diff":
            await _diff(chat)
        case "/accept" | "/reject":
            await _decide(chat, name[1:], argument or chat.pending_proposal)
        case "/undo":
            versions = await client.list_versions(project_id, limit=2)
            if len(versions) < 2:
                log.line("nothing to undo", "yellow")
            else:
                written = await client.revert(project_id, versions[1]["id"])
                _note(chat, f"reverted {versions[0]['id'][:12]} (/undo)")
                log.line(f"reverted: version {written['version_id'][:12]}", "green")
        case "/cost":
            report = await client.usage(project_id)
            log.line(f"this session: {usage_text(chat.usage)}")
            log.line(f"this project: {usage_text(report.get('total'))}")
        case _:
            log.line(f"unknown command {name}; /help lists them", "red")
    return True


async def _model(chat: Chat, argument: str) -> None:
    if not argument:
        for config in await chat.client.list_models():
            mark = "*" if config["name"] == chat.model or config["id"] == chat.model else " "
            default = " (default)" if config.get("is_default") else ""
            chat.log.line(
                f"{mark} {config['name']}: {config['provider']} {config['model']}{default}"
            )
        chat.log.line(f"using: {chat.model or 'the default'}", "dim")
        return
    if argument == "default":
        chat.model = None
    else:
        chat.model = (await chat.client.get_model(argument))["name"]
    chat.log.line(f"model {chat.model or 'default'}", "dim")


async def _diff(chat: Chat) -> None:
    if chat.last_proposal:
        proposal = await chat.client.get_proposal(chat.last_proposal)
        chat.screen.diff(proposal["diff"])
        chat.log.line(f"proposal {proposal['id'][:12]} {proposal['status']}", "cyan")
        return
    versions = await chat.client.list_versions(chat.project["id"], limit=1)
    found = await chat.client.version_diff(chat.project["id"], versions[0]["id"])
    chat.screen.diff(found["diff"] or "(no changes)")


async def _decide(chat: Chat, verdict: str, proposal_id: str | None) -> None:
    if not proposal_id:
        chat.log.line("no pending proposal", "yellow")
        return
    if verdict == "accept":
        decided = await chat.client.accept_proposal(proposal_id)
    else:
        decided = await chat.client.reject_proposal(proposal_id)
    chat.pending_proposal = None
    version = f" as version {decided['version_id'][:12]}" if decided.get("version_id") else ""
    chat.log.line(f"proposal {proposal_id[:12]} {decided['status']}{version}", "green")
    _note(chat, f"proposal {proposal_id} {decided['status']} (/{verdict})")


def _note(chat: Chat, text: str) -> None:
    assert chat.store is not None
    chat.store.add(Section("note", text, {}))
