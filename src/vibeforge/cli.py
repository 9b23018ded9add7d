"""The `vibeforge` command: serve, db upgrade, users create, and the tools of other packages."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from vibeforge import __version__

if TYPE_CHECKING:
    import socket

    from vibeforge.config import Settings

T = TypeVar("T")
# Every command imports what it needs when it runs: `vibeforge --help` and `vibeforge chat`
# start fast because nothing here loads the settings, asyncio, the web stack or an SDK.


def _announce_storage(settings: Settings, command: str) -> bool:
    """Say (on stderr, so stdout stays parseable) which data directory and database a
    command uses, and whether it is about to create the directory. True if it exists."""
    exists = settings.resolved_data_dir.is_dir()
    print(f"vibeforge {command}: {settings.describe_storage()}", file=sys.stderr, flush=True)
    if not exists:
        print(
            f"vibeforge {command}: {settings.resolved_data_dir} does not exist; creating a new"
            " data directory (set VIBEFORGE_DATA_DIR to use another one)",
            file=sys.stderr,
            flush=True,
        )
    return exists


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to host:port and listening, before any start-up work: a port in use
    fails here, not after recovery ran and "ready" was announced."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from vibeforge.app import create_app
    from vibeforge.datadir import DataDirInUse, lock_data_dir
    from vibeforge.logs import configure_logging
    from vibeforge.serving import VibeforgeServer, settle_garbage_collector

    configure_logging(settings.log_level, json_lines=settings.log_json)
    host = args.host or settings.host
    port = args.port if args.port is not None else settings.port
    # The sign-in link printed at first start names the address actually served.
    settings = settings.model_copy(update={"host": host, "port": port})
    problem = settings.local_mode_problem()
    if problem is not None:
        print(f"vibeforge serve: error: {problem}", file=sys.stderr, flush=True)
        return 2
    print(f"vibeforge {__version__}: http://{host}:{port}", flush=True)
    _announce_storage(settings, "serve")
    try:
        # Before anything touches the directory: recovery must never run under a live server.
        lock = lock_data_dir(
            settings.ensure_data_dir(),
            settings.resolved_database_url,
            shared=settings.shares_data_dir,
        )
    except DataDirInUse as error:
        print(f"vibeforge serve: error: {error}", file=sys.stderr)
        return 1
    try:
        sock = _listen(host, port)
    except OSError as error:
        lock.release()
        print(f"vibeforge serve: error: cannot listen on {host}:{port}: {error}", file=sys.stderr)
        return 1
    app = create_app(settings)
    app.state.services.data_lock = lock
    settle_garbage_collector()
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        # Token chunks are tiny: compressing each frame costs more CPU than it saves bytes.
        ws_per_message_deflate=False,
    )
    server = VibeforgeServer(config, stop_runs=app.state.services.stop_runs)
    server.run(sockets=[sock])
    return 0 if server.started else 1


def _db_upgrade(_: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from vibeforge.db.engine import Database

    async def upgrade() -> None:
        db = Database(settings.resolved_database_url)
        try:
            await db.upgrade()
        finally:
            await db.dispose()

    _announce_storage(settings, "db upgrade")
    settings.ensure_data_dir()
    asyncio.run(upgrade())
    print("database is up to date")
    return 0


def _with_users(
    settings: Settings, work: Callable[[Any], Awaitable[T]], *, init: bool = False
) -> T | None:
    """Run `work(UserService)` on the migrated database, then close it; None (and nothing
    created) when there is no vibeforge database and `init` does not ask for one."""
    import asyncio

    from vibeforge.db.engine import Database
    from vibeforge.users.service import UserService

    async def run() -> T | None:
        db = Database(settings.resolved_database_url)
        try:
            if not init and not await db.has_schema():
                return None
            await db.upgrade()
            return await work(UserService(db))
        finally:
            await db.dispose()

    return asyncio.run(run())


def _no_database(settings: Settings, *, offer_init: bool = True) -> str:
    """Why a user command refuses to run where there is no vibeforge database."""
    return (
        f"error: there is no vibeforge database here ({settings.describe_storage()}): run"
        " this where the server runs (or set VIBEFORGE_DATA_DIR / VIBEFORGE_DATABASE_URL as"
        " it has them)"
        + (
            ", or pass --init to create a new database on purpose (a user made in a new one"
            " would belong to an empty database your server does not use)."
            if offer_init
            else "."
        )
    )


def _users_create(args: argparse.Namespace, settings: Settings) -> int:
    from vibeforge.errors import VibeforgeError

    async def create(users: Any) -> str:
        _, issued = await users.create(args.email, is_admin=args.admin)
        return str(issued.token)

    if args.init:
        _announce_storage(settings, "users create")
        settings.ensure_data_dir()
    else:
        print(f"vibeforge users create: {settings.describe_storage()}", file=sys.stderr)
        if not settings.database_exists():  # SQLite: no file; a server's is checked below
            print(_no_database(settings), file=sys.stderr)
            return 2
    try:
        token = _with_users(settings, create, init=args.init)
    except VibeforgeError as error:
        print(f"error: {error.detail}", file=sys.stderr)
        return 2
    if token is None:
        print(_no_database(settings), file=sys.stderr)
        return 2
    print(f"created user {args.email.strip().lower()}; its API token:")
    print(token)
    return 0


def _users_signin_link(args: argparse.Namespace, settings: Settings) -> int:
    from vibeforge.errors import VibeforgeError
    from vibeforge.users.signin import SigninCodes, signin_url

    async def find(users: Any) -> str:
        return str((await users.by_email(args.email)).id)

    print(f"vibeforge users signin-link: {settings.describe_storage()}", file=sys.stderr)
    try:
        user_id = _with_users(settings, find) if settings.database_exists() else None
    except VibeforgeError as error:
        print(f"error: {error.detail}", file=sys.stderr)
        return 2
    if user_id is None:
        print(_no_database(settings, offer_init=False), file=sys.stderr)
        return 2
    code = SigninCodes(settings.resolved_data_dir).create(user_id)
    print("open this link to sign in to the web client (works once, for 1 hour):")
    print(signin_url(settings.host, settings.port, code.code))
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


def _usage(rest: list[str]) -> int:
    from vibeforge.usage.cli import main as usage_main

    return usage_main(rest)


def _demo(_: argparse.Namespace, __: Settings) -> int:
    from vibeforge.demo import run_demo

    return run_demo()


# These tools parse their own options, --help included.
_PASS_THROUGH: dict[str, Callable[[list[str]], int]] = {
    "stub-llm": _stub_llm,
    "edit": _edit,
    "usage": _usage,
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
    create.add_argument(
        "--init",
        action="store_true",
        help="create the data directory and database if there is none (else refused)",
    )
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

    edit = commands.add_parser("edit", help="apply an LLM-written edit to a file", add_help=False)
    edit.add_argument(
        "rest", nargs=argparse.REMAINDER, help="apply FILE EDIT [--format F] [--in-place]"
    )

    usage = commands.add_parser(
        "usage",
        help="tokens and cost as a table or CSV; `usage export --duckdb FILE`",
        add_help=False,
    )
    usage.add_argument(
        "rest", nargs=argparse.REMAINDER, help="[--project P] [--by model|role|day] [--since DATE]"
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
        return _PASS_THROUGH[arguments[0]](arguments[1:])
    args = parser.parse_args(arguments)
    from vibeforge.config import Settings

    return int(args.handler(args, Settings()))


if __name__ == "__main__":
    sys.exit(main())
