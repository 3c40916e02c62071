"""The pure scheduler: ``step(graph, state, event) -> (state, commands)``.

No I/O, no clock, no randomness. The local driver and the Temporal driver feed it events and
carry out its commands, so both backends share one set of semantics. The state is a mutable
object owned by the scheduler: ``step`` changes it in place and returns it (copying a 10,000-node
state on every event would make a run quadratic); callers who need the old state ``copy()`` it.

Decisions made here, all deterministic:
- readiness by dead-path elimination: a node is decided once every incoming edge is resolved
  (delivered or dead); its ``trigger_rule`` then runs or skips it, and a skip kills its outputs;
- ``for_each`` fan-out, ``concurrency`` items at a time, lowest index first;
- ``on_error``: fail the run, continue with an error object, or route it out of the error port;
- the run's result, from the ``output`` expression or the completed leaves.
Commands come out in definition order of their nodes, so the same input gives the same commands.
"""

from __future__ import annotations

import copy
import heapq
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from flowforge.connectors.sdk import Registry
from flowforge.engine import expr
from flowforge.engine.frames import ExecutionFrame, ExecutionStatus, FrameStatus
from flowforge.model import ERROR_PORT, MAIN_PORT, Node, Workflow

__all__ = [
    "Cancel",
    "Command",
    "Event",
    "FinishRun",
    "Graph",
    "NodeFailed",
    "NodeState",
    "NodeSucceeded",
    "NodesScope",
    "RunNode",
    "RunState",
    "SkipNode",
    "Start",
    "StopNode",
    "error_object",
    "new_state",
    "replay",
    "step",
]


# --------------------------------------------------------------------------- graph


@dataclass(frozen=True, slots=True, eq=False)
class Graph:
    """A validated workflow indexed for the scheduler. Build with ``Graph.build``."""

    workflow: Workflow
    ids: tuple[str, ...]
    index: Mapping[str, int]
    nodes: tuple[Node, ...]
    triggers: frozenset[int]
    edge_source: tuple[int, ...]
    edge_target: tuple[int, ...]
    edge_port: tuple[str, ...]
    incoming: tuple[tuple[int, ...], ...]  # edge indexes per node, in definition order
    outgoing: tuple[tuple[int, ...], ...]

    @classmethod
    def build(cls, workflow: Workflow, registry: Registry) -> Graph:
        """Index a workflow that ``validate`` accepted (a broken one raises KeyError)."""
        ids = tuple(node.id for node in workflow.nodes)
        index = {node_id: i for i, node_id in enumerate(ids)}
        incoming: list[list[int]] = [[] for _ in ids]
        outgoing: list[list[int]] = [[] for _ in ids]
        sources, targets, ports = [], [], []
        for e, edge in enumerate(workflow.edges):
            s, t = index[edge.source], index[edge.target]
            sources.append(s)
            targets.append(t)
            ports.append(edge.source_port)
            outgoing[s].append(e)
            incoming[t].append(e)
        triggers = set()
        for i, node in enumerate(workflow.nodes):
            action = registry.get(node.type)
            if action is not None and action.trigger:
                triggers.add(i)
        return cls(
            workflow=workflow,
            ids=ids,
            index=index,
            nodes=workflow.nodes,
            triggers=frozenset(triggers),
            edge_source=tuple(sources),
            edge_target=tuple(targets),
            edge_port=tuple(ports),
            incoming=tuple(tuple(x) for x in incoming),
            outgoing=tuple(tuple(x) for x in outgoing),
        )


# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class Start:
    """The run begins. ``trigger_node`` names the trigger that fired; other triggers are skipped.
    ``pinned`` gives nodes an input in place of their upstream outputs (a re-run with edits)."""

    input: Any
    execution: Mapping[str, Any]  # id, started_at (ISO 8601), workflow
    trigger_node: str | None = None
    pinned: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NodeSucceeded:
    node: str
    output: Any
    port: str = MAIN_PORT
    item: int | None = None


@dataclass(frozen=True, slots=True)
class NodeFailed:
    """A node (or one for_each item) failed for good, its retries spent."""

    node: str
    message: str
    type: str = "Error"
    attempts: int = 1
    item: int | None = None


@dataclass(frozen=True, slots=True)
class Cancel:
    reason: str = "cancelled"


Event = Start | NodeSucceeded | NodeFailed | Cancel


# --------------------------------------------------------------------------- commands


@dataclass(frozen=True, slots=True)
class RunNode:
    """Run one node (or one for_each item) with this input."""

    node: str
    input: Any
    inputs: Mapping[str, Any]  # delivered upstream outputs by source id, in edge order
    scope: Mapping[str, Any]  # names for the node's expressions: trigger, input, nodes, ...
    item: int | None = None


@dataclass(frozen=True, slots=True)
class SkipNode:
    """Journal that dead-path elimination skipped this node."""

    node: str


@dataclass(frozen=True, slots=True)
class StopNode:
    """Stop the remaining items of a for_each node that has failed."""

    node: str


@dataclass(frozen=True, slots=True)
class FinishRun:
    status: ExecutionStatus
    result: Any = None
    error: dict[str, Any] | None = None


Command = RunNode | SkipNode | StopNode | FinishRun


# --------------------------------------------------------------------------- state


class NodeState(IntEnum):
    PENDING = 0
    RUNNING = 1
    COMPLETED = 2
    FAILED = 3
    SKIPPED = 4


_UNRESOLVED, _DELIVERED, _DEAD = 0, 1, 2


class NodesScope(Mapping[str, Any]):
    """``nodes`` as a node's expressions see it: the nodes completed before it was offered.

    A view over the run's shared table, cut at a completion count, so that offering a node costs
    O(1) and what an expression sees does not depend on when its step happens to run.
    """

    __slots__ = ("_limit", "_order", "_table")

    def __init__(self, table: dict[str, dict[str, Any]], order: dict[str, int], limit: int):
        self._table, self._order, self._limit = table, order, limit

    def __getitem__(self, key: str) -> Any:
        if self._order.get(key, self._limit) >= self._limit:
            raise KeyError(key)
        return self._table[key]

    def __iter__(self) -> Iterator[str]:
        return (k for k, n in self._order.items() if n < self._limit)

    def __len__(self) -> int:
        return sum(1 for n in self._order.values() if n < self._limit)

    def __repr__(self) -> str:
        return f"NodesScope({list(self)})"


@dataclass(slots=True)
class _ForEach:
    items: list[Any]
    input: Any
    inputs: Mapping[str, Any]
    scope: Mapping[str, Any]
    next: int = 0
    running: int = 0
    done: int = 0
    results: list[Any] = field(default_factory=list)


@dataclass(slots=True)
class RunState:
    """Where a run stands. Owned by the scheduler; see the module docstring."""

    status: ExecutionStatus
    nodes: list[NodeState]
    pending: list[int]  # unresolved incoming edges per node
    edges: bytearray
    table: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> {"output": ...}
    order: dict[str, int] = field(default_factory=dict)  # id -> completion number
    foreach: dict[int, _ForEach] = field(default_factory=dict)
    running: int = 0  # nodes in RUNNING
    trigger: Any = None
    execution: Mapping[str, Any] = field(default_factory=dict)
    vars: Mapping[str, Any] = field(default_factory=dict)
    pinned: Mapping[str, Any] = field(default_factory=dict)

    def copy(self) -> RunState:
        """An independent copy (outputs are shared: they are never mutated)."""
        clone = copy.copy(self)
        clone.nodes = list(self.nodes)
        clone.pending = list(self.pending)
        clone.edges = bytearray(self.edges)
        clone.table = dict(self.table)
        clone.order = dict(self.order)
        clone.foreach = {k: copy.copy(v) for k, v in self.foreach.items()}
        for fe in clone.foreach.values():
            fe.results = list(fe.results)
        return clone

    def scope(self) -> dict[str, Any]:
        """Names for expressions evaluated now (the run's output)."""
        return {
            "trigger": self.trigger,
            "nodes": NodesScope(self.table, self.order, len(self.order)),
            "vars": self.vars,
            "execution": self.execution,
        }

    def outputs(self) -> dict[str, Any]:
        """Completed nodes' outputs by id, in completion order."""
        return {node_id: entry["output"] for node_id, entry in self.table.items()}


def new_state(graph: Graph) -> RunState:
    """The state of a run that has not started."""
    return RunState(
        status=ExecutionStatus.PENDING,
        nodes=[NodeState.PENDING] * len(graph.ids),
        pending=[len(edges) for edges in graph.incoming],
        edges=bytearray(len(graph.edge_source)),
        vars=graph.workflow.vars,
    )


def error_object(
    node: str, message: str, type: str, attempts: int, item: int | None
) -> dict[str, Any]:
    """The ``error`` value a failed node hands on under ``continue`` and ``route``."""
    err: dict[str, Any] = {"message": message, "type": type, "node": node, "attempts": attempts}
    if item is not None:
        err["item"] = item
    return err


# --------------------------------------------------------------------------- step


def step(graph: Graph, state: RunState, event: Event) -> tuple[RunState, list[Command]]:
    """Apply one event; give the state and the commands the driver must carry out, in order.

    Events that no longer apply (a result for a node that was stopped, anything after the run
    finished) change nothing, so a driver may deliver late results without harm.
    """
    out: list[Command] = []
    if state.status in (
        ExecutionStatus.COMPLETED,
        ExecutionStatus.FAILED,
        ExecutionStatus.CANCELLED,
    ):
        return state, out
    ready: list[int] = []
    if isinstance(event, Start):
        if state.status != ExecutionStatus.PENDING:
            return state, out
        state.status = ExecutionStatus.RUNNING
        state.trigger = event.input
        state.execution = event.execution
        state.pinned = event.pinned
        fired = graph.index.get(event.trigger_node) if event.trigger_node else None
        for i in range(len(graph.ids)):
            if not graph.incoming[i]:
                if fired is not None and i in graph.triggers and i != fired:
                    _skip(graph, state, i, out, ready)
                else:
                    heapq.heappush(ready, i)
    elif isinstance(event, NodeSucceeded):
        found = graph.index.get(event.node)
        if found is None or state.nodes[found] != NodeState.RUNNING:
            return state, out
        if event.item is None:
            _complete(graph, state, found, event.output, event.port, ready)
        else:
            _item_done(graph, state, found, event.item, event.output, out, ready)
    elif isinstance(event, NodeFailed):
        found = graph.index.get(event.node)
        if found is None or state.nodes[found] != NodeState.RUNNING:
            return state, out
        i = found
        if event.item is not None:
            fe = state.foreach.get(i)
            if (
                fe is None
                or not 0 <= event.item < fe.next
                or fe.results[event.item] is not _NOT_DONE
            ):
                return state, out
            if fe.running - 1 > 0 or fe.next < len(fe.items):
                out.append(StopNode(graph.ids[i]))
            del state.foreach[i]
        err = error_object(event.node, event.message, event.type, event.attempts, event.item)
        _fail(graph, state, i, err, out, ready)
    elif isinstance(event, Cancel):
        state.status = ExecutionStatus.CANCELLED
        out.append(
            FinishRun(
                ExecutionStatus.CANCELLED, error={"message": event.reason, "type": "Cancelled"}
            )
        )
        return state, out
    _drain(graph, state, ready, out)
    if state.status == ExecutionStatus.RUNNING and state.running == 0:
        out.append(_finish(graph, state))
    return state, out


_NOT_DONE: Any = object()


def _drain(graph: Graph, state: RunState, ready: list[int], out: list[Command]) -> None:
    """Decide every node that became ready, lowest definition index first."""
    while ready and state.status == ExecutionStatus.RUNNING:
        i = heapq.heappop(ready)
        if state.nodes[i] != NodeState.PENDING:
            continue
        node = graph.nodes[i]
        delivered = [e for e in graph.incoming[i] if state.edges[e] == _DELIVERED]
        rule = node.trigger_rule
        incoming = graph.incoming[i]
        if incoming and (
            (rule == "all" and len(delivered) < len(incoming)) or (rule == "any" and not delivered)
        ):
            _skip(graph, state, i, out, ready)
            continue
        _offer(graph, state, i, delivered, out, ready)


def _offer(
    graph: Graph,
    state: RunState,
    i: int,
    delivered: list[int],
    out: list[Command],
    ready: list[int],
) -> None:
    node = graph.nodes[i]
    sources = (graph.ids[graph.edge_source[e]] for e in delivered)
    inputs = {source: state.table[source]["output"] for source in sources}
    if not graph.incoming[i]:
        node_input = state.trigger
    elif len(inputs) == 1:
        node_input = next(iter(inputs.values()))
    else:
        node_input = inputs if inputs else None
    if node.id in state.pinned:
        node_input = state.pinned[node.id]
    scope = {
        "trigger": state.trigger,
        "input": node_input,
        "nodes": NodesScope(state.table, state.order, len(state.order)),
        "vars": state.vars,
        "execution": state.execution,
    }
    state.nodes[i] = NodeState.RUNNING
    state.running += 1
    if node.for_each is None:
        out.append(RunNode(node.id, node_input, inputs, scope))
        return
    try:
        items = expr.evaluate(node.for_each, scope)
        if not isinstance(items, list | tuple):
            raise expr.ExpressionError(
                node.for_each, f"for_each must give a list, not {type(items).__name__}"
            )
    except expr.ExpressionError as exc:
        _fail(
            graph, state, i, error_object(node.id, str(exc), "ExpressionError", 0, None), out, ready
        )
        return
    fe = _ForEach(list(items), node_input, inputs, scope, results=[_NOT_DONE] * len(items))
    state.foreach[i] = fe
    if not items:
        del state.foreach[i]
        _complete(graph, state, i, [], MAIN_PORT, ready)
        return
    _offer_items(graph, i, fe, node.concurrency, out)


def _offer_items(graph: Graph, i: int, fe: _ForEach, concurrency: int, out: list[Command]) -> None:
    while fe.running < concurrency and fe.next < len(fe.items):
        k = fe.next
        fe.next += 1
        fe.running += 1
        scope = {**fe.scope, "item": fe.items[k], "index": k}
        out.append(RunNode(graph.ids[i], fe.input, fe.inputs, scope, item=k))


def _item_done(
    graph: Graph, state: RunState, i: int, k: int, output: Any, out: list[Command], ready: list[int]
) -> None:
    fe = state.foreach.get(i)
    if fe is None or not 0 <= k < fe.next or fe.results[k] is not _NOT_DONE:
        return
    fe.results[k] = output
    fe.running -= 1
    fe.done += 1
    if fe.done == len(fe.items):
        del state.foreach[i]
        _complete(graph, state, i, fe.results, MAIN_PORT, ready)
    else:
        _offer_items(graph, i, fe, graph.nodes[i].concurrency, out)


def _complete(
    graph: Graph, state: RunState, i: int, output: Any, port: str, ready: list[int]
) -> None:
    node_id = graph.ids[i]
    state.nodes[i] = NodeState.COMPLETED
    state.running -= 1
    state.order[node_id] = len(state.order)
    state.table[node_id] = {"output": output}
    for e in graph.outgoing[i]:
        _resolve(graph, state, e, _DELIVERED if graph.edge_port[e] == port else _DEAD, ready)


def _skip(graph: Graph, state: RunState, i: int, out: list[Command], ready: list[int]) -> None:
    state.nodes[i] = NodeState.SKIPPED
    out.append(SkipNode(graph.ids[i]))
    for e in graph.outgoing[i]:
        _resolve(graph, state, e, _DEAD, ready)


def _resolve(graph: Graph, state: RunState, e: int, how: int, ready: list[int]) -> None:
    state.edges[e] = how
    t = graph.edge_target[e]
    state.pending[t] -= 1
    if state.pending[t] == 0:
        heapq.heappush(ready, t)


def _fail(
    graph: Graph, state: RunState, i: int, err: dict[str, Any], out: list[Command], ready: list[int]
) -> None:
    on_error = graph.nodes[i].on_error
    if on_error == "continue":
        _complete(graph, state, i, {"error": err}, MAIN_PORT, ready)
    elif on_error == "route":
        _complete(graph, state, i, {"error": err}, ERROR_PORT, ready)
    else:
        state.nodes[i] = NodeState.FAILED
        state.running -= 1
        state.status = ExecutionStatus.FAILED
        out.append(FinishRun(ExecutionStatus.FAILED, error=err))


def _finish(graph: Graph, state: RunState) -> FinishRun:
    wf = graph.workflow
    if wf.output is not None:
        try:
            result = expr.render(wf.output, state.scope())
        except expr.ExpressionError as exc:
            state.status = ExecutionStatus.FAILED
            error = {
                "message": f"output: {exc}",
                "type": "ExpressionError",
                "node": None,
                "attempts": 0,
            }
            return FinishRun(ExecutionStatus.FAILED, error=error)
    else:
        result = {
            graph.ids[i]: state.table[graph.ids[i]]["output"]
            for i in range(len(graph.ids))
            if not graph.outgoing[i] and state.nodes[i] == NodeState.COMPLETED
        }
    state.status = ExecutionStatus.COMPLETED
    return FinishRun(ExecutionStatus.COMPLETED, result=result)


# --------------------------------------------------------------------------- replay


def replay(
    graph: Graph,
    start: Start,
    frames: Iterable[ExecutionFrame],
    offered: Callable[[RunNode], None] | None = None,
) -> tuple[RunState, list[Command]]:
    """Fold a journal into the run's state: feed the scheduler the outcomes the frames record.

    Gives the state and the commands still to carry out: nodes offered but not finished, skips
    not yet journaled, and the run's finish if the journal ends where it was decided. Because
    ``step`` is deterministic, this is the state the run had when its last frame was written.
    ``offered`` sees every node (and item) the run offered on the way, with the scope its
    expressions saw.
    """
    state = new_state(graph)
    outstanding: dict[tuple[str, int | None], RunNode] = {}
    skips: dict[str, SkipNode] = {}
    finish: list[FinishRun] = []

    def take(commands: list[Command]) -> None:
        for command in commands:
            if isinstance(command, RunNode):
                outstanding[(command.node, command.item)] = command
                if offered is not None:
                    offered(command)
            elif isinstance(command, SkipNode):
                skips[command.node] = command
            elif isinstance(command, StopNode):
                for key in [k for k in outstanding if k[0] == command.node]:
                    del outstanding[key]
            else:
                finish.append(command)

    state, commands = step(graph, state, start)
    take(commands)
    for frame in frames:
        event: Event
        if frame.status == FrameStatus.COMPLETED:
            event = NodeSucceeded(frame.node_id, frame.output, frame.port or MAIN_PORT, frame.item)
        elif frame.status == FrameStatus.FAILED:
            error = frame.error or {}
            event = NodeFailed(
                frame.node_id,
                str(error.get("message", "failed")),
                str(error.get("type", "Error")),
                frame.attempt,
                frame.item,
            )
        elif frame.status == FrameStatus.SKIPPED:
            skips.pop(frame.node_id, None)
            continue
        else:
            continue
        outstanding.pop((frame.node_id, frame.item), None)
        state, commands = step(graph, state, event)
        take(commands)
    if finish:  # the run was decided; nothing else is left to run
        outstanding.clear()
    return state, [*skips.values(), *outstanding.values(), *finish]
