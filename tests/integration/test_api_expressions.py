"""The expression preview: an expression evaluated by the engine's sandbox in the scope a node
had in a run, rebuilt from the run's journal; expression errors as answers, not failures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from api_support import assert_error, running

PREVIEW = "/api/v1/expressions/preview"
DOUBLER = {
    "name": "doubler",
    "vars": {"factor": 2},
    "nodes": [
        {"id": "start", "type": "flow.start"},
        {
            "id": "each",
            "type": "flow.set",
            "for_each": "{{ trigger.numbers }}",
            "params": {"values": {"doubled": "{{ item * vars.factor }}"}},
        },
        {
            "id": "total",
            "type": "flow.set",
            "params": {"values": {"sum": "{{ input | map(attribute='doubled') | sum }}"}},
        },
    ],
    "edges": [{"source": "start", "target": "each"}, {"source": "each", "target": "total"}],
}
INPUT = {"numbers": [3, 4, 5], "who": "Ada"}


async def _value(client: httpx.AsyncClient, expression: str, **scope: Any) -> Any:
    answer = await client.post(PREVIEW, json={"expression": expression, **scope})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body == {"ok": True, "value": body.get("value")}, body
    return body["value"]


async def _error(client: httpx.AsyncClient, expression: str, **scope: Any) -> str:
    answer = await client.post(PREVIEW, json={"expression": expression, **scope})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"ok", "error"} and body["ok"] is False, body
    error: str = body["error"]
    return error


async def _run(client: httpx.AsyncClient) -> str:
    await client.post("/api/v1/workflows", json=DOUBLER)
    started = await client.post(
        "/api/v1/executions?wait=10", json={"workflowId": "doubler", "input": INPUT}
    )
    assert started.json()["status"] == "COMPLETED", started.text
    run_id: str = started.json()["id"]
    return run_id


async def test_the_scope_of_a_node_in_a_run(database_url: str, tmp_path: Path) -> None:
    async with running(database_url, tmp_path, load_examples=False) as (client, _):
        run = await _run(client)
        # the run as its output sees it: every node completed
        assert await _value(client, "{{ trigger.numbers | sum }}", executionId=run) == 12
        assert await _value(client, "{{ vars.factor }}", executionId=run) == 2
        assert await _value(client, "{{ nodes | list }}", executionId=run) == [
            "start",
            "each",
            "total",
        ]
        assert await _value(client, "{{ nodes.total.output }}", executionId=run) == {"sum": 24}
        assert await _value(client, "{{ execution.id }}", executionId=run) == run
        assert await _value(client, "sum: {{ nodes.total.output.sum }}", executionId=run) == (
            "sum: 24"
        )

        # a node sees the nodes completed before it was offered, and its own input
        total = {"executionId": run, "nodeId": "total"}
        assert await _value(client, "{{ nodes | list }}", **total) == ["start", "each"]
        assert await _value(client, "{{ input }}", **total) == [
            {"doubled": 6},
            {"doubled": 8},
            {"doubled": 10},
        ]
        assert await _value(client, "{{ nodes.total is defined }}", **total) is False
        assert await _value(client, "{{ execution.attempt }}", **total) == 1
        error = await _error(client, "{{ nodes.total.output }}", **total)
        assert "node 'total' has not completed (completed: start, each)" in error

        # one item of a for_each node: item and index
        second = {"executionId": run, "nodeId": "each", "item": 1}
        assert await _value(client, "{{ [item, index] }}", **second) == [4, 1]
        assert await _value(client, "{{ item * vars.factor }}", **second) == 8
        assert await _value(client, "{{ input.who }}", **second) == "Ada"
        assert await _value(client, "{{ nodes | list }}", **second) == ["start"]
        # the node itself, as its for_each expression sees it: no item yet
        each = {"executionId": run, "nodeId": "each"}
        assert await _value(client, "{{ item is defined }}", **each) is False
        assert await _value(client, "{{ input.numbers }}", **each) == [3, 4, 5]


async def test_a_rerun_s_node_sees_the_input_it_was_given(
    database_url: str, tmp_path: Path
) -> None:
    async with running(database_url, tmp_path, load_examples=False) as (client, _):
        run = await _run(client)
        edited = [{"doubled": 100}, {"doubled": 1}]
        rerun = await client.post(
            f"/api/v1/executions/{run}/rerun?wait=10", json={"node": "total", "input": edited}
        )
        assert rerun.json()["status"] == "COMPLETED", rerun.text
        again = {"executionId": rerun.json()["id"], "nodeId": "total"}
        assert await _value(client, "{{ input }}", **again) == edited
        assert await _value(client, "{{ nodes.each.output | length }}", **again) == 3  # kept
        result = await _value(
            client, "{{ nodes.total.output.sum }}", executionId=rerun.json()["id"]
        )
        assert result == 101


async def test_without_a_run_the_scope_is_empty(database_url: str, tmp_path: Path) -> None:
    async with running(database_url, tmp_path, load_examples=False) as (client, _):
        assert await _value(client, "{{ 6 * 7 }}") == 42
        assert await _value(client, "{{ {'a': [1, 2.5, none, true]} }}") == {
            "a": [1, 2.5, None, True]
        }
        assert await _value(client, "a{{ 1 }}b{{ [1] }}") == "a1b[1]"
        assert await _value(client, "no braces: {% raw %}") == "no braces: {% raw %}"
        assert await _value(client, "{{ trigger }}") == {}
        assert await _value(client, "{{ none }}") is None
        assert await _value(client, "{{ nodes | list }}", nodeId="anything") == []
        error = await _error(client, "{{ nodes.fetch.output }}")
        assert "node 'fetch' has not completed (completed: none yet)" in error


async def test_expression_errors_are_answers_that_say_what_went_wrong(
    database_url: str, tmp_path: Path
) -> None:
    async with running(database_url, tmp_path, load_examples=False) as (client, _):
        assert "syntax error" in await _error(client, "{{ 1 + }}")
        assert "never closed" in await _error(client, "{{ trigger.x")
        assert "'nope' is not defined" in await _error(client, "{{ nope.x }}")
        assert "__class__" in await _error(client, "{{ ''.__class__.__mro__ }}")
        assert "not allowed" in await _error(client, "{{ trigger.items.__self__ }}")
        assert "over the limit" in await _error(client, "{{ range(10**7) | list }}")
        lengths = "range(100000) | map('string') | map('length') | list | sum"
        busy = f"{{{{ {lengths} + {lengths} + {lengths} }}}}"
        assert "too much work" in await _error(client, busy)
        too_large = await _error(client, "{{ 'x' * 70000 }}")
        assert too_large.startswith("value too large to preview"), too_large
        assert "value too large to preview" in await _error(client, "{{ range(20000) | list }}")
        assert "not JSON" in await _error(client, "{{ 'nan' | float }}")
        assert "not JSON" in await _error(client, "{{ 7 ** 10000 }}")  # 8,451 digits
        assert await _value(client, "{{ 'x' * 60000 }}") == "x" * 60000  # under 64 KiB


async def test_bad_requests_name_the_field(database_url: str, tmp_path: Path) -> None:
    async with running(database_url, tmp_path, load_examples=False) as (client, _):
        run = await _run(client)
        one = {"expression": "{{ 1 }}"}
        cases: list[tuple[dict[str, Any], str]] = [
            ({"expression": "x" * 10_001}, "body.expression"),
            ({}, "body.expression"),
            ({"expression": 7}, "body.expression"),
            ({**one, "colour": "red"}, "body.colour"),
            ({**one, "item": 0}, "body.item"),
            ({**one, "executionId": run, "item": 0}, "body.item"),
            ({**one, "executionId": run, "nodeId": "each", "item": -1}, "body.item"),
            ({**one, "executionId": run, "nodeId": "each", "item": 3}, "body.item"),  # 3 items
            ({**one, "executionId": run, "nodeId": "total", "item": 0}, "body.item"),
            ({**one, "executionId": run, "nodeId": "ghost"}, "body.nodeId"),
        ]
        for body, field in cases:
            error = assert_error(await client.post(PREVIEW, json=body), 422, "VALIDATION_ERROR")
            assert error["details"][0]["field"] == field, (body, error)
        missing = await client.post(PREVIEW, json={"expression": "{{ 1 }}", "executionId": "nope"})
        assert assert_error(missing, 404, "NOT_FOUND")["message"] == "no execution 'nope'"
        nul = await client.post(PREVIEW, json={"expression": "{{ 1 }}", "executionId": "a\x00b"})
        assert_error(nul, 404, "NOT_FOUND")  # not a database error on PostgreSQL
