"""Validation reports every problem at once, each with its place and reason."""

from __future__ import annotations

from typing import Any

import pytest

from flowforge.connectors import builtin_registry
from flowforge.engine.validate import check, validate
from flowforge.errors import DefinitionError, Problem
from flowforge.model import Workflow

REGISTRY = builtin_registry(entry_points=False)


def run_validate(
    nodes: list[dict[str, Any]], edges: list[dict[str, Any]] = (), **kw: Any
) -> list[Problem]:  # type: ignore[assignment]
    return validate(
        Workflow.model_validate({"name": "t", "nodes": nodes, "edges": list(edges), **kw}), REGISTRY
    )


def errors(problems: list[Problem]) -> list[str]:
    return [f"{p.path}|{p.node}|{p.message}" for p in problems if p.severity == "error"]


def test_a_valid_workflow_has_no_problems() -> None:
    assert (
        run_validate(
            [
                {"id": "s", "type": "flow.start"},
                {"id": "n", "type": "flow.set", "params": {"values": {"a": "{{ trigger.x }}"}}},
            ],
            [{"source": "s", "target": "n"}],
        )
        == []
    )


def test_every_problem_is_reported_at_once() -> None:
    found = errors(
        run_validate(
            [
                {"id": "s", "type": "flow.start"},
                {"id": "s", "type": "flow.noop"},
                {"id": "typo", "type": "flow.sett"},
                {"id": "w", "type": "flow.wait", "params": {"seconds": "soon"}},
                {"id": "f", "type": "flow.fail"},
                {"id": "i", "type": "flow.if", "params": {"condition": "{{ trigger. }}"}},
            ],
            [
                {"source": "s", "target": "ghost"},
                {"source": "i", "source_port": "maybe", "target": "w"},
                {"source": "i", "source_port": "error", "target": "f"},
                {"source": "s", "target": "w", "target_port": "side"},
            ],
        )
    )
    expected = [
        "nodes[1].id|s|duplicate id (first used by nodes[0])",
        "nodes[2].type|typo|unknown node type 'flow.sett' (did you mean 'flow.set'?)",
        "nodes[3].params.seconds|w|",
        "nodes[4].params.message|f|Field required",
        "nodes[5].params.condition|i|",
        "edges[0].target|None|no node has the id 'ghost'",
        "edges[1].source_port|i|flow.if node 'i' has no output port 'maybe' (its ports: false, true)",
        "edges[2].source_port|i|port 'error' of 'i' exists only with on_error: route",
        "edges[3].target_port|w|nodes have one input port, 'main'",
    ]
    for prefix in expected:
        assert any(f.startswith(prefix) for f in found), (prefix, found)


def test_cycles_name_their_nodes() -> None:
    found = errors(
        run_validate(
            [{"id": x, "type": "flow.noop"} for x in ("a", "b", "c", "d", "self")],
            [
                {"source": "a", "target": "b"},
                {"source": "b", "target": "c"},
                {"source": "c", "target": "a"},
                {"source": "c", "target": "d"},
                {"source": "self", "target": "self"},
            ],
        )
    )
    assert any("cycle: a → b → c → a" in f for f in found), found
    assert any("cycle: self → self" in f for f in found), found
    assert not any("d" in f.split("|")[1] for f in found if "cycle" in f)


def test_expressions_stand_in_for_any_type_but_their_syntax_and_names_are_checked() -> None:
    found = errors(
        run_validate(
            [
                {"id": "s", "type": "flow.start"},
                {"id": "w", "type": "flow.wait", "params": {"seconds": "{{ trigger.delay }}"}},
                {
                    "id": "bad",
                    "type": "flow.set",
                    "params": {"values": {"x": "{{ 1 + }}", "y": "{{ unknown_name }}"}},
                },
                {"id": "it", "type": "flow.set", "params": {"values": {"x": "{{ item }}"}}},
                {
                    "id": "ok",
                    "type": "flow.set",
                    "for_each": "{{ trigger }}",
                    "params": {"values": {"x": "{{ item }}{{ index }}"}},
                },
            ],
            [{"source": "s", "target": x} for x in ("w", "bad", "it", "ok")],
            output="{{ input }}",
        )
    )
    assert not any(f.startswith("nodes[1]") for f in found)
    assert any(f.startswith("nodes[2].params.values.x|bad|") for f in found)
    assert any(
        f.startswith("nodes[2].params.values.y|bad|unknown name 'unknown_name'") for f in found
    )
    assert any(
        f.startswith("nodes[3].params.values.x|it|unknown name 'item'") and "for_each" in f
        for f in found
    )
    assert not any(f.startswith("nodes[4]") for f in found)
    assert any(f.startswith("output|None|unknown name 'input'") for f in found)


def test_for_each_is_refused_where_it_makes_no_sense_and_must_be_an_expression() -> None:
    found = errors(
        run_validate(
            [
                {"id": "s", "type": "flow.start", "for_each": "{{ [1] }}"},
                {"id": "n", "type": "flow.noop", "for_each": "not an expression"},
            ],
            [{"source": "s", "target": "n"}],
        )
    )
    assert any(f.startswith("nodes[0].for_each|s|flow.start cannot run for_each") for f in found)
    assert any(f.startswith("nodes[1].for_each|n|must be an expression") for f in found)


def test_unreachable_nodes_are_warnings() -> None:
    problems = run_validate(
        [
            {"id": "s", "type": "flow.start"},
            {"id": "a", "type": "flow.noop"},
            {"id": "island", "type": "flow.noop"},
        ],
        [{"source": "s", "target": "a"}],
    )
    assert [(p.severity, p.node, p.message) for p in problems] == [
        ("warning", "island", "not reachable from a trigger")
    ]
    no_trigger = run_validate([{"id": "a", "type": "flow.noop"}])
    assert [p.severity for p in no_trigger] == ["warning"]


def test_switch_ports_come_from_its_cases() -> None:
    nodes = [
        {"id": "s", "type": "flow.start"},
        {
            "id": "sw",
            "type": "flow.switch",
            "params": {"value": 1, "cases": [{"equals": 1, "port": "one"}]},
        },
        {"id": "n", "type": "flow.noop"},
    ]
    assert (
        errors(
            run_validate(
                nodes,
                [
                    {"source": "s", "target": "sw"},
                    {"source": "sw", "source_port": "one", "target": "n"},
                ],
            )
        )
        == []
    )
    assert (
        errors(
            run_validate(
                nodes,
                [
                    {"source": "s", "target": "sw"},
                    {"source": "sw", "source_port": "default", "target": "n"},
                ],
            )
        )
        == []
    )
    bad = errors(
        run_validate(
            nodes,
            [
                {"source": "s", "target": "sw"},
                {"source": "sw", "source_port": "two", "target": "n"},
            ],
        )
    )
    assert any("no output port 'two' (its ports: default, one)" in f for f in bad)


def test_check_raises_with_every_error_and_builds_the_graph_otherwise() -> None:
    bad = Workflow.model_validate(
        {"name": "t", "nodes": [{"id": "a", "type": "nope.x"}, {"id": "b", "type": "nope.y"}]}
    )
    with pytest.raises(DefinitionError) as info:
        check(bad, REGISTRY, "file.yaml")
    assert len([p for p in info.value.problems if p.severity == "error"]) == 2
    assert str(info.value).startswith("file.yaml: invalid workflow (2 problem(s))")
    good = Workflow.model_validate({"name": "t", "nodes": [{"id": "a", "type": "flow.start"}]})
    assert check(good, REGISTRY).ids == ("a",)


def test_no_nodes() -> None:
    assert errors(validate(Workflow.model_validate({"name": "t", "nodes": []}), REGISTRY)) == [
        "nodes|None|a workflow needs at least one node"
    ]
