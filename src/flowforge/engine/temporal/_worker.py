"""Temporal workers: the process ``flowforge worker`` runs, on as many machines as needed.

A worker polls one task queue for both workflow tasks (the graph workflow, which is pure
scheduling) and activity tasks (steps, which do the work). Every worker opens the FlowForge
store, so that steps journal their frames where the API reads them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from flowforge.config import Settings
from flowforge.connectors.sdk import CredentialSource, Registry
from flowforge.engine.frames import ExecutionRecord
from flowforge.engine.steps import Steps
from flowforge.engine.temporal._activities import Activities
from flowforge.engine.temporal._converter import DATA_CONVERTER, with_converter
from flowforge.engine.temporal._engine import TemporalEngine
from flowforge.engine.temporal._messages import RunOutcome
from flowforge.engine.temporal._workflow import GraphWorkflow
from flowforge.store import ExecutionStore

__all__ = ["WorkerOptions", "connect", "worker", "workflow_runner"]

log = logging.getLogger("flowforge.temporal")

# Modules the workflow sandbox takes from the worker as they are instead of importing them
# again for every run: FlowForge's pure scheduler and what it stands on. None of them reads a
# clock or randomness on the workflow's path (plan.py's promise, checked by the replay tests).
PASSTHROUGH = ("flowforge", "pydantic", "pydantic_core", "jinja2", "markupsafe", "yaml", "re2")


async def connect(settings: Settings) -> Client:
    """A client of the Temporal cluster the settings name."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        tls=settings.temporal_tls or settings.temporal_api_key is not None,
        api_key=settings.temporal_api_key,
        data_converter=DATA_CONVERTER,
    )


def workflow_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)
    )


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    task_queue: str = "flowforge"
    max_activities: int = 64
    max_workflow_tasks: int = 64
    inline_bytes: int = 256 * 1024
    heartbeat_s: float = 10.0
    step_timeout_s: float = 86_400.0
    shutdown_s: float = 0.0  # flowforge worker: FLOWFORGE_WORKER_SHUTDOWN_S
    http_allow: Sequence[str] = ()
    confine_files: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerOptions:
        return cls(
            task_queue=settings.temporal_task_queue,
            max_activities=settings.worker_max_activities,
            max_workflow_tasks=settings.worker_max_workflow_tasks,
            inline_bytes=settings.temporal_inline_bytes,
            heartbeat_s=settings.temporal_heartbeat_s,
            step_timeout_s=settings.temporal_step_timeout_s,
            shutdown_s=settings.worker_shutdown_s,
            http_allow=settings.http_allow_list(),
        )


@asynccontextmanager
async def worker(
    client: Client,
    store: ExecutionStore,
    registry: Registry,
    credentials: CredentialSource,
    options: WorkerOptions,
    *,
    catalog: object = None,
) -> AsyncIterator[Worker]:
    """A running worker (polling until the block ends) of workflows and steps.

    With a ``catalog``, a run that fails starts the error workflows of its organisation, as
    the local server does.
    """
    client = with_converter(client)
    steps = Steps(registry, credentials, store, http_allow=options.http_allow)
    starter = TemporalEngine(store, registry, client, task_queue=options.task_queue)

    async def on_failed(record: ExecutionRecord, outcome: RunOutcome) -> None:
        if catalog is None:
            return
        from flowforge.triggers.errors import fire_error_triggers

        await fire_error_triggers(catalog, starter, record, outcome.status, outcome.error)

    activities = Activities(
        store,
        registry,
        steps,
        inline_bytes=options.inline_bytes,
        heartbeat_s=options.heartbeat_s,
        step_timeout_s=options.step_timeout_s,
        catalog=catalog,
        confine_files=options.confine_files,
        on_failed=on_failed,
    )
    w = Worker(
        client,
        task_queue=options.task_queue,
        workflows=[GraphWorkflow],
        activities=activities.all(),
        workflow_runner=workflow_runner(),
        max_concurrent_activities=options.max_activities,
        max_concurrent_workflow_tasks=options.max_workflow_tasks,
        max_concurrent_local_activities=options.max_activities,
        graceful_shutdown_timeout=timedelta(seconds=options.shutdown_s),
        # a run cached on a worker that died moves on to another after this long (as its steps
        # do after the heartbeat timeout), instead of after Temporal's 10 s
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=min(10.0, options.heartbeat_s)),
    )
    task = asyncio.create_task(w.run(), name="flowforge-temporal-worker")
    try:
        yield w
    finally:
        await w.shutdown()
        try:
            await task
        except Exception:
            log.exception("the Temporal worker stopped with an error")
        steps.close()
