"""The activities of the graph workflow: they run steps and write the journal.

Every frame reaches the FlowForge store from here, through ``journal_frames``, which numbers
frames as they arrive and ignores one already written for the same node, item, attempt and
status: an activity that Temporal runs again adds nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from flowforge.connectors.sdk import Action, ActionError, Context, Emit, Park, Registry
from flowforge.engine import expr
from flowforge.engine.frames import (
    TERMINAL_EXECUTION_STATUSES,
    ExecutionFrame,
    ExecutionRecord,
    ExecutionStatus,
    ExecutionUpdate,
    FrameStatus,
)
from flowforge.engine.runs import (
    MAX_SUBWORKFLOW_DEPTH,
    execution_info,
    new_run,
    resolve_workflow,
)
from flowforge.engine.steps import Secrets, StepFailure, Steps
from flowforge.engine.temporal import _refs as refs
from flowforge.engine.temporal._messages import (
    Begun,
    ChildStarted,
    FrameDraft,
    JournalInput,
    RunInput,
    RunOutcome,
    StartChild,
    StepInput,
    StepResult,
)
from flowforge.engine.validate import check
from flowforge.errors import DefinitionError
from flowforge.model import MAIN_PORT, Node, Workflow
from flowforge.store import ExecutionStore, NotFound

__all__ = ["Activities", "schedule_execution_id"]

log = logging.getLogger("flowforge.temporal")

_ENDED = frozenset({"completed", "failed", "cancelled", "skipped"})

OnFailed = Callable[[ExecutionRecord, RunOutcome], Awaitable[None]]
"""Called once a run's failure is recorded (the worker starts error workflows with it)."""


def schedule_execution_id(temporal_id: str) -> str:
    """The FlowForge id of a run a Temporal Schedule started (the same on every retry)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"flowforge:temporal:{temporal_id}"))


def _now() -> datetime:
    return datetime.now(UTC)


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class Activities:
    """The activities one worker offers, over its store, node types and step runner."""

    def __init__(
        self,
        store: ExecutionStore,
        registry: Registry,
        steps: Steps,
        *,
        inline_bytes: int,
        heartbeat_s: float = 10.0,
        step_timeout_s: float = 86_400.0,
        catalog: Any = None,
        confine_files: bool = False,
        on_failed: OnFailed | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.steps = steps
        self.inline_bytes = inline_bytes
        self.heartbeat_s, self.step_timeout_s = heartbeat_s, step_timeout_s
        self.catalog = catalog
        self.confine_files = confine_files
        self.on_failed = on_failed
        self._definitions: dict[str, Workflow] = {}

    def all(self) -> list[Callable[..., Any]]:
        return [self.begin, self.step, self.start_child, self.journal]

    # -- helpers

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    async def definition(self, version_id: str) -> Workflow:
        """A stored version, read once per worker (versions never change)."""
        workflow = self._definitions.get(version_id)
        if workflow is None:
            workflow = await self._call(self.store.get_workflow_version, version_id)
            if len(self._definitions) >= 512:
                self._definitions.pop(next(iter(self._definitions)))
            self._definitions[version_id] = workflow
        return workflow

    def _pack(self, value: Any, inline: bool = False) -> Any:
        """A value as it travels through Temporal (TooLarge: it must be inline and cannot)."""
        return refs.pack(
            self.store, value, self.inline_bytes, inline_max=refs.INLINE_MAX if inline else None
        )

    async def _write(
        self,
        execution_id: str,
        frames: list[ExecutionFrame],
        update: ExecutionUpdate | None = None,
    ) -> None:
        await self._call(self.store.journal_frames, execution_id, frames, update)

    # -- begin

    @activity.defn(name="flowforge.begin")
    async def begin(self, start: RunInput) -> Begun:
        """Read the run (creating it for a schedule's tick), check its definition and give
        the workflow what it needs to drive it."""
        if start.execution_id is None:
            record = await self._scheduled_run(start)
            if record is None:
                return Begun(
                    execution_id="",
                    outcome=RunOutcome(
                        ExecutionStatus.CANCELLED.value,
                        error={
                            "message": "the workflow is no longer active",
                            "type": "Cancelled",
                        },
                    ),
                )
        else:
            try:
                record = await self._call(self.store.get_execution, start.execution_id)
            except NotFound as exc:
                raise ApplicationError(str(exc), type="NotFound", non_retryable=True) from None
        if record.status in TERMINAL_EXECUTION_STATUSES:
            return Begun(
                execution_id=record.id,
                outcome=RunOutcome(record.status.value, self._pack(record.result), record.error),
            )
        workflow = await self.definition(record.workflow_version_id)
        begun = Begun(
            execution_id=record.id,
            version_id=record.workflow_version_id,
            workflow_name=record.workflow_name,
            org_id=record.org_id,
            depth=record.depth,
            source_path=record.source_path,
            heartbeat_s=self.heartbeat_s,
            step_timeout_s=self.step_timeout_s,
        )
        try:
            await asyncio.to_thread(check, workflow, self.registry, record.source_path)
        except DefinitionError as exc:
            begun.error = {"message": str(exc), "type": "DefinitionError"}
            return begun
        inline = _read_by_workflow(workflow)
        trigger_read = inline is None or "trigger" in inline
        begun.definition = workflow.model_dump(mode="json", exclude_none=True)
        begun.trigger_types = sorted(
            {n.type for n in workflow.nodes if (a := self.registry.get(n.type)) and a.trigger}
        )
        begun.inline = None if inline is None else sorted(inline - {"trigger"})
        frames = await self._call(self.store.get_frames, record.id)
        keep = None if begun.inline is None else set(begun.inline)
        try:
            begun.input = self._pack(record.input, trigger_read)
            begun.pinned = {k: self._pack(v) for k, v in (record.pinned or {}).items()}
            begun.frames = [
                _draft(f, self._pack(f.output, keep is None or f.node_id in keep)) for f in frames
            ]
        except refs.TooLarge as exc:
            begun.error = {
                "message": f"a value the workflow reads itself is too large for Temporal ({exc}; "
                f"at most {refs.INLINE_MAX} bytes)",
                "type": "OutputTooLarge",
            }
            return begun
        begun.execution = execution_info(record)
        begun.trigger_node = record.trigger_node
        update: ExecutionUpdate = {"status": ExecutionStatus.RUNNING, "wake_at": None}
        if record.started_at is None:
            update["started_at"] = _now()
        await self._write(record.id, [], update)
        return begun

    async def _scheduled_run(self, start: RunInput) -> ExecutionRecord | None:
        """The run of a schedule's tick: created on the first try, found on the next ones."""
        temporal_id = activity.info().workflow_id or ""
        execution_id = schedule_execution_id(temporal_id)
        try:
            found: ExecutionRecord = await self._call(self.store.get_execution, execution_id)
            return found
        except NotFound:
            pass
        if self.catalog is None or start.workflow_id is None or start.trigger_node is None:
            raise ApplicationError(
                "a scheduled run names no workflow", type="DefinitionError", non_retryable=True
            )
        try:
            entry = await self._call(self.catalog.get, start.workflow_id)
        except NotFound:
            return None
        if not entry.active:
            return None
        now = _now()
        record = ExecutionRecord(
            id=execution_id,
            workflow_version_id=entry.version_id,
            workflow_name=entry.name,
            status=ExecutionStatus.RUNNING,
            created_at=now,
            started_at=now,
            input={
                "scheduled_at": start.scheduled_at or now.isoformat(),
                "fired_at": now.isoformat(),
                "ticks": 1,
                "cron": start.cron,
                "timezone": start.timezone or "UTC",
            },
            source_path=entry.source_path,
            workflow_id=entry.id,
            trigger_node=start.trigger_node,
            dedupe_key=f"temporal:{temporal_id}"[:200],
            org_id=entry.org_id,
            temporal_workflow_id=temporal_id,
        )
        await self._call(self.store.create_execution, record)
        return record

    # -- steps

    async def _open(
        self, step: StepInput
    ) -> tuple[Workflow, Node, Action, dict[str, Any], Any, dict[str, Any]]:
        workflow = await self.definition(step.version_id)
        node = next(n for n in workflow.nodes if n.id == step.node)
        action = self.registry.get(node.type)
        if action is None:
            raise ApplicationError(
                f"this worker has no node type {node.type!r}", type="DefinitionError"
            )
        if refs.contains_packed([step.input, step.inputs, step.scope]):
            scope, inputs, node_input = await asyncio.to_thread(self._unpack_step, step)
        else:
            scope, inputs, node_input = dict(step.scope), dict(step.inputs), step.input
        if step.input_is_inputs:
            node_input = dict(inputs)
        scope["vars"] = workflow.vars
        scope["input"] = node_input
        return workflow, node, action, scope, node_input, inputs

    def _unpack_step(self, step: StepInput) -> tuple[dict[str, Any], dict[str, Any], Any]:
        scope = refs.unpack_scope(self.store, step.scope)
        inputs = {k: refs.unpack(self.store, v) for k, v in step.inputs.items()}
        return scope, inputs, refs.unpack(self.store, step.input)

    async def _earlier_attempts(self, step: StepInput, attempt: int) -> int:
        """Failed attempts of this step so far; an attempt whose worker died is journaled
        as interrupted (it is not a failure: the step runs again, as after a local crash)."""
        if attempt <= 1:
            return 0
        frames = await self._call(self.store.get_frames, step.execution_id)
        mine = [f for f in frames if f.node_id == step.node and f.item == step.item]
        failures = sum(1 for f in mine if f.status == FrameStatus.RETRYING)
        last = mine[-1] if mine else None
        if last is not None and last.status == FrameStatus.STARTED:
            await self._write(
                step.execution_id,
                [
                    ExecutionFrame(
                        step.execution_id,
                        0,
                        step.node,
                        FrameStatus.INTERRUPTED,
                        last.started_at,
                        attempt=last.attempt,
                        item=step.item,
                    )
                ],
            )
        return failures

    @activity.defn(name="flowforge.step")
    async def step(self, step: StepInput) -> StepResult:
        """One attempt of a node: frames in, the handler, frames out."""
        attempt = activity.info().attempt
        _, node, action, scope, node_input, inputs = await self._open(step)
        failures = await self._earlier_attempts(step, attempt)
        started = _now()
        execution = {**scope.get("execution", {}), "attempt": attempt}
        scope["execution"] = execution
        ctx = Context(
            execution_id=step.execution_id,
            workflow_name=step.workflow_name,
            node_id=step.node,
            node_type=action.type,
            attempt=attempt,
            started_at=started,
            input=node_input,
            inputs=inputs,
            trigger=scope.get("trigger"),
            item=scope.get("item"),
            index=step.item,
            blobs=self.store,
            http_allow=self.steps.http_allow,
        )
        ingress = self._frame(step, FrameStatus.STARTED, attempt, started, input=node_input)
        # An inline step is quick and pure: its ingress is written with its egress. Another
        # step's ingress is written while it runs, and is durable before its egress.
        deferred = [ingress] if action.inline else []
        written = (
            None
            if action.inline
            else asyncio.create_task(self._write(step.execution_id, [ingress]))
        )
        try:
            return await self._attempt(
                step, node, action, ctx, scope, attempt, started, failures, deferred, written
            )
        finally:
            # a step stopped early still waits for its ingress: its thread writes it anyway,
            # and it must not land after the frames written for the stop
            if written is not None and not written.done():
                with contextlib.suppress(Exception):
                    await asyncio.shield(written)

    async def _attempt(
        self,
        step: StepInput,
        node: Node,
        action: Action,
        ctx: Context,
        scope: dict[str, Any],
        attempt: int,
        started: datetime,
        failures: int,
        deferred: list[ExecutionFrame],
        written: asyncio.Task[None] | None,
    ) -> StepResult:
        async def write(frames: list[ExecutionFrame]) -> None:
            if written is not None:
                await written
            await self._write(step.execution_id, [*deferred, *frames])

        secrets = Secrets()
        try:
            async with _heartbeats():
                params, secrets = await self.steps.prepare(
                    action, node, ctx, scope, step.org_id, secrets
                )
                result = await self.steps.execute(action, node, params, ctx, secrets)
            redact = secrets.redactor.redact if secrets.values else (lambda v: v)
            port, park = MAIN_PORT, None
            if isinstance(result, Park):
                result, park = result.output, result.until
            elif isinstance(result, Emit):
                result, port = result.output, result.port
            output = redact(result)
            packed = await self._pack_output(step, output)
        except StepFailure as failure:
            failures += 1
            message = secrets.redactor.redact_text(failure.message)
            error = {"message": message, "type": failure.type}
            max_attempts = node.retry.max_attempts if node.retry else 1
            again = failure.retryable and failures < max_attempts
            status = FrameStatus.RETRYING if again else FrameStatus.FAILED
            egress = self._frame(step, status, attempt, started, error=error, ended=_now())
            await write([egress])
            # benign: a step that fails is the workflow's business, not the worker's fault
            raise ApplicationError(
                message,
                {"attempts": attempt},
                type=failure.type,
                non_retryable=not again,
                category=ApplicationErrorCategory.BENIGN,
            ) from None
        if park is not None:
            frame = self._frame(
                step, FrameStatus.WAITING, attempt, started, output=output, wake_at=park
            )
            await write([frame])
            return StepResult(
                output=packed,
                park_until=park.isoformat(),
                started_at=started.isoformat(),
                attempt=attempt,
            )
        egress = self._frame(
            step, FrameStatus.COMPLETED, attempt, started, port=port, output=output, ended=_now()
        )
        await write([egress])
        return StepResult(output=packed, port=port, attempt=attempt)

    async def _pack_output(self, step: StepInput, output: Any) -> Any:
        """A step's output as it travels; a StepFailure when the workflow must read it and it
        is too large for a Temporal payload."""
        try:
            if output is None or isinstance(output, bool | int | float):
                return output
            return await asyncio.to_thread(self._pack, output, step.inline)
        except refs.TooLarge as exc:
            raise StepFailure(
                f"the output ({exc}) is read by the workflow itself (a for_each list or the "
                f"run's output expression), and such a value may be at most {refs.INLINE_MAX} "
                "bytes on Temporal: let a step reduce it first",
                "OutputTooLarge",
                retryable=False,
            ) from None

    @staticmethod
    def _frame(
        step: StepInput,
        status: FrameStatus,
        attempt: int,
        started: datetime,
        *,
        ended: datetime | None = None,
        **fields: Any,
    ) -> ExecutionFrame:
        if ended is not None:
            fields["ended_at"] = ended
            fields["duration_ms"] = (ended - started).total_seconds() * 1000
        return ExecutionFrame(
            step.execution_id,
            0,
            step.node,
            status,
            started,
            attempt=attempt,
            item=step.item,
            **fields,
        )

    # -- sub-workflows

    @activity.defn(name="flowforge.start_child")
    async def start_child(self, start: StartChild) -> ChildStarted:
        """Render a ``flow.subworkflow`` step, store the workflow it names and create the
        child run (once: a retry finds it); the workflow then runs it as a child workflow."""
        step = start.step
        attempt = activity.info().attempt
        _, node, action, scope, node_input, _ = await self._open(step)
        started = _now()
        scope["execution"] = {**scope.get("execution", {}), "attempt": attempt}
        await self._write(
            step.execution_id,
            [self._frame(step, FrameStatus.STARTED, attempt, started, input=node_input)],
        )
        try:
            params = self.steps.params(action, node, scope)
            ref = str(params.workflow)  # type: ignore[attr-defined]
            child_input = (
                params.input  # type: ignore[attr-defined]
                if "input" in params.model_fields_set
                else node_input
            )
            if start.depth + 1 > MAX_SUBWORKFLOW_DEPTH:
                raise StepFailure(
                    f"sub-workflows nest deeper than {MAX_SUBWORKFLOW_DEPTH} levels (a workflow calling itself?)",
                    "SubworkflowDepthError",
                    retryable=False,
                )
            child_id = await self._child(step, start, ref, child_input)
        except StepFailure as failure:
            error = {"message": failure.message, "type": failure.type}
            frame = self._frame(
                step, FrameStatus.FAILED, attempt, started, error=error, ended=_now()
            )
            await self._write(step.execution_id, [frame])
            raise ApplicationError(
                failure.message,
                {"attempts": attempt},
                type=failure.type,
                non_retryable=True,
                category=ApplicationErrorCategory.BENIGN,
            ) from None
        return ChildStarted(child_id, child_id, ref, attempt, started.isoformat())

    async def _child(self, step: StepInput, start: StartChild, ref: str, child_input: Any) -> str:
        key = step.node if step.item is None else f"{step.node}[{step.item}]"
        existing = await self._call(self.store.find_child, step.execution_id, key)
        if existing is not None:
            return str(existing.id)
        try:
            workflow, source = await resolve_workflow(
                self.store, ref, start.source_path, confine_files=self.confine_files
            )
            await asyncio.to_thread(check, workflow, self.registry, source)
        except ActionError as exc:
            raise StepFailure(str(exc), exc.type, retryable=exc.retryable) from None
        except DefinitionError as exc:
            raise StepFailure(str(exc), "DefinitionError", retryable=False) from None
        version_id = await self._call(self.store.put_workflow_version, workflow)
        now = _now()
        child_id = str(uuid.uuid4())
        record = new_run(
            workflow.name,
            version_id,
            child_input,
            id=child_id,
            now=now,
            parent=(step.execution_id, key, start.depth + 1),
            source_path=source,
            org_id=step.org_id,
            temporal_workflow_id=child_id,
        )
        await self._call(self.store.create_execution, record)
        return child_id

    # -- the journal

    @activity.defn(name="flowforge.journal")
    async def journal(self, entry: JournalInput) -> RunOutcome | None:
        """Write frames and changes the workflow decided; with ``finish``, the outcome."""
        frames = [
            ExecutionFrame(
                entry.execution_id,
                0,
                d.node_id,
                FrameStatus(d.status),
                _time(d.started_at) or _now(),
                attempt=d.attempt,
                item=d.item,
                port=d.port,
                input=refs.unpack(self.store, d.input),
                output=refs.unpack(self.store, d.output),
                error=d.error,
                wake_at=_time(d.wake_at),
                ended_at=_time(d.ended_at),
                duration_ms=d.duration_ms,
            )
            for d in entry.frames
        ]
        if entry.stopped or any(f.attempt < 0 for f in frames):
            frames = await self._resolve_attempts(entry, frames)
        update: ExecutionUpdate = {}
        for key, value in entry.update.items():
            if key == "status":
                update["status"] = ExecutionStatus(value)
            elif key == "wake_at":
                update["wake_at"] = _time(value)
        outcome = entry.finish
        if outcome is not None:
            result = await asyncio.to_thread(refs.unpack, self.store, outcome.result)
            update["status"] = ExecutionStatus(outcome.status)
            update["result"] = result
            update["error"] = outcome.error
            update["finished_at"] = _now()
            update["wake_at"] = None
        await self._write(entry.execution_id, frames, update or None)
        if outcome is None:
            return None
        if self.on_failed is not None and outcome.status == ExecutionStatus.FAILED.value:
            record = await self._call(self.store.get_execution, entry.execution_id)
            try:
                await self.on_failed(record, outcome)
            except Exception:  # a listener's fault must not undo a recorded outcome
                log.exception("execution %s: finish listener failed", entry.execution_id)
        return RunOutcome(outcome.status, self._pack(result), outcome.error)

    async def _resolve_attempts(
        self, entry: JournalInput, frames: list[ExecutionFrame]
    ) -> list[ExecutionFrame]:
        """Frames that name no attempt get the step's last one; a stopped step whose journal
        already ended gets no cancellation frame."""
        journal = await self._call(self.store.get_frames, entry.execution_id)
        last: dict[tuple[str, int | None], ExecutionFrame] = {}
        for f in journal:
            last[(f.node_id, f.item)] = f
        when = _time(entry.stopped_at) or _now()
        for node_id, item in entry.stopped:
            previous = last.get((node_id, item))
            if previous is not None and previous.status.value in _ENDED:
                continue
            frames.append(
                ExecutionFrame(
                    entry.execution_id,
                    0,
                    node_id,
                    FrameStatus.CANCELLED,
                    when,
                    attempt=-1,
                    item=item,
                )
            )
        out = []
        for f in frames:
            if f.attempt < 0:
                previous = last.get((f.node_id, f.item))
                f = dataclasses.replace(f, attempt=previous.attempt if previous else 0)
            out.append(f)
        return out


def _read_by_workflow(workflow: Workflow) -> frozenset[str] | None:
    """Node ids (and ``trigger``) whose values the workflow code itself reads, in for_each
    lists and the run's output; None when it may read any."""
    found: set[str] = set()
    sources = [n.for_each for n in workflow.nodes if n.for_each]
    if workflow.output is not None:
        sources.append(workflow.output)
    for source in sources:
        ids = expr.nodes_read(source)
        if ids is None:
            return None
        found |= ids
        if any("trigger" in expr.names_used(text) for text in _strings(source)):
            found.add("trigger")
    return frozenset(found)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if "{{" in value else []
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def _draft(frame: ExecutionFrame, output: Any) -> FrameDraft:
    return FrameDraft(
        node_id=frame.node_id,
        status=frame.status.value,
        started_at=frame.started_at.isoformat(),
        attempt=frame.attempt,
        item=frame.item,
        port=frame.port,
        output=output,
        error=frame.error,
    )


@contextlib.asynccontextmanager
async def _heartbeats() -> AsyncIterator[None]:
    """Heartbeat while a step runs: Temporal then notices a dead worker within the heartbeat
    timeout (and not the step's time limit), and cancellation reaches the step."""
    info = activity.info()
    timeout = info.heartbeat_timeout
    if timeout is None:
        yield
        return
    interval = max(0.05, timeout.total_seconds() / 3)

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(interval)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
