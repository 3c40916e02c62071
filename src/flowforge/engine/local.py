"""The local driver: runs workflows on asyncio, durably, in this process.

It feeds the pure scheduler (``plan.step``) events and carries out its commands: it runs steps
(retries with backoff and jitter, timeouts, blocking code in threads), journals a frame at every
ingress and egress, holds a lease on every run it drives and resumes runs whose owner died.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import random
import socket
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flowforge.connectors.sdk import (
    Action,
    ActionError,
    Context,
    CredentialSource,
    Emit,
    EnvCredentials,
    Park,
    Registry,
)
from flowforge.engine import plan
from flowforge.engine.frames import (
    DEFAULT_ORG,
    TERMINAL_EXECUTION_STATUSES,
    ExecutionFrame,
    ExecutionRecord,
    ExecutionStatus,
    ExecutionUpdate,
    FrameStatus,
)
from flowforge.engine.journal import Journal
from flowforge.engine.runs import (
    KEEP_INPUT,
    MAX_SUBWORKFLOW_DEPTH,
    jsonable_input,
    new_run,
    rerun_from,
    rerun_record,
    resolve_workflow,
    start_event,
)
from flowforge.engine.steps import Secrets, StepFailure, Steps
from flowforge.engine.validate import check
from flowforge.errors import DefinitionError, FlowForgeError
from flowforge.model import MAIN_PORT, Node, Workflow
from flowforge.store import ExecutionStore

__all__ = [
    "KEEP_INPUT",
    "MAX_SUBWORKFLOW_DEPTH",
    "EngineMetrics",
    "ExecutionResult",
    "LocalEngine",
    "Progress",
    "owner_gone",
]

log = logging.getLogger("flowforge.engine")

_HOST = socket.gethostname()


def _now() -> datetime:
    return datetime.now(UTC)


def owner_gone(owner: str) -> bool:
    """True when a lease owner is a process on this host that no longer exists."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != _HOST or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] == "Z"


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    """How a run ended."""

    execution_id: str
    status: ExecutionStatus
    result: Any = None
    error: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status == ExecutionStatus.COMPLETED


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a running step says it has come (``ctx.progress``); not journaled."""

    execution_id: str
    node_id: str
    item: int | None
    done: float
    total: float | None
    message: str | None


class EngineMetrics:
    """Where the engine reports runs and steps; the server counts them for ``/metrics``."""

    def started(self, record: ExecutionRecord) -> None:
        """A run started (or a run created by a trigger was picked up)."""

    def finished(self, record: ExecutionRecord, outcome: ExecutionResult) -> None:
        """A run reached its outcome."""

    def step(self, node_type: str, status: FrameStatus, duration_ms: float) -> None:
        """An attempt of a step ended."""


class _Run:
    """One execution driven by this engine."""

    def __init__(
        self,
        engine: LocalEngine,
        record: ExecutionRecord,
        graph: plan.Graph,
        token: int,
        seq: int = 0,
    ) -> None:
        self.engine = engine
        self.record = record
        self.graph = graph
        self.token = token
        self.seq = seq
        self.state = plan.new_state(graph)
        self.tasks: dict[tuple[str, int | None], asyncio.Task[None]] = {}
        self.parked: dict[tuple[str, int | None], datetime] = {}
        self.history: dict[tuple[str, int | None], tuple[int, int]] = {}  # attempt, failures
        self.waiting: dict[tuple[str, int | None], ExecutionFrame] = {}
        self.done: asyncio.Future[ExecutionResult] = asyncio.get_running_loop().create_future()
        self.finishing = False
        self.abandoned = False
        # the values of the credentials its steps were given: never journaled (not resumed
        # either: after a restart, outputs that held them are read back redacted)
        self.secrets = Secrets()
        self.finisher: asyncio.Task[None] | None = None

    @property
    def id(self) -> str:
        return self.record.id

    # -- journal

    def frame(self, node: str, status: FrameStatus, **fields: Any) -> ExecutionFrame:
        self.seq += 1
        if self.secrets.values:
            for name in ("input", "output", "error"):
                if name in fields:
                    fields[name] = self.secrets.redactor.redact(fields[name])
        frame = ExecutionFrame(
            self.id, self.seq, node, status, fields.pop("started_at", None) or _now(), **fields
        )
        self.engine.journal.append(self.id, self.token, frame)
        for listener in self.engine.listeners:
            listener(frame)
        return frame

    def update(self, update: ExecutionUpdate) -> None:
        self.engine.journal.append(self.id, self.token, update=update)

    def _progress_reporter(
        self, command: plan.RunNode
    ) -> Callable[[float, float | None, str | None], None]:
        """``ctx.progress`` for a step: handed to the listeners on the loop, from any thread."""
        loop = asyncio.get_running_loop()

        def report(done: float, total: float | None, message: str | None) -> None:
            update = Progress(self.id, command.node, command.item, done, total, message)
            for listener in self.engine.progress_listeners:
                loop.call_soon_threadsafe(listener, update)

        return report

    # -- scheduler

    def apply(self, event: plan.Event) -> None:
        try:
            self.state, commands = plan.step(self.graph, self.state, event)
        except Exception as exc:  # a scheduler fault: the state may be half changed; stop here
            log.exception("execution %s: scheduler error on %r", self.id, event)
            if self.finishing:
                return
            error = {
                "message": f"internal error: {type(exc).__name__}: {exc}",
                "type": "InternalError",
            }
            commands = [plan.FinishRun(ExecutionStatus.FAILED, error=error)]
        self.execute(commands)

    def execute(self, commands: list[plan.Command]) -> None:
        for command in commands:
            if isinstance(command, plan.RunNode):
                key = (command.node, command.item)
                self.tasks[key] = asyncio.create_task(self.step(command), name=f"{self.id}:{key}")
            elif isinstance(command, plan.SkipNode):
                self.frame(command.node, FrameStatus.SKIPPED)
            elif isinstance(command, plan.StopNode):
                for key, task in self.tasks.items():
                    if key[0] == command.node:
                        task.cancel()
            elif isinstance(command, plan.FinishRun):
                self.finishing = True
                self.finisher = asyncio.create_task(self.finish(command), name=f"{self.id}:finish")

    async def finish(self, command: plan.FinishRun) -> None:
        current = asyncio.current_task()
        running = [t for t in self.tasks.values() if t is not current and not t.done()]
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        # the outcome, and the lease given up, in the transaction after the last frames
        if self.secrets.values:
            redact = self.secrets.redactor.redact
            command = dataclasses.replace(
                command, result=redact(command.result), error=redact(command.error)
            )
        self.update(
            {
                "status": command.status,
                "result": command.result,
                "error": command.error,
                "finished_at": _now(),
                "wake_at": None,
                "lease_owner": None,
                "lease_expires_at": None,
            }
        )
        await self.engine.journal.flush()
        self.engine.forget(self)
        outcome = ExecutionResult(self.id, command.status, command.result, command.error)
        if not self.done.done():
            self.done.set_result(outcome)
        self.engine.metrics.finished(self.record, outcome)
        for listener in self.engine.finish_listeners:
            try:
                listener(self.record, outcome)
            except Exception:  # a listener's fault must not undo a recorded outcome
                log.exception("execution %s: finish listener failed", self.id)

    def abandon(self, reason: str) -> None:
        """Stop driving this run without recording an outcome: it is no longer ours."""
        self.finishing = self.abandoned = True
        for task in self.tasks.values():
            task.cancel()
        self.engine.forget(self)
        if not self.done.done():
            self.done.set_exception(FlowForgeError(f"execution {self.id}: {reason}"))
            self.done.exception()  # retrieved: nobody may be waiting for this run

    # -- steps

    async def step(self, command: plan.RunNode) -> None:
        key = (command.node, command.item)
        try:
            await self._step(command)
        except asyncio.CancelledError:
            if not self.abandoned:  # stopped by the run itself, not handed over to another owner
                attempt = self.history.get(key, (0, 0))[0]
                self.frame(command.node, FrameStatus.CANCELLED, attempt=attempt, item=command.item)
        except Exception as exc:  # a fault of the engine itself: fail the node, never hang the run
            log.exception("execution %s: node %s: internal error", self.id, command.node)
            attempt = self.history.get(key, (0, 0))[0]
            message = f"internal error: {type(exc).__name__}: {exc}"
            error = {"message": message, "type": "InternalError"}
            self.frame(
                command.node, FrameStatus.FAILED, attempt=attempt, item=command.item, error=error
            )
            self.apply(
                plan.NodeFailed(command.node, message, "InternalError", attempt, command.item)
            )
        finally:
            self.tasks.pop(key, None)
            self.parked.pop(key, None)

    async def _step(self, command: plan.RunNode) -> None:
        key = (command.node, command.item)
        node = self.graph.nodes[self.graph.index[command.node]]
        action = self.engine.registry.get(node.type)
        assert action is not None  # the graph was checked against this registry
        waiting = self.waiting.pop(key, None)
        if waiting is not None and waiting.wake_at is not None:  # parked before a restart
            await self.park(
                command,
                waiting.attempt,
                waiting.started_at,
                waiting.wake_at,
                waiting.output,
                resumed=True,
            )
            return
        attempt, failures = self.history.get(key, (0, 0))
        policy = node.retry
        max_attempts = policy.max_attempts if policy else 1
        while True:
            attempt += 1
            self.history[key] = (attempt, failures)
            started = _now()
            self.frame(
                command.node,
                FrameStatus.STARTED,
                started_at=started,
                attempt=attempt,
                item=command.item,
                input=command.input,
            )
            try:
                result = await self.call(action, node, command, attempt, started)
            except StepFailure as failure:
                failures += 1
                self.history[key] = (attempt, failures)
                error = {"message": failure.message, "type": failure.type}
                if failure.retryable and failures < max_attempts and policy is not None:
                    self.egress(command, FrameStatus.RETRYING, attempt, started, error=error)
                    await asyncio.sleep(policy.delay(failures, self.engine.rand.random()))
                    continue
                self.egress(command, FrameStatus.FAILED, attempt, started, error=error)
                self.apply(
                    plan.NodeFailed(
                        command.node, failure.message, failure.type, attempt, command.item
                    )
                )
                return
            if isinstance(result, Park):
                await self.park(command, attempt, started, result.until, result.output)
                return
            port = MAIN_PORT
            if isinstance(result, Emit):
                result, port = result.output, result.port
            self.egress(command, FrameStatus.COMPLETED, attempt, started, port=port, output=result)
            self.apply(plan.NodeSucceeded(command.node, result, port, command.item))
            return

    def egress(
        self,
        command: plan.RunNode,
        status: FrameStatus,
        attempt: int,
        started: datetime,
        **fields: Any,
    ) -> None:
        """The frame that ends an attempt, with its timing."""
        ended = _now()
        duration_ms = (ended - started).total_seconds() * 1000
        self.frame(
            command.node,
            status,
            started_at=started,
            attempt=attempt,
            item=command.item,
            ended_at=ended,
            duration_ms=duration_ms,
            **fields,
        )
        node_type = self.graph.nodes[self.graph.index[command.node]].type
        self.engine.metrics.step(node_type, status, duration_ms)

    async def call(
        self,
        action: Action,
        node: Node,
        command: plan.RunNode,
        attempt: int,
        started: datetime,
    ) -> Any:
        """Render the parameters, validate them and run the handler once."""
        scope = dict(command.scope)
        scope["execution"] = {**self.state.execution, "attempt": attempt}
        ctx = Context(
            execution_id=self.id,
            workflow_name=self.record.workflow_name,
            node_id=command.node,
            node_type=action.type,
            attempt=attempt,
            started_at=started,
            input=command.input,
            inputs=command.inputs,
            trigger=self.state.trigger,
            item=scope.get("item"),
            index=command.item,
            runtime=self.engine,
            blobs=self.engine.store,
            http_allow=self.engine.http_allow,
        )
        if self.engine.progress_listeners:
            ctx.on_progress = self._progress_reporter(command)
        steps = self.engine.steps
        params, self.secrets = await steps.prepare(
            action, node, ctx, scope, self.record.org_id, self.secrets
        )
        return await steps.execute(action, node, params, ctx, self.secrets)

    async def park(
        self,
        command: plan.RunNode,
        attempt: int,
        started: datetime,
        until: datetime,
        output: Any,
        *,
        resumed: bool = False,
    ) -> None:
        """Wait until ``until`` (the run is WAITING while nothing else runs), then complete."""
        key = (command.node, command.item)
        if not resumed:
            self.frame(
                command.node,
                FrameStatus.WAITING,
                started_at=started,
                attempt=attempt,
                item=command.item,
                output=output,
                wake_at=until,
            )
        self.parked[key] = until
        self._sync_waiting()
        delay = (until - _now()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)
        self.parked.pop(key, None)
        self._sync_waiting()
        self.egress(command, FrameStatus.COMPLETED, attempt, started, port=MAIN_PORT, output=output)
        self.apply(plan.NodeSucceeded(command.node, output, MAIN_PORT, command.item))

    def _sync_waiting(self) -> None:
        """WAITING while every live step is parked; RUNNING otherwise."""
        live = [k for k, t in self.tasks.items() if not t.done()]
        all_parked = bool(live) and all(k in self.parked for k in live)
        status = ExecutionStatus.WAITING if all_parked else ExecutionStatus.RUNNING
        if status != self.record.status and not self.finishing:
            self.record.status = status
            wake = min(self.parked.values()) if all_parked else None
            self.update({"status": status, "wake_at": wake})


class LocalEngine:
    """Drives runs on this process's event loop. Use as ``async with LocalEngine(store) as e``."""

    def __init__(
        self,
        store: ExecutionStore,
        registry: Registry,
        *,
        lease_ttl_s: float = 30.0,
        max_threads: int | None = None,
        seed: int | None = None,
        metrics: EngineMetrics | None = None,
        confine_files: bool = False,
        credentials: CredentialSource | None = None,
        http_allow: Sequence[str] = (),
    ) -> None:
        """``confine_files`` (the server sets it): a sub-workflow file must lie in the folder
        of the file its caller came from, and a workflow that came from no file (one sent to
        the API) can call stored versions only. Without it, files resolve like the CLI's
        paths do: relative to the caller's file or the working folder."""
        self.store = store
        self.confine_files = confine_files
        self.credentials = credentials if credentials is not None else EnvCredentials()
        self.http_allow = tuple(http_allow)
        self.registry = registry
        self.lease_ttl = timedelta(seconds=lease_ttl_s)
        self.owner = f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self.rand = random.Random(seed)
        self.listeners: list[Callable[[ExecutionFrame], None]] = []
        self.finish_listeners: list[Callable[[ExecutionRecord, ExecutionResult], None]] = []
        self.progress_listeners: list[Callable[[Progress], None]] = []
        self.metrics: EngineMetrics = metrics or EngineMetrics()
        self._runs: dict[str, _Run] = {}
        self._prepared: dict[int, tuple[Workflow, plan.Graph, str]] = {}
        self.steps = Steps(
            registry, self.credentials, store, http_allow=self.http_allow, max_threads=max_threads
        )
        self._heartbeat: asyncio.Task[None] | None = None
        self.journal = Journal(store, self._on_write_failure)

    async def __aenter__(self) -> LocalEngine:
        self._heartbeat = asyncio.create_task(self._beat(), name="flowforge-heartbeat")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop: running steps are cancelled, frames flushed, leases released for takeover."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        runs = list(self._runs.values())
        for run in runs:
            run.abandon("the engine stopped")
            for task in list(run.tasks.values()):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        await self.journal.flush()
        for run in runs:
            await self.journal.call(self.store.release_lease, run.id, run.token)
        self.journal.close()
        self.steps.close()

    # -- public API

    async def submit(
        self,
        workflow: Workflow,
        input: Any = None,
        *,
        source_path: str | None = None,
        parent: tuple[str, str, int] | None = None,
        workflow_id: str | None = None,
        trigger_node: str | None = None,
        dedupe_key: str | None = None,
        org_id: str = DEFAULT_ORG,
    ) -> str:
        """Start a run and give its id at once; the run is durable when this returns.

        ``trigger_node`` names the trigger that fired (other triggers are skipped);
        ``dedupe_key`` makes the start idempotent: a second start with the same key raises
        ``Duplicate`` naming the first run, and starts nothing. ``org_id`` is the organisation
        the run belongs to (a sub-workflow run belongs to its parent's).
        """
        graph, version_id = await self._prepare(workflow, source_path)
        if trigger_node is not None and trigger_node not in graph.index:
            raise FlowForgeError(f"trigger_node: the workflow has no node {trigger_node!r}")
        now = _now()
        record = new_run(
            workflow.name,
            version_id,
            jsonable_input(input),
            id=str(uuid.uuid4()),
            now=now,
            parent=parent,
            source_path=source_path,
            lease_owner=self.owner,
            lease_expires_at=now + self.lease_ttl,
            lease_token=1,
            workflow_id=workflow_id,
            trigger_node=trigger_node,
            dedupe_key=dedupe_key,
            org_id=org_id,
        )
        await self.journal.create(record)
        run = _Run(self, record, graph, token=1)
        self._runs[record.id] = run
        self.metrics.started(record)
        run.apply(start_event(record))
        return record.id

    async def rerun(
        self, execution_id: str, from_node: str | None = None, input: Any = KEEP_INPUT
    ) -> str:
        """Start a new run of the same version and input that keeps the journal of every step
        ``from_node`` does not lead to, and runs the rest again; give its id.

        Without ``from_node`` it retries a failed run from the node that failed it (or from
        the start when no node did). ``input`` replaces the input ``from_node`` receives.
        Completed steps are copied, not re-run: their frames are the new run's first frames.
        """
        old = await self.journal.call(self.store.get_execution, execution_id)
        from_node = rerun_from(old, from_node)
        workflow = await self.journal.call(self.store.get_workflow_version, old.workflow_version_id)
        graph = check(workflow, self.registry, old.source_path)
        frames = await self.journal.call(self.store.get_frames, execution_id)
        now = _now()
        record, seed = rerun_record(
            old,
            workflow,
            graph,
            frames,
            from_node,
            input,
            id=str(uuid.uuid4()),
            now=now,
            lease_owner=self.owner,
            lease_expires_at=now + self.lease_ttl,
            lease_token=1,
        )
        await self.journal.create(record, seed)
        self.metrics.started(record)
        self._drive(record, 1, seed, graph)
        return record.id

    async def _prepare(self, workflow: Workflow, source_path: str | None) -> tuple[plan.Graph, str]:
        """The checked graph and stored version of a definition, cached for the same object:
        submitting one workflow many times validates and stores it once."""
        cached = self._prepared.get(id(workflow))
        if cached is not None and cached[0] is workflow:
            return cached[1], cached[2]
        graph = check(workflow, self.registry, source_path)
        version_id = await self.journal.call(self.store.put_workflow_version, workflow)
        if len(self._prepared) >= 256:
            self._prepared.pop(next(iter(self._prepared)))
        self._prepared[id(workflow)] = (workflow, graph, version_id)
        return graph, version_id

    async def run(
        self, workflow: Workflow, input: Any = None, *, source_path: str | None = None
    ) -> ExecutionResult:
        """Run a workflow to its end and give the outcome."""
        return await self.wait(await self.submit(workflow, input, source_path=source_path))

    async def wait(self, execution_id: str) -> ExecutionResult:
        """The outcome of a run, once it has one (driven here, or already finished)."""
        run = self._runs.get(execution_id)
        if run is not None:
            return await asyncio.shield(run.done)
        record = await self.journal.call(self.store.get_execution, execution_id)
        if record.status not in TERMINAL_EXECUTION_STATUSES:
            raise FlowForgeError(f"execution {execution_id} is {record.status} and not driven here")
        return ExecutionResult(record.id, record.status, record.result, record.error)

    async def cancel(self, execution_id: str, reason: str = "cancelled by request") -> None:
        """Cancel a run driven here now, or ask its owner to through the store."""
        run = self._runs.get(execution_id)
        if run is not None:
            run.apply(plan.Cancel(reason))
            return
        await self.journal.call(self.store.request_cancel, execution_id)

    async def resume(self, execution_id: str) -> bool:
        """Take over an unfinished run whose owner is gone; False if someone else holds it."""
        if execution_id in self._runs:
            return True
        now = _now()
        token = await self.journal.call(
            self.store.acquire_lease,
            execution_id,
            self.owner,
            now + self.lease_ttl,
            now,
            owner_gone,
        )
        if token is None:
            return False
        record = await self.journal.call(self.store.get_execution, execution_id)
        if record.status in TERMINAL_EXECUTION_STATUSES:
            await self.journal.call(self.store.release_lease, execution_id, token)
            return False
        frames = await self.journal.call(self.store.get_frames, execution_id)
        workflow = await self.journal.call(
            self.store.get_workflow_version, record.workflow_version_id
        )
        record.lease_token, record.lease_owner = token, self.owner
        try:
            graph = check(workflow, self.registry, record.source_path)
        except DefinitionError as exc:
            run = _Run(
                self,
                record,
                plan.Graph.build(workflow, self.registry),
                token,
                frames[-1].seq if frames else 0,
            )
            self._runs[record.id] = run
            run.execute(
                [
                    plan.FinishRun(
                        ExecutionStatus.FAILED,
                        error={"message": str(exc), "type": "DefinitionError"},
                    )
                ]
            )
            return True
        if record.status == ExecutionStatus.PENDING:  # created by a trigger, not yet started
            self.metrics.started(record)
        self._drive(record, token, frames, graph)
        return True

    def _drive(
        self, record: ExecutionRecord, token: int, frames: list[ExecutionFrame], graph: plan.Graph
    ) -> None:
        """Drive a run from its journal: replay the frames, then carry out what is left."""
        run = _Run(self, record, graph, token, frames[-1].seq if frames else 0)
        self._runs[record.id] = run
        state, commands = plan.replay(graph, start_event(record), frames)
        run.state = state
        _restore_history(run, frames)
        update: ExecutionUpdate = {"status": ExecutionStatus.RUNNING, "wake_at": None}
        if record.started_at is None:
            record.started_at = update["started_at"] = _now()
        run.update(update)
        if frames:
            log.info("resuming execution %s at frame %d", record.id, run.seq)
        run.execute(commands)

    async def resume_all(self) -> list[str]:
        """Take over every unfinished run whose owner is gone or whose lease expired."""
        records = await self.journal.call(self.store.unfinished)
        unfinished = {r.id for r in records}
        resumed = []
        for record in records:
            if record.parent_id is not None and record.parent_id in unfinished:
                continue  # its parent's sub-workflow step picks it up
            if await self.resume(record.id):
                resumed.append(record.id)
        return resumed

    def running(self) -> int:
        """How many runs this engine drives now."""
        return len(self._runs)

    def forget(self, run: _Run) -> None:
        self._runs.pop(run.id, None)

    # -- runtime for handlers

    async def run_workflow(self, ctx: Context, ref: str, input: Any) -> Any:
        """Run ``ref`` as a child of the step in ``ctx``; resumes the child a crash left behind."""
        parent = self._runs.get(ctx.execution_id)
        if parent is None:
            raise ActionError("the parent run is not driven here", retryable=True)
        if parent.record.depth + 1 > MAX_SUBWORKFLOW_DEPTH:
            raise ActionError(
                f"sub-workflows nest deeper than {MAX_SUBWORKFLOW_DEPTH} levels (a workflow calling itself?)",
                retryable=False,
                type="SubworkflowDepthError",
            )
        # one child per step: a for_each item is a step of its own
        step = ctx.node_id if ctx.index is None else f"{ctx.node_id}[{ctx.index}]"
        child = await self.journal.call(self.store.find_child, ctx.execution_id, step)
        if child is None:
            workflow, source = await self._resolve(ref, parent.record.source_path)
            child_id = await self.submit(
                workflow,
                input,
                source_path=source,
                parent=(ctx.execution_id, step, parent.record.depth + 1),
                org_id=parent.record.org_id,
            )
        else:
            child_id = child.id
            if child.status not in TERMINAL_EXECUTION_STATUSES and child_id not in self._runs:
                await self.resume(child_id)
        try:
            outcome = await self.wait(child_id)
        except asyncio.CancelledError:
            if child_id in self._runs:
                await self.cancel(child_id, "the parent step was cancelled")
            raise
        if outcome.status != ExecutionStatus.COMPLETED:
            message = (outcome.error or {}).get("message", outcome.status.value)
            raise ActionError(
                f"sub-workflow {ref!r} (execution {child_id}) {outcome.status.value.lower()}: {message}",
                retryable=False,
                type="SubworkflowFailed",
            )
        return outcome.result

    async def _resolve(self, ref: str, parent_source: str | None) -> tuple[Workflow, str | None]:
        return await resolve_workflow(
            self.store, ref, parent_source, confine_files=self.confine_files
        )

    # -- leases

    async def _beat(self) -> None:
        interval = max(0.05, self.lease_ttl.total_seconds() / 3)
        while True:
            await asyncio.sleep(interval)
            runs = [r for r in self._runs.values() if not r.finishing]
            if not runs:
                continue
            try:
                await self.journal.call(self._renew, runs)
            except Exception:
                log.exception("lease renewal failed")

    def _renew(self, runs: list[_Run]) -> None:
        expires = _now() + self.lease_ttl
        lost = [r for r in runs if not self.store.renew_lease(r.id, r.token, expires)]
        cancelled = self.store.cancel_requested([r.id for r in runs])
        loop = self._loop
        for run in lost:
            loop.call_soon_threadsafe(run.abandon, "another process took the lease")
        for run in runs:
            if run.id in cancelled and run not in lost:
                loop.call_soon_threadsafe(run.apply, plan.Cancel("cancelled by request"))

    @property
    def _loop(self) -> asyncio.AbstractEventLoop:
        assert self._heartbeat is not None
        return self._heartbeat.get_loop()

    def _on_write_failure(self, execution_id: str, exc: Exception) -> None:
        run = self._runs.get(execution_id)
        if run is not None:
            log.error("execution %s: journal write failed: %s", execution_id, exc)
            run.abandon(f"journal write failed: {exc}")


def _restore_history(run: _Run, frames: list[ExecutionFrame]) -> None:
    """Attempt numbers, failures and parked waits of unfinished steps, from the journal; and an
    ``interrupted`` frame for every attempt that the dead process left without an egress."""
    open_attempts: dict[tuple[str, int | None], ExecutionFrame] = {}
    for frame in frames:
        key = (frame.node_id, frame.item)
        attempt, failures = run.history.get(key, (0, 0))
        attempt = max(attempt, frame.attempt)
        if frame.status == FrameStatus.RETRYING:
            failures += 1
        run.history[key] = (attempt, failures)
        if frame.status == FrameStatus.STARTED:
            open_attempts[key] = frame
        elif frame.status == FrameStatus.WAITING:
            open_attempts.pop(key, None)
            run.waiting[key] = frame
        else:
            open_attempts.pop(key, None)
            run.waiting.pop(key, None)
    for key, frame in open_attempts.items():
        run.frame(
            key[0],
            FrameStatus.INTERRUPTED,
            attempt=frame.attempt,
            item=key[1],
            started_at=frame.started_at,
        )
