"""``journal_frames``: the journal as the Temporal driver's activities write it, from many
processes at once and without a lease, each frame once."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, inspect, text

from flowforge.engine.frames import ExecutionFrame, ExecutionRecord, ExecutionStatus, FrameStatus
from flowforge.model import Workflow
from flowforge.store import ExecutionStore, MemoryStore, NotFound, SqlStore, normalize_url
from flowforge.store._sql import MIGRATIONS

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
WF = Workflow.model_validate({"name": "w", "nodes": [{"id": "s", "type": "flow.start"}]})


@pytest.fixture(params=["sql", "memory"])
def any_store(request: pytest.FixtureRequest, make_store: Callable[[], SqlStore]) -> ExecutionStore:
    return make_store() if request.param == "sql" else MemoryStore()


def new_run(store: ExecutionStore, **kw: Any) -> ExecutionRecord:
    record = ExecutionRecord(
        id=str(uuid.uuid4()),
        workflow_version_id=store.put_workflow_version(WF),
        workflow_name="w",
        status=ExecutionStatus.RUNNING,
        created_at=T0,
        temporal_workflow_id=kw.pop("temporal_workflow_id", "twf-1"),
        **kw,
    )
    store.create_execution(record)
    return record


def draft(
    execution_id: str, node: str, status: FrameStatus, attempt: int = 1, **kw: Any
) -> ExecutionFrame:
    return ExecutionFrame(execution_id, 0, node, status, T0, attempt=attempt, **kw)


def test_frames_are_numbered_as_they_arrive_and_written_once(any_store: ExecutionStore) -> None:
    run = new_run(any_store)
    first = any_store.journal_frames(
        run.id,
        [
            draft(run.id, "a", FrameStatus.STARTED),
            draft(run.id, "a", FrameStatus.COMPLETED, output=1),
        ],
    )
    assert [(f.seq, f.node_id, f.status) for f in first] == [
        (1, "a", FrameStatus.STARTED),
        (2, "a", FrameStatus.COMPLETED),
    ]
    # a retried write (the activity ran again) adds nothing; a new attempt is a new frame
    again = any_store.journal_frames(
        run.id,
        [
            draft(run.id, "a", FrameStatus.COMPLETED, output=1),
            draft(run.id, "a", FrameStatus.STARTED, attempt=2),
            draft(run.id, "b", FrameStatus.STARTED, item=0),
            draft(run.id, "b", FrameStatus.STARTED, item=0),  # twice in one call: once
            draft(run.id, "b", FrameStatus.STARTED, item=1),
        ],
        {"status": ExecutionStatus.WAITING, "wake_at": T0 + timedelta(minutes=1)},
    )
    assert [(f.seq, f.node_id, f.attempt, f.item) for f in again] == [
        (3, "a", 2, None),
        (4, "b", 1, 0),
        (5, "b", 1, 1),
    ]
    stored = any_store.get_frames(run.id)
    assert [f.seq for f in stored] == [1, 2, 3, 4, 5]
    assert stored[1].output == 1
    record = any_store.get_execution(run.id)
    assert record.status == ExecutionStatus.WAITING and record.wake_at == T0 + timedelta(minutes=1)
    assert record.temporal_workflow_id == "twf-1"


def test_no_lease_is_needed_and_a_missing_run_is_not_found(any_store: ExecutionStore) -> None:
    run = new_run(any_store, lease_token=7)
    assert any_store.journal_frames(run.id, [draft(run.id, "a", FrameStatus.STARTED)])
    with pytest.raises(NotFound):
        any_store.journal_frames("nope", [draft("nope", "a", FrameStatus.STARTED)])
    assert any_store.get_frames("nope") == []


def test_runs_driven_by_temporal_are_never_taken_over_locally(any_store: ExecutionStore) -> None:
    on_temporal = new_run(any_store)
    local = new_run(any_store, temporal_workflow_id=None)
    assert [r.id for r in any_store.unfinished()] == [local.id]
    assert on_temporal.id not in {r.id for r in any_store.unfinished()}


def test_writers_in_many_threads_and_stores_never_collide(
    make_store: Callable[[], SqlStore],
) -> None:
    """Activities on several workers journal one run at once: every frame lands once, with
    seq numbers 1..n and no gap."""
    stores = [make_store() for _ in range(3)]
    run = new_run(stores[0])
    errors: list[BaseException] = []

    def write(k: int) -> None:
        store = stores[k % len(stores)]
        try:
            for attempt in range(1, 6):
                frames = [
                    draft(run.id, f"n{k}", FrameStatus.STARTED, attempt),
                    draft(run.id, f"n{k}", FrameStatus.RETRYING, attempt),
                ]
                store.journal_frames(run.id, frames)
                store.journal_frames(run.id, frames[:1])  # a retried write
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    frames = stores[1].get_frames(run.id)
    assert [f.seq for f in frames] == list(range(1, 6 * 5 * 2 + 1))
    keys = {(f.node_id, f.attempt, f.status) for f in frames}
    assert len(keys) == len(frames)


def test_a_database_at_0005_gains_the_temporal_column(database_url: str) -> None:
    engine = create_engine(normalize_url(database_url))
    try:
        with engine.begin() as conn:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = conn
            command.upgrade(config, "0005")
        columns = {c["name"] for c in inspect(engine).get_columns("executions")}
        assert "temporal_workflow_id" not in columns
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO workflow_versions (id, name, definition, created_at) "
                    "VALUES ('v1', 'w', '{}', :at)"
                ),
                {"at": T0},
            )
            conn.execute(
                text(
                    "INSERT INTO executions (id, workflow_version_id, workflow_name, status, "
                    "created_at, depth, lease_token, cancel_requested, org_id) VALUES "
                    "('e1', 'v1', 'w', 'RUNNING', :at, 0, 0, :no, 'default')"
                ),
                {"at": T0, "no": False},
            )
    finally:
        engine.dispose()
    store = SqlStore(database_url)
    try:
        record = store.get_execution("e1")
        assert record.temporal_workflow_id is None
        assert [r.id for r in store.unfinished()] == ["e1"]  # still the local engine's
    finally:
        store.close()
