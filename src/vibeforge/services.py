"""The services of one running server, built once at start-up and shared by every route."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vibeforge.agents.chat import ChatAgent
from vibeforge.agents.pipeline import CodingAgent
from vibeforge.attachments.extraction import Extractor, WorkerLimits
from vibeforge.attachments.service import AttachmentLimits, AttachmentService
from vibeforge.attachments.source import AttachmentContext
from vibeforge.attachments.store import AttachmentStore
from vibeforge.budgets import BudgetLedger, BudgetService
from vibeforge.budgets.ledger import Warning as BudgetWarningInfo
from vibeforge.budgets.webhooks import WebhookSender
from vibeforge.config import Settings
from vibeforge.crypto import SecretBox
from vibeforge.datadir import DataDirLock
from vibeforge.db.agent_tables import Proposal
from vibeforge.db.engine import Database
from vibeforge.db.tables import User
from vibeforge.modelconfigs.service import ModelConfigService
from vibeforge.projects.service import ProjectService
from vibeforge.prompting.run_hooks import PersonaRuns
from vibeforge.prompting.service import PromptingService
from vibeforge.proposals import ProposalService
from vibeforge.relay import Relay
from vibeforge.relay.unix import UnixRelayServer
from vibeforge.runs.bus import EventBus, InProcessBus
from vibeforge.runs.context import Agent, RunContext
from vibeforge.runs.protocol import BudgetWarning
from vibeforge.runs.registry import RunRegistry
from vibeforge.runs.store import RunStore
from vibeforge.runs.streams import Streams
from vibeforge.sessions.service import SessionService
from vibeforge.testcases.environments import Environments
from vibeforge.testcases.runner import TestRunner
from vibeforge.testcases.service import TestService
from vibeforge.traces import TraceStore
from vibeforge.users.service import UserService

if TYPE_CHECKING:
    from vibeforge.scale.cluster import Cluster

log = logging.getLogger("vibeforge")
# The longest a stopping server lets its sockets write the `interrupted` events it just sent
# (it goes on as soon as every client took its events; a slow client is not waited for).
STOP_DRAIN_S = 1.0
DRAIN_TICK_S = 0.01


@dataclass
class Services:
    """Everything a request handler may need; nothing here is a module-level global."""

    settings: Settings
    db: Database
    users: UserService
    projects: ProjectService
    secrets: SecretBox
    bus: EventBus
    streams: Streams
    models: ModelConfigService
    sessions: SessionService
    runs: RunRegistry
    proposals: ProposalService
    traces: TraceStore
    tests: TestService
    prompting: PromptingService
    attachments: AttachmentService
    budgets: BudgetService
    webhooks: WebhookSender
    data_lock: DataDirLock | None = None  # held from start-up to close (see datadir.py)
    cluster: Cluster | None = None  # scaled out (VIBEFORGE_REDIS_URL): Redis bus and leases
    _runs_stopped: bool = field(default=False, repr=False)

    @classmethod
    def build(cls, settings: Settings, secret_key: str) -> Services:
        """Wire the services for `settings`; no I/O happens here. Each agent gets exactly
        the services it uses."""
        db = Database(settings.resolved_database_url)
        box = SecretBox(secret_key)
        sessions = SessionService(db)
        store = RunStore(db, sessions)
        cluster = _cluster(settings, db, store)
        bus: EventBus = cluster.bus if cluster is not None else InProcessBus()
        streams = Streams(bus)
        models = ModelConfigService(db, box)
        ledger = BudgetLedger(db)
        models.budgets = ledger
        webhooks = WebhookSender()

        def warn(warning: BudgetWarningInfo) -> None:
            data = warning.as_dict()
            if warning.project_id is not None:
                streams.emit_project(warning.project_id, BudgetWarning(**data))
            if warning.webhook_url:
                secret = warning.webhook_secret_encrypted
                key = box.decrypt(secret) if secret else None
                webhooks.send_soon(warning.webhook_url, key, BudgetWarning.type, data)

        ledger.on_warning = warn
        projects = ProjectService(db, settings.projects_dir, settings.max_file_bytes)
        proposals = ProposalService(db, projects, streams.emit_project)
        traces = TraceStore(db)
        relay = Relay()
        runner = TestRunner(
            db,
            traces,
            relay,
            UnixRelayServer(relay),
            Environments(settings.resolved_test_env_dir, settings.test_pip_args),
            streams.emit_project,
            settings.test_concurrency,
        )
        tests = TestService(db, projects, models, runner)

        async def run_tests_on_apply(owner: User, proposal: Proposal) -> None:
            assert proposal.version_id is not None
            await tests.after_apply(
                owner, proposal.project_id, proposal.version_id, proposal.id, proposal.message_id
            )

        proposals.after_apply = run_tests_on_apply
        prompting = PromptingService(db, sessions, models, settings.resolved_data_dir)
        # A persona's template (with its modules) opens the system prompt of every agent.
        personas = PersonaRuns(db, prompting.personas, prompting.modules, prompting.hide_paths)
        attachments, context = _attachments(settings, db, streams)
        # The persona opens the system prompt; the session's attachments follow it.
        sources = (personas, context)
        chat = ChatAgent(projects=projects, traces=traces, sources=sources)
        coding = CodingAgent(
            projects=projects,
            proposals=proposals,
            traces=traces,
            db=db,
            chat=chat,
            sources=sources,
        )

        def agent_for(ctx: RunContext) -> Agent:
            # Messages run the coding pipeline unless they ask for plain chat (mode "chat",
            # or a prompt starting with /ask, which the pipeline hands to the chat agent).
            return chat if ctx.mode == "chat" else coding

        runs = RunRegistry(
            store,
            streams,
            models,
            sessions,
            settings.resolved_data_dir / "journal",
            agent_for,
            hooks=personas,
            admit=context.admit,
            coordinator=cluster,
        )
        if cluster is not None:
            cluster.registry = runs
            runner.leases = cluster.suites
            attachments.extractions.leases = cluster.extractions
            cluster.restart_extraction = attachments.extractions.start
            projects.cluster_lock = cluster.git_lock
        return cls(
            settings=settings,
            db=db,
            users=UserService(db),
            projects=projects,
            secrets=box,
            bus=bus,
            streams=streams,
            models=models,
            sessions=sessions,
            runs=runs,
            proposals=proposals,
            traces=traces,
            tests=tests,
            prompting=prompting,
            attachments=attachments,
            budgets=BudgetService(db, ledger, box),
            webhooks=webhooks,
            cluster=cluster,
        )

    async def stop_runs(self) -> None:
        """Interrupt every run, keeping its partial answer, and give the sockets a moment to
        send their clients the `interrupted` events (a slow client is not waited for)."""
        if self._runs_stopped:
            return
        self._runs_stopped = True
        log.warning("shutting down, %d runs interrupted", self.runs.active_count())
        if await self.runs.shutdown():
            await self._drain_clients()

    async def _drain_clients(self) -> None:
        """Wait until the clients have taken every queued event, at most STOP_DRAIN_S."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STOP_DRAIN_S
        await asyncio.sleep(DRAIN_TICK_S)  # events on their way (through Redis, say)
        # A count to poll, not an event to wait on: the bus has no "drained" signal to give.
        while self.streams.bus.backlog() and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(DRAIN_TICK_S)
        await asyncio.sleep(DRAIN_TICK_S)  # a pump writing the last event it took

    async def close(self) -> None:
        """Stop runs, release connections, then the data directory."""
        await self.stop_runs()
        if self.cluster is not None:
            await self.cluster.close()
        await self.tests.runner.close()
        await self.attachments.close()
        await self.budgets.ledger.drain()
        await self.webhooks.close()
        await self.db.dispose()
        if self.data_lock is not None:
            self.data_lock.release()
            self.data_lock = None


def _attachments(
    settings: Settings, db: Database, streams: Streams
) -> tuple[AttachmentService, AttachmentContext]:
    """The attachment service, and what runs see of it (admission and the prompt source)."""
    store = AttachmentStore(settings.attachments_dir)
    timeout = settings.attachment_extract_timeout_s
    limits = WorkerLimits(
        timeout_s=timeout,
        pdf_pages=settings.attachment_pdf_pages,
        image_pixels=settings.attachment_image_pixels,
    )
    service = AttachmentService(
        db,
        store,
        Extractor(limits, settings.attachment_workers),
        AttachmentLimits(
            max_bytes=settings.attachment_max_bytes,
            max_files=settings.attachment_max_files,
            user_bytes=settings.attachment_user_bytes,
        ),
        streams.bus,
    )
    # A run waits for extractions at most as long as one may take, and a little more.
    context = AttachmentContext(db, store, settings.attachment_context_tokens, timeout + 5)
    return service, context


def _cluster(settings: Settings, db: Database, store: RunStore) -> Cluster | None:
    """This process's part in a scale-out, when VIBEFORGE_REDIS_URL asks for one (redis is
    imported only then)."""
    if settings.redis_url is None:
        return None
    from vibeforge.scale.cluster import Cluster

    return Cluster(
        settings.redis_url.get_secret_value(),
        settings.redis_prefix,
        db,
        store,
        lease_ms=settings.lease_ms,
        heartbeat_ms=settings.heartbeat_ms,
    )
