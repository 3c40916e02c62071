"""The pure scheduler: semantics by example, and properties over random DAGs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowforge.connectors import Connector, Context, NoParams, Registry
from flowforge.engine import plan
from flowforge.engine.frames import ExecutionFrame, ExecutionStatus, FrameStatus
from flowforge.model import Workflow

t = Connector("t", name="Test")


@t.action("start", trigger=True)
def _start(params: NoParams, ctx: Context) -> Any:
    return ctx.trigger


@t.action("task")
def _task(params: NoParams, ctx: Context) -> Any:
    return ctx.input


@t.action("branch", ports=("a", "b"))
def _branch(params: NoParams, ctx: Context) -> Any:
    return ctx.input


REGISTRY = Registry([t])
PORTS = {"t.start": ("main",), "t.task": ("main",), "t.branch": ("a", "b")}
_T = datetime(2026, 1, 1, tzinfo=UTC)
EXECUTION = {"id": "e1", "workflow": "w", "started_at": "2026-01-01T00:00:00+00:00"}


def graph_of(data: dict[str, Any]) -> plan.Graph:
    return plan.Graph.build(Workflow.model_validate({"name": "w", **data}), REGISTRY)


def start(graph: plan.Graph, input: Any = None) -> tuple[plan.RunState, list[plan.Command]]:
    return plan.step(graph, plan.new_state(graph), plan.Start(input, EXECUTION))


def names(commands: list[plan.Command]) -> list[str]:
    out = []
    for c in commands:
        if isinstance(c, plan.RunNode):
            out.append(f"run:{c.node}" + ("" if c.item is None else f"[{c.item}]"))
        elif isinstance(c, plan.SkipNode):
            out.append(f"skip:{c.node}")
        elif isinstance(c, plan.StopNode):
            out.append(f"stop:{c.node}")
        else:
            out.append(f"finish:{c.status.value}")
    return out


def test_independent_branches_are_offered_together_in_definition_order() -> None:
    g = graph_of(
        {
            "nodes": [
                {"id": "s", "type": "t.start"},
                {"id": "b", "type": "t.task"},
                {"id": "a", "type": "t.task"},
                {"id": "j", "type": "t.task"},
            ],
            "edges": [
                {"source": "s", "target": "a"},
                {"source": "s", "target": "b"},
                {"source": "a", "target": "j"},
                {"source": "b", "target": "j"},
            ],
        }
    )
    state, cmds = start(g, {"x": 1})
    assert names(cmds) == ["run:s"]
    assert cmds[0].input == {"x": 1}  # type: ignore[union-attr]
    state, cmds = plan.step(g, state, plan.NodeSucceeded("s", {"x": 1}))
    assert names(cmds) == ["run:b", "run:a"]
    state, cmds = plan.step(g, state, plan.NodeSucceeded("a", "A"))
    assert cmds == []
    state, cmds = plan.step(g, state, plan.NodeSucceeded("b", "B"))
    assert names(cmds) == ["run:j"]
    # several delivered inputs: a mapping from source id to output, in edge order
    assert cmds[0].input == {"a": "A", "b": "B"}  # type: ignore[union-attr]
    state, cmds = plan.step(g, state, plan.NodeSucceeded("j", "J"))
    assert names(cmds) == ["finish:COMPLETED"]
    assert cmds[0].result == {"j": "J"}  # type: ignore[union-attr]


def _branchy(rule: str) -> plan.Graph:
    return graph_of(
        {
            "nodes": [
                {"id": "s", "type": "t.start"},
                {"id": "br", "type": "t.branch"},
                {"id": "x", "type": "t.task"},
                {"id": "y", "type": "t.task"},
                {"id": "after_x", "type": "t.task"},
                {"id": "join", "type": "t.task", "trigger_rule": rule},
            ],
            "edges": [
                {"source": "s", "target": "br"},
                {"source": "br", "source_port": "a", "target": "x"},
                {"source": "br", "source_port": "b", "target": "y"},
                {"source": "x", "target": "after_x"},
                {"source": "after_x", "target": "join"},
                {"source": "y", "target": "join"},
            ],
        }
    )


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("all", ["skip:x", "run:y", "skip:after_x"]),
        ("any", ["skip:x", "run:y", "skip:after_x"]),
        ("always", ["skip:x", "run:y", "skip:after_x"]),
    ],
)
def test_dead_path_elimination_cascades(rule: str, expected: list[str]) -> None:
    g = _branchy(rule)
    state, _ = start(g)
    state, _ = plan.step(g, state, plan.NodeSucceeded("s", 1))
    state, cmds = plan.step(g, state, plan.NodeSucceeded("br", 1, port="b"))
    assert names(cmds) == expected
    state, cmds = plan.step(g, state, plan.NodeSucceeded("y", "Y"))
    if rule == "all":
        assert names(cmds) == ["skip:join", "finish:COMPLETED"]
        assert cmds[-1].result == {}  # type: ignore[union-attr]
    else:
        assert names(cmds) == ["run:join"]
        assert cmds[0].input == "Y"  # type: ignore[union-attr]


def test_always_runs_with_no_delivered_input() -> None:
    g = graph_of(
        {
            "nodes": [
                {"id": "s", "type": "t.start"},
                {"id": "br", "type": "t.branch"},
                {"id": "x", "type": "t.task"},
                {"id": "z", "type": "t.task", "trigger_rule": "always"},
            ],
            "edges": [
                {"source": "s", "target": "br"},
                {"source": "br", "source_port": "a", "target": "x"},
                {"source": "x", "target": "z"},
            ],
        }
    )
    state, _ = start(g)
    state, _ = plan.step(g, state, plan.NodeSucceeded("s", 1))
    state, cmds = plan.step(g, state, plan.NodeSucceeded("br", 1, port="b"))
    assert names(cmds) == ["skip:x", "run:z"]
    assert cmds[1].input is None  # type: ignore[union-attr]


@pytest.mark.parametrize("on_error", ["fail", "continue", "route"])
def test_on_error(on_error: str) -> None:
    g = graph_of(
        {
            "nodes": [
                {"id": "s", "type": "t.start"},
                {"id": "n", "type": "t.task", "on_error": on_error},
                {"id": "ok", "type": "t.task"},
                {"id": "other", "type": "t.task"},
            ]
            + ([{"id": "handler", "type": "t.task"}] if on_error == "route" else []),
            "edges": [
                {"source": "s", "target": "n"},
                {"source": "s", "target": "other"},
                {"source": "n", "target": "ok"},
            ]
            + (
                [{"source": "n", "source_port": "error", "target": "handler"}]
                if on_error == "route"
                else []
            ),
        }
    )
    state, _ = start(g)
    state, _ = plan.step(g, state, plan.NodeSucceeded("s", 1))
    state, cmds = plan.step(g, state, plan.NodeFailed("n", "boom", "ValueError", attempts=3))
    error = {"error": {"message": "boom", "type": "ValueError", "node": "n", "attempts": 3}}
    if on_error == "fail":
        assert names(cmds) == ["finish:FAILED"]
        assert cmds[0].error == error["error"]  # type: ignore[union-attr]
        assert state.status == ExecutionStatus.FAILED
        # late results of other branches change nothing
        assert plan.step(g, state, plan.NodeSucceeded("other", 1))[1] == []
    elif on_error == "continue":
        assert names(cmds) == ["run:ok"]
        assert cmds[0].input == error  # type: ignore[union-attr]
    else:
        assert names(cmds) == ["skip:ok", "run:handler"]
        assert cmds[1].input == error  # type: ignore[union-attr]


def test_start_with_a_named_trigger_skips_the_other_triggers() -> None:
    g = graph_of(
        {
            "nodes": [
                {"id": "manual", "type": "t.start"},
                {"id": "other", "type": "t.start"},
                {"id": "a", "type": "t.task", "trigger_rule": "any"},
            ],
            "edges": [{"source": "manual", "target": "a"}, {"source": "other", "target": "a"}],
        }
    )
    _, cmds = plan.step(g, plan.new_state(g), plan.Start(1, EXECUTION, trigger_node="other"))
    assert names(cmds) == ["skip:manual", "run:other"]


# --------------------------------------------------------------------------- properties


@st.composite
def dags(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 14))
    nodes = [{"id": "n0", "type": "t.start"}]
    for i in range(1, n):
        nodes.append(
            {
                "id": f"n{i}",
                "type": draw(st.sampled_from(["t.task", "t.branch", "t.start"])),
                "trigger_rule": draw(st.sampled_from(["all", "any", "always"])),
                "on_error": draw(st.sampled_from(["fail", "continue", "route"])),
            }
        )
    edges = []
    seen = set()
    for j in range(1, n):
        for i in draw(st.lists(st.integers(0, j - 1), max_size=3, unique=True)):
            ports = [*PORTS[nodes[i]["type"]]]
            if nodes[i].get("on_error") == "route":
                ports.append("error")
            port = draw(st.sampled_from(ports))
            if (i, port, j) not in seen:
                seen.add((i, port, j))
                edges.append({"source": f"n{i}", "target": f"n{j}", "source_port": port})
    return {"nodes": nodes, "edges": edges}


def _reference_decision(g: plan.Graph, state: plan.RunState, i: int) -> bool:
    """Whether DESIGN's readiness rules say node ``i`` runs, given its resolved incoming edges."""
    incoming = g.incoming[i]
    delivered = [e for e in incoming if state.edges[e] == 1]
    rule = g.nodes[i].trigger_rule
    if not incoming or rule == "always":
        return True
    return len(delivered) == len(incoming) if rule == "all" else bool(delivered)


def _simulate(g: plan.Graph, data: st.DataObject) -> plan.RunState:
    """Drive a run, completing outstanding nodes in an order (and with outcomes) hypothesis picks,
    checking the scheduler's promises after every event."""
    preds: list[set[int]] = [{g.edge_source[e] for e in g.incoming[i]} for i in range(len(g.ids))]
    state = plan.new_state(g)
    events: list[plan.Event] = [plan.Start({"in": 1}, EXECUTION)]
    decided: dict[str, str] = {}
    outstanding: list[plan.RunNode] = []
    while events:
        event = events.pop()
        before = state.copy()
        state, commands = plan.step(g, state, event)
        # same input, same commands
        again = plan.step(g, before, event)[1]
        assert names(again) == names(commands)
        for c in commands:
            if isinstance(c, plan.RunNode | plan.SkipNode):
                assert c.node not in decided, f"{c.node} decided twice"
                i = g.index[c.node]
                for p in preds[i]:  # never before its dependencies
                    assert state.nodes[p] != plan.NodeState.PENDING
                    assert g.ids[p] in decided
                assert _reference_decision(g, state, i) == isinstance(c, plan.RunNode)
                decided[c.node] = "run" if isinstance(c, plan.RunNode) else "skip"
                if isinstance(c, plan.RunNode):
                    outstanding.append(c)
        # every node whose inputs are all resolved has been offered: nothing ready is held back
        if state.status == ExecutionStatus.RUNNING:
            for i, node_id in enumerate(g.ids):
                if node_id not in decided:
                    assert state.pending[i] > 0
        finished = [c for c in commands if isinstance(c, plan.FinishRun)]
        if finished:
            assert len(finished) == 1
            break
        assert outstanding, "a running run must have something in flight"
        pick = outstanding.pop(data.draw(st.integers(0, len(outstanding) - 1), label="next"))
        node_type = g.nodes[g.index[pick.node]].type
        if data.draw(st.integers(0, 9), label="fails") == 0:
            events.append(plan.NodeFailed(pick.node, "boom", "E", 1))
        else:
            port = data.draw(st.sampled_from(PORTS[node_type]), label="port")
            events.append(plan.NodeSucceeded(pick.node, {"from": pick.node}, port))
    if state.status == ExecutionStatus.COMPLETED:
        assert set(decided) == set(g.ids), "every node decided exactly once"
    return state


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dags(), st.data())
def test_random_dags_decide_every_node_once_in_dependency_order(
    spec: dict[str, Any], data: st.DataObject
) -> None:
    g = graph_of(spec)
    state = _simulate(g, data)
    assert state.status in (ExecutionStatus.COMPLETED, ExecutionStatus.FAILED)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dags(), st.data())
def test_replay_of_any_journal_prefix_gives_the_live_state(
    spec: dict[str, Any], data: st.DataObject
) -> None:
    """Folding the frames written so far reproduces the state and the outstanding work."""
    g = graph_of(spec)
    state = plan.new_state(g)
    start_event = plan.Start({"in": 1}, EXECUTION)
    state, commands = plan.step(g, state, start_event)
    frames: list[ExecutionFrame] = []
    outstanding = [c for c in commands if isinstance(c, plan.RunNode)]
    stop_at = data.draw(st.integers(0, len(g.ids)), label="stop")
    for _ in range(stop_at):
        if not outstanding or state.status != ExecutionStatus.RUNNING:
            break
        pick = outstanding.pop(data.draw(st.integers(0, len(outstanding) - 1)))
        port = data.draw(st.sampled_from(PORTS[g.nodes[g.index[pick.node]].type]))
        frames.append(
            ExecutionFrame(
                "e1",
                len(frames) + 1,
                pick.node,
                FrameStatus.COMPLETED,
                _T,
                port=port,
                output=pick.node,
            )
        )
        state, commands = plan.step(g, state, plan.NodeSucceeded(pick.node, pick.node, port))
        outstanding += [c for c in commands if isinstance(c, plan.RunNode)]
    folded, todo = plan.replay(g, start_event, frames)
    assert folded.nodes == state.nodes
    assert folded.outputs() == state.outputs()
    assert bytes(folded.edges) == bytes(state.edges)
    if state.status == ExecutionStatus.RUNNING:
        assert sorted(c.node for c in todo if isinstance(c, plan.RunNode)) == sorted(
            c.node for c in outstanding
        )
