"""The store in memory: for tests, benchmarks and throw-away runs (``--db memory://``)."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import itertools
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from flowforge.connectors.sdk import Blob
from flowforge.engine.frames import (
    TERMINAL_EXECUTION_STATUSES,
    ExecutionFrame,
    ExecutionRecord,
    ExecutionStatus,
    ExecutionUpdate,
)
from flowforge.model import Workflow
from flowforge.store._interface import (
    Append,
    Create,
    Duplicate,
    LastRun,
    LeaseLost,
    NotFound,
    StoreError,
    frame_key,
    write_each,
)
from flowforge.store._tables import version_id

__all__ = ["MemoryStore"]

_UNFINISHED = (ExecutionStatus.PENDING, ExecutionStatus.RUNNING, ExecutionStatus.WAITING)
_RECORD_TIMES = ("created_at", "started_at", "finished_at", "wake_at", "lease_expires_at")
_FRAME_TIMES = ("started_at", "wake_at", "ended_at")
_T = TypeVar("_T", ExecutionRecord, ExecutionFrame)


class MemoryStore:
    """ExecutionStore in dictionaries. Records, frames and definitions are copied in and out,
    as a database would, so that a caller's later change never reaches the stored state."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._versions: dict[str, Workflow] = {}
        self._blobs: dict[str, bytes] = {}
        self._executions: dict[str, ExecutionRecord] = {}
        self._frames: dict[str, list[ExecutionFrame]] = {}

    def put_workflow_version(self, workflow: Workflow) -> str:
        vid = version_id(workflow)
        with self._lock:
            if vid not in self._versions:
                self._versions[vid] = workflow.model_copy(deep=True)
        return vid

    def get_workflow_version(self, version_id: str) -> Workflow:
        with self._lock:
            if version_id not in self._versions:
                raise NotFound(f"no workflow version {version_id!r}")
            return self._versions[version_id].model_copy(deep=True)

    def put_blob(
        self, data: bytes, media_type: str = "application/octet-stream", name: str | None = None
    ) -> Blob:
        digest = hashlib.sha256(data).hexdigest()
        with self._lock:
            self._blobs.setdefault(digest, bytes(data))
        return Blob(blob=digest, media_type=media_type, size=len(data), name=name)

    def get_blob(self, blob_id: str) -> bytes:
        with self._lock:
            if blob_id not in self._blobs:
                raise NotFound(f"no blob {blob_id!r}")
            return self._blobs[blob_id]

    def create_execution(
        self, record: ExecutionRecord, frames: Sequence[ExecutionFrame] = ()
    ) -> None:
        strays = {f.execution_id for f in frames} - {record.id}
        if strays:
            raise StoreError(
                f"execution {record.id}: cannot append frames of executions {sorted(strays)}"
            )
        stored = _stored(record, _RECORD_TIMES)
        stored.status = ExecutionStatus(stored.status)
        journal = sorted((_stored(f, _FRAME_TIMES) for f in frames), key=lambda f: f.seq)
        with self._lock:
            if record.id in self._executions:
                raise StoreError(f"execution {record.id}: cannot be created: the id is taken")
            if record.workflow_version_id not in self._versions:
                raise StoreError(
                    f"execution {record.id}: no workflow version {record.workflow_version_id}"
                )
            if record.dedupe_key is not None:
                for other in self._executions.values():
                    if other.dedupe_key == record.dedupe_key:
                        raise Duplicate(
                            f"execution {other.id} was started for {record.dedupe_key!r} already",
                            other.id,
                        )
            if len({f.seq for f in journal}) != len(journal):
                raise StoreError(f"execution {record.id}: frames repeat a seq")
            self._executions[record.id] = stored
            self._frames[record.id] = journal

    def _get(self, execution_id: str) -> ExecutionRecord:
        record = self._executions.get(execution_id)
        if record is None:
            raise NotFound(f"no execution {execution_id!r}")
        return record

    def get_execution(self, execution_id: str) -> ExecutionRecord:
        with self._lock:
            return copy.deepcopy(self._get(execution_id))

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
        with self._lock:
            rows = [
                r
                for r in self._executions.values()
                if (status is None or r.status == status)
                and (workflow_id is None or r.workflow_id == workflow_id)
                and (org_id is None or r.org_id == org_id)
                and (since is None or r.created_at >= since)
                and (until is None or r.created_at < until)
                and (workflow_name is None or r.workflow_name == workflow_name)
                and (parent_id is None or r.parent_id == parent_id)
                and (before is None or (r.created_at, r.id) < before)
            ]
            rows.sort(key=lambda r: (r.created_at, r.id), reverse=True)
            return [copy.deepcopy(r) for r in rows[:limit]]

    def last_runs(self, workflow_ids: Sequence[str]) -> dict[str, LastRun]:
        wanted = set(workflow_ids)
        newest: dict[str, ExecutionRecord] = {}
        with self._lock:
            for r in self._executions.values():
                wid = r.workflow_id
                if wid is not None and wid in wanted:
                    known = newest.get(wid)
                    if known is None or (r.created_at, r.id) > (known.created_at, known.id):
                        newest[wid] = r
        return {
            wid: LastRun(wid, r.id, r.status, r.created_at, r.finished_at)
            for wid, r in newest.items()
        }

    def count_executions(self) -> dict[ExecutionStatus, int]:
        with self._lock:
            counts = Counter(r.status for r in self._executions.values())
        return {status: counts.get(status, 0) for status in ExecutionStatus}

    def delete_execution(self, execution_id: str) -> None:
        with self._lock:
            self._get(execution_id)
            self._delete_tree([execution_id])

    def prune_executions(self, finished_before: datetime, limit: int = 1000) -> int:
        with self._lock:
            ids = [
                r.id
                for r in self._executions.values()
                if r.parent_id is None
                and r.status in TERMINAL_EXECUTION_STATUSES
                and r.finished_at is not None
                and r.finished_at < finished_before
            ][:limit]
            self._delete_tree(ids)
            return len(ids)

    def _delete_tree(self, roots: list[str]) -> None:
        level = set(roots)
        while level:
            for execution_id in level:
                self._executions.pop(execution_id, None)
                self._frames.pop(execution_id, None)
            level = {r.id for r in self._executions.values() if r.parent_id in level}

    def find_child(self, parent_id: str, parent_node_id: str) -> ExecutionRecord | None:
        with self._lock:
            children = [
                r
                for r in self._executions.values()
                if r.parent_id == parent_id and r.parent_node_id == parent_node_id
            ]
            children.sort(key=lambda r: (r.created_at, r.id))
            return copy.deepcopy(children[-1]) if children else None

    def unfinished(self, limit: int = 1000) -> list[ExecutionRecord]:
        with self._lock:
            rows = [
                r
                for r in self._executions.values()
                if r.status in _UNFINISHED and r.temporal_workflow_id is None
            ]
            rows.sort(key=lambda r: (r.created_at, r.id))
            return [copy.deepcopy(r) for r in rows[:limit]]

    def get_frames(self, execution_id: str, after_seq: int = 0) -> list[ExecutionFrame]:
        with self._lock:
            journal = self._frames.get(execution_id, [])
            return [copy.deepcopy(f) for f in journal if f.seq > after_seq]

    def write_batch(
        self, creates: Sequence[Create], appends: Sequence[Append]
    ) -> list[Exception | None]:
        return write_each(self, creates, appends)

    def append_frames(
        self,
        execution_id: str,
        lease_token: int,
        frames: Sequence[ExecutionFrame],
        update: ExecutionUpdate | None = None,
    ) -> None:
        strays = {f.execution_id for f in frames} - {execution_id}
        if strays:
            raise StoreError(
                f"execution {execution_id}: cannot append frames of executions {sorted(strays)}"
            )
        new_frames = [_stored(f, _FRAME_TIMES) for f in frames]
        changes: dict[str, Any] = copy.deepcopy(dict(update or {}))
        for key in changes.keys() & set(_RECORD_TIMES):
            changes[key] = _utc(changes[key])
        if "status" in changes:
            changes["status"] = ExecutionStatus(changes["status"])
        with self._lock:
            record = self._get(execution_id)
            if record.lease_token != lease_token:
                raise LeaseLost(
                    f"execution {execution_id}: lease token {lease_token} is no longer current"
                )
            journal = self._frames[execution_id]
            taken = {f.seq for f in journal}
            new = [f.seq for f in frames]
            if taken.intersection(new) or len(set(new)) != len(new):
                raise StoreError(
                    f"execution {execution_id}: frames {new} cannot be written: seq taken"
                )
            tail = journal[-1:]
            journal.extend(new_frames)
            if any(x.seq > y.seq for x, y in itertools.pairwise([*tail, *new_frames])):
                journal.sort(key=lambda f: f.seq)  # read back in seq order, as from SQL
            for key, value in changes.items():
                setattr(record, key, value)

    def update_execution(
        self, execution_id: str, lease_token: int, update: ExecutionUpdate
    ) -> None:
        self.append_frames(execution_id, lease_token, (), update)

    def journal_frames(
        self,
        execution_id: str,
        frames: Sequence[ExecutionFrame],
        update: ExecutionUpdate | None = None,
    ) -> list[ExecutionFrame]:
        with self._lock:
            record = self._get(execution_id)
            journal = self._frames[execution_id]
            seen = {frame_key(f) for f in journal}
            added: list[ExecutionFrame] = []
            for frame in frames:
                if frame.execution_id != execution_id:
                    raise StoreError(
                        f"execution {execution_id}: cannot append a frame of {frame.execution_id}"
                    )
                if frame_key(frame) in seen:
                    continue
                seen.add(frame_key(frame))
                seq = (journal[-1].seq if journal else 0) + 1
                stored = _stored(dataclasses.replace(frame, seq=seq), _FRAME_TIMES)
                journal.append(stored)
                added.append(copy.deepcopy(stored))
            changes: dict[str, Any] = copy.deepcopy(dict(update or {}))
            for key in changes.keys() & set(_RECORD_TIMES):
                changes[key] = _utc(changes[key])
            if "status" in changes:
                changes["status"] = ExecutionStatus(changes["status"])
            for key, value in changes.items():
                setattr(record, key, value)
            return added

    def acquire_lease(
        self,
        execution_id: str,
        owner: str,
        expires_at: datetime,
        now: datetime,
        owner_gone: Callable[[str], bool] = lambda owner: False,
    ) -> int | None:
        # As in SqlStore: ``owner_gone`` runs without the lock (it may be slow, or call the
        # store), and the lease is taken only if nothing changed meanwhile.
        with self._lock:
            record = self._get(execution_id)
            held = (record.lease_token, record.lease_owner, record.lease_expires_at)
        token, holder, expiry = held
        if holder is not None and expiry is not None and expiry > now and not owner_gone(holder):
            return None
        with self._lock:
            if (record.lease_token, record.lease_owner, record.lease_expires_at) != held:
                return None
            record.lease_token = token + 1
            record.lease_owner, record.lease_expires_at = owner, _utc(expires_at)
            return record.lease_token

    def renew_lease(self, execution_id: str, lease_token: int, expires_at: datetime) -> bool:
        with self._lock:
            record = self._executions.get(execution_id)
            if record is None or record.lease_token != lease_token:
                return False
            record.lease_expires_at = _utc(expires_at)
            return True

    def release_lease(self, execution_id: str, lease_token: int) -> None:
        with self._lock:
            record = self._executions.get(execution_id)
            if record is not None and record.lease_token == lease_token:
                record.lease_owner = record.lease_expires_at = None

    def request_cancel(self, execution_id: str) -> ExecutionRecord:
        with self._lock:
            record = self._get(execution_id)
            record.cancel_requested = True
            return copy.deepcopy(record)

    def cancel_requested(self, execution_ids: Sequence[str]) -> set[str]:
        with self._lock:
            return {
                i
                for i in execution_ids
                if (r := self._executions.get(i)) is not None and r.cancel_requested
            }

    def close(self) -> None:
        """Nothing to release."""


def _utc(moment: datetime | None) -> datetime | None:
    """The time in UTC, as the SQL store gives it back; naive times are refused there too."""
    if moment is None or moment.tzinfo is UTC:
        return moment
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: the store keeps aware UTC times only")
    return moment.astimezone(UTC)


def _stored(value: _T, times: tuple[str, ...]) -> _T:
    """A deep copy of a record or frame with its times in UTC."""
    value = copy.deepcopy(value)
    moved: dict[str, Any] = {name: _utc(getattr(value, name)) for name in times}
    if any(moved[name] is not getattr(value, name) for name in times):
        value = dataclasses.replace(value, **moved)
    return value
