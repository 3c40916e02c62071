"""The local driver on a real store: concurrency, retries, timeouts, errors, for_each, waits,
sub-workflows, cancellation, resume and fencing."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from flowforge.connectors import (
    ActionError,
    Connector,
    Context,
    NoParams,
    Registry,
    current_context,
)
from flowforge.connectors import flow as flow_connector
from flowforge.engine.frames import ExecutionStatus, FrameStatus
from flowforge.engine.local import LocalEngine
from flowforge.errors import DefinitionError
from flowforge.model import Workflow, dump_workflow
from flowforge.store import ExecutionStore

calls: Counter[str] = Counter()
gates: dict[str, asyncio.Event] = {}
flaky_failures: dict[str, int] = {}
concurrency = {"now": 0, "max": 0}
thread_gate = threading.Event()

t = Connector("t", name="Test")


class Key(BaseModel):
    key: str = "k"
    fail_times: int = 0
    value: Any = None


@t.action("flaky", input=Key)
def flaky(params: Key, ctx: Context) -> Any:
    """Fails ``fail_times`` times per key, then succeeds."""
    calls[params.key] += 1
    seen = flaky_failures.get(params.key, 0)
    if seen < params.fail_times:
        flaky_failures[params.key] = seen + 1
        raise RuntimeError(f"transient failure {seen + 1}")
    return {"attempt": ctx.attempt, "key": ctx.idempotency_key}


@t.action("gate", input=Key)
async def gate(params: Key, ctx: Context) -> Any:
    """Waits until the test opens the gate named ``key``."""
    calls[params.key] += 1
    await gates.setdefault(params.key, asyncio.Event()).wait()
    return params.value


@t.action("count", input=Key)
async def count(params: Key, ctx: Context) -> Any:
    """Records how many items run at once."""
    calls[params.key] += 1
    concurrency["now"] += 1
    concurrency["max"] = max(concurrency["max"], concurrency["now"])
    await asyncio.sleep(0.01)
    concurrency["now"] -= 1
    return {"item": ctx.item, "index": ctx.index, "value": params.value}


@t.action("block", input=Key)
def block(params: Key, ctx: Context) -> Any:
    """Blocks its thread until another branch opens ``thread_gate`` (needs a thread)."""
    assert current_context().node_id == ctx.node_id
    if not thread_gate.wait(timeout=10):
        raise ActionError("the event loop was blocked", retryable=False)
    return "unblocked"


@t.action("release", input=Key)
async def release(params: Key, ctx: Context) -> Any:
    """Opens ``thread_gate`` from the event loop."""
    await asyncio.sleep(0.05)
    thread_gate.set()
    return "released"


@t.action("sleep", input=Key)
async def sleep(params: Key, ctx: Context) -> Any:
    await asyncio.sleep(float(params.value or 10))
    return "woke"


@t.action("bad_output", input=NoParams)
def bad_output(params: NoParams, ctx: Context) -> Any:
    return {"a": object()}


REGISTRY = Registry([flow_connector.connector, t])


@pytest.fixture(autouse=True)
def _reset() -> None:
    calls.clear()
    gates.clear()
    flaky_failures.clear()
    concurrency.update(now=0, max=0)
    thread_gate.clear()


@pytest.fixture
async def engine(store: ExecutionStore) -> AsyncIterator[LocalEngine]:
    async with LocalEngine(store, REGISTRY, lease_ttl_s=2, seed=1) as e:
        yield e


def wf(
    nodes: list[dict[str, Any]], edges: list[tuple[str, str] | dict[str, Any]] = (), **kw: Any
) -> Workflow:  # type: ignore[assignment]
    es = [e if isinstance(e, dict) else {"source": e[0], "target": e[1]} for e in edges]
    return Workflow.model_validate(
        {"name": kw.pop("name", "test"), "nodes": nodes, "edges": es, **kw}
    )


def frames_of(store: ExecutionStore, execution_id: str) -> list[tuple[str, str, int, int | None]]:
    return [(f.node_id, f.status.value, f.attempt, f.item) for f in store.get_frames(execution_id)]


async def until(predicate: Callable[[], bool], within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def test_core_nodes_branch_and_merge(engine: LocalEngine, store: ExecutionStore) -> None:
    w = wf(
        [
            {"id": "s", "type": "flow.start"},
            {
                "id": "sw",
                "type": "flow.switch",
                "params": {
                    "value": "{{ trigger.kind }}",
                    "cases": [{"equals": "a", "port": "pa"}, {"equals": "b", "port": "pb"}],
                },
            },
            {
                "id": "a",
                "type": "flow.set",
                "params": {"values": {"got": "a", "n": "{{ input.n + 1 }}"}},
            },
            {
                "id": "b",
                "type": "flow.set",
                "params": {"values": {"got": "b"}},
            },
            {"id": "d", "type": "flow.noop"},
            {"id": "m", "type": "flow.merge", "trigger_rule": "any", "params": {"mode": "first"}},
            {"id": "all", "type": "flow.merge", "trigger_rule": "any"},
        ],
        [
            ("s", "sw"),
            {"source": "sw", "source_port": "pa", "target": "a"},
            {"source": "sw", "source_port": "pb", "target": "b"},
            {"source": "sw", "source_port": "default", "target": "d"},
            ("a", "m"),
            ("b", "m"),
            ("d", "m"),
            ("a", "all"),
            ("d", "all"),
        ],
        output={
            "first": "{{ nodes.m.output }}",
            "all": "{{ nodes.all.output }}",
            "b_ran": "{{ nodes.b is defined }}",
        },
    )
    result = await engine.run(w, {"kind": "a", "n": 41})
    assert result.ok, result.error
    assert result.result == {
        "first": {"got": "a", "n": 42},
        "all": {"a": {"got": "a", "n": 42}},
        "b_ran": False,
    }
    statuses = {
        (n, s)
        for n, s, _, _ in frames_of(store, result.execution_id)
        if s in ("skipped", "completed")
    }
    assert ("b", "skipped") in statuses and ("d", "skipped") in statuses
    result = await engine.run(w, {"kind": "zzz", "n": 0})
    assert result.result["first"] == {"kind": "zzz", "n": 0}


async def test_independent_branches_run_at_once_and_blocking_code_runs_off_the_loop(
    engine: LocalEngine,
) -> None:
    w = wf(
        [
            {"id": "s", "type": "flow.start"},
            {"id": "blocker", "type": "t.block"},
            {"id": "releaser", "type": "t.release"},
        ],
        [("s", "blocker"), ("s", "releaser")],
    )
    result = await engine.run(w)
    assert result.ok, result.error
    assert result.result == {"blocker": "unblocked", "releaser": "released"}


async def test_retries_with_backoff_then_success(
    engine: LocalEngine, store: ExecutionStore
) -> None:
    w = wf(
        [
            {"id": "s", "type": "flow.start"},
            {
                "id": "f",
                "type": "t.flaky",
                "params": {"key": "r", "fail_times": 2},
                "retry": {"max_attempts": 3, "initial_s": 0.01, "multiplier": 2},
            },
        ],
        [("s", "f")],
    )
    result = await engine.run(w)
    assert result.ok, result.error
    assert result.result == {"f": {"attempt": 3, "key": f"{result.execution_id}:f"}}
    assert [x for x in frames_of(store, result.execution_id) if x[0] == "f"] == [
        ("f", "started", 1, None),
        ("f", "retrying", 1, None),
        ("f", "started", 2, None),
        ("f", "retrying", 2, None),
        ("f", "started", 3, None),
        ("f", "completed", 3, None),
    ]


async def test_retries_exhausted_fail_the_run_and_cancel_other_branches(
    engine: LocalEngine, store: ExecutionStore
) -> None:
    w = wf(
        [
            {"id": "s", "type": "flow.start"},
            {
                "id": "f",
                "type": "t.flaky",
                "params": {"key": "x", "fail_times": 9},
                "retry": {"max_attempts": 2, "initial_s": 0},
            },
            {"id": "slow", "type": "t.gate", "params": {"key": "never"}},
        ],
        [("s", "f"), ("s", "slow")],
    )
    result = await engine.run(w)
    assert result.status == ExecutionStatus.FAILED
    assert result.error == {
        "message": "transient failure 2",
        "type": "RuntimeError",
        "node": "f",
        "attempts": 2,
    }
    assert ("slow", "cancelled", 1, None) in frames_of(store, result.execution_id)
    record = store.get_execution(result.execution_id)
    assert record.status == ExecutionStatus.FAILED and record.finished_at is not None


async def test_non_retryable_errors_and_param_errors_are_not_retried(engine: LocalEngine) -> None:
    w = wf(
        [
            {"id": "s", "type": "flow.start"},
            {
                "id": "w",
                "type": "flow.wait",
                "params": {"seconds": "{{ trigger.s }}"},
                "retry": {"max_attempts": 5},
            },
        ],
        [("s", "w")],
    )
    result = await engine.run(w, {"s": "not a number"})
    assert result.status == ExecutionStatus.FAILED
    assert result.error is not None
    assert result.error["type"] == "ValidationError" and "params.seconds" in result.error["message"]
    assert result.error["attempts"] == 1


async def test_timeout_counts_as_a_retryable_failure(engine: LocalEngine) -> None:
    w = wf(
        [
            {"id": "s", "type": "flow.start"},
            {
                "id": "z",
                "type": "t.sleep",
                "params": {"value": 30},
                "timeout_s": 0.05,
                "retry": {"max_attempts": 2, "initial_s": 0},
                "on_error": "continue",
            },
        ],
        [("s", "z")],
    )
    result = await engine.run(w)
    assert result.ok
    assert result.result["z"]["error"]["type"] == "TimeoutError"
    assert result.result["z"]["error"]["attempts"] == 2


async def test_on_error_route_and_continue(engine: LocalEngine) -> None:
    w = wf(
        [
            {"id": "s", "type": "flow.start"},
            {
                "id": "boom",
                "type": "flow.fail",
                "params": {"message": "bad {{ trigger.x }}"},
                "on_error": "route",
            },
            {"id": "ok", "type": "flow.noop"},
            {
                "id": "handled",
                "type": "flow.set",
                "params": {"values": {"caught": "{{ input.error.message }}"}},
            },
            {
                "id": "soft",
                "type": "flow.fail",
                "params": {"message": "soft"},
                "on_error": "continue",
            },
        ],
        [
            ("s", "boom"),
            ("boom", "ok"),
            {"source": "boom", "source_port": "error", "target": "handled"},
            ("s", "soft"),
        ],
    )
    result = await engine.run(w, {"x": 1})
    assert result.ok
    assert result.result == {
        "handled": {"caught": "bad 1"},
        "soft": {
            "error": {"message": "soft", "type": "WorkflowFailed", "node": "soft", "attempts": 1}
        },
    }


async def test_for_each_respects_concurrency_and_keeps_order(
    engine: LocalEngine, store: ExecutionStore
) -> None:
    w = wf(
        [
            {"id": "s", "type": "flow.start"},
            {
                "id": "each",
                "type": "t.count",
                "for_each": "{{ trigger.items }}",
                "concurrency": 3,
                "params": {"value": "{{ item * 10 }}-{{ index }}"},
            },
        ],
        [("s", "each")],
        output="{{ nodes.each.output | map(attribute='value') | list }}",
    )
    result = await engine.run(w, {"items": list(range(10))})
    assert result.ok, result.error
    assert result.result == [f"{i * 10}-{i}" for i in range(10)]
    assert concurrency["max"] == 3
    items = sorted({f[3] for f in frames_of(store, result.execution_id) if f[0] == "each"})
    assert items == list(range(10))
    empty = await engine.run(w, {"items": []})
    assert empty.result == []
    not_a_list = await engine.run(w, {"items": 5})
    assert not_a_list.status == ExecutionStatus.FAILED
    assert "for_each must give a list" in not_a_list.error["message"]  # type: ignore[index]


async def test_for_each_item_failure_fails_the_node(engine: LocalEngine) -> None:
    w = wf(
        [
            {"id": "s", "type": "flow.start"},
            {
                "id": "each",
                "type": "flow.fail",
                "for_each": "{{ [1, 2, 3] }}",
                "concurrency": 2,
                "params": {"message": "item {{ index }}"},
                "on_error": "continue",
            },
        ],
        [("s", "each")],
    )
    result = await engine.run(w)
    assert result.ok
    assert result.result["each"]["error"]["message"] == "item 0"
    assert result.result["each"]["error"]["item"] == 0


async def test_output_that_is_not_json_fails_clearly(engine: LocalEngine) -> None:
    result = await engine.run(
        wf([{"id": "s", "type": "flow.start"}, {"id": "b", "type": "t.bad_output"}], [("s", "b")])
    )
    assert result.status == ExecutionStatus.FAILED
    assert result.error["type"] == "OutputError"  # type: ignore[index]


async def test_invalid_definition_is_refused_before_anything_is_stored(
    engine: LocalEngine, store: ExecutionStore
) -> None:
    with pytest.raises(DefinitionError) as info:
        await engine.submit(wf([{"id": "s", "type": "flow.nope"}]))
    assert "unknown node type 'flow.nope'" in str(info.value)
    assert store.list_executions() == []


async def test_cancel_a_running_execution(engine: LocalEngine, store: ExecutionStore) -> None:
    w = wf(
        [{"id": "s", "type": "flow.start"}, {"id": "g", "type": "t.gate", "params": {"key": "c"}}],
        [("s", "g")],
    )
    execution_id = await engine.submit(w)
    await until(lambda: calls["c"] == 1)
    await engine.cancel(execution_id)
    result = await engine.wait(execution_id)
    assert result.status == ExecutionStatus.CANCELLED
    assert ("g", "cancelled", 1, None) in frames_of(store, execution_id)
    assert store.get_execution(execution_id).status == ExecutionStatus.CANCELLED


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


async def test_wait_parks_the_run_as_waiting(engine: LocalEngine, store: ExecutionStore) -> None:
    w = wf(
        [
            {"id": "s", "type": "flow.start"},
            {"id": "w", "type": "flow.wait", "params": {"seconds": 0.5}},
            {"id": "n", "type": "flow.noop"},
        ],
        [("s", "w"), ("w", "n")],
    )
    execution_id = await engine.submit(w, {"v": 1})
    await until(lambda: store.get_execution(execution_id).status == ExecutionStatus.WAITING)
    record = store.get_execution(execution_id)
    assert record.wake_at is not None
    result = await engine.wait(execution_id)
    assert result.ok and result.result == {"n": {"v": 1}}
    until_past = wf([{"id": "w", "type": "flow.wait", "params": {"until": "2001-01-01T00:00:00Z"}}])
    assert (await engine.run(until_past, 5)).result == {"w": 5}


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
    g_frames = [(s, a) for n, s, a, _ in frames_of(store, execution_id) if n == "g"]
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
    completed = [n for n, s, _, _ in frames_of(store, execution_id) if s == "completed"]
    assert sorted(completed) == ["g", "n", "s"]


async def test_subworkflow_from_a_file(engine: LocalEngine, tmp_path: Path) -> None:
    child = wf(
        [
            {"id": "s", "type": "flow.start"},
            {
                "id": "d",
                "type": "flow.set",
                "params": {"values": {"double": "{{ trigger.n * 2 }}"}},
            },
        ],
        [("s", "d")],
        name="child",
        output="{{ nodes.d.output.double }}",
    )
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "child.yaml").write_text(dump_workflow(child))
    parent = wf(
        [
            {"id": "s", "type": "flow.start"},
            {
                "id": "call",
                "type": "flow.subworkflow",
                "for_each": "{{ trigger }}",
                "concurrency": 2,
                "params": {"workflow": "lib/child.yaml", "input": {"n": "{{ item }}"}},
            },
        ],
        [("s", "call")],
        name="parent",
    )
    result = await engine.run(parent, [1, 2, 3], source_path=str(tmp_path / "parent.yaml"))
    assert result.ok, result.error
    assert result.result == {"call": [2, 4, 6]}
    missing = wf(
        [{"id": "call", "type": "flow.subworkflow", "params": {"workflow": "nope.yaml"}}], name="p2"
    )
    failed = await engine.run(missing, source_path=str(tmp_path / "p2.yaml"))
    assert failed.status == ExecutionStatus.FAILED
    assert "cannot read file" in failed.error["message"]  # type: ignore[index]


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


async def test_a_workflow_calling_itself_stops_at_the_depth_limit(
    engine: LocalEngine, tmp_path: Path
) -> None:
    me = wf(
        [{"id": "again", "type": "flow.subworkflow", "params": {"workflow": "me.yaml"}}], name="me"
    )
    (tmp_path / "me.yaml").write_text(dump_workflow(me))
    result = await asyncio.wait_for(engine.run(me, source_path=str(tmp_path / "me.yaml")), 30)
    assert result.status == ExecutionStatus.FAILED
    assert "nest deeper than" in result.error["message"]  # type: ignore[index]


async def test_execution_scope_and_idempotency_key(engine: LocalEngine) -> None:
    w = wf(
        [
            {"id": "s", "type": "flow.start"},
            {
                "id": "v",
                "type": "flow.set",
                "params": {
                    "values": {
                        "id": "{{ execution.id }}",
                        "attempt": "{{ execution.attempt }}",
                        "t": "{{ vars.t }}",
                        "started": "{{ execution.started_at[:4] }}",
                    }
                },
            },
        ],
        [("s", "v")],
        vars={"t": [1, 2]},
    )
    result = await engine.run(w)
    assert result.result["v"] == {
        "id": result.execution_id,
        "attempt": 1,
        "t": [1, 2],
        "started": str(datetime.now(UTC).year),
    }


async def test_expression_referring_to_an_absent_node_names_it(engine: LocalEngine) -> None:
    w = wf(
        [
            {"id": "s", "type": "flow.start"},
            {"id": "br", "type": "flow.if", "params": {"condition": False}},
            {"id": "x", "type": "flow.noop"},
            {
                "id": "use",
                "type": "flow.set",
                "trigger_rule": "always",
                "params": {"values": {"v": "{{ nodes.x.output }}"}},
            },
        ],
        [("s", "br"), {"source": "br", "source_port": "true", "target": "x"}, ("x", "use")],
    )
    result = await engine.run(w)
    assert result.status == ExecutionStatus.FAILED
    assert result.error["type"] == "ExpressionError" and "x" in result.error["message"]  # type: ignore[index]


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
