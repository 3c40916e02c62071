"""The engine the API process uses when Temporal drives runs: the same calls as the local
engine (submit, rerun, cancel, wait; ``steps`` for the connectors' REST face), carried out
through the Temporal client.

A run is stored before its Temporal workflow starts, so the API answers with a durable id
whichever backend runs it; workers then journal its frames to the same store.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from temporalio.client import Client, WorkflowFailureError
from temporalio.service import RPCError

from flowforge.connectors.sdk import CredentialSource, EnvCredentials, Registry
from flowforge.engine.frames import (
    DEFAULT_ORG,
    TERMINAL_EXECUTION_STATUSES,
    ExecutionRecord,
    ExecutionStatus,
)
from flowforge.engine.local import ExecutionResult
from flowforge.engine.runs import KEEP_INPUT, jsonable_input, new_run, rerun_from, rerun_record
from flowforge.engine.steps import Steps
from flowforge.engine.temporal._converter import with_converter
from flowforge.engine.temporal._messages import WORKFLOW_NAME, RunInput
from flowforge.engine.validate import check
from flowforge.errors import FlowForgeError
from flowforge.model import Workflow
from flowforge.store import ExecutionStore

__all__ = ["TemporalEngine"]

log = logging.getLogger("flowforge.temporal")


def _now() -> datetime:
    return datetime.now(UTC)


class TemporalEngine:
    """Starts, cancels and waits for runs on Temporal; workers (``flowforge worker``) run them."""

    def __init__(
        self,
        store: ExecutionStore,
        registry: Registry,
        client: Client,
        *,
        task_queue: str,
        credentials: CredentialSource | None = None,
        http_allow: Sequence[str] = (),
    ) -> None:
        self.store = store
        self.registry = registry
        self.client = with_converter(client)
        self.task_queue = task_queue
        self.steps = Steps(
            registry,
            credentials if credentials is not None else EnvCredentials(),
            store,
            http_allow=http_allow,
        )
        self._prepared: dict[int, tuple[Workflow, str]] = {}

    async def close(self) -> None:
        self.steps.close()

    async def __aenter__(self) -> TemporalEngine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- starting runs

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
        """Store a run and start its Temporal workflow; give its id (see LocalEngine.submit)."""
        version_id = await self._prepare(workflow, source_path)
        if trigger_node is not None and trigger_node not in {n.id for n in workflow.nodes}:
            raise FlowForgeError(f"trigger_node: the workflow has no node {trigger_node!r}")
        now = _now()
        execution_id = str(uuid.uuid4())
        record = new_run(
            workflow.name,
            version_id,
            jsonable_input(input),
            id=execution_id,
            now=now,
            parent=parent,
            source_path=source_path,
            workflow_id=workflow_id,
            trigger_node=trigger_node,
            dedupe_key=dedupe_key,
            org_id=org_id,
            temporal_workflow_id=execution_id,
        )
        await asyncio.to_thread(self.store.create_execution, record)
        await self._start(record)
        return execution_id

    async def _start(self, record: ExecutionRecord) -> None:
        assert record.temporal_workflow_id is not None
        try:
            await self.client.start_workflow(
                WORKFLOW_NAME,
                RunInput(execution_id=record.id),
                id=record.temporal_workflow_id,
                task_queue=self.task_queue,
            )
        except RPCError as exc:
            # the run is stored but will never run: record why, then tell the caller
            error = {"message": f"Temporal refused to start the run: {exc}", "type": "BackendError"}
            await asyncio.to_thread(
                self.store.journal_frames,
                record.id,
                [],
                {"status": ExecutionStatus.FAILED, "error": error, "finished_at": _now()},
            )
            raise FlowForgeError(f"execution {record.id}: {error['message']}") from exc

    async def _prepare(self, workflow: Workflow, source_path: str | None) -> str:
        cached = self._prepared.get(id(workflow))
        if cached is not None and cached[0] is workflow:
            return cached[1]
        check(workflow, self.registry, source_path)
        version_id = await asyncio.to_thread(self.store.put_workflow_version, workflow)
        if len(self._prepared) >= 256:
            self._prepared.pop(next(iter(self._prepared)))
        self._prepared[id(workflow)] = (workflow, version_id)
        return version_id

    async def rerun(
        self, execution_id: str, from_node: str | None = None, input: Any = KEEP_INPUT
    ) -> str:
        """A new run that keeps the journal of every step ``from_node`` does not lead to
        (see LocalEngine.rerun)."""
        old = await asyncio.to_thread(self.store.get_execution, execution_id)
        from_node = rerun_from(old, from_node)
        workflow = await asyncio.to_thread(self.store.get_workflow_version, old.workflow_version_id)
        graph = check(workflow, self.registry, old.source_path)
        frames = await asyncio.to_thread(self.store.get_frames, execution_id)
        new_id = str(uuid.uuid4())
        record, seed = rerun_record(
            old,
            workflow,
            graph,
            frames,
            from_node,
            input,
            id=new_id,
            now=_now(),
            temporal_workflow_id=new_id,
        )
        await asyncio.to_thread(self.store.create_execution, record, seed)
        await self._start(record)
        return new_id

    async def run(
        self, workflow: Workflow, input: Any = None, *, source_path: str | None = None
    ) -> ExecutionResult:
        """Run a workflow to its end and give the outcome."""
        return await self.wait(await self.submit(workflow, input, source_path=source_path))

    # -- following runs

    async def wait(self, execution_id: str) -> ExecutionResult:
        """The outcome of a run, once it has one."""
        record = await asyncio.to_thread(self.store.get_execution, execution_id)
        if record.status not in TERMINAL_EXECUTION_STATUSES:
            if record.temporal_workflow_id is None:
                raise FlowForgeError(
                    f"execution {execution_id} is {record.status} and not on Temporal"
                )
            handle = self.client.get_workflow_handle(record.temporal_workflow_id)
            try:
                await handle.result()
            except WorkflowFailureError as exc:  # the workflow itself broke: the store says how
                log.warning("execution %s: Temporal workflow failed: %s", execution_id, exc)
            record = await asyncio.to_thread(self.store.get_execution, execution_id)
        return ExecutionResult(record.id, record.status, record.result, record.error)

    async def cancel(self, execution_id: str, reason: str = "cancelled by request") -> None:
        """Cancel a run: its Temporal workflow is cancelled, and journals the cancellation."""
        record = await asyncio.to_thread(self.store.get_execution, execution_id)
        if record.status in TERMINAL_EXECUTION_STATUSES or record.temporal_workflow_id is None:
            await asyncio.to_thread(self.store.request_cancel, execution_id)
            return
        try:
            await self.client.get_workflow_handle(record.temporal_workflow_id).cancel()
        except RPCError as exc:  # the workflow ended meanwhile, or Temporal is unreachable
            record = await asyncio.to_thread(self.store.get_execution, execution_id)
            if record.status not in TERMINAL_EXECUTION_STATUSES:
                raise FlowForgeError(f"execution {execution_id}: cannot cancel: {exc}") from exc

    def running(self) -> int:
        """Runs driven by this process: none, the workers drive them."""
        return 0
