"""The data connector: JSONata, JMESPath, list operations, CSV and dates, with hostile input
refused; and math and data actions run as workflow nodes through the local engine."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from connector_support import keyword_callers

from flowforge.connectors import Registry
from flowforge.connectors import flow as flow_connector
from flowforge.connectors import math as math_connector
from flowforge.connectors.data import connector
from flowforge.engine.local import LocalEngine
from flowforge.model import Workflow
from flowforge.store import MemoryStore

run, refused, invalid = keyword_callers(connector)


ORDERS = {
    "customer": "Ann",
    "orders": [
        {"sku": "a", "price": 2.5, "quantity": 4},
        {"sku": "b", "price": 10, "quantity": 1},
        {"sku": "c", "price": 1, "quantity": 3},
    ],
}


# -- JSONata


def test_jsonata_transforms() -> None:
    assert run("jsonata", data=ORDERS, expression="$sum(orders.(price * quantity))") == {
        "result": 23
    }
    out = run(
        "jsonata",
        data=ORDERS,
        expression='{"who": customer, "big": orders[price >= $min].sku}',
        bindings={"min": 2},
    )
    assert out["result"] == {"who": "Ann", "big": ["a", "b"]}
    assert run("jsonata", data=ORDERS, expression="nothing") == {"result": None}


def test_jsonata_uses_the_node_input_when_no_data_is_given() -> None:
    assert run("jsonata", input=ORDERS, expression="customer") == {"result": "Ann"}
    assert run("jsonata", input=ORDERS, data=None, expression="customer") == {"result": None}


def test_jsonata_regular_expressions_run_on_re2() -> None:
    assert run("jsonata", data={}, expression='$replace("banana", /a/, "o")')["result"] == "bonono"
    assert run("jsonata", data={}, expression='$contains("ABC", /b/i)')["result"] is True
    assert run("jsonata", data={}, expression='$split("a1b22c", /[0-9]+/)')["result"] == [
        "a",
        "b",
        "c",
    ]
    # Catastrophic backtracking in a backtracking engine; linear in RE2.
    started = time.monotonic()
    out = run("jsonata", data={"s": "a" * 5_000 + "!"}, expression="$match(s, /(a+)+$/)")
    assert out["result"] is None
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("orders[", "expression: Expected ] before end of expression"),
        ("$nosuchfunction(1)", "expression: "),
        ('"a" + 1', "expression: "),
        ("$match('x', /(?<=a)b/)", "invalid regular expression"),
        ("function($x){ $x }", "not JSON data"),
    ],
)
def test_jsonata_invalid_expressions_are_clear_errors(expression: str, message: str) -> None:
    error = refused("jsonata", data=ORDERS, expression=expression)
    assert message in str(error)


def test_jsonata_runaway_expressions_are_stopped() -> None:
    started = time.monotonic()
    error = refused(
        "jsonata", data={}, expression="($f := function(){ $f() }; $f())", timeout_ms=200
    )
    assert error.type == "Timeout"
    assert "stopped after 200 ms" in str(error)
    assert time.monotonic() - started < 5
    deep = "($f := function($n){ $n <= 0 ? 0 : 1 + $f($n - 1) }; $f(100000))"
    assert refused("jsonata", data={}, expression=deep).type == "ExpressionError"
    big = refused("jsonata", data={}, expression="[1..3000000]")
    assert big.type == "TooLarge"
    too_long = invalid("jsonata", data={}, expression="1+" * 6000 + "1")
    assert "at most 10000 characters" in too_long
    assert "not a variable name" in str(
        refused("jsonata", data={}, expression="1", bindings={"a b": 1})
    )


def test_jsonata_cannot_reach_python() -> None:
    # Names are JSON field lookups and $functions are JSONata's own: nothing leads to Python.
    assert "non-function" in str(refused("jsonata", data={}, expression="__import__('os')"))
    assert run("jsonata", data={}, expression="$string.__class__") == {"result": None}
    assert run("jsonata", data={"__class__": 1}, expression="__class__") == {"result": 1}
    error = refused("jsonata", data={}, expression="$eval('__import__(\"os\")')")
    assert error.type == "ExpressionError"


# -- JMESPath


def test_jmespath_queries() -> None:
    out = run("jmespath", data=ORDERS, expression="orders[?price > `2`].sku")
    assert out == {"result": ["a", "b"]}
    assert run("jmespath", input=ORDERS, expression="length(orders)") == {"result": 3}
    error = refused("jmespath", data=ORDERS, expression="orders[?")
    assert error.type == "ExpressionError"
    assert "expression: " in str(error)
    assert "expression:" in str(refused("jmespath", data=ORDERS, expression="abs('x')"))


def test_jmespath_refuses_results_that_explode_through_shared_references() -> None:
    expression = "[@, @]" + " | [@, @]" * 40  # 2**41 leaves in a few kilobytes of objects
    error = refused("jmespath", data={"a": 1}, expression=expression)
    assert error.type == "TooLarge"


# -- filter, sort, deduplicate, aggregate

PEOPLE = [
    {"name": "Ann", "age": 31, "city": "Paris", "tags": ["a", "b"], "meta": {"vip": True}},
    {"name": "Bob", "age": 25, "city": "Lyon", "tags": []},
    {"name": "Cy", "age": 40, "city": "Paris", "tags": ["b"]},
    {"name": "Di", "city": "Nice", "age": "unknown"},
    {"name": "Ed"},
]


def names(out: dict[str, Any]) -> list[str]:
    return [item["name"] for item in out["items"]]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"field": "city", "operator": "eq", "value": "Paris"}, ["Ann", "Cy"]),
        ({"field": "city", "operator": "ne", "value": "Paris"}, ["Bob", "Di", "Ed"]),
        ({"field": "age", "operator": "gt", "value": 30}, ["Ann", "Cy"]),
        ({"field": "age", "operator": "gte", "value": 31}, ["Ann", "Cy"]),
        ({"field": "age", "operator": "lt", "value": 31}, ["Bob"]),
        ({"field": "age", "operator": "lte", "value": 31}, ["Ann", "Bob"]),
        ({"field": "name", "operator": "contains", "value": "d"}, ["Ed"]),
        ({"field": "tags", "operator": "contains", "value": "b"}, ["Ann", "Cy"]),
        ({"field": "meta", "operator": "contains", "value": "vip"}, ["Ann"]),
        ({"field": "city", "operator": "in", "value": ["Lyon", "Nice"]}, ["Bob", "Di"]),
        ({"field": "age", "operator": "exists"}, ["Ann", "Bob", "Cy", "Di"]),
        ({"field": "age", "operator": "exists", "value": False}, ["Ed"]),
        ({"field": "meta.vip", "operator": "eq", "value": True}, ["Ann"]),
        ({"field": "tags.0", "operator": "eq", "value": "b"}, ["Cy"]),
    ],
)
def test_filter_operators(condition: dict[str, Any], expected: list[str]) -> None:
    out = run("filter", items=PEOPLE, conditions=[condition])
    assert names(out) == expected
    assert out["count"] == len(expected)
    assert out["removed"] == len(PEOPLE) - len(expected)


def test_filter_all_or_any_and_input_checks() -> None:
    conditions = [
        {"field": "city", "operator": "eq", "value": "Paris"},
        {"field": "age", "operator": "lt", "value": 35},
    ]
    assert names(run("filter", items=PEOPLE, conditions=conditions)) == ["Ann"]
    assert names(run("filter", input=PEOPLE, conditions=conditions, match="any")) == [
        "Ann",
        "Bob",
        "Cy",
    ]
    assert "needs 'value' to be a list" in invalid(
        "filter", items=PEOPLE, conditions=[{"field": "a", "operator": "in", "value": 1}]
    )
    assert "Input should be" in invalid(
        "filter", items=PEOPLE, conditions=[{"field": "a", "operator": "like"}]
    )
    assert "at least 1 item" in invalid("filter", items=PEOPLE, conditions=[])
    error = refused("filter", input={"not": "a list"}, conditions=conditions)
    assert "items: give a list" in str(error)


def test_sort_by_several_fields_with_missing_values_last() -> None:
    out = run("sort", items=PEOPLE, by=[{"field": "age", "order": "desc"}])
    assert names(out) == ["Cy", "Ann", "Bob", "Di", "Ed"]  # numbers, then text, then missing
    out = run("sort", items=PEOPLE, by=[{"field": "city"}, {"field": "age", "order": "desc"}])
    assert names(out) == ["Bob", "Di", "Cy", "Ann", "Ed"]
    out = run("sort", items=PEOPLE, by=[{"field": "name", "order": "desc"}])
    assert names(out) == ["Ed", "Di", "Cy", "Bob", "Ann"]
    assert run("sort", items=[3, None, 1], by=[{"field": "x"}])["items"] == [3, None, 1]


def test_deduplicate_by_fields_or_whole_items() -> None:
    out = run("deduplicate", items=PEOPLE, fields=["city"])
    assert names(out) == ["Ann", "Bob", "Di", "Ed"]
    assert out["removed"] == 1
    assert names(run("deduplicate", items=PEOPLE, fields=["city"], keep="last")) == [
        "Bob",
        "Cy",
        "Di",
        "Ed",
    ]
    items = [{"a": 1, "b": 2}, {"b": 2, "a": 1}, {"a": 1}, [1], [1], "x", "x"]
    assert run("deduplicate", items=items)["items"] == [{"a": 1, "b": 2}, {"a": 1}, [1], "x"]


def test_aggregate_groups_and_metrics() -> None:
    sales = [
        {"region": "n", "product": "x", "amount": 10},
        {"region": "n", "product": "y", "amount": 5},
        {"region": "s", "product": "x", "amount": 7.5},
        {"region": "n", "product": "x", "amount": None},
        {"region": "s", "product": "x"},
    ]
    out = run(
        "aggregate",
        items=sales,
        group_by=["region"],
        metrics=[
            {"op": "sum", "field": "amount"},
            {"op": "count"},
            {"op": "count", "field": "amount", "name": "priced"},
            {"op": "avg", "field": "amount"},
            {"op": "min", "field": "amount"},
            {"op": "max", "field": "product"},
        ],
    )
    assert out["count"] == 2
    assert out["groups"] == [
        {
            "region": "n",
            "sum_amount": 15,
            "count": 3,
            "priced": 2,
            "avg_amount": 7.5,
            "min_amount": 5,
            "max_product": "y",
        },
        {
            "region": "s",
            "sum_amount": 7.5,
            "count": 2,
            "priced": 1,
            "avg_amount": 7.5,
            "min_amount": 7.5,
            "max_product": "x",
        },
    ]
    total = run("aggregate", items=sales)
    assert total["groups"] == [{"count": 5}]
    error = refused(
        "aggregate", items=PEOPLE, group_by=["city"], metrics=[{"op": "sum", "field": "age"}]
    )
    assert "items[3].age is 'unknown': sum needs numbers" in str(error)
    assert "sum needs a 'field'" in invalid("aggregate", items=[], metrics=[{"op": "sum"}])


# -- CSV

CSV = 'id,name,zip,score\n1,Ann,007,9.5\n2,"Bob, Jr",75001,-3\n\n3,"Quote ""Q""",,1e3\n'


def test_csv_to_json_from_text_and_typed() -> None:
    out = run("csv_to_json", text=CSV)
    assert out["columns"] == ["id", "name", "zip", "score"]
    assert out["count"] == 3
    assert out["rows"][1] == {"id": "2", "name": "Bob, Jr", "zip": "75001", "score": "-3"}
    typed = run("csv_to_json", text=CSV, typed=True)["rows"]
    assert typed[0] == {"id": 1, "name": "Ann", "zip": "007", "score": 9.5}
    assert typed[2] == {"id": 3, "name": 'Quote "Q"', "zip": "", "score": 1000.0}
    lists = run("csv_to_json", text="a;b\n1;2\n", delimiter=";", header=False)
    assert lists["rows"] == [["a", "b"], ["1", "2"]]
    assert lists["columns"] == []


def test_csv_to_json_from_a_blob_with_a_bom() -> None:
    store = MemoryStore()
    blob = store.put_blob("\ufeffa,b\n1,é\n".encode(), "text/csv", "x.csv")
    out = run("csv_to_json", store=store, blob=blob.model_dump())
    assert out["rows"] == [{"a": "1", "b": "é"}]
    latin = store.put_blob("a\né\n".encode("latin-1"), "text/csv", "y.csv")
    error = refused("csv_to_json", store=store, blob=latin.model_dump())
    assert "is not utf-8 text" in str(error)
    assert run("csv_to_json", store=store, blob=latin.model_dump(), encoding="latin-1")["rows"] == [
        {"a": "é"}
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('id,name\n1,"Ann"x\n', "line 2: malformed CSV"),
        ('id,name\n1,"Ann\n', "malformed CSV"),
        ("id,name\n1,Ann,extra\n", "line 2: 3 fields where the header has 2"),
        ("id,id\n1,2\n", "the header names ['id'] more than once"),
        ("a\n" + "x" * 131_073 + "\n", "malformed CSV (field larger than field limit"),
    ],
)
def test_malformed_csv_is_a_clear_error(text: str, message: str) -> None:
    error = refused("csv_to_json", text=text)
    assert message in str(error)


def test_csv_input_checks() -> None:
    assert "exactly one of 'text' and 'blob'" in invalid("csv_to_json")
    assert "a quote or a line break" in invalid("csv_to_json", text="a", delimiter='"')
    assert "more than 2 rows" in str(refused("csv_to_json", text="a\n1\n2\n3\n", max_rows=2))


def test_json_to_csv_text_and_blob() -> None:
    items = [{"a": 1, "b": {"c": [1, 2]}}, {"a": "x,y", "c": True, "d": None, "e": 0.5}]
    out = run("json_to_csv", items=items)
    assert out["columns"] == ["a", "b", "c", "d", "e"]
    assert out["text"] == 'a,b,c,d,e\r\n1,"{""c"": [1, 2]}",,,\r\nx\\,y,,true,,0.5\r\n'.replace(
        "x\\,y", '"x,y"'
    )
    assert run("csv_to_json", text=out["text"])["rows"][1]["a"] == "x,y"
    store = MemoryStore()
    out = run(
        "json_to_csv", store=store, input=items, columns=["e", "a"], as_blob=True, name="r.csv"
    )
    assert out["text"] is None
    assert out["file"]["media_type"] == "text/csv"
    assert out["file"]["name"] == "r.csv"
    assert store.get_blob(out["file"]["blob"]) == b'e,a\r\n,1\r\n0.5,"x,y"\r\n'
    escaped = run(
        "json_to_csv",
        items=[{"f": "=HYPERLINK(1)", "n": -3}, {"f": "-2+3", "n": 1}],
        header=False,
        escape_formulas=True,
    )
    assert escaped["text"] == "'=HYPERLINK(1),-3\r\n'-2+3,1\r\n"
    assert "items[1] is a int" in str(refused("json_to_csv", items=[{"a": 1}, 5]))


# -- dates and times


def test_datetime_parse_iso_and_format() -> None:
    out = run("datetime", value="2026-03-01T10:30:00Z")
    assert out["iso"] == "2026-03-01T10:30:00+00:00"
    assert out["timezone"] == "UTC"
    assert (out["year"], out["month"], out["day"], out["weekday"]) == (2026, 3, 1, 7)
    assert out["timestamp"] == datetime(2026, 3, 1, 10, 30, tzinfo=UTC).timestamp()
    out = run(
        "datetime",
        operation="format",
        value="31/12/2025 23:05",
        input_format="%d/%m/%Y %H:%M",
        timezone="Europe/Paris",
        output_format="%Y-%m-%d %H:%M %Z",
    )
    assert out["result"] == "2025-12-31 23:05 CET"
    assert out["iso"] == "2025-12-31T23:05:00+01:00"
    assert run("datetime", value=0)["iso"] == "1970-01-01T00:00:00+00:00"
    assert run("datetime", value="now")["year"] >= 2025


def test_datetime_convert_time_zones() -> None:
    out = run(
        "datetime",
        operation="convert",
        value="2026-07-01T12:00:00Z",
        to_timezone="America/New_York",
    )
    assert out["iso"] == "2026-07-01T08:00:00-04:00"
    assert out["timezone"] == "America/New_York"
    out = run("datetime", operation="convert", value="2026-07-01T12:00:00Z", to_timezone="+05:30")
    assert (out["iso"], out["timezone"]) == ("2026-07-01T17:30:00+05:30", "+05:30")


def test_datetime_add_and_subtract_across_dst_and_month_ends() -> None:
    # Paris moves to summer time at 02:00 on 2026-03-29: one elapsed hour from 01:30 is 03:30.
    out = run(
        "datetime", operation="add", value="2026-03-29T01:30:00", timezone="Europe/Paris", hours=1
    )
    assert out["iso"] == "2026-03-29T03:30:00+02:00"
    out = run(
        "datetime", operation="add", value="2026-03-28T10:00:00", timezone="Europe/Paris", days=1
    )
    assert out["iso"] == "2026-03-29T10:00:00+02:00"  # a calendar day keeps the wall time
    assert run("datetime", operation="add", value="2026-01-31", months=1)["iso"].startswith(
        "2026-02-28"
    )
    assert run("datetime", operation="add", value="2024-02-29", years=1)["iso"].startswith(
        "2025-02-28"
    )
    out = run("datetime", operation="subtract", value="2026-01-01T00:00:00Z", weeks=1, minutes=90)
    assert out["iso"] == "2025-12-24T22:30:00+00:00"


def test_datetime_difference() -> None:
    out = run(
        "datetime",
        operation="difference",
        value="2026-01-01T00:00:00Z",
        other="2026-01-02T06:00:00+01:00",
    )
    assert out["difference"]["seconds"] == 29 * 3600
    assert out["difference"]["hours"] == 29
    assert out["difference"]["text"] == "1 day, 5:00:00"
    back = run("datetime", operation="difference", value="2026-01-02", other="2026-01-01")
    assert back["difference"]["days"] == -1


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"value": "not a date"}, "value: 'not a date' is not a time in ISO 8601"),
        ({"value": "2026-13-01"}, "value: '2026-13-01' is not a time"),
        ({"value": "1/2", "input_format": "%Y"}, "is not a time in the format '%Y'"),
        ({"value": "2026-01-01", "timezone": "Mars/Olympus"}, "timezone: 'Mars/Olympus' is not"),
        ({"value": "2026-01-01", "timezone": "../../etc/passwd"}, "is not a known time zone"),
        ({"value": "2026-01-01", "to_timezone": "+25:00"}, "to_timezone: '+25:00' is not"),
        ({"value": "9999-12-31", "operation": "add", "days": 2}, "outside the years 1 to 9999"),
        ({"value": "0001-01-01", "operation": "subtract", "months": 1}, "outside the years"),
        ({"value": 1e20}, "value: 1e+20 is not a time"),
    ],
)
def test_datetime_bad_input_is_a_clear_error(params: dict[str, Any], message: str) -> None:
    assert message in str(refused("datetime", **params))


def test_datetime_validation() -> None:
    assert "difference needs 'other'" in invalid("datetime", operation="difference", value="now")
    assert "convert needs 'to_timezone'" in invalid("datetime", operation="convert", value="now")
    assert "value: at most 200" in invalid("datetime", value="1" * 201)
    assert "less than or equal" in invalid("datetime", value="now", operation="add", days=1e9)


# -- as workflow nodes


async def test_math_and_data_actions_run_as_workflow_nodes() -> None:
    workflow = Workflow.model_validate(
        {
            "name": "report",
            "nodes": [
                {"id": "start", "type": "flow.start"},
                {
                    "id": "paid",
                    "type": "data.filter",
                    "params": {
                        "items": "{{ trigger.orders }}",
                        "conditions": [{"field": "paid", "operator": "eq", "value": True}],
                    },
                },
                {
                    "id": "stats",
                    "type": "math.statistics",
                    "params": {
                        "values": "{{ nodes.paid.output['items'] | map(attribute='amount') | list }}"
                    },
                },
                {
                    "id": "total",
                    "type": "math.evaluate",
                    "params": {
                        "expression": "round(sum * (1 + vat), 2)",
                        "variables": {"sum": "{{ input.sum }}", "vat": 0.2},
                    },
                },
                {
                    "id": "bad",
                    "type": "math.evaluate",
                    "params": {"expression": "__import__('os')"},
                    "on_error": "continue",
                },
            ],
            "edges": [
                {"source": "start", "target": "paid"},
                {"source": "paid", "target": "stats"},
                {"source": "stats", "target": "total"},
                {"source": "start", "target": "bad"},
            ],
        }
    )
    orders = [
        {"amount": 10, "paid": True},
        {"amount": 99, "paid": False},
        {"amount": 5.5, "paid": True},
    ]
    async with LocalEngine(
        MemoryStore(), Registry([flow_connector.connector, connector, math_connector.connector])
    ) as engine:
        result = await engine.run(workflow, {"orders": orders})
    assert result.ok, result.error
    assert result.result["total"] == {"result": 18.6}
    error = result.result["bad"]["error"]
    assert error["type"] == "ExpressionError"
    assert "'__import__' is not an allowed function" in error["message"]
