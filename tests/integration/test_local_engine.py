"""The local driver's own mechanics on a real store: leases and fencing, resume after a
restart, a wait surviving a restart, cancellation through the store, confined sub-workflow
files, and its deterministic order. The engine semantics both drivers share (retries,
timeouts, errors, for_each, waits, sub-workflows, cancellation) run on the local driver in
test_temporal_parity.py."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from engine_support import (
    FAILING_ITEMS,
    REGISTRY,
    calls,
    failed,
    frames_of,
    gates,
    ran,
    reset,
    until,
    wf,
)

from flowforge.engine.frames import ExecutionStatus, FrameStatus
from flowforge.engine.local import LocalEngine
from flowforge.model import Workflow, dump_workflow
from flowforge.store import ExecutionStore


@pytest.fixture(autouse=True)
def _reset() -> None:
    reset()


@pytest.fixture
async def engine(store: ExecutionStore) -> AsyncIterator[LocalEngine]:
    async with LocalEngine(store, REGISTRY, lease_ttl_s=2, seed=1) as e:
        yield e


async def test_cancel_requested_through_the_store_reaches_the_owner(
    engine: LocalEngine, store: ExecutionStore
) -> None:
    w = wf(
        [{"id": "s", "type": "flow.start"}, {"id": "g", "type": "t.gate", "params": {"key": "c2"}}],
        [("s", "g")],
    )
    execution_id = await engine.submit(w)
    await until(lambda: calls["c2"] == 1)
    store.request_cancel(execution_id)  # as another process (the CLI, the API) would
    result = await asyncio.wait_for(engine.wait(execution_id), 10)
    assert result.status == ExecutionStatus.CANCELLED


async def test_a_wait_survives_a_restart(store: ExecutionStore) -> None:
    w = wf(
        [
            {"id": "s", "type": "flow.start"},
            {"id": "w", "type": "flow.wait", "params": {"seconds": 1}},
            {"id": "n", "type": "flow.noop"},
        ],
        [("s", "w"), ("w", "n")],
    )
    async with LocalEngine(store, REGISTRY, lease_ttl_s=2) as first:
        execution_id = await first.submit(w, "payload")
        await until(lambda: store.get_execution(execution_id).status == ExecutionStatus.WAITING)
    wake_at = store.get_execution(execution_id).wake_at
    assert wake_at is not None
    async with LocalEngine(store, REGISTRY, lease_ttl_s=2) as second:
        assert await second.resume_all() == [execution_id]
        result = await second.wait(execution_id)
    assert result.ok and result.result == {"n": "payload"}
    assert datetime.now(UTC) >= wake_at  # the original timer, neither lost nor restarted
    waits = [f for f in store.get_frames(execution_id) if f.node_id == "w"]
    assert [f.status for f in waits] == [
        FrameStatus.STARTED,
        FrameStatus.WAITING,
        FrameStatus.COMPLETED,
    ]


async def test_resume_never_reruns_completed_nodes(store: ExecutionStore) -> None:
    w = wf(
        [
            {"id": "s", "type": "flow.start"},
            {"id": "a", "type": "t.flaky", "params": {"key": "a"}},
            {"id": "g", "type": "t.gate", "params": {"key": "g", "value": "G"}},
            {"id": "b", "type": "t.flaky", "params": {"key": "b"}},
        ],
        [("s", "a"), ("a", "g"), ("g", "b")],
    )
    async with LocalEngine(store, REGISTRY, lease_ttl_s=2) as first:
        execution_id = await first.submit(w)
        await until(lambda: calls["g"] == 1)
    assert store.get_execution(execution_id).status == ExecutionStatus.RUNNING
    gates["g"] = asyncio.Event()
    gates["g"].set()
    async with LocalEngine(store, REGISTRY, lease_ttl_s=2) as second:
        assert await second.resume(execution_id)
        result = await second.wait(execution_id)
    assert result.ok, result.error
    assert calls == Counter({"a": 1, "g": 2, "b": 1})
    g_frames = [(s, a) for n, s, a, *_ in frames_of(store, execution_id) if n == "g"]
    assert g_frames == [("started", 1), ("interrupted", 1), ("started", 2), ("completed", 2)]
    seqs = [f.seq for f in store.get_frames(execution_id)]
    assert seqs == list(range(1, len(seqs) + 1))


async def test_a_second_engine_cannot_take_a_live_lease_and_a_stale_owner_is_fenced(
    store: ExecutionStore,
) -> None:
    w = wf(
        [
            {"id": "s", "type": "flow.start"},
            {"id": "g", "type": "t.gate", "params": {"key": "f"}},
            {"id": "n", "type": "flow.noop"},
        ],
        [("s", "g"), ("g", "n")],
    )
    async with LocalEngine(store, REGISTRY, lease_ttl_s=0.5) as first:
        execution_id = await first.submit(w)
        await until(lambda: calls["f"] == 1)
        async with LocalEngine(store, REGISTRY, lease_ttl_s=5) as second:
            assert not await second.resume(execution_id)  # the first renews its lease
            first._heartbeat.cancel()  # type: ignore[union-attr]  # the first stops renewing
            await asyncio.sleep(0.6)
            assert await second.resume(execution_id)
            gates["f"].set()
            # the first engine's late frames are refused by the fence; it lets the run go
            with pytest.raises(
                Exception, match=r"journal write failed|another process|not driven here"
            ):
                await asyncio.wait_for(first.wait(execution_id), 5)
            result = await asyncio.wait_for(second.wait(execution_id), 5)
    assert result.ok
    completed = [n for n, s, *_ in frames_of(store, execution_id) if s == "completed"]
    assert sorted(completed) == ["g", "n", "s"]


async def test_confined_engines_keep_sub_workflow_files_in_the_callers_folder(
    store: ExecutionStore, tmp_path: Path
) -> None:
    child = wf([{"id": "s", "type": "flow.start"}], name="child", output="{{ trigger }}")
    (tmp_path / "flows" / "lib").mkdir(parents=True)
    (tmp_path / "flows" / "lib" / "child.yaml").write_text(dump_workflow(child))
    (tmp_path / "outside.yaml").write_text(dump_workflow(child))
    (tmp_path / "flows" / "link.yaml").symlink_to(tmp_path / "outside.yaml")

    def caller(ref: str) -> Workflow:
        return wf(
            [{"id": "call", "type": "flow.subworkflow", "params": {"workflow": ref, "input": 7}}],
            name="caller",
        )

    source = str(tmp_path / "flows" / "caller.yaml")
    async with LocalEngine(store, REGISTRY, confine_files=True) as confined:
        inside = await confined.run(caller("lib/child.yaml"), source_path=source)
        assert inside.ok, inside.error
        assert inside.result == {"call": 7}
        for ref in ("../outside.yaml", str(tmp_path / "outside.yaml"), "link.yaml"):
            refused = await confined.run(caller(ref), source_path=source)
            assert refused.status == ExecutionStatus.FAILED, ref
            assert "outside the folder" in refused.error["message"]  # type: ignore[index]
        # a definition from no file (sent to the API) may not name files at all
        refused = await confined.run(caller("/etc/passwd"))
        assert "stored workflow versions only" in refused.error["message"]  # type: ignore[index]
        assert "root:" not in str(refused.error)
    async with LocalEngine(store, REGISTRY) as free:  # the CLI: the user's own files
        outside = await free.run(caller("../outside.yaml"), source_path=source)
        assert outside.ok, outside.error


async def test_recent_leases_expire_into_resumable_runs(store: ExecutionStore) -> None:
    """A run whose lease expired (its owner hung or died elsewhere) is resumed by resume_all."""
    w = wf(
        [{"id": "s", "type": "flow.start"}, {"id": "g", "type": "t.gate", "params": {"key": "e"}}],
        [("s", "g")],
    )
    async with LocalEngine(store, REGISTRY, lease_ttl_s=0.3) as first:
        execution_id = await first.submit(w)
        await until(lambda: calls["e"] == 1)
        first._heartbeat.cancel()  # type: ignore[union-attr]
        await asyncio.sleep(0.4)
        async with LocalEngine(store, REGISTRY, lease_ttl_s=5) as second:
            assert execution_id in await second.resume_all()
            gates["e"].set()
            assert (await second.wait(execution_id)).ok
    record = store.get_execution(execution_id)
    assert record.status == ExecutionStatus.COMPLETED and record.lease_owner is None


async def test_the_first_item_to_fail_is_the_first_in_order(
    engine: LocalEngine, store: ExecutionStore
) -> None:
    """The local driver runs a for_each in order on one event loop: item 0 fails before item 1
    starts. (On Temporal items 0 and 1 race, so the parity suite allows either.)"""
    result = await engine.run(FAILING_ITEMS)
    assert result.ok, result.error
    error = {"message": "item 0", "type": "WorkflowFailed"}
    assert result.result == {"each": {"error": {**error, "node": "each", "attempts": 1, "item": 0}}}
    assert frames_of(store, result.execution_id) == [
        *ran("s", None),
        *failed("each", error, item=0),
    ]
