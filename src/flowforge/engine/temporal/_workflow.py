"""The generic graph workflow: one Temporal workflow class runs every FlowForge workflow.

It is a thin driver of the pure scheduler (``plan.step``), which is deterministic by design, so
it runs unchanged inside Temporal's workflow code: the workflow feeds it the outcomes of
activities and carries out its commands. Each step is an activity; ``flow.wait`` a durable
timer; ``flow.subworkflow`` a child workflow; cancelling the Temporal workflow cancels the run.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    is_cancelled_exception,
)

with workflow.unsafe.imports_passed_through():
    from flowforge.engine import expr, plan
    from flowforge.engine.frames import ExecutionFrame, ExecutionStatus, FrameStatus
    from flowforge.engine.temporal._messages import (
        WORKFLOW_NAME,
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
    from flowforge.model import MAIN_PORT, Node, Workflow

__all__ = ["GraphWorkflow"]

SUBWORKFLOW = "flow.subworkflow"
_SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
# The store being down must not fail runs: the journal's writes are tried again, patiently.
_JOURNAL_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
)
_JOURNAL_TIMEOUT = timedelta(seconds=60)
_LOST_WORKER_RETRIES = 5  # a step whose worker dies this often more than it may fail fails


class _TriggerTypes:
    """``Graph.build`` asks a registry which node types are triggers; this one knows from
    ``begin`` (the workflow code holds no registry)."""

    def __init__(self, types: list[str]) -> None:
        self._types = frozenset(types)

    def get(self, node_type: str) -> Any:
        return self if node_type in self._types else None

    trigger = True


@workflow.defn(name=WORKFLOW_NAME)
class GraphWorkflow:
    def __init__(self) -> None:
        self.events: list[plan.Event] = []
        self.tasks: dict[tuple[str, int | None], asyncio.Task[None]] = {}
        self.parked: dict[tuple[str, int | None], datetime] = {}
        self.finish: plan.FinishRun | None = None
        self.status = ExecutionStatus.RUNNING.value
        self.begun: Begun
        self.graph: plan.Graph
        self.reads: dict[str, frozenset[str] | None] = {}
        self.stoppers: list[asyncio.Task[None]] = []

    @workflow.run
    async def run(self, start: RunInput) -> RunOutcome:
        if start.execution_id is None:
            scheduled = workflow.info().typed_search_attributes.get(_SCHEDULED_START)
            if scheduled is not None:
                start.scheduled_at = scheduled.astimezone(UTC).isoformat()
        try:
            begun = await workflow.execute_local_activity(
                "flowforge.begin",
                start,
                result_type=Begun,
                start_to_close_timeout=_JOURNAL_TIMEOUT,
                retry_policy=_JOURNAL_RETRY,
            )
        except asyncio.CancelledError:
            if start.execution_id is None:
                raise
            self.begun = Begun(execution_id=start.execution_id)
            cancelled = {"message": "cancelled by request", "type": "Cancelled"}
            return await self.journal(
                finish=RunOutcome(ExecutionStatus.CANCELLED.value, None, cancelled)
            )
        if begun.outcome is not None:
            outcome: RunOutcome = begun.outcome
            return outcome
        self.begun = begun
        if begun.error is not None:
            return await self.journal(
                finish=RunOutcome(ExecutionStatus.FAILED.value, None, begun.error)
            )
        definition = Workflow.model_validate(begun.definition)
        self.graph = plan.Graph.build(definition, _TriggerTypes(begun.trigger_types))  # type: ignore[arg-type]
        self.inline = None if begun.inline is None else frozenset(begun.inline)
        start_event = plan.Start(
            begun.input, begun.execution, trigger_node=begun.trigger_node, pinned=begun.pinned
        )
        state, commands = plan.replay(self.graph, start_event, [_frame(d) for d in begun.frames])
        try:
            await self.carry_out(commands)
            while self.finish is None:
                await workflow.wait_condition(lambda: bool(self.events) or self.finish is not None)
                while self.events and self.finish is None:
                    state, commands = plan.step(self.graph, state, self.events.pop(0))
                    await self.carry_out(commands)
        except asyncio.CancelledError:
            state, commands = plan.step(self.graph, state, plan.Cancel("cancelled by request"))
            self.finish = next(c for c in commands if isinstance(c, plan.FinishRun))
        return await self.stop_all(self.finish)

    # -- commands

    async def carry_out(self, commands: list[plan.Command]) -> None:
        skips = [
            self.draft(c.node, FrameStatus.SKIPPED)
            for c in commands
            if isinstance(c, plan.SkipNode)
        ]
        if skips:  # before the steps that follow them, as the local driver journals them
            await self.journal(frames=skips)
        for command in commands:
            if isinstance(command, plan.RunNode):
                key = (command.node, command.item)
                self.tasks[key] = asyncio.create_task(self.run_step(command))
            elif isinstance(command, plan.StopNode):
                keys = [k for k, t in self.tasks.items() if k[0] == command.node and not t.done()]
                self.stoppers.append(asyncio.create_task(self.stop(keys)))
            elif isinstance(command, plan.FinishRun):
                self.finish = command

    async def stop(self, keys: list[tuple[str, int | None]]) -> None:
        """Cancel steps and journal them as cancelled once their activities have stopped."""
        tasks = [self.tasks[k] for k in keys]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if keys:
            await self.journal(stopped=keys)

    async def stop_all(self, finish: plan.FinishRun) -> RunOutcome:
        running = [k for k, t in self.tasks.items() if not t.done()]
        for key in running:
            self.tasks[key].cancel()
        await asyncio.gather(
            *(self.tasks[k] for k in running), *self.stoppers, return_exceptions=True
        )
        outcome = RunOutcome(finish.status.value, finish.result, finish.error)
        return await self.journal(finish=outcome, stopped=running)

    # -- steps

    async def run_step(self, command: plan.RunNode) -> None:
        node = self.graph.nodes[self.graph.index[command.node]]
        step = self.step_input(node, command)
        if node.type == SUBWORKFLOW:
            await self.run_child(node, command, step)
            return
        try:
            result = await workflow.execute_activity(
                "flowforge.step",
                step,
                result_type=StepResult,
                **self.activity_options(node),
            )
        except ActivityError as exc:
            self.events.append(await self.failed(command, exc))
            return
        if result.park_until is not None:
            await self.park(command, result)
            return
        self.events.append(
            plan.NodeSucceeded(command.node, result.output, result.port, command.item)
        )

    def step_input(self, node: Node, command: plan.RunNode) -> StepInput:
        if node.id not in self.reads:  # the ids its parameters read, once per node
            self.reads[node.id] = expr.nodes_read(node.params)
        reads = self.reads[node.id]
        visible = command.scope["nodes"]
        wanted = visible if reads is None else [k for k in reads if k in visible]
        scope: dict[str, Any] = {
            "trigger": command.scope["trigger"],
            "nodes": {k: visible[k] for k in wanted},
            "execution": dict(command.scope["execution"]),
        }
        if command.item is not None:
            scope["item"], scope["index"] = command.scope["item"], command.scope["index"]
        begun = self.begun
        index = self.graph.index[node.id]
        from_inputs = (
            len(command.inputs) > 1
            and bool(self.graph.incoming[index])
            and node.id not in begun.pinned
        )
        return StepInput(
            execution_id=begun.execution_id,
            version_id=begun.version_id,
            workflow_name=begun.workflow_name,
            org_id=begun.org_id,
            node=command.node,
            input=None if from_inputs else command.input,
            inputs=dict(command.inputs),
            scope=scope,
            item=command.item,
            inline=self.inline is None or node.id in self.inline,
            input_is_inputs=from_inputs,
        )

    def activity_options(self, node: Node) -> dict[str, Any]:
        """Temporal's options for a node's activity, from its retry and timeout policy. The
        step itself keeps to ``timeout_s`` and decides when its retries are spent (a worker
        that dies is not a failed attempt); Temporal's limits are the backstop."""
        policy = node.retry
        if policy is not None:
            initial = max(policy.initial_s, 0.001)
            retry = RetryPolicy(
                initial_interval=timedelta(seconds=initial),
                backoff_coefficient=policy.multiplier,
                maximum_interval=timedelta(seconds=max(policy.max_s, initial)),
                maximum_attempts=policy.max_attempts + _LOST_WORKER_RETRIES,
            )
        else:
            retry = RetryPolicy(
                initial_interval=timedelta(seconds=1),
                maximum_attempts=1 + _LOST_WORKER_RETRIES,
            )
        heartbeat = self.begun.heartbeat_s
        limit = node.timeout_s + heartbeat if node.timeout_s else self.begun.step_timeout_s
        return {
            "start_to_close_timeout": timedelta(seconds=limit),
            "heartbeat_timeout": timedelta(seconds=heartbeat),
            "retry_policy": retry,
            "cancellation_type": workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            "summary": node.id,
        }

    async def failed(
        self, command: plan.RunNode, exc: ActivityError | ChildWorkflowError
    ) -> plan.NodeFailed:
        """The event for a step whose activity failed for good. A failure the step reported
        itself is journaled already; a worker that stopped answering is journaled here. A
        step cancelled by the run (or with it) stays cancelled: the stop journals it."""
        if is_cancelled_exception(exc):
            raise asyncio.CancelledError
        cause = exc.cause
        if isinstance(cause, ApplicationError) and cause.type is not None:
            details = cause.details[0] if cause.details else {}
            attempts = int(details.get("attempts", 1)) if isinstance(details, dict) else 1
            return plan.NodeFailed(command.node, cause.message, cause.type, attempts, command.item)
        message = f"the step was lost: {cause or exc}"
        error = {"message": message, "type": "StepLost"}
        await self.journal(
            frames=[
                self.draft(
                    command.node, FrameStatus.FAILED, item=command.item, attempt=-1, error=error
                )
            ]
        )
        return plan.NodeFailed(command.node, message, "StepLost", 1, command.item)

    async def park(self, command: plan.RunNode, result: StepResult) -> None:
        """``flow.wait``: a durable timer; the run is WAITING while nothing else runs."""
        key = (command.node, command.item)
        until = datetime.fromisoformat(result.park_until or "")
        self.parked[key] = until
        try:
            await self.sync_waiting()
            delay = (until - workflow.now()).total_seconds()
            if delay > 0:
                await workflow.sleep(delay)
        finally:
            self.parked.pop(key, None)
        await self.sync_waiting()
        started = datetime.fromisoformat(result.started_at or workflow.now().isoformat())
        await self.completed(command, result.output, result.attempt, started)

    async def completed(
        self, command: plan.RunNode, output: Any, attempt: int, started: datetime
    ) -> None:
        """Journal, then report, a step whose end the workflow saw itself (a wait's timer, a
        sub-workflow's outcome)."""
        frame = self.draft(
            command.node,
            FrameStatus.COMPLETED,
            item=command.item,
            attempt=attempt,
            port=MAIN_PORT,
            output=output,
            started=started,
        )
        await self.journal(frames=[frame])
        self.events.append(plan.NodeSucceeded(command.node, output, MAIN_PORT, command.item))

    async def sync_waiting(self) -> None:
        live = [k for k, t in self.tasks.items() if not t.done()]
        parked = bool(live) and all(k in self.parked for k in live)
        status = ExecutionStatus.WAITING.value if parked else ExecutionStatus.RUNNING.value
        if status != self.status and self.finish is None:
            self.status = status
            wake = min(self.parked.values()).isoformat() if parked else None
            await self.journal(update={"status": status, "wake_at": wake})

    async def run_child(self, node: Node, command: plan.RunNode, step: StepInput) -> None:
        try:
            child = await workflow.execute_activity(
                "flowforge.start_child",
                StartChild(step=step, depth=self.begun.depth, source_path=self.begun.source_path),
                result_type=ChildStarted,
                **self.activity_options(node),
            )
        except ActivityError as exc:
            self.events.append(await self.failed(command, exc))
            return
        try:
            outcome = await workflow.execute_child_workflow(
                WORKFLOW_NAME,
                RunInput(execution_id=child.execution_id),
                id=child.temporal_id,
                task_queue=workflow.info().task_queue,
                result_type=RunOutcome,
                cancellation_type=workflow.ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
            )
        except ChildWorkflowError as exc:
            if is_cancelled_exception(exc):
                raise asyncio.CancelledError from None
            # terminated or timed out in Temporal: the child's run never recorded an outcome
            reason = {"message": f"its Temporal workflow ended: {exc.cause or exc}"}
            outcome = RunOutcome(ExecutionStatus.FAILED.value, None, reason)
        started = datetime.fromisoformat(child.started_at)
        if outcome.status == ExecutionStatus.COMPLETED.value:
            await self.completed(command, outcome.result, child.attempt, started)
            return
        reason = (outcome.error or {}).get("message", outcome.status)
        message = (
            f"sub-workflow {child.ref!r} (execution {child.execution_id}) "
            f"{outcome.status.lower()}: {reason}"
        )
        error = {"message": message, "type": "SubworkflowFailed"}
        frame = self.draft(
            command.node,
            FrameStatus.FAILED,
            item=command.item,
            attempt=child.attempt,
            error=error,
            started=started,
        )
        await self.journal(frames=[frame])
        self.events.append(
            plan.NodeFailed(command.node, message, "SubworkflowFailed", child.attempt, command.item)
        )

    # -- the journal

    def draft(
        self,
        node: str,
        status: FrameStatus,
        *,
        item: int | None = None,
        attempt: int = 0,
        started: datetime | None = None,
        **fields: Any,
    ) -> FrameDraft:
        now = workflow.now()
        draft = FrameDraft(
            node_id=node,
            status=status.value,
            started_at=(started or now).isoformat(),
            attempt=attempt,
            item=item,
            **fields,
        )
        if started is not None:
            draft.ended_at = now.isoformat()
            draft.duration_ms = (now - started).total_seconds() * 1000
        return draft

    async def journal(
        self,
        *,
        frames: list[FrameDraft] | None = None,
        update: dict[str, Any] | None = None,
        stopped: list[tuple[str, int | None]] | None = None,
        finish: RunOutcome | None = None,
    ) -> RunOutcome:
        entry = JournalInput(
            execution_id=self.begun.execution_id,
            frames=frames or [],
            update=update or {},
            stopped=stopped or [],
            stopped_at=workflow.now().isoformat() if stopped else None,
            finish=finish,
        )
        outcome = await workflow.execute_local_activity(
            "flowforge.journal",
            entry,
            result_type=RunOutcome,
            start_to_close_timeout=_JOURNAL_TIMEOUT,
            retry_policy=_JOURNAL_RETRY,
        )
        return outcome if outcome is not None else RunOutcome(self.status)


def _frame(draft: FrameDraft) -> ExecutionFrame:
    """A journal entry of ``begin`` as ``plan.replay`` reads it."""
    return ExecutionFrame(
        "",
        0,
        draft.node_id,
        FrameStatus(draft.status),
        datetime.fromisoformat(draft.started_at),
        attempt=draft.attempt,
        item=draft.item,
        port=draft.port,
        output=draft.output,
        error=draft.error,
    )
