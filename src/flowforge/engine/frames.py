"""ExecutionFrame, the journal entry written at every node ingress and egress, and run records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TypedDict

__all__ = [
    "DEFAULT_ORG",
    "TERMINAL_EXECUTION_STATUSES",
    "ExecutionFrame",
    "ExecutionRecord",
    "ExecutionStatus",
    "ExecutionUpdate",
    "FrameStatus",
]


DEFAULT_ORG = "default"
"""The organisation a fresh server starts with, and of runs started outside the server (the
CLI's local runs): every run and credential belongs to exactly one organisation."""


class ExecutionStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    WAITING = "WAITING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


TERMINAL_EXECUTION_STATUSES = frozenset(
    {ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED}
)


class FrameStatus(StrEnum):
    """What a frame records. ``started`` is an ingress; every other status is an egress."""

    STARTED = "started"
    COMPLETED = "completed"
    RETRYING = "retrying"  # this attempt failed and another one follows
    FAILED = "failed"  # the last attempt failed: the node has failed
    SKIPPED = "skipped"  # dead-path elimination decided not to run the node
    WAITING = "waiting"  # parked by flow.wait until ``wake_at``
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # the process driving the attempt died; written on resume


@dataclass(frozen=True, slots=True)
class ExecutionFrame:
    """One journal entry. ``seq`` numbers the frames of an execution from 1 without gaps."""

    execution_id: str
    seq: int
    node_id: str
    status: FrameStatus
    started_at: datetime
    attempt: int = 0
    item: int | None = None  # the for_each index, None for a node without for_each
    port: str | None = None
    input: Any = None
    output: Any = None
    error: dict[str, Any] | None = None
    wake_at: datetime | None = None
    ended_at: datetime | None = None
    duration_ms: float | None = None


@dataclass(slots=True)
class ExecutionRecord:
    """One run of a workflow version, as the store keeps it."""

    id: str
    workflow_version_id: str
    workflow_name: str
    status: ExecutionStatus
    created_at: datetime
    input: Any = None
    result: Any = None
    error: dict[str, Any] | None = None
    source_path: str | None = None  # the definition file, to resolve relative sub-workflows
    started_at: datetime | None = None
    finished_at: datetime | None = None
    wake_at: datetime | None = None
    parent_id: str | None = None
    parent_node_id: str | None = None
    depth: int = 0  # sub-workflow nesting depth
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    lease_token: int = 0
    cancel_requested: bool = False
    workflow_id: str | None = None  # the catalogue entry it ran for; None for a file run
    trigger_node: str | None = None  # the trigger that fired; other triggers are skipped
    dedupe_key: str | None = None  # unique: a webhook delivery or cron tick starts one run
    retry_of: str | None = None  # the run this one retries or re-runs from a node
    pinned: dict[str, Any] | None = None  # node id -> the input a re-run gives that node
    org_id: str = DEFAULT_ORG  # whose run it is: its credentials, who may see it
    temporal_workflow_id: str | None = None  # the Temporal workflow driving it, if any


class ExecutionUpdate(TypedDict, total=False):
    """The execution columns a driver may change; absent keys stay as they are."""

    status: ExecutionStatus
    result: Any
    error: dict[str, Any] | None
    started_at: datetime | None
    finished_at: datetime | None
    wake_at: datetime | None
    lease_owner: str | None  # None with lease_expires_at None gives the lease up
    lease_expires_at: datetime | None
