"""The terminal client's commands: `vibeforge chat`, `vibeforge resume`, `vibeforge export`.

The server is `VIBEFORGE_URL` (default: this machine's `vibeforge serve` address), the token
`VIBEFORGE_TOKEN`, else the local server's `data/admin-token`. Modules are imported as each
command needs them, so the prompt appears before the event protocol has been loaded.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


class Refused(Exception):
    """A reason to stop before connecting (exit status 2)."""


class _Discard(io.StringIO):
    """A text stream that keeps nothing."""

    def write(self, text: str) -> int:
        return len(text)


def connection() -> tuple[str, str]:
    """The server's URL and the token to use there."""
    url = os.environ.get("VIBEFORGE_URL")
    token = os.environ.get("VIBEFORGE_TOKEN")
    if url and token:
        return url.rstrip("/"), token
    from vibeforge.config import Settings  # the server's own defaults, read only if needed

    settings = Settings()
    if not url:
        host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
        url = f"http://{host}:{settings.port}"
    if not token:
        path = settings.resolved_data_dir / "admin-token"
        try:
            token = path.read_text(encoding="utf-8").strip()
        except OSError:
            raise Refused(f"set VIBEFORGE_TOKEN (no {path} to read a token from)") from None
    return url.rstrip("/"), token


def _params(pairs: list[str]) -> dict[str, Any] | None:
    params: dict[str, Any] = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator:
            raise Refused(f"--param {pair!r}: write NAME=VALUE")
        try:
            params[name] = json.loads(value)  # numbers, lists, objects; else plain text
        except ValueError:
            params[name] = value
    return params or None


def chat_parser() -> argparse.ArgumentParser:
    """Options of `vibeforge chat`."""
    parser = argparse.ArgumentParser(
        prog="vibeforge chat", description="Chat with a project's session in the terminal."
    )
    parser.add_argument("project", nargs="?", help="project id or name (default: scratch)")
    parser.add_argument("--session", help="a session id (its project is used)")
    parser.add_argument("--node", help="the session about this file path or symbol")
    parser.add_argument("--model", help="a model config's name or id")
    parser.add_argument("--mode", choices=("code", "chat"), help="default: code")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("-m", "--message", help="send one message, print the answer, exit")
    parser.add_argument("--json", action="store_true", help="print the server's events as NDJSON")
    parser.add_argument("--transcript", type=Path, help="the Markdown transcript's path")
    return parser


async def _chat(args: argparse.Namespace) -> int:
    from vibeforge.client.client import Client
    from vibeforge.client.terminal.chat import Chat, ChatOptions, print_envelope, send_lines
    from vibeforge.client.terminal.render import Screen

    url, token = connection()
    options = ChatOptions(
        project=args.project,
        session=args.session,
        node=args.node,
        model=args.model,
        mode=args.mode,
        params=_params(args.param),
        json=args.json,
        message=args.message,
        transcript=args.transcript,
    )
    interactive = not args.json and args.message is None and sys.stdin.isatty()
    hook = print_envelope(sys.stdout) if args.json else None
    screen = Screen(_Discard() if args.json else sys.stdout)  # --json: stdout is NDJSON alone
    log = screen if interactive else Screen(sys.stderr)
    async with Client(url, token, on_envelope=hook) as client:
        chat = Chat(client, options, screen, log)
        await chat.open()
        try:
            if interactive:
                from vibeforge.client.terminal.repl import repl

                return await repl(chat)
            return await send_lines(chat, [args.message] if args.message is not None else None)
        finally:
            chat.close()


async def _export(args: argparse.Namespace) -> int:
    from vibeforge.atomic import write_atomically
    from vibeforge.client.rest import RestClient
    from vibeforge.client.terminal.sessions import export

    url, token = connection()
    client = RestClient(url, token)
    try:
        text = await export(client, args.session, args.format, args.include_archived)
    finally:
        await client.aclose()
    if args.output is None:
        sys.stdout.write(text)
    else:
        write_atomically(args.output, text)
    return 0


async def _recent() -> list[Any]:
    from vibeforge.client.rest import RestClient
    from vibeforge.client.terminal.sessions import recent_sessions

    url, token = connection()
    client = RestClient(url, token)
    try:
        return await recent_sessions(client)
    finally:
        await client.aclose()


def _resume(args: argparse.Namespace) -> int:
    recent = asyncio.run(_recent())
    if not recent:
        print("no sessions yet: start one with `vibeforge chat`")
        return 0
    for index, entry in enumerate(recent, 1):
        print(f"{index:>3}. {entry.project} · {entry.session_id} · {entry.summary}")
    choice = args.number
    if choice is None:
        if args.list or not sys.stdin.isatty():
            return 0
        answer = input("reopen which (number, Enter for none)? ").strip()
        if not answer:
            return 0
        choice = int(answer) if answer.isdigit() else 0
    if not 1 <= choice <= len(recent):
        raise Refused(f"no session number {choice}")
    picked = recent[choice - 1]
    chat = chat_parser().parse_args(["--session", picked.session_id])
    chat.transcript = picked.transcript
    return asyncio.run(_chat(chat))


def main(name: str, argv: Sequence[str]) -> int:
    """Run `vibeforge NAME ARGV...`."""
    import httpx

    from vibeforge.client.errors import ClientError
    from vibeforge.client.terminal.store import TranscriptBusy
    from vibeforge.client.terminal.transcript import TranscriptError

    if name == "chat":
        args = chat_parser().parse_args(argv)
        run = _chat
    elif name == "export":
        parser = argparse.ArgumentParser(
            prog="vibeforge export", description="A session's transcript, from the server."
        )
        parser.add_argument("session", help="the session id")
        parser.add_argument("--format", choices=("md", "json"), default="md")
        parser.add_argument("-o", "--output", type=Path, help="write here (atomically)")
        parser.add_argument("--include-archived", action="store_true")
        args = parser.parse_args(argv)
        run = _export
    else:
        parser = argparse.ArgumentParser(
            prog="vibeforge resume", description="List recent sessions and reopen one."
        )
        parser.add_argument("number", nargs="?", type=int, help="reopen this one")
        parser.add_argument("--list", action="store_true", help="only list them")
        args = parser.parse_args(argv)
    try:
        if name == "resume":
            return _resume(args)
        return asyncio.run(run(args))
    except (Refused, TranscriptBusy, TranscriptError) as error:
        print(f"vibeforge {name}: {error}", file=sys.stderr)
        return 2
    except ClientError as error:
        print(f"vibeforge {name}: {error}", file=sys.stderr)
        return 1
    except httpx.HTTPError as error:
        print(f"vibeforge {name}: cannot reach the server: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
