"""Values through Temporal: large ones by reference, look-alikes wrapped, never misread; and
which node outputs a step's expressions read."""

from __future__ import annotations

from typing import Any

import pytest

from flowforge.engine import expr
from flowforge.engine.temporal import _refs as refs
from flowforge.store import MemoryStore, NotFound

LIMIT = 1024


@pytest.mark.parametrize(
    "value",
    [None, True, 3, 2.5, "text", [1, 2], {"a": {"b": 1}}, "é" * 300, {"$flowforge.ref": "x"}],
)
def test_small_values_travel_as_they_are_and_come_back_equal(value: Any) -> None:
    store = MemoryStore()
    packed = refs.pack(store, value, LIMIT)
    assert refs.unpack(store, packed) == value
    assert not refs.is_packed(packed) or "$flowforge.literal" in packed


def test_large_values_travel_by_reference_once() -> None:
    store = MemoryStore()
    value = {"rows": [{"i": i, "text": "x" * 50} for i in range(100)]}
    packed = refs.pack(store, value, LIMIT)
    assert refs.is_packed(packed) and len(str(packed)) < 120
    assert refs.unpack(store, packed) == value
    assert refs.pack(store, value, LIMIT) == packed  # content-addressed: the same reference
    text = "y" * 5000
    assert refs.unpack(store, refs.pack(store, text, LIMIT)) == text


def test_look_alikes_are_wrapped_and_never_read_from_the_store() -> None:
    """A node's output is anyone's data: one shaped like a reference (or like the wrapper)
    must come back as it was, not as the blob it names."""
    store = MemoryStore()
    secret = refs.pack(store, {"secret": "s" * 2000}, LIMIT)
    forged = dict(secret)  # an output that copies a reference it saw somewhere
    packed = refs.pack(store, forged, LIMIT)
    assert refs.unpack(store, packed) == forged
    wrapper = {"$flowforge.literal": {"x": 1}}
    assert refs.unpack(store, refs.pack(store, wrapper, LIMIT)) == wrapper
    with pytest.raises(NotFound):
        refs.unpack(store, {"$flowforge.ref": "0" * 64})


def test_references_inside_values_are_read_back_and_look_alikes_at_any_depth_kept() -> None:
    """A for_each node's output is the list of its items' outputs, each packed on its own;
    a user's value may hide a look-alike anywhere."""
    store = MemoryStore()
    big = list(range(1000))
    items = [refs.pack(store, big, LIMIT), refs.pack(store, {"small": 1}, LIMIT)]
    assert refs.is_packed(items[0]) and refs.contains_packed(items)
    assert refs.unpack(store, {"each": items}) == {"each": [big, {"small": 1}]}
    hidden = {"rows": [{"$flowforge.ref": "nothing"}, {"$flowforge.literal": 1}], "n": 2}
    packed = refs.pack(store, hidden, LIMIT)
    assert refs.unpack(store, [packed, packed]) == [hidden, hidden]
    scope = refs.unpack_scope(
        store, {"trigger": items[0], "nodes": {"n": {"output": items}}, "item": packed}
    )
    assert scope["trigger"] == big and scope["nodes"]["n"]["output"] == [big, {"small": 1}]
    assert scope["item"] == hidden


def test_a_value_the_workflow_reads_travels_inline_up_to_its_limit() -> None:
    store = MemoryStore()
    value = {"data": "x" * 5000}
    assert refs.pack(store, value, LIMIT, inline_max=10_000) == value  # over LIMIT, inline
    with pytest.raises(refs.TooLarge, match="bytes"):
        refs.pack(store, value, LIMIT, inline_max=4000)


@pytest.mark.parametrize(
    ("params", "read"),
    [
        ({"a": "{{ nodes.x.output }}", "b": ["{{ nodes['y'].output.v }}"]}, {"x", "y"}),
        ({"a": "{{ nodes.x.output if nodes.x is defined else trigger }}"}, {"x"}),
        ({"a": "plain", "b": 3, "c": "{{ trigger.n + 1 }}"}, set()),
        ({"a": "{{ nodes[name].output }}"}, None),
        ({"a": "{{ nodes | list }}"}, None),
        ({"a": "{{ nodes }}"}, None),
        ({"a": "{{ (nodes).x }}"}, {"x"}),
    ],
)
def test_the_node_outputs_a_step_reads(params: Any, read: set[str] | None) -> None:
    found = expr.nodes_read(params)
    assert (None if found is None else set(found)) == read
