"""The server's runtime: the store, the catalogue, the engine and the background loops
(schedules, takeover of orphaned runs, retention) that ``flowforge serve`` runs in one process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from flowforge import __version__
from flowforge.config import Settings
from flowforge.connectors import Registry, builtin_registry
from flowforge.connectors.sdk import Blob
from flowforge.credentials import Credentials
from flowforge.engine.frames import ExecutionFrame, ExecutionRecord
from flowforge.engine.local import ExecutionResult, LocalEngine, Progress
from flowforge.engine.validate import check
from flowforge.errors import DefinitionError, FlowForgeError
from flowforge.metrics import Metrics
from flowforge.model import Workflow, load_workflow
from flowforge.security.auth import Auth
from flowforge.security.ratelimit import WEBHOOK_POLICY, WEBHOOKS, Policy, RateLimiter, Strategy
from flowforge.store import (
    AuditLog,
    Conflict,
    ShareStore,
    SqlStore,
    TriggerSpec,
    WorkflowCatalog,
    WorkflowEntry,
)
from flowforge.triggers import Scheduler, trigger_specs
from flowforge.triggers.errors import fire_error_triggers, watches_failures

if TYPE_CHECKING:  # imported when the temporal backend is chosen: temporalio is slow to load
    from flowforge.engine.temporal import TemporalEngine

__all__ = ["EXAMPLES", "FrameHub", "Server"]

log = logging.getLogger("flowforge.server")

EXAMPLES = Path(__file__).with_name("examples")
WEBHOOK_CACHE_S = 1.0
LOGIN_GROUP = "login"  # the rate limit group of sign-in attempts, counted per client address
MAINTENANCE_S = 60.0
SCHEDULE_SYNC_S = 30.0


class FrameHub:
    """Wakes the streams that follow a run when this process writes one of its frames. Streams
    also poll the store, so runs driven by other processes are followed too."""

    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._progress: dict[str, dict[tuple[str, int | None], Progress]] = {}

    def frame(self, frame: ExecutionFrame) -> None:
        self._wake(frame.execution_id)

    def finished(self, record: ExecutionRecord, outcome: ExecutionResult) -> None:
        self._progress.pop(record.id, None)
        self._wake(record.id)

    def progress(self, update: Progress) -> None:
        """Keep the latest report of each step until the run ends, and wake its streams."""
        steps = self._progress.setdefault(update.execution_id, {})
        steps[(update.node_id, update.item)] = update
        self._wake(update.execution_id)

    def progress_of(self, execution_id: str) -> list[Progress]:
        """The latest progress report of each step of a run driven here."""
        return list(self._progress.get(execution_id, {}).values())

    def _wake(self, execution_id: str) -> None:
        for event in self._waiters.get(execution_id, ()):
            event.set()

    @contextlib.contextmanager
    def follow(self, execution_id: str) -> Any:
        """An event set whenever the run writes here; clear it after each wake."""
        event = asyncio.Event()
        self._waiters.setdefault(execution_id, set()).add(event)
        try:
            yield event
        finally:
            waiters = self._waiters.get(execution_id)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[execution_id]


class Server:
    """Everything ``flowforge serve`` runs; ``start`` and ``stop`` bracket its life."""

    def __init__(
        self,
        settings: Settings,
        *,
        database_url: str | None = None,
        registry: Registry | None = None,
        load_examples: bool | None = None,
    ) -> None:
        self.settings = settings
        self.database_url = settings.database(database_url)
        self.registry = registry or builtin_registry()
        self.load_examples = settings.load_examples if load_examples is None else load_examples
        self.metrics = Metrics()
        self.hub = FrameHub()
        self.started_at = time.monotonic()
        self.store: SqlStore
        self.catalog: WorkflowCatalog
        self.credentials: Credentials
        self.auth: Auth
        self.shares: ShareStore
        self.audit: AuditLog
        self.limiter = RateLimiter(
            settings.redis_url,
            group_policies={
                WEBHOOKS: WEBHOOK_POLICY,
                LOGIN_GROUP: Policy.parse(settings.login_limit),
            },
            strategy=cast(Strategy, settings.ratelimit_strategy),
        )
        self.engine: LocalEngine | TemporalEngine
        self._definitions: dict[str, Workflow] = {}
        self._hooks: dict[str, tuple[float, int, tuple[WorkflowEntry, TriggerSpec] | None]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self.scheduler: Scheduler

    # -- life

    async def start(self) -> None:
        """Open (and migrate) the database, load the examples on first start, resume the runs
        a previous process left, and start the background loops."""
        self.settings.home.mkdir(parents=True, exist_ok=True)
        self.store = await asyncio.to_thread(SqlStore, self.database_url)
        self.catalog = WorkflowCatalog(self.store)
        self.credentials = await asyncio.to_thread(Credentials, self.store, self.settings.home)
        self.shares = ShareStore(self.store)
        self.audit = AuditLog(self.store)
        self.auth = Auth(self.store, self.credentials, self.settings)
        await asyncio.to_thread(self.auth.open)
        await asyncio.to_thread(self.auth.bootstrap)
        self.metrics.watch_runs(self.store.count_executions)
        if self.settings.backend == "temporal":
            self.engine = await self._temporal_engine()
        else:
            self.engine = LocalEngine(
                self.store,
                self.registry,
                lease_ttl_s=self.settings.lease_ttl_s,
                metrics=self.metrics,
                confine_files=True,
                http_allow=self.settings.http_allow_list(),
                credentials=self.credentials,
            )
            await self.engine.__aenter__()
            self.engine.listeners.append(self.hub.frame)
            self.engine.finish_listeners.append(self.hub.finished)
            self.engine.progress_listeners.append(self.hub.progress)
            self.engine.finish_listeners.append(self._on_finished)
        if self.load_examples:
            await asyncio.to_thread(self._load_examples)
        self._tasks = [asyncio.create_task(self._maintain_auth(), name="flowforge-auth")]
        if isinstance(self.engine, LocalEngine):
            resumed = await self.engine.resume_all()
            if resumed:
                log.info("resumed %d run(s) left by a previous process", len(resumed))
            self.scheduler = Scheduler(self.catalog, self._start_records)
            self._tasks += [
                asyncio.create_task(self.scheduler.run(), name="flowforge-schedules"),
                asyncio.create_task(self._takeover(), name="flowforge-takeover"),
            ]
        else:
            self._tasks.append(
                asyncio.create_task(self._sync_schedules(), name="flowforge-schedules")
            )
        if self.settings.retention_days is not None:
            self._tasks.append(asyncio.create_task(self._retention(), name="flowforge-retention"))

    async def stop(self) -> None:
        """Stop the loops and the engine: running steps are cancelled, their frames flushed
        and their leases given up, so the next start (or another process) resumes them."""
        for task in [*self._tasks, *self._background]:
            task.cancel()
        for task in [*self._tasks, *self._background]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.engine.close()
        await asyncio.to_thread(self.auth.flush)
        self.limiter.close()
        await asyncio.to_thread(self.store.close)

    async def blob(self, blob_id: str) -> bytes:
        """The bytes of a stored blob (NotFound if absent)."""
        return await asyncio.to_thread(self.store.get_blob, blob_id)

    async def put_blob(self, data: bytes, media_type: str, name: str | None) -> Blob:
        """Keep uploaded bytes and give their reference."""
        return await asyncio.to_thread(self.store.put_blob, data, media_type, name)

    def background_alive(self) -> bool:
        """Whether the schedule, takeover and retention loops are all still running."""
        return bool(self._tasks) and not any(t.done() for t in self._tasks)

    def uptime_s(self) -> float:
        return time.monotonic() - self.started_at

    @property
    def version(self) -> str:
        return __version__

    # -- starting runs

    def definition(self, version_id: str) -> Workflow:
        """A stored version, one object per version id: the engine then checks and stores
        it once however many runs start from it."""
        workflow = self._definitions.get(version_id)
        if workflow is None:
            workflow = self.store.get_workflow_version(version_id)
            if len(self._definitions) >= 512:
                self._definitions.pop(next(iter(self._definitions)))
            self._definitions[version_id] = workflow
        return workflow

    async def webhook(self, path: str) -> tuple[WorkflowEntry, TriggerSpec] | None:
        """The active workflow and webhook node listening on a path, or None. Answers are
        kept for a second, and dropped at once when this process changes the catalogue: a
        change made by another server process sharing the database reaches this one within
        ``WEBHOOK_CACHE_S``."""
        now = time.monotonic()
        hit = self._hooks.get(path)
        if hit is not None and hit[0] > now and hit[1] == self.catalog.changes:
            return hit[2]
        changes = self.catalog.changes
        found = await asyncio.to_thread(self.catalog.webhook, path)
        if len(self._hooks) >= 1024:  # bounded, whatever paths callers try
            self._hooks.pop(next(iter(self._hooks)))
        self._hooks[path] = (now + WEBHOOK_CACHE_S, changes, found)
        return found

    async def start_run(
        self,
        entry: WorkflowEntry,
        input: Any,
        *,
        trigger_node: str | None = None,
        dedupe_key: str | None = None,
    ) -> str:
        """Start a run of a catalogue workflow at its current version; give its id.
        Raises Duplicate (naming the earlier run) when ``dedupe_key`` was used already."""
        workflow = self.definition(entry.version_id)
        return await self.engine.submit(
            workflow,
            input,
            source_path=entry.source_path,
            workflow_id=entry.id,
            trigger_node=trigger_node,
            dedupe_key=dedupe_key,
            org_id=entry.org_id,
        )

    async def _start_records(self, records: list[ExecutionRecord]) -> None:
        """Drive runs that a trigger created as PENDING rows."""
        assert isinstance(self.engine, LocalEngine)
        for record in records:
            await self.engine.resume(record.id)

    async def _temporal_engine(self) -> TemporalEngine:
        """The engine of the temporal backend: runs start on Temporal, workers drive them."""
        from flowforge.engine.temporal import TemporalEngine, connect

        try:
            client = await connect(self.settings)
        except RuntimeError as exc:
            raise FlowForgeError(
                f"cannot reach Temporal at {self.settings.temporal_address}: {exc}"
            ) from None
        return TemporalEngine(
            self.store,
            self.registry,
            client,
            task_queue=self.settings.temporal_task_queue,
            credentials=self.credentials,
            http_allow=self.settings.http_allow_list(),
        )

    async def _sync_schedules(self) -> None:
        """Keep a Temporal Schedule for every cron trigger of an active workflow: at once
        after a change of the catalogue here, and every ``SCHEDULE_SYNC_S`` (changes made by
        other API processes)."""
        from flowforge.engine.temporal import ScheduleSync, TemporalEngine

        assert isinstance(self.engine, TemporalEngine)
        sync = ScheduleSync(self.engine.client, self.catalog, self.settings.temporal_task_queue)
        seen = -1
        next_full = 0.0
        while True:
            now = time.monotonic()
            if self.catalog.changes != seen or now >= next_full:
                seen = self.catalog.changes
                next_full = now + SCHEDULE_SYNC_S
                try:
                    await sync.sync()
                except Exception:
                    log.exception("syncing Temporal Schedules failed")
            await asyncio.sleep(0.5)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run work in the background; ``stop`` cancels it."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- workflows

    def specs(self, workflow: Workflow) -> list[Any]:
        """Check a definition against the node types and read its triggers; DefinitionError
        listing every problem."""
        check(workflow, self.registry)
        return trigger_specs(workflow, datetime.now(UTC))

    # -- the error trigger

    def _on_finished(self, record: ExecutionRecord, outcome: ExecutionResult) -> None:
        if watches_failures(record, outcome.status):
            self.spawn(
                fire_error_triggers(
                    self.catalog, self.engine, record, outcome.status, outcome.error
                )
            )

    # -- background loops

    async def _takeover(self) -> None:
        """Resume runs whose owner died or whose lease expired (another server process that
        crashed, or runs created as PENDING by a process that stopped before driving them)."""
        assert isinstance(self.engine, LocalEngine)
        interval = max(1.0, self.settings.lease_ttl_s / 2)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.engine.resume_all()
            except Exception:
                log.exception("taking over orphaned runs failed")

    async def _maintain_auth(self) -> None:
        """Every minute: write API keys' last-use times, pick up signing keys another process
        added, and delete expired sessions, challenges and stale password failures."""
        while True:
            await asyncio.sleep(MAINTENANCE_S)
            try:
                await asyncio.to_thread(self._auth_chores)
            except Exception:
                log.exception("authentication upkeep failed")

    def _auth_chores(self) -> None:
        now = datetime.now(UTC)
        self.auth.flush()
        self.auth.reload_signing_keys()
        self.auth.refresh_store.delete_expired(now)
        self.auth.signatures.store.purge(now)
        self.auth.failures.prune(now - self.auth.passwords.policy.forget_after)

    async def _retention(self) -> None:
        """Delete finished runs older than the retention setting, in batches, every hour."""
        days = self.settings.retention_days
        assert days is not None
        while True:
            cutoff = datetime.now(UTC) - timedelta(days=days)
            try:
                total = 0
                while True:
                    pruned = await asyncio.to_thread(self.store.prune_executions, cutoff, 500)
                    total += pruned
                    if pruned < 500:
                        break
                if total:
                    log.info("retention: deleted %d run(s) finished before %s", total, cutoff)
            except Exception:
                log.exception("retention pruning failed")
            await asyncio.sleep(3600)

    # -- examples

    def _load_examples(self) -> None:
        """On the first start of a database, add the examples (webhook examples active)."""
        if self.catalog.get_meta("examples_loaded") or not EXAMPLES.is_dir():
            return
        loaded = 0
        for path in sorted(EXAMPLES.glob("*.yaml")):
            try:
                workflow = load_workflow(path)
                specs = self.specs(workflow)
                active = any(spec.kind == "webhook" for spec in specs)
                self.catalog.create(
                    workflow, active=active, trigger_specs=specs, source_path=str(path)
                )
                loaded += 1
            except Conflict as exc:  # another process sharing the database added it first
                log.debug("example %s not loaded: %s", path.name, exc)
            except DefinitionError as exc:
                log.warning("example %s not loaded: %s", path.name, exc)
        self.catalog.set_meta("examples_loaded", {"at": datetime.now(UTC).isoformat()})
        log.info("loaded %d example workflow(s) from %s", loaded, EXAMPLES)
