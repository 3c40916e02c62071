"""The workflow model: loading, dumping and the errors of bad files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowforge.errors import DefinitionError
from flowforge.model import RetryPolicy, Workflow, dump_workflow, load_workflow, parse_workflow

EXAMPLES = sorted(Path(__file__).parents[2].joinpath("examples").rglob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_round_trip_through_yaml_and_json(path: Path) -> None:
    workflow = load_workflow(path)
    for fmt in ("yaml", "json"):
        text = dump_workflow(workflow, fmt)  # type: ignore[arg-type]
        assert parse_workflow(text, fmt) == workflow  # type: ignore[arg-type]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
node_ids = st.from_regex(r"[A-Za-z_][A-Za-z0-9_\-]{0,10}", fullmatch=True)


@st.composite
def workflows(draw: st.DrawFn) -> Workflow:
    ids = draw(st.lists(node_ids, min_size=1, max_size=6, unique=True))
    nodes: list[dict[str, Any]] = []
    for node_id in ids:
        node: dict[str, Any] = {
            "id": node_id,
            "type": draw(st.sampled_from(["flow.set", "flow.noop", "x.y"])),
        }
        if draw(st.booleans()):
            node["params"] = {
                "values": draw(st.dictionaries(st.text(max_size=5), json_values, max_size=3))
            }
        if draw(st.booleans()):
            node["retry"] = {
                "max_attempts": draw(st.integers(1, 10)),
                "initial_s": draw(st.floats(0, 100)),
            }
        if draw(st.booleans()):
            node["on_error"] = draw(st.sampled_from(["fail", "continue", "route"]))
            node["trigger_rule"] = draw(st.sampled_from(["all", "any", "always"]))
        if draw(st.booleans()):
            node["for_each"] = "{{ input }}"
            node["concurrency"] = draw(st.integers(1, 50))
        if draw(st.booleans()):
            node["timeout_s"] = draw(st.floats(0.001, 1000))
        nodes.append(node)
    edges = [
        {
            "source": draw(st.sampled_from(ids)),
            "target": draw(st.sampled_from(ids)),
            "source_port": draw(st.sampled_from(["main", "true", "error"])),
        }
        for _ in range(draw(st.integers(0, 5)))
    ]
    return Workflow.model_validate(
        {
            "name": draw(st.text(min_size=1, max_size=20).filter(str.strip)),
            "vars": draw(st.dictionaries(st.text(max_size=5), json_values, max_size=3)),
            "nodes": nodes,
            "edges": edges,
            "output": draw(json_values),
        }
    )


@settings(max_examples=150, deadline=None)
@given(workflows(), st.sampled_from(["yaml", "json"]))
def test_dump_then_load_is_lossless(workflow: Workflow, fmt: str) -> None:
    assert parse_workflow(dump_workflow(workflow, fmt), fmt) == workflow  # type: ignore[arg-type]


def problems(text: str, fmt: str = "yaml") -> list[str]:
    with pytest.raises(DefinitionError) as info:
        parse_workflow(text, fmt)  # type: ignore[arg-type]
    return [f"{p.path}: {p.message}" for p in info.value.problems]


def test_field_errors_name_the_path_and_the_node() -> None:
    text = """
name: t
nodes:
  - {id: ok, type: flow.noop}
  - {id: bad, type: flow.noop, retry: {max_attempts: 0}, on_error: explode, surprise: 1}
  - {id: "1x", type: flow.noop}
"""
    found = problems(text)
    assert any(p.startswith("nodes[1].retry.max_attempts:") for p in found)
    assert any(
        p.startswith("nodes[1].on_error:") and "'fail', 'continue' or 'route'" in p for p in found
    )
    assert any(p.startswith("nodes[1].surprise:") and "Extra inputs" in p for p in found)
    assert any(p.startswith("nodes[2].id:") and "starts with a letter" in p for p in found)
    with pytest.raises(DefinitionError) as info:
        parse_workflow(text)
    assert {p.node for p in info.value.problems} == {"bad", "1x"}


@pytest.mark.parametrize(
    ("text", "fmt", "expected"),
    [
        ("name: [unclosed", "yaml", "invalid YAML"),
        ('{"name": "x", "nodes": [}', "json", "invalid JSON at line 1"),
        ("- just\n- a list", "yaml", "expected a mapping"),
        ("", "yaml", "got empty"),
        ("a: &x [1]\nb: *x\nname: n\nnodes: []", "yaml", "aliases"),
        ("[" * 100_000 + "]" * 100_000, "json", "nesting is too deep"),
        (
            "name: x\nnodes:\n"
            + "  - " * 1
            + "{id: a, type: t, params: "
            + "[" * 5000
            + "]" * 5000
            + "}",
            "yaml",
            "deep",
        ),
    ],
)
def test_malformed_files_get_one_clear_problem(text: str, fmt: str, expected: str) -> None:
    found = problems(text, fmt)
    assert any(expected in p for p in found), found


def test_bytes_that_are_not_utf8_and_huge_files_are_refused(tmp_path: Path) -> None:
    assert any("not UTF-8" in p for p in problems(b"name: \xff\xfe"))  # type: ignore[arg-type]
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (8 * 1024 * 1024 + 1))
    with pytest.raises(DefinitionError, match="larger than"):
        load_workflow(big)
    with pytest.raises(DefinitionError, match="cannot read file"):
        load_workflow(tmp_path / "absent.yaml")


def test_yaml_timestamps_stay_text() -> None:
    wf = parse_workflow(
        "name: t\nnodes: [{id: w, type: flow.wait, params: {until: 2026-01-01T00:00:00Z}}]"
    )
    assert wf.nodes[0].params["until"] == "2026-01-01T00:00:00Z"
    json.dumps(wf.model_dump(mode="json"))


def test_retry_delay_grows_and_is_capped() -> None:
    policy = RetryPolicy(max_attempts=5, initial_s=1, multiplier=3, max_s=5, jitter=0.5)
    assert [policy.delay(k, 0.0) for k in (1, 2, 3)] == [1, 3, 5]
    assert policy.delay(2, 0.999) == pytest.approx(1.5, rel=0.01)
