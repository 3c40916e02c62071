"""Parity of the two drivers: every example workflow and every engine semantics scenario runs
on the local driver and on Temporal (an in-process worker on the session's dev server) with
the same outcome and the same frames, apart from times.

A frame is compared as (node, status, attempt, item, port, output, error). Where branches run
at once the order of frames across steps may differ between runs, so those journals are
compared step by step: the frames of each (node, item) in order, which also makes them the
same multiset. Sequential journals are compared whole, in order.

Local-only mechanics (leases, fencing, resume after a restart, confined files) are tested in
test_local_engine.py; the test connector ``t`` both use lives in engine_support.py and keeps
module state, which Temporal's activities share because the worker runs in this process.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from engine_support import (
    FAILING_ITEMS,
    REGISTRY,
    Frame,
    calls,
    concurrency,
    failed,
    frames_of,
    ran,
    reset,
    skipped,
    until,
    wf,
)
from temporalio.client import Client

import flowforge
from flowforge.connectors import Registry, builtin_registry
from flowforge.connectors.sdk import EnvCredentials
from flowforge.engine.frames import ExecutionStatus
from flowforge.engine.local import ExecutionResult, LocalEngine
from flowforge.engine.temporal import TemporalEngine, WorkerOptions, worker
from flowforge.errors import DefinitionError, FlowForgeError, StateConflict
from flowforge.model import dump_workflow, load_workflow
from flowforge.store import ExecutionStore
from flowforge.triggers.webhooks import request_input

# one event loop for the module, so that one Temporal client serves every test
pytestmark = pytest.mark.asyncio(loop_scope="module")

EXAMPLES_DIR = Path(flowforge.__file__).with_name("examples")
TEMPORAL_TIMEOUT = pytest.mark.timeout(90)  # under the suite's 120 s, with room to spare


@pytest.fixture(autouse=True)
def _reset() -> None:
    reset()


# -- backends


@dataclass
class Backend:
    name: str
    engine: LocalEngine | TemporalEngine
    client: Client | None = None


@asynccontextmanager
async def open_backend(
    name: str,
    store: ExecutionStore,
    registry: Registry,
    client: Client | None,
    **options: Any,
) -> AsyncIterator[Backend]:
    """The local engine, or a Temporal engine with its worker on a fresh task queue; both
    resolve sub-workflow files as the CLI does (not confined)."""
    if name == "local":
        async with LocalEngine(store, registry, lease_ttl_s=2, seed=1) as local:
            yield Backend(name, local)
        return
    assert client is not None
    queue = f"parity-{uuid.uuid4().hex[:12]}"
    settings = WorkerOptions(task_queue=queue, heartbeat_s=2, confine_files=False, **options)
    async with (
        worker(client, store, registry, EnvCredentials(), settings),
        TemporalEngine(store, registry, client, task_queue=queue) as engine,
    ):
        yield Backend(name, engine, client)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def temporal_client(temporal_server: str) -> Client:
    return await Client.connect(temporal_server)


@pytest.fixture(params=["local", pytest.param("temporal", marks=TEMPORAL_TIMEOUT)])
def backend_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def client(backend_name: str, request: pytest.FixtureRequest) -> Client | None:
    """The session's Temporal client when the test runs on Temporal (only then is the dev
    server started)."""
    if backend_name != "temporal":
        return None
    found: Client = request.getfixturevalue("temporal_client")
    return found


@pytest_asyncio.fixture(loop_scope="module")
async def backend(
    backend_name: str, client: Client | None, store: ExecutionStore
) -> AsyncIterator[Backend]:
    async with open_backend(backend_name, store, REGISTRY, client) as opened:
        yield opened


# -- journals


def by_step(frames: list[Frame]) -> dict[tuple[str, int | None], list[Frame]]:
    steps: dict[tuple[str, int | None], list[Frame]] = {}
    for frame in frames:
        steps.setdefault((frame[0], frame[3]), []).append(frame)
    return steps


def assert_same_journal(actual: list[Frame], expected: list[Frame], *, ordered: bool) -> None:
    """The same frames: in the same order, or (``ordered=False``, branches at once) in the
    same order for each (node, item), and so the same multiset."""
    if ordered:
        assert actual == expected
        return
    assert by_step(actual) == by_step(expected)


# -- the examples


@dataclass
class Example:
    input: Any = None
    trigger_node: str | None = None
    ordered: bool = True  # no branches at once: the journal's order is the same
    children: list[str] = field(default_factory=list)  # sub-workflow steps to compare too


# Inputs for each file of the examples folder (several cases for one file cover its branches)
EXAMPLES: dict[str, list[Example]] = {
    "fan-out-merge": [Example({"customer": "ada"}, ordered=False)],
    "for-each": [
        Example(
            {"items": [{"sku": "a", "qty": 2, "price": 3.5}, {"sku": "b", "qty": 1, "price": 10}]},
            ordered=False,
        )
    ],
    "nightly-report": [
        Example(
            {
                "scheduled_at": "2026-03-01T07:30:00+01:00",
                "fired_at": "2026-03-01T06:30:01+00:00",
                "ticks": 1,
                "cron": "30 7 * * *",
                "timezone": "Europe/Berlin",
            },
            trigger_node="every-morning",
        )
    ],
    "order-alert": [Example({"id": "A-17", "amount": 250}), Example({"id": "A-18", "amount": 20})],
    "retry-on-error": [Example(ordered=False)],
    "subworkflow": [
        Example(
            {
                "orders": [
                    {"id": 1, "amount": 50},
                    {"id": 2, "amount": 500},
                    {"id": 3, "amount": 99},
                ]
            },
            ordered=False,
            children=["enrich[0]", "enrich[1]", "enrich[2]"],
        )
    ],
    "wait": [Example({"seconds": 0.4})],
    "webhook-echo": [
        Example(
            request_input(
                "POST", "echo", {"content-type": "application/json"}, "x=1", b'{"name": "Ada"}'
            ),
            trigger_node="hook",
        )
    ],
}
INLINE_BYTES = {"inline": 256 * 1024, "by-reference": 16}  # 16: nearly every value by reference


def example_params() -> list[Any]:
    params = []
    for name in sorted(p.stem for p in EXAMPLES_DIR.glob("*.yaml")):
        for mode in INLINE_BYTES:
            marks = [TEMPORAL_TIMEOUT]
            params.append(pytest.param(name, mode, id=f"{name}-{mode}", marks=marks))
    return params


async def run_example(
    backend: Backend, store: ExecutionStore, path: Path, example: Example
) -> tuple[ExecutionResult, list[list[Frame]]]:
    """Run an example to its end; give its outcome and its journal, then its children's."""
    workflow = load_workflow(path)
    # none reaches the internet; one that does must be pointed at a local server first
    assert not any(n.type.startswith("http.") for n in workflow.nodes), path
    execution_id = await backend.engine.submit(
        workflow, example.input, source_path=str(path), trigger_node=example.trigger_node
    )
    result = await asyncio.wait_for(backend.engine.wait(execution_id), 60)
    journals = [frames_of(store, execution_id)]
    for step in example.children:
        child = store.find_child(execution_id, step)
        assert child is not None, step
        journals.append(frames_of(store, child.id))
    return result, journals


@pytest.mark.parametrize(("name", "mode"), example_params())
async def test_every_example_runs_alike_on_both_backends(
    name: str, mode: str, store: ExecutionStore, temporal_client: Client
) -> None:
    """Each example on the local engine, then on Temporal, over one store (the registry the
    server uses); ``by-reference`` sends every value but the smallest through Temporal as a
    reference to the store."""
    assert name in EXAMPLES, f"give the example {name!r} its inputs in EXAMPLES"
    path = EXAMPLES_DIR / f"{name}.yaml"
    registry = builtin_registry()
    for example in EXAMPLES[name]:
        async with open_backend("local", store, registry, None) as local:
            expected, expected_journals = await run_example(local, store, path, example)
        async with open_backend(
            "temporal", store, registry, temporal_client, inline_bytes=INLINE_BYTES[mode]
        ) as temporal:
            actual, journals = await run_example(temporal, store, path, example)
        assert expected.ok, expected.error
        assert (actual.status, actual.result, actual.error) == (
            expected.status,
            expected.result,
            expected.error,
        )
        for got, want in zip(journals, expected_journals, strict=True):
            assert_same_journal(got, want, ordered=example.ordered)


# -- engine semantics, on each backend


async def test_core_nodes_branch_and_merge(backend: Backend, store: ExecutionStore) -> None:
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
            {"id": "b", "type": "flow.set", "params": {"values": {"got": "b"}}},
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
    result = await backend.engine.run(w, {"kind": "a", "n": 41})
    assert result.ok, result.error
    a = {"got": "a", "n": 42}
    assert result.result == {"first": a, "all": {"a": a}, "b_ran": False}
    trigger = {"kind": "a", "n": 41}
    assert_same_journal(
        frames_of(store, result.execution_id),
        [
            *ran("s", trigger),
            *ran("sw", trigger, port="pa"),
            skipped("b"),
            skipped("d"),
            *ran("a", a),
            *ran("m", a),
            *ran("all", {"a": a}),
        ],
        ordered=False,
    )
    result = await backend.engine.run(w, {"kind": "zzz", "n": 0})
    assert result.result["first"] == {"kind": "zzz", "n": 0}


async def test_independent_branches_run_at_once_and_blocking_code_runs_off_the_loop(
    backend: Backend, store: ExecutionStore
) -> None:
    w = wf(
        [
            {"id": "s", "type": "flow.start"},
            {"id": "blocker", "type": "t.block"},
            {"id": "releaser", "type": "t.release"},
        ],
        [("s", "blocker"), ("s", "releaser")],
    )
    result = await backend.engine.run(w)
    assert result.ok, result.error
    assert result.result == {"blocker": "unblocked", "releaser": "released"}
    assert_same_journal(
        frames_of(store, result.execution_id),
        [*ran("s", None), *ran("blocker", "unblocked"), *ran("releaser", "released")],
        ordered=False,
    )


async def test_objects_keep_the_order_of_their_keys(
    backend: Backend, store: ExecutionStore, request: pytest.FixtureRequest
) -> None:
    """JSON objects compare equal in any order, but people read them in the order given."""
    w = wf(
        [
            {"id": "s", "type": "flow.start"},
            {"id": "set", "type": "flow.set", "params": {"values": {"z": 1, "a": 2}}},
            {"id": "copy", "type": "flow.noop"},
        ],
        [("s", "set"), ("set", "copy")],
    )
    result = await backend.engine.run(w, {"b": 1, "a": 2})
    assert result.ok, result.error
    assert json.dumps(result.result) == '{"copy": {"z": 1, "a": 2}}'
    outputs = [json.dumps(f[5]) for f in frames_of(store, result.execution_id) if f[5]]
    assert outputs == ['{"b": 1, "a": 2}', '{"z": 1, "a": 2}', '{"z": 1, "a": 2}']


async def test_retries_with_backoff_then_success(backend: Backend, store: ExecutionStore) -> None:
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
    result = await backend.engine.run(w)
    assert result.ok, result.error
    output = {"attempt": 3, "key": f"{result.execution_id}:f"}
    assert result.result == {"f": output}

    def retrying(attempt: int) -> Frame:
        error = {"message": f"transient failure {attempt}", "type": "RuntimeError"}
        return ("f", "retrying", attempt, None, None, None, error)

    assert frames_of(store, result.execution_id) == [
        *ran("s", None),
        ("f", "started", 1, None, None, None, None),
        retrying(1),
        ("f", "started", 2, None, None, None, None),
        retrying(2),
        *ran("f", output, attempt=3),
    ]
    assert calls["r"] == 3


async def test_retries_exhausted_fail_the_run_and_cancel_other_branches(
    backend: Backend, store: ExecutionStore, request: pytest.FixtureRequest
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
    execution_id = await backend.engine.submit(w)
    await until(lambda: calls["never"] == 1)  # the other branch is running
    result = await backend.engine.wait(execution_id)
    assert result.status == ExecutionStatus.FAILED
    assert result.error == {
        "message": "transient failure 2",
        "type": "RuntimeError",
        "node": "f",
        "attempts": 2,
    }
    record = store.get_execution(execution_id)
    assert record.status == ExecutionStatus.FAILED and record.finished_at is not None
    assert calls["x"] == 2
    assert_same_journal(
        frames_of(store, execution_id),
        [
            *ran("s", None),
            ("f", "started", 1, None, None, None, None),
            (
                "f",
                "retrying",
                1,
                None,
                None,
                None,
                {"message": "transient failure 1", "type": "RuntimeError"},
            ),
            *failed("f", {"message": "transient failure 2", "type": "RuntimeError"}, attempt=2),
            ("slow", "started", 1, None, None, None, None),
            ("slow", "cancelled", 1, None, None, None, None),
        ],
        ordered=False,
    )


async def test_non_retryable_errors_and_param_errors_are_not_retried(
    backend: Backend, store: ExecutionStore
) -> None:
    w = wf(
        [
            {"id": "s", "type": "flow.start"},
            {
                "id": "w",
                "type": "flow.wait",
                "params": {"seconds": "{{ trigger.s }}"},
                "retry": {"max_attempts": 5, "initial_s": 0.01},
            },
        ],
        [("s", "w")],
    )
    result = await backend.engine.run(w, {"s": "not a number"})
    assert result.status == ExecutionStatus.FAILED
    assert result.error is not None
    assert result.error["type"] == "ValidationError" and "params.seconds" in result.error["message"]
    assert result.error["attempts"] == 1
    error = {"message": result.error["message"], "type": "ValidationError"}
    assert frames_of(store, result.execution_id) == [
        *ran("s", {"s": "not a number"}),
        *failed("w", error),
    ]
    refusing = wf(
        [
            {"id": "s", "type": "flow.start"},
            {
                "id": "f",
                "type": "flow.fail",
                "params": {"message": "no"},
                "retry": {"max_attempts": 5, "initial_s": 0.01},
            },
        ],
        [("s", "f")],
    )
    result = await backend.engine.run(refusing)
    assert result.error == {"message": "no", "type": "WorkflowFailed", "node": "f", "attempts": 1}
    assert frames_of(store, result.execution_id) == [
        *ran("s", None),
        *failed("f", {"message": "no", "type": "WorkflowFailed"}),
    ]


async def test_timeout_counts_as_a_retryable_failure(
    backend: Backend, store: ExecutionStore
) -> None:
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
    result = await backend.engine.run(w)
    assert result.ok, result.error
    error = {"message": "timed out after 0.05 s", "type": "TimeoutError"}
    assert result.result == {"z": {"error": {**error, "node": "z", "attempts": 2}}}
    assert frames_of(store, result.execution_id) == [
        *ran("s", None),
        ("z", "started", 1, None, None, None, None),
        ("z", "retrying", 1, None, None, None, error),
        *failed("z", error, attempt=2),
    ]


async def test_on_error_route_and_continue(backend: Backend, store: ExecutionStore) -> None:
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
    result = await backend.engine.run(w, {"x": 1})
    assert result.ok, result.error
    soft = {"message": "soft", "type": "WorkflowFailed", "node": "soft", "attempts": 1}
    assert result.result == {"handled": {"caught": "bad 1"}, "soft": {"error": soft}}
    assert_same_journal(
        frames_of(store, result.execution_id),
        [
            *ran("s", {"x": 1}),
            *failed("boom", {"message": "bad 1", "type": "WorkflowFailed"}),
            *failed("soft", {"message": "soft", "type": "WorkflowFailed"}),
            skipped("ok"),
            *ran("handled", {"caught": "bad 1"}),
        ],
        ordered=False,
    )


async def test_for_each_respects_concurrency_and_keeps_order(
    backend: Backend, store: ExecutionStore
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
    result = await backend.engine.run(w, {"items": list(range(10))})
    assert result.ok, result.error
    assert result.result == [f"{i * 10}-{i}" for i in range(10)]
    assert concurrency["max"] == 3
    outputs = [{"item": i, "index": i, "value": f"{i * 10}-{i}"} for i in range(10)]
    assert_same_journal(
        frames_of(store, result.execution_id),
        [
            *ran("s", {"items": list(range(10))}),
            *(f for i in range(10) for f in ran("each", outputs[i], item=i)),
        ],
        ordered=False,
    )
    empty = await backend.engine.run(w, {"items": []})
    assert (empty.status, empty.result) == (ExecutionStatus.COMPLETED, [])
    not_a_list = await backend.engine.run(w, {"items": 5})
    assert not_a_list.status == ExecutionStatus.FAILED
    assert "for_each must give a list" in not_a_list.error["message"]  # type: ignore[index]
    empty_frames, not_a_list_frames = (
        frames_of(store, r.execution_id) for r in (empty, not_a_list)
    )
    # neither list gives the node a step, so it has no frames
    assert empty_frames == ran("s", {"items": []})
    assert not_a_list_frames == ran("s", {"items": 5})


async def test_for_each_item_failure_fails_the_node(
    backend: Backend, store: ExecutionStore
) -> None:
    result = await backend.engine.run(FAILING_ITEMS)
    assert result.ok, result.error
    # Items 0 and 1 may run at once (concurrency 2); the first failure to arrive fails the
    # node, and on Temporal that is item 1 now and then (on the local driver it is always
    # item 0: test_local_engine.py). Item 2 never starts.
    error = result.result["each"]["error"]
    item = error["item"]
    assert item in (0, 1) and error["message"] == f"item {item}"
    steps = by_step(frames_of(store, result.execution_id))
    mine = {"message": f"item {item}", "type": "WorkflowFailed"}
    assert steps[("each", item)] == failed("each", mine, item=item)
    assert {step for step in steps if step[0] == "each"} <= {("each", 0), ("each", 1)}


async def test_output_that_is_not_json_fails_clearly(
    backend: Backend, store: ExecutionStore
) -> None:
    result = await backend.engine.run(
        wf([{"id": "s", "type": "flow.start"}, {"id": "b", "type": "t.bad_output"}], [("s", "b")])
    )
    assert result.status == ExecutionStatus.FAILED
    assert result.error is not None and result.error["type"] == "OutputError"
    frames = frames_of(store, result.execution_id)
    assert frames[-1] == (
        "b",
        "failed",
        1,
        None,
        None,
        None,
        {"message": result.error["message"], "type": "OutputError"},
    )


async def test_invalid_definition_is_refused_before_anything_is_stored(
    backend: Backend, store: ExecutionStore
) -> None:
    with pytest.raises(DefinitionError) as info:
        await backend.engine.submit(wf([{"id": "s", "type": "flow.nope"}]))
    assert "unknown node type 'flow.nope'" in str(info.value)
    assert store.list_executions() == []


async def test_cancel_a_running_execution(
    backend: Backend, store: ExecutionStore, request: pytest.FixtureRequest
) -> None:
    w = wf(
        [
            {"id": "s", "type": "flow.start"},
            {"id": "g", "type": "t.gate", "params": {"key": "c"}},
            {"id": "n", "type": "flow.noop"},
        ],
        [("s", "g"), ("g", "n")],
    )
    execution_id = await backend.engine.submit(w)
    await until(lambda: calls["c"] == 1)
    await backend.engine.cancel(execution_id)
    result = await asyncio.wait_for(backend.engine.wait(execution_id), 30)
    assert result.status == ExecutionStatus.CANCELLED
    assert result.error == {"message": "cancelled by request", "type": "Cancelled"}
    assert store.get_execution(execution_id).status == ExecutionStatus.CANCELLED
    assert frames_of(store, execution_id) == [
        *ran("s", None),
        ("g", "started", 1, None, None, None, None),
        ("g", "cancelled", 1, None, None, None, None),
    ]


async def test_cancel_a_waiting_execution(backend: Backend, store: ExecutionStore) -> None:
    w = wf(
        [
            {"id": "s", "type": "flow.start"},
            {"id": "w", "type": "flow.wait", "params": {"seconds": 60}},
            {"id": "n", "type": "flow.noop"},
        ],
        [("s", "w"), ("w", "n")],
    )
    execution_id = await backend.engine.submit(w, 1)
    await until(lambda: store.get_execution(execution_id).status == ExecutionStatus.WAITING)
    await backend.engine.cancel(execution_id)
    result = await asyncio.wait_for(backend.engine.wait(execution_id), 30)
    assert result.status == ExecutionStatus.CANCELLED
    record = store.get_execution(execution_id)
    assert record.status == ExecutionStatus.CANCELLED and record.wake_at is None
    assert frames_of(store, execution_id) == [
        *ran("s", 1),
        ("w", "started", 1, None, None, None, None),
        ("w", "waiting", 1, None, None, 1, None),
        ("w", "cancelled", 1, None, None, None, None),
    ]


async def test_wait_parks_the_run_as_waiting(backend: Backend, store: ExecutionStore) -> None:
    w = wf(
        [
            {"id": "s", "type": "flow.start"},
            {"id": "w", "type": "flow.wait", "params": {"seconds": 0.5}},
            {"id": "n", "type": "flow.noop"},
        ],
        [("s", "w"), ("w", "n")],
    )
    execution_id = await backend.engine.submit(w, {"v": 1})
    await until(lambda: store.get_execution(execution_id).status == ExecutionStatus.WAITING)
    record = store.get_execution(execution_id)
    assert record.wake_at is not None
    result = await backend.engine.wait(execution_id)
    assert result.ok and result.result == {"n": {"v": 1}}
    record = store.get_execution(execution_id)
    assert record.status == ExecutionStatus.COMPLETED and record.wake_at is None
    assert frames_of(store, execution_id) == [
        *ran("s", {"v": 1}),
        ("w", "started", 1, None, None, None, None),
        ("w", "waiting", 1, None, None, {"v": 1}, None),
        ("w", "completed", 1, None, "main", {"v": 1}, None),
        *ran("n", {"v": 1}),
    ]
    until_past = wf([{"id": "w", "type": "flow.wait", "params": {"until": "2001-01-01T00:00:00Z"}}])
    past = await backend.engine.run(until_past, 5)
    assert past.result == {"w": 5}
    assert frames_of(store, past.execution_id) == [
        ("w", "started", 1, None, None, None, None),
        ("w", "waiting", 1, None, None, 5, None),
        ("w", "completed", 1, None, "main", 5, None),
    ]


async def test_subworkflow_from_a_file(
    backend: Backend, store: ExecutionStore, tmp_path: Path
) -> None:
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
    result = await backend.engine.run(parent, [1, 2, 3], source_path=str(tmp_path / "parent.yaml"))
    assert result.ok, result.error
    assert result.result == {"call": [2, 4, 6]}
    assert_same_journal(
        frames_of(store, result.execution_id),
        [
            *ran("s", [1, 2, 3]),
            *(f for i in range(3) for f in ran("call", 2 * (i + 1), item=i)),
        ],
        ordered=False,
    )
    for i in range(3):
        sub = store.find_child(result.execution_id, f"call[{i}]")
        assert sub is not None and sub.depth == 1 and sub.workflow_name == "child"
        n = {"n": i + 1}
        assert frames_of(store, sub.id) == [*ran("s", n), *ran("d", {"double": 2 * (i + 1)})]


async def test_a_subworkflow_file_that_cannot_be_read_fails_the_step_at_once(
    backend: Backend, store: ExecutionStore, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    missing = wf(
        [{"id": "call", "type": "flow.subworkflow", "params": {"workflow": "nope.yaml"}}], name="p2"
    )
    # at once: not after Temporal's retries (10 s keeps the known bug from costing 30)
    failure = await asyncio.wait_for(
        backend.engine.run(missing, source_path=str(tmp_path / "p2.yaml")), 10
    )
    assert failure.status == ExecutionStatus.FAILED
    assert failure.error is not None and "cannot read file" in failure.error["message"]
    assert (failure.error["type"], failure.error["attempts"]) == ("DefinitionError", 1)
    assert frames_of(store, failure.execution_id) == failed(
        "call", {"message": failure.error["message"], "type": "DefinitionError"}
    )


async def test_a_workflow_calling_itself_stops_at_the_depth_limit(
    backend: Backend, store: ExecutionStore, tmp_path: Path
) -> None:
    """Seventeen nested runs on Temporal take a few seconds (a child workflow each)."""
    me = wf(
        [{"id": "again", "type": "flow.subworkflow", "params": {"workflow": "me.yaml"}}], name="me"
    )
    (tmp_path / "me.yaml").write_text(dump_workflow(me))
    result = await asyncio.wait_for(
        backend.engine.run(me, source_path=str(tmp_path / "me.yaml")), 60
    )
    assert result.status == ExecutionStatus.FAILED
    assert result.error is not None and "nest deeper than 16" in result.error["message"]
    assert result.error["type"] == "SubworkflowFailed"
    depths = []
    execution_id = result.execution_id
    while (sub := store.find_child(execution_id, "again")) is not None:
        depths.append(sub.depth)
        execution_id = sub.id
    assert depths == list(range(1, 17))
    deepest = frames_of(store, execution_id)
    assert deepest == failed(
        "again", {"message": deepest[-1][6]["message"], "type": "SubworkflowDepthError"}
    )


async def test_execution_scope_and_idempotency_key(backend: Backend, store: ExecutionStore) -> None:
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
                        "workflow": "{{ execution.workflow }}",
                    }
                },
            },
            {"id": "k", "type": "t.flaky", "params": {"key": "idem"}},
        ],
        [("s", "v"), ("v", "k")],
        vars={"t": [1, 2]},
        name="scoped",
    )
    result = await backend.engine.run(w)
    assert result.ok, result.error
    assert result.result == {
        "k": {"attempt": 1, "key": f"{result.execution_id}:k"},
    }
    v = next(f[5] for f in frames_of(store, result.execution_id) if f[:2] == ("v", "completed"))
    assert v == {
        "id": result.execution_id,
        "attempt": 1,
        "t": [1, 2],
        "started": str(datetime.now(UTC).year),
        "workflow": "scoped",
    }


async def test_expression_referring_to_an_absent_node_names_it(
    backend: Backend, store: ExecutionStore
) -> None:
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
    result = await backend.engine.run(w)
    assert result.status == ExecutionStatus.FAILED
    assert result.error is not None
    assert result.error["type"] == "ExpressionError" and "'x'" in result.error["message"]
    assert frames_of(store, result.execution_id) == [
        *ran("s", None),
        *ran("br", None, port="false"),
        skipped("x"),
        *failed("use", {"message": result.error["message"], "type": "ExpressionError"}),
    ]


GATE = wf(
    [
        {"id": "start", "type": "flow.start"},
        {"id": "double", "type": "flow.set", "params": {"values": {"n": "{{ input.n * 2 }}"}}},
        {"id": "check", "type": "flow.if", "params": {"condition": "{{ input.n > 10 }}"}},
        {"id": "boom", "type": "flow.fail", "params": {"message": "too big: {{ input.n }}"}},
        {"id": "fine", "type": "flow.set", "params": {"values": {"ok": "{{ input.n }}"}}},
    ],
    [
        ("start", "double"),
        ("double", "check"),
        {"source": "check", "source_port": "true", "target": "boom"},
        {"source": "check", "source_port": "false", "target": "fine"},
    ],
    name="gate",
)


async def test_retry_and_rerun_keep_what_they_do_not_touch(
    backend: Backend, store: ExecutionStore
) -> None:
    engine = backend.engine
    first = await engine.run(GATE, {"n": 8})
    assert first.status == ExecutionStatus.FAILED
    assert first.error == {
        "message": "too big: 16",
        "type": "WorkflowFailed",
        "node": "boom",
        "attempts": 1,
    }
    old = store.get_frames(first.execution_id)
    kept = [
        *ran("start", {"n": 8}),
        *ran("double", {"n": 16}),
        *ran("check", {"n": 16}, port="true"),
    ]
    boom = failed("boom", {"message": "too big: 16", "type": "WorkflowFailed"})
    assert frames_of(store, first.execution_id) == [*kept, skipped("fine"), *boom]

    # retry: from the node that failed the run; the rest is copied with its times, not re-run
    retried = await asyncio.wait_for(engine.wait(await engine.rerun(first.execution_id)), 30)
    assert retried.status == ExecutionStatus.FAILED and retried.error == first.error
    assert store.get_execution(retried.execution_id).retry_of == first.execution_id
    new = store.get_frames(retried.execution_id)
    assert frames_of(store, retried.execution_id) == [*kept, skipped("fine"), *boom]
    assert [f.started_at for f in new[:6]] == [f.started_at for f in old[:6]]

    # time travel: again from "check" with an input that takes the other branch
    rerun = await asyncio.wait_for(
        engine.wait(await engine.rerun(first.execution_id, "check", {"n": 1})), 30
    )
    assert rerun.ok, rerun.error
    assert rerun.result == {"fine": {"ok": 1}}
    assert frames_of(store, rerun.execution_id) == [
        *kept[:4],
        *ran("check", {"n": 1}, port="false"),
        skipped("boom"),
        *ran("fine", {"ok": 1}),
    ]
    assert [f.started_at for f in store.get_frames(rerun.execution_id)[:4]] == [
        f.started_at for f in old[:4]
    ]

    fine = await engine.run(GATE, {"n": 1})
    with pytest.raises(StateConflict):
        await engine.rerun(fine.execution_id)
    with pytest.raises(FlowForgeError, match="no node 'zzz'"):
        await engine.rerun(fine.execution_id, "zzz")


@pytest.mark.parametrize("read_by", ["leaves", "output expression"])
async def test_large_outputs_travel_by_reference(
    backend: Backend, store: ExecutionStore, read_by: str, request: pytest.FixtureRequest
) -> None:
    """A 320 KB output (over the 256 KB Temporal keeps inline) reaches the nodes after it
    and the run's result, and on Temporal it is stored once and only referred to in the
    workflow's history. The result comes from the leaves (the workflow code never reads the
    output) or from an output expression that reads it."""
    size = 320 * 1024
    w = wf(
        [
            {"id": "s", "type": "flow.start"},
            {"id": "big", "type": "t.big", "params": {"value": size}},
            {"id": "copy", "type": "flow.noop"},
            {
                "id": "measure",
                "type": "flow.set",
                "params": {
                    "values": {
                        "n": "{{ input.data | length }}",
                        "head": "{{ nodes.big.output.data[:3] }}",
                    }
                },
            },
        ],
        [("s", "big"), ("big", "copy"), ("big", "measure")],
        output=(
            None
            if read_by == "leaves"
            else {"copy": "{{ nodes.big.output }}", "measure": "{{ nodes.measure.output }}"}
        ),
    )
    result = await asyncio.wait_for(backend.engine.run(w), 60)
    assert result.ok, result.error
    output = {"data": "x" * size}
    measured = {"n": size, "head": "xxx"}
    assert result.result == {"copy": output, "measure": measured}
    assert_same_journal(
        frames_of(store, result.execution_id),
        [*ran("s", None), *ran("big", output), *ran("copy", output), *ran("measure", measured)],
        ordered=False,
    )
    if backend.client is None:
        return
    data = json.dumps(output, separators=(",", ":"), ensure_ascii=False).encode()
    assert store.get_blob(hashlib.sha256(data).hexdigest()) == data
    record = store.get_execution(result.execution_id)
    assert record.temporal_workflow_id is not None
    handle = backend.client.get_workflow_handle(record.temporal_workflow_id)
    history = await handle.fetch_history()
    largest = max(event.ByteSize() for event in history.events)
    if read_by == "leaves":
        assert largest < 32 * 1024
    else:  # the workflow code evaluates the output expression: what it reads travels inline
        assert size < largest < 2 * 1024 * 1024


async def test_a_value_the_workflow_reads_is_limited_on_temporal(
    backend: Backend, store: ExecutionStore
) -> None:
    """The one documented difference: the workflow code itself reads what the run's output
    expression and for_each lists name, so on Temporal such a value must fit in a payload
    (1.5 MB). Over it the step fails at once, clearly, instead of the whole run breaking."""
    size = 2 * 1024 * 1024
    w = wf(
        [
            {"id": "s", "type": "flow.start"},
            {"id": "big", "type": "t.big", "params": {"value": size}},
        ],
        [("s", "big")],
        output="{{ nodes.big.output.data[:3] }}",
    )
    result = await asyncio.wait_for(backend.engine.run(w), 60)
    if backend.client is None:
        assert result.ok and result.result == "xxx"
        return
    assert not result.ok
    assert result.error is not None and result.error["type"] == "OutputTooLarge"
    assert result.error["node"] == "big" and "at most" in result.error["message"]
    frames = frames_of(store, result.execution_id)
    assert [(f[0], f[1], f[2]) for f in frames] == [
        ("s", "started", 1),
        ("s", "completed", 1),
        ("big", "started", 1),
        ("big", "failed", 1),
    ]
