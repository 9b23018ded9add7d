"""The `vibeforge` command: serve, db upgrade, users create, and the tools of other packages."""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from vibeforge import __version__
from vibeforge.config import Settings

T = TypeVar("T")


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from vibeforge.app import create_app
    from vibeforge.logs import configure_logging

    configure_logging(settings.log_level, json_lines=settings.log_json)
    host = args.host or settings.host
    port = args.port if args.port is not None else settings.port
    # The sign-in link printed at first start names the address actually served.
    settings = settings.model_copy(update={"host": host, "port": port})
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


def _with_users(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run `work(UserService)` on the migrated database, then close it."""
    from vibeforge.db.engine import Database
    from vibeforge.users.service import UserService

    async def run() -> T:
        db = Database(settings.resolved_database_url)
        try:
            await db.upgrade()
            return await work(UserService(db))
        finally:
            await db.dispose()

    settings.ensure_data_dir()
    return asyncio.run(run())


def _users_create(args: argparse.Namespace, settings: Settings) -> int:
    from vibeforge.errors import VibeforgeError

    async def create(users: Any) -> str:
        _, issued = await users.create(args.email, is_admin=args.admin)
        return issued.token

    try:
        token = _with_users(settings, create)
    except VibeforgeError as error:
        print(f"error: {error.detail}", file=sys.stderr)
        return 2
    print(f"created user {args.email.strip().lower()}; its API token:")
    print(token)
    return 0


def _users_signin_link(args: argparse.Namespace, settings: Settings) -> int:
    from vibeforge.errors import VibeforgeError
    from vibeforge.users.signin import SigninCodes, signin_url

    async def find(users: Any) -> str:
        return (await users.by_email(args.email)).id

    try:
        user_id = _with_users(settings, find)
    except VibeforgeError as error:
        print(f"error: {error.detail}", file=sys.stderr)
        return 2
    code = SigninCodes(settings.resolved_data_dir).create(user_id)
    print("open this link to sign in to the web client (works once, for 1 hour):")
    print(signin_url(settings.host, settings.port, code.code))
    return 0


def _stub_llm(args: argparse.Namespace, _: Settings) -> int:
    from vibeforge.llm.stub.cli import main as stub_main

    return stub_main(args.rest)


def _edit(args: argparse.Namespace, _: Settings) -> int:
    from vibeforge.edits.cli import main as edit_main

    return edit_main(args.rest)


def _demo(_: argparse.Namespace, __: Settings) -> int:
    from vibeforge.agents.demo import run_demo

    return run_demo()


_PASS_THROUGH = {"stub-llm": _stub_llm, "edit": _edit}


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
    link = users_commands.add_parser(
        "signin-link", help="print a one-time link that signs a user in to the web client"
    )
    link.add_argument("email", nargs="?", default="admin@localhost")
    link.set_defaults(handler=_users_signin_link)

    stub = commands.add_parser(
        "stub-llm",
        help="run the scriptable stub LLM server (OpenAI, Ollama, Anthropic)",
        add_help=False,
    )
    stub.add_argument("rest", nargs=argparse.REMAINDER, help="--host H --port N")
    stub.set_defaults(handler=_stub_llm)

    edit = commands.add_parser("edit", help="apply an LLM-written edit to a file", add_help=False)
    edit.add_argument(
        "rest", nargs=argparse.REMAINDER, help="apply FILE EDIT [--format F] [--in-place]"
    )
    edit.set_defaults(handler=_edit)

    demo = commands.add_parser("demo", help="run the coding pipeline offline, narrated")
    demo.set_defaults(handler=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `vibeforge` console script."""
    parser = build_parser()
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] in _PASS_THROUGH:
        # These tools parse their own options, --help included.
        args = argparse.Namespace(handler=_PASS_THROUGH[arguments[0]], rest=arguments[1:])
        return args.handler(args, Settings())
    args = parser.parse_args(arguments)
    return args.handler(args, Settings())


if __name__ == "__main__":
    sys.exit(main())
