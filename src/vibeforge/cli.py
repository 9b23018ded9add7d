"""The `vibeforge` command: serve, db upgrade, users create, and the tools of other packages."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from vibeforge import __version__

if TYPE_CHECKING:
    from vibeforge.config import Settings

# Every command imports what it needs when it runs: `vibeforge --help` and `vibeforge chat`
# start fast because nothing here loads the settings, asyncio, the web stack or an SDK.


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import gc

    import uvicorn

    from vibeforge.app import create_app
    from vibeforge.logs import configure_logging

    configure_logging(settings.log_level, json_lines=settings.log_json)
    host = args.host or settings.host
    port = args.port if args.port is not None else settings.port
    data_dir = settings.resolved_data_dir
    print(f"vibeforge {__version__}: http://{host}:{port} (data in {data_dir})", flush=True)
    app = create_app(settings)
    # Every module is loaded now and lives as long as the server: keep those objects out of
    # the cyclic collector's full passes, which otherwise stall the loop ~130 ms under load.
    gc.collect()
    gc.freeze()
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        # Token chunks are tiny: compressing each frame costs more CPU than it saves bytes.
        ws_per_message_deflate=False,
    )
    return 0


def _db_upgrade(_: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from vibeforge.db.engine import Database

    async def upgrade() -> None:
        db = Database(settings.resolved_database_url)
        try:
            await db.upgrade()
        finally:
            await db.dispose()

    settings.ensure_data_dir()
    asyncio.run(upgrade())
    print("database is up to date")
    return 0


def _users_create(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from vibeforge.db.engine import Database
    from vibeforge.errors import VibeforgeError
    from vibeforge.users.service import UserService

    async def create() -> str:
        db = Database(settings.resolved_database_url)
        try:
            await db.upgrade()
            _, issued = await UserService(db).create(args.email, is_admin=args.admin)
            return issued.token
        finally:
            await db.dispose()

    settings.ensure_data_dir()
    try:
        token = asyncio.run(create())
    except VibeforgeError as error:
        print(f"error: {error.detail}", file=sys.stderr)
        return 2
    print(f"created user {args.email.strip().lower()}; its API token:")
    print(token)
    return 0


def _stub_llm(rest: list[str]) -> int:
    from vibeforge.llm.stub.cli import main as stub_main

    return stub_main(rest)


def _edit(rest: list[str]) -> int:
    from vibeforge.edits.cli import main as edit_main

    return edit_main(rest)


def _client_command(name: str) -> Callable[[list[str]], int]:
    def run(rest: list[str]) -> int:
        from vibeforge.client.terminal.cli import main as terminal_main

        return terminal_main(name, rest)

    return run


def _demo(_: argparse.Namespace, __: Settings) -> int:
    from vibeforge.demo import run_demo

    return run_demo()


_PASS_THROUGH: dict[str, Callable[[list[str]], int]] = {
    "stub-llm": _stub_llm,
    "edit": _edit,
    **{name: _client_command(name) for name in ("chat", "resume", "export")},
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `vibeforge` command."""
    parser = argparse.ArgumentParser(prog="vibeforge", description=__doc__)
    parser.add_argument("--version", action="version", version=f"vibeforge {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="start the server")
    serve.add_argument("--host", default=None, help="default: VIBEFORGE_HOST or 127.0.0.1")
    serve.add_argument("--port", type=int, default=None, help="default: VIBEFORGE_PORT or 8000")
    serve.set_defaults(handler=_serve)

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="apply pending migrations").set_defaults(
        handler=_db_upgrade
    )

    users = commands.add_parser("users", help="manage users")
    users_commands = users.add_subparsers(dest="users_command", required=True)
    create = users_commands.add_parser("create", help="create a user and print its token")
    create.add_argument("email")
    create.add_argument("--admin", action="store_true", help="make the user an administrator")
    create.set_defaults(handler=_users_create)

    stub = commands.add_parser(
        "stub-llm",
        help="run the scriptable stub LLM server (OpenAI, Ollama, Anthropic)",
        add_help=False,
    )
    stub.add_argument("rest", nargs=argparse.REMAINDER, help="--host H --port N")

    edit = commands.add_parser("edit", help="apply an LLM-written edit to a file", add_help=False)
    edit.add_argument(
        "rest", nargs=argparse.REMAINDER, help="apply FILE EDIT [--format F] [--in-place]"
    )

    demo = commands.add_parser("demo", help="run the coding pipeline offline, narrated")
    demo.set_defaults(handler=_demo)

    # The terminal client's commands parse their own options (see `vibeforge chat --help`).
    for name, summary, usage in (
        ("chat", "chat with a project in the terminal", "[PROJECT] [--session S] [-m TEXT] ..."),
        ("resume", "list recent sessions and reopen one", "[N]"),
        ("export", "a session's transcript from the server", "SESSION [--format md|json]"),
    ):
        command = commands.add_parser(name, help=summary, add_help=False)
        command.add_argument("rest", nargs=argparse.REMAINDER, help=usage)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `vibeforge` console script."""
    parser = build_parser()
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] in _PASS_THROUGH:
        # These tools parse their own options, --help included.
        return _PASS_THROUGH[arguments[0]](arguments[1:])
    args = parser.parse_args(arguments)
    from vibeforge.config import Settings

    return int(args.handler(args, Settings()))


if __name__ == "__main__":
    sys.exit(main())
