"""The test connector ``t`` that engine tests run, with the module state it keeps and the
journal helpers they assert with; shared by test_local_engine.py and test_temporal_parity.py.

The state is module-level so that Temporal's activities, which run in the test's process,
share it with the test. Call ``reset()`` before each test."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

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
from flowforge.model import Workflow
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
    """Records how many items run at once; each stays long enough for Temporal to start the
    others, so that the cap is reached and not only respected."""
    calls[params.key] += 1
    concurrency["now"] += 1
    concurrency["max"] = max(concurrency["max"], concurrency["now"])
    await asyncio.sleep(0.2)
    concurrency["now"] -= 1
    return {"item": ctx.item, "index": ctx.index, "value": params.value}


@t.action("block", input=Key)
def block(params: Key, ctx: Context) -> Any:
    """Blocks its thread until another branch opens ``thread_gate`` (needs a thread, which
    still sees the step's context)."""
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


@t.action("big", input=Key)
def big(params: Key, ctx: Context) -> Any:
    """An output of ``value`` characters (and a little more)."""
    return {"data": "x" * int(params.value)}


REGISTRY = Registry([flow_connector.connector, t])


def reset() -> None:
    """Forget what earlier tests left in the connector's state."""
    calls.clear()
    gates.clear()
    flaky_failures.clear()
    concurrency.update(now=0, max=0)
    thread_gate.clear()


def wf(
    nodes: list[dict[str, Any]],
    edges: Sequence[tuple[str, str] | dict[str, Any]] = (),
    **kw: Any,
) -> Workflow:
    """A workflow from its nodes and edges, an edge given as (source, target) or in full."""
    es = [e if isinstance(e, dict) else {"source": e[0], "target": e[1]} for e in edges]
    return Workflow.model_validate(
        {"name": kw.pop("name", "test"), "nodes": nodes, "edges": es, **kw}
    )


async def until(predicate: Callable[[], bool], within: float = 10.0) -> None:
    """Returns once ``predicate`` holds; fails the test if it does not within ``within`` s."""
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


# Three items, two at once, each failing; the first failure fails the node, which goes on
FAILING_ITEMS = wf(
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


# -- journals

Frame = tuple[str, str, int, int | None, str | None, Any, Any]


def frames_of(store: ExecutionStore, execution_id: str) -> list[Frame]:
    """A run's journal, each frame as (node, status, attempt, item, port, output, error)."""
    return [
        (f.node_id, f.status.value, f.attempt, f.item, f.port, f.output, f.error)
        for f in store.get_frames(execution_id)
    ]


def ran(
    node: str, output: Any, *, port: str = "main", attempt: int = 1, item: int | None = None
) -> list[Frame]:
    """The frames of a step that completed."""
    return [
        (node, "started", attempt, item, None, None, None),
        (node, "completed", attempt, item, port, output, None),
    ]


def failed(
    node: str, error: dict[str, Any], *, attempt: int = 1, item: int | None = None
) -> list[Frame]:
    """The frames of a step that failed for good."""
    return [
        (node, "started", attempt, item, None, None, None),
        (node, "failed", attempt, item, None, None, error),
    ]


def skipped(node: str) -> Frame:
    """The frame of a step on a dead path."""
    return (node, "skipped", 0, None, None, None, None)
