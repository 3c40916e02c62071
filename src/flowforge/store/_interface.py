"""The store interface every backend implements: workflow versions, executions and the journal."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from flowforge.connectors.sdk import Blob
from flowforge.engine.frames import (
    ExecutionFrame,
    ExecutionRecord,
    ExecutionStatus,
    ExecutionUpdate,
)
from flowforge.errors import FlowForgeError
from flowforge.model import Workflow

__all__ = [
    "Append",
    "Conflict",
    "Create",
    "Duplicate",
    "ExecutionStore",
    "LastRun",
    "LeaseLost",
    "NotFound",
    "StoreError",
    "frame_key",
    "write_each",
]

Create = tuple[ExecutionRecord, Sequence[ExecutionFrame]]
"""A new execution and its first frames, as ``create_execution`` takes them."""
Append = tuple[str, int, Sequence[ExecutionFrame], ExecutionUpdate | None]
"""Frames and an update for one execution, fenced by a lease token, as ``append_frames``."""


class Conflict(FlowForgeError):
    """The change collides with the stored state (a name or webhook path in use, a stale
    version, a taken e-mail address); nothing was written. ``field`` names what collided."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class LeaseLost(FlowForgeError):
    """The caller's fencing token is stale: another process now drives this execution."""


class NotFound(FlowForgeError):
    """No such workflow version or execution."""


class StoreError(FlowForgeError):
    """A write the store refused as it stands (a duplicate id or frame number); nothing of it
    was written."""


class Duplicate(StoreError):
    """An execution with this ``dedupe_key`` exists already: the same delivery or tick."""

    def __init__(self, message: str, execution_id: str) -> None:
        super().__init__(message)
        self.execution_id = execution_id


@dataclass(frozen=True, slots=True)
class LastRun:
    """The newest run of a catalogue workflow, as a list of workflows shows it."""

    workflow_id: str
    id: str
    status: ExecutionStatus
    created_at: datetime
    finished_at: datetime | None


class ExecutionStore(Protocol):
    """Durable state of runs. Methods are synchronous; async drivers call them off the loop.

    Writes that carry a ``lease_token`` are fenced: they raise LeaseLost unless the token is
    the execution's current one, and then change nothing.
    """

    def put_workflow_version(self, workflow: Workflow) -> str:
        """Store the definition (idempotent) and give its id, a hash of its canonical JSON."""
        ...

    def put_blob(
        self, data: bytes, media_type: str = "application/octet-stream", name: str | None = None
    ) -> Blob:
        """Keep binary data once per content; give the reference nodes pass on."""
        ...

    def get_blob(self, blob_id: str) -> bytes:
        """The bytes of a stored blob; NotFound if absent."""
        ...

    def get_workflow_version(self, version_id: str) -> Workflow:
        """The stored definition; NotFound if there is none."""
        ...

    def create_execution(
        self, record: ExecutionRecord, frames: Sequence[ExecutionFrame] = ()
    ) -> None:
        """Insert a new execution (its lease fields as given) and its first frames, in one
        transaction; Duplicate if its ``dedupe_key`` is taken, and then nothing is written."""
        ...

    def get_execution(self, execution_id: str) -> ExecutionRecord:
        """The execution; NotFound if there is none."""
        ...

    def list_executions(
        self,
        *,
        status: ExecutionStatus | None = None,
        workflow_name: str | None = None,
        parent_id: str | None = None,
        workflow_id: str | None = None,
        org_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        before: tuple[datetime, str] | None = None,
    ) -> list[ExecutionRecord]:
        """Newest first, created in [since, until), of one organisation if ``org_id`` is
        given; ``before`` is the (created_at, id) cursor of the last row seen."""
        ...

    def last_runs(self, workflow_ids: Sequence[str]) -> dict[str, LastRun]:
        """The newest run (by creation) of each of these catalogue workflows that has one,
        by workflow id: one query for a whole page of workflows."""
        ...

    def count_executions(self) -> dict[ExecutionStatus, int]:
        """How many executions there are in each status."""
        ...

    def delete_execution(self, execution_id: str) -> None:
        """Delete an execution with its frames and its sub-workflow runs; NotFound if none."""
        ...

    def prune_executions(self, finished_before: datetime, limit: int = 1000) -> int:
        """Delete up to ``limit`` top-level runs finished before a time (with their frames and
        sub-workflow runs); give how many were deleted."""
        ...

    def find_child(self, parent_id: str, parent_node_id: str) -> ExecutionRecord | None:
        """The sub-workflow execution a node of ``parent_id`` started, if it did."""
        ...

    def get_frames(self, execution_id: str, after_seq: int = 0) -> list[ExecutionFrame]:
        """The journal of an execution in ``seq`` order."""
        ...

    def append_frames(
        self,
        execution_id: str,
        lease_token: int,
        frames: Sequence[ExecutionFrame],
        update: ExecutionUpdate | None = None,
    ) -> None:
        """Append frames and apply ``update`` in one transaction (fenced); NotFound if the
        execution does not exist."""
        ...

    def update_execution(
        self, execution_id: str, lease_token: int, update: ExecutionUpdate
    ) -> None:
        """Change execution columns (fenced); NotFound if the execution does not exist."""
        ...

    def write_batch(
        self, creates: Sequence[Create], appends: Sequence[Append]
    ) -> list[Exception | None]:
        """Many ``create_execution`` then ``append_frames`` calls at once (the journal's group
        commit), each with its own outcome: one result per item, creates first, None where it
        was written and the error where it was not. One item's failure (a lost lease, a
        duplicate key) writes nothing of that item and does not stop the others."""
        ...

    def acquire_lease(
        self,
        execution_id: str,
        owner: str,
        expires_at: datetime,
        now: datetime,
        owner_gone: Callable[[str], bool] = lambda owner: False,
    ) -> int | None:
        """Take the lease when it is free, expired, or held by an owner that ``owner_gone``
        says is dead; give the new fencing token, or None when someone else holds it."""
        ...

    def renew_lease(self, execution_id: str, lease_token: int, expires_at: datetime) -> bool:
        """Extend the lease; False (never an exception) when the token is stale."""
        ...

    def release_lease(self, execution_id: str, lease_token: int) -> None:
        """Give the lease up (fenced, but a stale token is ignored)."""
        ...

    def unfinished(self, limit: int = 1000) -> list[ExecutionRecord]:
        """Executions not finished (PENDING, RUNNING, WAITING) that no Temporal workflow
        drives, oldest first; whether one can be taken over is for ``acquire_lease`` to decide."""
        ...

    def journal_frames(
        self,
        execution_id: str,
        frames: Sequence[ExecutionFrame],
        update: ExecutionUpdate | None = None,
    ) -> list[ExecutionFrame]:
        """Append frames that several processes write at once, without a lease (the Temporal
        driver's activities: Temporal decides who drives a run). Each frame gets the next
        ``seq`` (its own is ignored); a frame whose node, item, attempt and status are in the
        journal already is skipped, so a retried write adds nothing. Gives the frames added."""
        ...

    def request_cancel(self, execution_id: str) -> ExecutionRecord:
        """Flag the execution for cancellation by whichever process drives it."""
        ...

    def cancel_requested(self, execution_ids: Sequence[str]) -> set[str]:
        """Which of these executions have a cancellation request."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def frame_key(frame: ExecutionFrame) -> tuple[str, int | None, int, str]:
    """What makes a frame written by ``journal_frames`` unique in its execution."""
    return (frame.node_id, frame.item, frame.attempt, str(frame.status))


def write_each(
    store: ExecutionStore, creates: Sequence[Create], appends: Sequence[Append]
) -> list[Exception | None]:
    """``write_batch`` one item at a time, each in its own transaction."""
    results: list[Exception | None] = []
    for record, frames in creates:
        try:
            store.create_execution(record, frames)
            results.append(None)
        except Exception as exc:
            results.append(exc)
    for execution_id, token, frames, update in appends:
        try:
            store.append_frames(execution_id, token, frames, update)
            results.append(None)
        except Exception as exc:
            results.append(exc)
    return results
