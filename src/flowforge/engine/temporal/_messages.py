"""What the graph workflow and its activities hand each other through Temporal.

Every shape here is recorded in Temporal's histories, which live longer than one release:
fields are only ever added, with defaults, so that an old history still replays. (No
``from __future__ import annotations``: the SDK reads these type hints on every payload, and
strings would be parsed again each time.)
"""

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "WORKFLOW_NAME",
    "Begun",
    "ChildStarted",
    "FrameDraft",
    "JournalInput",
    "RunInput",
    "RunOutcome",
    "StartChild",
    "StepInput",
    "StepResult",
]

WORKFLOW_NAME = "flowforge.run"
"""The Temporal workflow type of every FlowForge run (stable: histories name it)."""


@dataclass
class RunOutcome:
    status: str
    result: Any = None
    error: dict[str, Any] | None = None


@dataclass
class RunInput:
    """Start of a run. ``execution_id`` names the stored run the API created; a run started by
    a Temporal Schedule has none yet and names the catalogue workflow and trigger instead."""

    execution_id: str | None = None
    workflow_id: str | None = None  # catalogue entry (schedules)
    trigger_node: str | None = None  # the cron trigger that fired (schedules)
    cron: str | None = None  # (schedules) the expression and time zone, for the run's input
    timezone: str | None = None
    scheduled_at: str | None = None  # set by the workflow from Temporal's scheduled start time


@dataclass
class FrameDraft:
    """A frame without its ``seq`` (the store numbers frames as they arrive)."""

    node_id: str
    status: str
    started_at: str  # ISO 8601
    attempt: int = 0
    item: int | None = None
    port: str | None = None
    input: Any = None
    output: Any = None
    error: dict[str, Any] | None = None
    wake_at: str | None = None
    ended_at: str | None = None
    duration_ms: float | None = None


@dataclass
class Begun:
    """The run as the workflow needs it to drive it, read (or created) by ``begin``."""

    execution_id: str
    version_id: str = ""
    workflow_name: str = ""
    org_id: str = ""
    depth: int = 0
    source_path: str | None = None
    definition: dict[str, Any] = field(default_factory=dict)
    trigger_types: list[str] = field(default_factory=list)  # node types that are triggers
    input: Any = None
    execution: dict[str, Any] = field(default_factory=dict)  # id, workflow, started_at
    trigger_node: str | None = None
    pinned: dict[str, Any] = field(default_factory=dict)
    frames: list[FrameDraft] = field(default_factory=list)  # the journal so far (re-runs)
    inline: list[str] | None = None  # nodes whose outputs the workflow reads; None: all
    heartbeat_s: float = 10.0  # the workers' settings, recorded in the history with the run
    step_timeout_s: float = 86_400.0
    error: dict[str, Any] | None = None  # the definition cannot run: fail the run with it
    outcome: RunOutcome | None = None  # the run had finished already


@dataclass
class StepInput:
    """One step (a node, or one item of a for_each node) to run as an activity."""

    execution_id: str
    version_id: str
    workflow_name: str
    org_id: str
    node: str
    input: Any
    inputs: dict[str, Any]
    scope: dict[str, Any]  # trigger, input, nodes (those the node reads), execution, item, index
    item: int | None = None
    inline: bool = False  # the workflow reads this output: never pass it by reference
    input_is_inputs: bool = False  # several upstreams: the input is ``inputs`` (each packed)


@dataclass
class StepResult:
    output: Any = None
    port: str = "main"
    park_until: str | None = None  # flow.wait: complete with ``output`` at this time
    started_at: str | None = None  # the attempt's start, for the frame that ends a wait
    attempt: int = 0


@dataclass
class StartChild:
    """A ``flow.subworkflow`` step: its parameters are rendered by the activity."""

    step: StepInput
    depth: int = 0
    source_path: str | None = None


@dataclass
class ChildStarted:
    execution_id: str
    temporal_id: str
    ref: str
    attempt: int
    started_at: str


@dataclass
class JournalInput:
    """Frames and changes to the run that the workflow itself decides (skips, ends of waits
    and of sub-workflows, cancellations, the outcome)."""

    execution_id: str
    frames: list[FrameDraft] = field(default_factory=list)
    update: dict[str, Any] = field(default_factory=dict)
    stopped: list[tuple[str, int | None]] = field(default_factory=list)  # cancelled steps
    stopped_at: str | None = None
    finish: RunOutcome | None = None
