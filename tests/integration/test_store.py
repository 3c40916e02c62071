"""The store, on SQL (SQLite or PostgreSQL) and in memory: the same contract for both."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import time
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
from sqlalchemy import event, func, select, text

from flowforge.engine.frames import ExecutionFrame, ExecutionRecord, ExecutionStatus, FrameStatus
from flowforge.model import Workflow
from flowforge.store import (
    Duplicate,
    ExecutionStore,
    LeaseLost,
    MemoryStore,
    NotFound,
    SqlStore,
    StoreError,
    WorkflowCatalog,
    normalize_url,
    open_store,
)
from flowforge.store._sql import HEAD_REVISION, MIGRATIONS
from flowforge.store._tables import execution_frames, metadata, workflow_versions

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


# -- round trips


def test_every_field_round_trips(any_store: ExecutionStore) -> None:
    record = new_record(
        any_store,
        input={"ünïcode": "✓ 日本", "n": [1, 2.5, None, True], "empty": {}, "deep": {"a": [{}]}},
        result=None,
        error={"message": "m", "type": "T"},
        source_path="/x/y.yaml",
        started_at=T0,
        finished_at=T0 + timedelta(microseconds=1),
        wake_at=T0 + timedelta(hours=1),
        parent_id="p",
        parent_node_id="node[3]",
        depth=2,
        cancel_requested=True,
    )
    got = any_store.get_execution(record.id)
    assert got == record
    for moment in (got.created_at, got.started_at, got.finished_at, got.lease_expires_at):
        assert moment is not None and moment.utcoffset() == timedelta(0)
    frames = [
        frame(record.id, 1, status=FrameStatus.STARTED, attempt=1, input={"a": None}),
        frame(record.id, 2, output=None, port="true", attempt=1, ended_at=T0, duration_ms=1.5),
        frame(record.id, 3, output={"a": None, "b": [None]}, item=4),
        frame(record.id, 4, status=FrameStatus.WAITING, wake_at=T0 + timedelta(days=2), output="x"),
        frame(record.id, 5, status=FrameStatus.FAILED, error={"message": "boom", "type": "E"}),
        frame(record.id, 6, output=[None, "ß", 0, -1.25e300, False], input="null"),
    ]
    any_store.append_frames(record.id, 1, frames)
    assert any_store.get_frames(record.id) == frames
    assert any_store.get_frames(record.id, after_seq=3) == frames[3:]
    assert any_store.get_frames(record.id, after_seq=6) == []
    assert any_store.get_frames("no such execution") == []


def test_a_null_payload_is_json_null_and_no_error_is_sql_null(
    make_store: Callable[[], SqlStore],
) -> None:
    store = make_store()
    record = new_record(store)
    store.append_frames(record.id, 1, [frame(record.id, 1, output=None)])
    with store.engine.connect() as conn:
        row = conn.execute(
            select(
                execution_frames.c.output.is_(None).label("output_is_sql_null"),
                execution_frames.c.error.is_(None).label("error_is_sql_null"),
            )
        ).one()
    assert (row.output_is_sql_null, row.error_is_sql_null) == (False, True)


def test_non_utc_times_are_stored_as_the_same_instant(any_store: ExecutionStore) -> None:
    plus_two = datetime(2026, 3, 1, 14, 0, tzinfo=UTC).astimezone(timezone(timedelta(hours=2)))
    record = new_record(any_store, started_at=plus_two)
    started = any_store.get_execution(record.id).started_at
    assert started == T0 + timedelta(hours=2)
    assert started is not None and started.utcoffset() == timedelta(0)


def test_naive_times_are_refused(any_store: ExecutionStore) -> None:
    naive = datetime(2026, 3, 1, 12, 0)
    with pytest.raises(Exception, match="naive datetime"):
        new_record(any_store, started_at=naive)
    record = new_record(any_store)
    with pytest.raises(Exception, match="naive datetime"):
        any_store.append_frames(record.id, 1, [frame(record.id, 1, ended_at=naive)])
    assert any_store.get_frames(record.id) == []


def test_callers_cannot_change_what_is_stored(any_store: ExecutionStore) -> None:
    record = new_record(any_store, input={"a": [1]})
    record.input["a"].append(2)
    got = any_store.get_execution(record.id)
    assert got.input == {"a": [1]}
    got.input["a"].append(3)
    assert any_store.get_execution(record.id).input == {"a": [1]}
    written = frame(record.id, 1, output={"k": [1]})
    any_store.append_frames(record.id, 1, [written])
    written.output["k"].append(2)
    any_store.get_frames(record.id)[0].output["k"].append(3)
    assert any_store.get_frames(record.id)[0].output == {"k": [1]}
    flow = Workflow.model_validate(
        {"name": "p", "nodes": [{"id": "s", "type": "flow.set", "params": {"v": [1]}}]}
    )
    vid = any_store.put_workflow_version(flow)
    flow.nodes[0].params["v"].append(2)
    any_store.get_workflow_version(vid).nodes[0].params["v"].append(3)
    assert any_store.get_workflow_version(vid).nodes[0].params == {"v": [1]}


# -- workflow versions


def test_workflow_versions_are_content_addressed(any_store: ExecutionStore) -> None:
    a = any_store.put_workflow_version(WF)
    assert any_store.put_workflow_version(Workflow.model_validate(WF.model_dump())) == a
    other = any_store.put_workflow_version(WF.model_copy(update={"name": "other"}))
    assert other != a and len(a) == 64
    assert any_store.get_workflow_version(a) == WF
    with pytest.raises(NotFound):
        any_store.get_workflow_version("0" * 64)


def test_a_version_id_is_the_hash_of_the_canonical_json(any_store: ExecutionStore) -> None:
    flow = Workflow.model_validate(
        {"name": "ünï", "vars": {"b": 1, "a": "✓"}, "nodes": [{"id": "s", "type": "flow.start"}]}
    )
    canonical = json.dumps(
        flow.model_dump(mode="json", exclude_defaults=True), sort_keys=True, separators=(",", ":")
    )
    vid = any_store.put_workflow_version(flow)
    assert vid == hashlib.sha256(canonical.encode()).hexdigest()
    assert any_store.get_workflow_version(vid) == flow
    # stored as written: the same id, the keys in their own order
    assert list(any_store.get_workflow_version(vid).vars) == ["b", "a"]


def test_a_version_is_stored_once(make_store: Callable[[], SqlStore]) -> None:
    first, second = make_store(), make_store()
    ids = {first.put_workflow_version(WF), second.put_workflow_version(WF)}
    ids.add(first.put_workflow_version(WF))
    with first.engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(workflow_versions)).scalar()
    assert (len(ids), count) == (1, 1)


# -- the journal and fencing


def test_blobs_are_kept_once_per_content(any_store: ExecutionStore) -> None:
    data = bytes(range(256)) * 1000
    first = any_store.put_blob(data, "application/pdf", "a.pdf")
    again = any_store.put_blob(data, "image/png", None)
    assert first.blob == again.blob == hashlib.sha256(data).hexdigest()
    assert (first.size, first.media_type, first.name) == (256_000, "application/pdf", "a.pdf")
    assert again.media_type == "image/png" and again.name is None
    assert any_store.get_blob(first.blob) == data
    assert any_store.get_blob(any_store.put_blob(b"").blob) == b""
    with pytest.raises(NotFound, match="no blob"):
        any_store.get_blob("0" * 64)


def test_frames_come_back_in_seq_order(any_store: ExecutionStore) -> None:
    record = new_record(any_store)
    any_store.append_frames(record.id, 1, [frame(record.id, 3), frame(record.id, 1)])
    any_store.append_frames(record.id, 1, [frame(record.id, 2)])
    assert [f.seq for f in any_store.get_frames(record.id)] == [1, 2, 3]
    assert [f.seq for f in any_store.get_frames(record.id, after_seq=1)] == [2, 3]


def test_fencing_refuses_stale_tokens_and_writes_nothing(any_store: ExecutionStore) -> None:
    record = new_record(any_store)
    with pytest.raises(LeaseLost):
        any_store.append_frames(
            record.id, 7, [frame(record.id, 1)], {"status": ExecutionStatus.FAILED}
        )
    with pytest.raises(LeaseLost):
        any_store.update_execution(record.id, 0, {"status": ExecutionStatus.FAILED})
    assert any_store.get_frames(record.id) == []
    assert any_store.get_execution(record.id).status == ExecutionStatus.RUNNING
    any_store.update_execution(record.id, 1, {"status": ExecutionStatus.WAITING, "wake_at": T0})
    got = any_store.get_execution(record.id)
    assert (got.status, got.wake_at) == (ExecutionStatus.WAITING, T0)
    any_store.append_frames(record.id, 1, [], {"result": {"r": None}, "error": None})
    got = any_store.get_execution(record.id)
    assert (got.result, got.error) == ({"r": None}, None)


def test_a_taken_over_run_cannot_write_with_its_old_token(
    make_store: Callable[[], SqlStore],
) -> None:
    old, new = make_store(), make_store()
    record = new_record(old)
    later = T0 + timedelta(minutes=5)
    assert new.acquire_lease(record.id, "new", later + timedelta(seconds=30), later) == 2
    with pytest.raises(LeaseLost):
        old.append_frames(record.id, 1, [frame(record.id, 1)], {"status": ExecutionStatus.FAILED})
    new.append_frames(record.id, 2, [frame(record.id, 1, node_id="by-new")])
    assert [f.node_id for f in old.get_frames(record.id)] == ["by-new"]
    assert old.get_execution(record.id).status == ExecutionStatus.RUNNING


def test_writes_to_a_missing_execution_are_not_found(any_store: ExecutionStore) -> None:
    with pytest.raises(NotFound):
        any_store.append_frames("missing", 1, [frame("missing", 1)])
    with pytest.raises(NotFound):
        any_store.update_execution("missing", 1, {"status": ExecutionStatus.FAILED})
    assert not any_store.renew_lease("missing", 1, T0)
    any_store.release_lease("missing", 1)  # nothing to release: ignored


def test_frames_of_another_execution_are_refused(any_store: ExecutionStore) -> None:
    record, other = new_record(any_store), new_record(any_store)
    with pytest.raises(StoreError, match="cannot append frames"):
        any_store.append_frames(record.id, 1, [frame(record.id, 1), frame(other.id, 1)])
    assert any_store.get_frames(record.id) == any_store.get_frames(other.id) == []


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
    with pytest.raises(StoreError, match="cannot be written"):
        any_store.append_frames(record.id, 1, [frame(record.id, 2), frame(record.id, 2)])
    assert [f.seq for f in any_store.get_frames(record.id)] == [1]
    assert any_store.get_execution(record.id).status == ExecutionStatus.RUNNING


def test_a_batch_writes_each_item_or_names_its_error(any_store: ExecutionStore) -> None:
    running, stale = new_record(any_store), new_record(any_store)
    version = any_store.put_workflow_version(WF)

    def fresh(**kw: Any) -> ExecutionRecord:
        return ExecutionRecord(
            str(uuid.uuid4()), version, "w", ExecutionStatus.RUNNING, T0, lease_token=1, **kw
        )

    first, second = fresh(dedupe_key="k"), fresh()
    # all good: one commit for two new runs and frames of another
    results = any_store.write_batch(
        [(first, [frame(first.id, 1)]), (second, [])],
        [(running.id, 1, [frame(running.id, 1)], {"status": ExecutionStatus.WAITING})],
    )
    assert results == [None, None, None]
    assert [f.seq for f in any_store.get_frames(first.id)] == [1]
    assert any_store.get_execution(second.id).status == ExecutionStatus.RUNNING
    assert any_store.get_execution(running.id).status == ExecutionStatus.WAITING

    # a duplicate key, a stale token and a missing run fail alone; the rest is written
    again, third = fresh(dedupe_key="k"), fresh()
    results = any_store.write_batch(
        [(again, [frame(again.id, 1)]), (third, [frame(third.id, 1)])],
        [
            (stale.id, 9, [frame(stale.id, 1)], {"status": ExecutionStatus.FAILED}),
            ("missing", 1, [frame("missing", 1)], None),
            (running.id, 1, [frame(running.id, 2)], {"status": ExecutionStatus.RUNNING}),
        ],
    )
    assert isinstance(results[0], Duplicate) and results[0].execution_id == first.id
    assert results[1] is None
    assert isinstance(results[2], LeaseLost)
    assert isinstance(results[3], NotFound)
    assert results[4] is None
    with pytest.raises(NotFound):
        any_store.get_execution(again.id)
    assert [f.seq for f in any_store.get_frames(third.id)] == [1]
    assert any_store.get_frames(stale.id) == []
    assert any_store.get_execution(stale.id).status == ExecutionStatus.RUNNING
    assert [f.seq for f in any_store.get_frames(running.id)] == [1, 2]
    assert any_store.write_batch([], []) == []


def test_a_batch_is_one_transaction(make_store: Callable[[], SqlStore]) -> None:
    store = make_store()
    runs = [new_record(store) for _ in range(3)]
    commits: list[object] = []
    event.listen(store.engine, "commit", commits.append)
    results = store.write_batch(
        [],
        [
            (runs[0].id, 1, [frame(runs[0].id, 1)], None),
            (runs[1].id, 1, [frame(runs[1].id, 1)], {"status": ExecutionStatus.WAITING}),
            (runs[2].id, 1, [], {"status": ExecutionStatus.WAITING, "wake_at": T0}),
        ],
    )
    assert results == [None, None, None]
    assert len(commits) == 1
    assert [store.get_execution(r.id).status for r in runs] == [
        ExecutionStatus.RUNNING,
        ExecutionStatus.WAITING,
        ExecutionStatus.WAITING,
    ]
    assert store.get_execution(runs[2].id).wake_at == T0


def test_close_waits_for_a_call_under_way_then_refuses_new_ones(
    make_store: Callable[[], SqlStore],
) -> None:
    """A call still running in a thread (its awaiting task long cancelled) finishes on its
    connection before the pool closes; nothing is left open."""
    store = make_store()
    inside, release = threading.Event(), threading.Event()

    def hold(*_: Any) -> None:
        inside.set()
        release.wait(10)

    event.listen(store.engine, "before_cursor_execute", hold)
    found: list[list[ExecutionRecord]] = []
    call = threading.Thread(target=lambda: found.append(store.list_executions()))
    call.start()
    assert inside.wait(10)
    closer = threading.Thread(target=store.close)
    closer.start()
    closer.join(0.3)
    assert closer.is_alive(), "close() did not wait for the call under way"
    release.set()
    call.join(10)
    closer.join(10)
    assert found == [[]] and not closer.is_alive()
    assert store.engine.pool.checkedout() == 0
    with pytest.raises(RuntimeError, match="the store is closed"):
        store.list_executions()


# -- leases


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
    got = any_store.get_execution(record.id)
    assert (got.lease_owner, got.lease_expires_at) == ("other", later + timedelta(minutes=1))
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


def test_a_lease_that_changes_while_its_owner_is_checked_is_not_taken(
    any_store: ExecutionStore,
) -> None:
    record = new_record(any_store)
    later = T0 + timedelta(seconds=10)

    def gone_but_someone_else_was_faster(owner: str) -> bool:
        # Another process takes the lease (the holder did die) while this one checks.
        taken = any_store.acquire_lease(record.id, "faster", later, later, lambda o: True)
        assert taken == 2
        return True

    assert (
        any_store.acquire_lease(record.id, "slower", later, later, gone_but_someone_else_was_faster)
        is None
    )
    got = any_store.get_execution(record.id)
    assert (got.lease_owner, got.lease_token) == ("faster", 2)


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
    run_all(threads)
    assert sorted(r for r in results if r is not None) == [1]
    assert first.get_execution(record.id).lease_token == 1


# -- queries and cancellation


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
    assert len(any_store.unfinished(limit=2)) == 2
    found = any_store.find_child(ids[0], "call")
    assert found is not None and found.id == child.id
    assert any_store.find_child(ids[0], "other") is None
    assert any_store.cancel_requested(ids) == set()
    assert any_store.cancel_requested([]) == set()
    assert any_store.request_cancel(ids[4]).cancel_requested
    assert any_store.cancel_requested([*ids, "missing"]) == {ids[4]}
    with pytest.raises(NotFound):
        any_store.get_execution("missing")
    with pytest.raises(NotFound):
        any_store.request_cancel("missing")
    with pytest.raises(StoreError):
        new_record(any_store, id=ids[0])


def test_cursor_pages_through_rows_with_equal_times(any_store: ExecutionStore) -> None:
    ids = {new_record(any_store, created_at=T0 + timedelta(seconds=i // 3)).id for i in range(8)}
    seen: list[ExecutionRecord] = []
    before = None
    while page := any_store.list_executions(limit=3, before=before):
        seen += page
        before = (page[-1].created_at, page[-1].id)
    assert {r.id for r in seen} == ids and len(seen) == 8
    keys = [(r.created_at, r.id) for r in seen]
    assert keys == sorted(keys, reverse=True)


def _catalogued(store: ExecutionStore, name: str) -> str:
    """A workflow id runs can be of: a catalogue entry on SQL, any id in memory."""
    if isinstance(store, SqlStore):
        return WorkflowCatalog(store).create(WF.model_copy(update={"name": name})).id
    return str(uuid.uuid4())


def test_last_runs_give_each_workflow_its_newest_run_in_one_query(
    any_store: ExecutionStore,
) -> None:
    busy, idle, single = (_catalogued(any_store, n) for n in ("busy", "idle", "single"))
    for minutes in (0, 5, 2):
        new_record(any_store, workflow_id=busy, created_at=T0 + timedelta(minutes=minutes))
    # two at the same time: the larger id is the newer, as lists order them
    tied = [
        new_record(any_store, id=i, workflow_id=busy, created_at=T0 + timedelta(minutes=5))
        for i in ("tie-a", "tie-b")
    ]
    done = new_record(
        any_store,
        workflow_id=single,
        status=ExecutionStatus.FAILED,
        finished_at=T0 + timedelta(seconds=3),
    )
    new_record(any_store, created_at=T0 + timedelta(hours=1))  # a run of no catalogue workflow
    statements: list[str] = []
    if isinstance(any_store, SqlStore):
        event.listen(any_store.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    found = any_store.last_runs([busy, idle, single, "no-such-workflow"])
    assert set(found) == {busy, single}
    assert (found[busy].id, found[busy].created_at) == (tied[1].id, T0 + timedelta(minutes=5))
    assert found[busy].workflow_id == busy and found[busy].status == ExecutionStatus.RUNNING
    assert (found[single].id, found[single].status) == (done.id, ExecutionStatus.FAILED)
    assert found[single].finished_at == T0 + timedelta(seconds=3)
    if isinstance(any_store, SqlStore):
        assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1
    assert any_store.last_runs([]) == {}


def test_an_execution_needs_a_stored_workflow_version(any_store: ExecutionStore) -> None:
    with pytest.raises(StoreError):
        any_store.create_execution(
            ExecutionRecord("x", "0" * 64, "w", ExecutionStatus.PENDING, created_at=T0)
        )


# -- opening and migrating


def test_open_store_picks_the_backend(tmp_path: Path) -> None:
    assert isinstance(open_store("memory://", tmp_path), MemoryStore)
    store = open_store(None, tmp_path / "home")
    try:
        assert isinstance(store, SqlStore)
        assert (tmp_path / "home" / "flowforge.db").exists()
    finally:
        store.close()
    in_memory = open_store("sqlite://", tmp_path)
    try:
        new_record(in_memory)
    finally:
        in_memory.close()
    for given in ("postgres://u@h/d", "postgresql://u@h/d", "postgresql+psycopg://u@h/d"):
        assert normalize_url(given) == "postgresql+psycopg://u@h/d"


def test_migrated_schema_matches_the_tables(make_store: Callable[[], SqlStore]) -> None:
    store = make_store()
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION


def test_a_migrated_database_opens_without_alembic(
    make_store: Callable[[], SqlStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    record = new_record(make_store())

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("Alembic ran on a migrated database")

    monkeypatch.setattr("alembic.command.upgrade", fail)
    assert make_store().get_execution(record.id) == record


def test_a_database_from_a_newer_version_is_refused_clearly(
    make_store: Callable[[], SqlStore],
) -> None:
    store = make_store()
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(StoreError, match=r"'9999'.*newer FlowForge"):
        make_store()


def test_concurrent_opens_of_a_new_database_migrate_once(database_url: str) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def open_it() -> None:
        barrier.wait()
        try:
            SqlStore(database_url).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    run_all(threads)
    assert errors == []
    assert_migrated_once(database_url)


_OPEN_AT = """
import sys, time
from flowforge.store import SqlStore
while time.time() < float(sys.argv[2]):
    pass
SqlStore(sys.argv[1]).close()
"""


def test_processes_opening_a_new_sqlite_file_at_once_migrate_it_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'f.db'}"
    start = time.time() + 2  # every process is imported and spinning by then
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _OPEN_AT, url, str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(5)
    ]
    outcomes = [(p.wait(timeout=60), *p.communicate()) for p in processes]
    assert outcomes == [(0, b"", b"")] * 5
    assert_migrated_once(url)


def run_all(threads: list[threading.Thread]) -> None:
    """Start the threads and wait for them; a store that hangs fails the test, not the suite."""
    for t in threads:
        t.daemon = True
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not [t for t in threads if t.is_alive()], "threads still blocked after 60 s"


def assert_migrated_once(url: str) -> None:
    store = SqlStore(url)
    try:
        with store.engine.connect() as conn:
            versions = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
            assert versions == [(HEAD_REVISION,)]
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    finally:
        store.close()
