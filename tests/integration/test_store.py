"""The store, on SQL (SQLite or PostgreSQL) and in memory: the same contract for both."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from flowforge.engine.frames import ExecutionFrame, ExecutionRecord, ExecutionStatus, FrameStatus
from flowforge.model import Workflow
from flowforge.store import ExecutionStore, LeaseLost, MemoryStore, NotFound, SqlStore, StoreError
from flowforge.store import _sql as store_module
from flowforge.store._sql import HEAD_REVISION
from flowforge.store._tables import metadata

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WF = Workflow.model_validate({"name": "w", "nodes": [{"id": "s", "type": "flow.start"}]})


@pytest.fixture(params=["sql", "memory"])
def any_store(request: pytest.FixtureRequest, make_store: Callable[[], SqlStore]) -> ExecutionStore:
    return make_store() if request.param == "sql" else MemoryStore()


def new_record(store: ExecutionStore, **kw: Any) -> ExecutionRecord:
    record = ExecutionRecord(
        id=kw.pop("id", str(uuid.uuid4())),
        workflow_version_id=store.put_workflow_version(WF),
        workflow_name=kw.pop("workflow_name", "w"),
        status=kw.pop("status", ExecutionStatus.RUNNING),
        created_at=kw.pop("created_at", T0),
        lease_owner=kw.pop("lease_owner", "me"),
        lease_expires_at=kw.pop("lease_expires_at", T0 + timedelta(seconds=30)),
        lease_token=kw.pop("lease_token", 1),
        **kw,
    )
    store.create_execution(record)
    return record


def frame(execution_id: str, seq: int, **kw: Any) -> ExecutionFrame:
    return ExecutionFrame(
        execution_id, seq, kw.pop("node_id", "n"), kw.pop("status", FrameStatus.COMPLETED), T0, **kw
    )


def test_every_field_round_trips(any_store: ExecutionStore) -> None:
    record = new_record(
        any_store,
        input={"ünïcode": "✓", "n": [1, 2.5, None, True], "empty": {}},
        result=None,
        error={"message": "m", "type": "T"},
        source_path="/x/y.yaml",
        started_at=T0,
        wake_at=T0 + timedelta(hours=1),
        parent_id="p",
        parent_node_id="node[3]",
        depth=2,
    )
    got = any_store.get_execution(record.id)
    assert got == record
    assert got.started_at is not None and got.started_at.tzinfo is not None
    frames = [
        frame(record.id, 1, status=FrameStatus.STARTED, attempt=1, input={"a": None}),
        frame(record.id, 2, output=None, port="true", attempt=1, ended_at=T0, duration_ms=1.5),
        frame(record.id, 3, output={"a": None, "b": [None]}, item=4),
        frame(record.id, 4, status=FrameStatus.WAITING, wake_at=T0 + timedelta(days=2), output="x"),
        frame(record.id, 5, status=FrameStatus.FAILED, error={"message": "boom", "type": "E"}),
    ]
    any_store.append_frames(record.id, 1, frames)
    assert any_store.get_frames(record.id) == frames
    assert any_store.get_frames(record.id, after_seq=3) == frames[3:]


def test_non_utc_times_are_stored_as_the_same_instant(any_store: ExecutionStore) -> None:
    plus_two = datetime(2026, 3, 1, 14, 0, tzinfo=UTC).astimezone(timezone(timedelta(hours=2)))
    record = new_record(any_store, started_at=plus_two)
    assert any_store.get_execution(record.id).started_at == T0 + timedelta(hours=2)


def test_workflow_versions_are_content_addressed(any_store: ExecutionStore) -> None:
    a = any_store.put_workflow_version(WF)
    assert any_store.put_workflow_version(Workflow.model_validate(WF.model_dump())) == a
    other = any_store.put_workflow_version(WF.model_copy(update={"name": "other"}))
    assert other != a and len(a) == 64
    assert any_store.get_workflow_version(a) == WF
    with pytest.raises(NotFound):
        any_store.get_workflow_version("0" * 64)


def test_fencing_refuses_stale_tokens_and_writes_nothing(any_store: ExecutionStore) -> None:
    record = new_record(any_store)
    with pytest.raises(LeaseLost):
        any_store.append_frames(
            record.id, 7, [frame(record.id, 1)], {"status": ExecutionStatus.FAILED}
        )
    assert any_store.get_frames(record.id) == []
    assert any_store.get_execution(record.id).status == ExecutionStatus.RUNNING
    any_store.update_execution(record.id, 1, {"status": ExecutionStatus.WAITING, "wake_at": T0})
    got = any_store.get_execution(record.id)
    assert (got.status, got.wake_at) == (ExecutionStatus.WAITING, T0)


def test_a_duplicate_frame_number_is_refused_whole(any_store: ExecutionStore) -> None:
    record = new_record(any_store)
    any_store.append_frames(record.id, 1, [frame(record.id, 1)])
    with pytest.raises(StoreError, match="cannot be written"):
        any_store.append_frames(
            record.id,
            1,
            [frame(record.id, 2), frame(record.id, 1)],
            {"status": ExecutionStatus.FAILED},
        )
    assert [f.seq for f in any_store.get_frames(record.id)] == [1]
    assert any_store.get_execution(record.id).status == ExecutionStatus.RUNNING


def test_leases(any_store: ExecutionStore) -> None:
    record = new_record(any_store)
    later = T0 + timedelta(seconds=10)
    assert any_store.acquire_lease(record.id, "other", later + timedelta(seconds=30), later) is None
    assert (
        any_store.acquire_lease(record.id, "other", later, later, owner_gone=lambda o: o == "me")
        == 2
    )
    assert not any_store.renew_lease(record.id, 1, later)  # the old owner is fenced off
    assert any_store.renew_lease(record.id, 2, later + timedelta(minutes=1))
    expired = later + timedelta(minutes=2)
    assert (
        any_store.acquire_lease(record.id, "third", expired + timedelta(seconds=30), expired) == 3
    )
    any_store.release_lease(record.id, 2)  # stale: ignored
    assert any_store.get_execution(record.id).lease_owner == "third"
    any_store.release_lease(record.id, 3)
    got = any_store.get_execution(record.id)
    assert (got.lease_owner, got.lease_expires_at, got.lease_token) == (None, None, 3)
    assert any_store.acquire_lease(record.id, "fourth", later, T0) == 4
    with pytest.raises(NotFound):
        any_store.acquire_lease("nope", "x", later, T0)


def test_two_stores_race_for_one_lease_and_one_wins(make_store: Callable[[], SqlStore]) -> None:
    first, second = make_store(), make_store()
    record = new_record(first, lease_owner=None, lease_expires_at=None, lease_token=0)
    results: list[int | None] = []
    barrier = threading.Barrier(8)

    def grab(store: SqlStore, name: str) -> None:
        barrier.wait()
        results.append(store.acquire_lease(record.id, name, T0 + timedelta(minutes=1), T0))

    threads = [
        threading.Thread(target=grab, args=(s, f"o{i}")) for i, s in enumerate([first, second] * 4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r for r in results if r is not None) == [1]
    assert first.get_execution(record.id).lease_token == 1


def test_queries(any_store: ExecutionStore) -> None:
    ids = []
    for i in range(7):
        r = new_record(
            any_store,
            created_at=T0 + timedelta(minutes=i),
            workflow_name="a" if i % 2 else "b",
            status=ExecutionStatus.COMPLETED if i < 3 else ExecutionStatus.RUNNING,
        )
        ids.append(r.id)
    child = new_record(any_store, created_at=T0, parent_id=ids[0], parent_node_id="call")
    newest = any_store.list_executions(limit=3)
    assert [r.id for r in newest] == [ids[6], ids[5], ids[4]]
    page = any_store.list_executions(limit=3, before=(newest[-1].created_at, newest[-1].id))
    assert [r.id for r in page] == [ids[3], ids[2], ids[1]]
    assert {r.id for r in any_store.list_executions(workflow_name="a")} == {ids[1], ids[3], ids[5]}
    assert {r.id for r in any_store.list_executions(status=ExecutionStatus.COMPLETED)} == set(
        ids[:3]
    )
    assert [r.id for r in any_store.list_executions(parent_id=ids[0])] == [child.id]
    assert [r.id for r in any_store.unfinished()] == [child.id, *ids[3:]]
    found = any_store.find_child(ids[0], "call")
    assert found is not None and found.id == child.id
    assert any_store.find_child(ids[0], "other") is None
    assert any_store.cancel_requested(ids) == set()
    assert any_store.request_cancel(ids[4]).cancel_requested
    assert any_store.cancel_requested(ids) == {ids[4]}
    with pytest.raises(NotFound):
        any_store.get_execution("missing")
    with pytest.raises(NotFound):
        any_store.request_cancel("missing")
    with pytest.raises(StoreError):
        new_record(any_store, id=ids[0])


def test_migrated_schema_matches_the_tables(make_store: Callable[[], SqlStore]) -> None:
    store = make_store()
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    config = Config()
    config.set_main_option(
        "script_location", str(Path(store_module.__file__).parent / "migrations")
    )
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION


def test_concurrent_opens_of_a_new_sqlite_file_migrate_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'f.db'}"
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def open_it() -> None:
        barrier.wait()
        try:
            SqlStore(url).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    store = SqlStore(url)
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").all() == [
                (HEAD_REVISION,)
            ]
    finally:
        store.close()
