"""The application factory: `create_app(settings)` wires services, routes and start-up work."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import socketio
from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from vibeforge import __version__
from vibeforge.api import docs, websocket
from vibeforge.api.compat import (
    agent_api,
    persona_chat,
    persona_messages,
    persona_rest,
    workspace_chat,
    workspace_files,
    workspace_rest,
)
from vibeforge.api.compat.local import ensure_local_user
from vibeforge.api.errors import install_error_handlers
from vibeforge.api.middleware import RequestContextMiddleware
from vibeforge.api.openapi import install_openapi
from vibeforge.api.routes import (
    attachments,
    budgets,
    files,
    meta,
    models,
    modules,
    openai_compat,
    personas,
    projects,
    proposals,
    runs,
    sessions,
    signin,
    templates,
    tests,
    traces,
    usage,
    users,
    workspace,
)
from vibeforge.api.socketio import EngineIOFrames, build_socketio, stop_task
from vibeforge.api.web import mount_web_client
from vibeforge.config import Settings
from vibeforge.crypto import load_or_create_secret_key, write_private_file
from vibeforge.datadir import lock_data_dir
from vibeforge.db.engine import SQLITE_POOL_SIZE
from vibeforge.llm.factory import detect_default_model, warm_sdks
from vibeforge.llm.tls import shared_ssl_context
from vibeforge.services import Services
from vibeforge.users.signin import SigninCodes, signin_url

log = logging.getLogger("vibeforge")

HealthProbe = Callable[[], Awaitable[Any]]
# The routes whose bodies are files streamed to disk, with a cap of their own.
UPLOAD_PATHS = ("/attachments", "/projects/import", *workspace_files.UPLOAD_PATHS)


async def bootstrap_admin(services: Services) -> tuple[str, str | None] | None:
    """On the first start, create the admin user; return its id and its token if one was
    generated (None when the admin existed already)."""
    if await services.users.count() > 0:
        return None
    configured = services.settings.admin_token
    token = configured.get_secret_value() if configured else None
    user, issued = await services.users.create("admin@localhost", is_admin=True, token=token)
    if token is not None:
        log.info("created the admin user with the token from VIBEFORGE_ADMIN_TOKEN")
        return user.id, None
    path = services.settings.resolved_data_dir / "admin-token"
    write_private_file(path, issued.token + "\n")
    return user.id, issued.token


async def start_services(services: Services) -> None:
    """Everything that must happen before the first request: the data directory's lock,
    migrations, repair, recovery, bootstrap."""
    settings = services.settings
    data_dir = settings.ensure_data_dir()
    if services.data_lock is None:  # `vibeforge serve` took it already, before binding
        services.data_lock = lock_data_dir(
            data_dir, settings.resolved_database_url, shared=settings.shares_data_dir
        )
    await services.db.upgrade()
    await services.projects.reconcile()
    if services.db.dialect == "sqlite":
        await services.db.warm(SQLITE_POOL_SIZE)
    if services.cluster is not None:
        await services.cluster.start()
        # Other processes' runs are theirs while their leases live: only expired ones end.
        journals = settings.resolved_data_dir / "journal"
        recovered = await services.cluster.recover_at_start(journals)
        log.info("start-up recovery: %d runs of dead servers were closed", recovered)
    elif services.data_lock.alone:
        recovered = await services.runs.recover()
        log.info("start-up recovery: %d runs were cut off by the last stop", recovered)
        if await services.tests.recover():
            log.warning("test runs cut off by a stop were marked as errors")
        restarted = await services.attachments.recover()
        if restarted:
            log.warning("restarted %d attachment extractions that a stop cut off", restarted)
    else:
        # Other processes share the directory: leftover journals may be their live runs.
        log.warning("other servers share %s: start-up recovery skipped", data_dir)
    services.data_lock.after_recovery()
    secret = settings.openai_api_key
    default = await detect_default_model(
        settings.default_model, secret.get_secret_value() if secret else None, settings.ollama_host
    )
    services.models.set_default(default)
    await asyncio.to_thread(shared_ssl_context)  # loaded once, before any client needs it
    log.info("default model: %s (%s)", default.label, default.note)
    created = await bootstrap_admin(services)
    # After the admin's bootstrap, which happens only while there are no users at all.
    local = await ensure_local_user(services)
    if local is not None:
        print(
            f"vibeforge: local mode: requests without a token from this machine act as {local}",
            flush=True,
        )
    if created is None:
        return
    admin_id, token = created
    if token is not None:
        path = services.settings.resolved_data_dir / "admin-token"
        # Printed once, on purpose, so the person who started the server can log in.
        print(f"vibeforge: created user admin@localhost; its API token (also in {path}):")
        print(token, flush=True)
    # The web client's way in: a link that works once, for an hour, and holds no token.
    code = await asyncio.to_thread(SigninCodes(settings.resolved_data_dir).create, admin_id)
    link = signin_url(settings.host, settings.port, code.code)
    print(f"vibeforge: open {link} to sign in to the web client (works once, for 1 hour)")
    print("vibeforge: a new link: vibeforge users signin-link admin@localhost", flush=True)


async def _model_health(services: Services) -> dict[str, str]:
    spec = services.models.default_spec
    return {"default": spec.label, "provider": spec.provider, "why": spec.note}


async def _scale_health(services: Services) -> dict[str, object]:
    """One process alone, or one of several: the event bus and the run leases."""
    if services.cluster is None:
        return {"mode": "single", "status": "ok", "bus": {"backend": "in-process"}}
    return {"mode": "scaled_out", **services.cluster.state()}


async def _local_mode_health(settings: Settings) -> dict[str, object]:
    return {"enabled": bool(settings.local_user), "user": settings.local_user or None}


async def _sandbox_health() -> dict[str, object]:
    from vibeforge.sandbox import isolation_report

    report = await isolation_report()
    return {key: report[key] for key in ("mode", "protections", "runs_as") if key in report}


def create_app(settings: Settings) -> FastAPI:
    """A vibeforge ASGI application for `settings`."""
    problem = settings.local_mode_problem()
    if problem is not None:
        raise ValueError(problem)
    settings.ensure_data_dir()
    secret_key = load_or_create_secret_key(
        settings.secret_key.get_secret_value() if settings.secret_key else None,
        settings.resolved_data_dir,
    )
    services = Services.build(settings, secret_key)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await start_services(services)
        log.info(
            "vibeforge ready",
            extra={"version": __version__, "database": services.db.dialect},
        )
        # Probe the sandbox now, so the first /health or test run does not wait for it.
        sandbox_probe = asyncio.create_task(_sandbox_health(), name="sandbox-probe")
        warming = asyncio.create_task(
            warm_sdks(await services.models.providers_in_use()), name="warm-sdks"
        )
        app.state.warming = warming
        try:
            yield
        finally:
            await stop_task(warming)
            # Let the probe finish (it is bounded): cancelling it would orphan its subprocess.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sandbox_probe, timeout=30)
            await app.state.openai.drain()
            await services.close()

    app = FastAPI(
        title="vibeforge",
        version=__version__,
        description="A self-hostable server for AI code-editing agents.",
        lifespan=lifespan,
        docs_url=None,  # served by api/docs.py, with assets from the package instead of a CDN
        redoc_url=None,
    )
    install_openapi(app)
    app.state.services = services
    app.state.health_probes = {
        "model": lambda: _model_health(services),
        "sandbox": _sandbox_health,
        "scale": lambda: _scale_health(services),
        "local_mode": lambda: _local_mode_health(settings),
    }
    sio = build_socketio(services)
    app.state.sio = sio
    # Mounted at /socket.io; engine.io matches the full path, hence socketio_path.
    app.mount("/socket.io", EngineIOFrames(socketio.ASGIApp(sio, socketio_path="socket.io")))
    app.include_router(persona_chat.router)  # before any `/ws/{...}` route
    app.include_router(websocket.router)
    app.include_router(workspace_chat.router)  # `/ws/{chat_id}`: after `/ws/chat`
    app.include_router(docs.router)
    install_error_handlers(app)
    routes = (
        meta,
        users,
        signin,
        projects,
        files,
        models,
        sessions,
        runs,
        proposals,
        usage,
        budgets,
        traces,
        tests,
        personas,
        modules,
        templates,
        attachments,
        workspace,
        persona_rest,
        persona_messages,
        workspace_rest,
        workspace_files,
        agent_api,
    )
    for module in routes:
        app.include_router(module.router)
    openai = openai_compat.openai_app(services)
    app.state.openai = openai.state.endpoint
    app.mount("/v1", openai)
    mount_web_client(app)
    uploads = {path: settings.upload_body_bytes for path in UPLOAD_PATHS}
    app.add_middleware(
        RequestContextMiddleware, max_body_bytes=settings.max_body_bytes, body_limits=uploads
    )
    origins = settings.cors_origin_list
    if origins:  # outermost, so preflights are answered before anything else
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID"],
        )
    return app
