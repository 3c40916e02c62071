"""The Temporal driver: the same workflows on a Temporal cluster, with ``flowforge worker``
processes on as many machines as needed (see docs/production.md)."""

from flowforge.engine.temporal._activities import Activities, schedule_execution_id
from flowforge.engine.temporal._converter import DATA_CONVERTER, with_converter
from flowforge.engine.temporal._engine import TemporalEngine
from flowforge.engine.temporal._messages import WORKFLOW_NAME, RunInput, RunOutcome
from flowforge.engine.temporal._schedules import ScheduleSync, schedule_id
from flowforge.engine.temporal._worker import WorkerOptions, connect, worker, workflow_runner
from flowforge.engine.temporal._workflow import GraphWorkflow

__all__ = [
    "DATA_CONVERTER",
    "WORKFLOW_NAME",
    "Activities",
    "GraphWorkflow",
    "RunInput",
    "RunOutcome",
    "ScheduleSync",
    "TemporalEngine",
    "WorkerOptions",
    "connect",
    "schedule_execution_id",
    "schedule_id",
    "with_converter",
    "worker",
    "workflow_runner",
]
