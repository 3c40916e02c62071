"""Filtering, sorting, deduplicating and aggregating lists of objects."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal, Self

from pydantic import BaseModel, Field, model_validator

from flowforge.connectors.data._common import (
    _MISSING,
    MAX_FIELDS,
    MAX_ITEMS,
    MAX_PATH,
    Path,
    _get,
    _invalid,
    _items,
    _Params,
)
from flowforge.connectors.sdk import Context


class ListResult(BaseModel):
    items: list[Any]
    count: int = Field(description="How many items are in 'items'")
    removed: int = Field(0, description="How many input items were left out")


# -- filter


class Condition(_Params):
    field: str = Path
    operator: Literal["eq", "ne", "gt", "gte", "lt", "lte", "contains", "in", "exists"] = Field(
        "eq",
        description="exists: the field is present (value false: absent); contains: a substring, "
        "a list item or an object key; in: the field's value is one of 'value' (a list)",
    )
    value: Any = Field(None, description="What to compare with")

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.operator == "in" and not isinstance(self.value, list):
            raise ValueError("operator 'in' needs 'value' to be a list")
        if self.operator == "exists" and not isinstance(self.value, bool | None):
            raise ValueError("operator 'exists' takes 'value' true, false or nothing")
        return self


class FilterParams(_Params):
    items: list[Any] | None = Field(
        None, max_length=MAX_ITEMS, description="The list; the node's input if absent"
    )
    conditions: list[Condition] = Field(min_length=1, max_length=MAX_FIELDS)
    match: Literal["all", "any"] = Field("all", description="Keep items matching all or any")


_ORDER = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}


def _comparable(a: Any, b: Any) -> bool:
    numbers = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        return False
    return (isinstance(a, numbers) and isinstance(b, numbers)) or (
        isinstance(a, str) and isinstance(b, str)
    )


def _matches(item: Any, condition: Condition) -> bool:
    value = _get(item, condition.field)
    op = condition.operator
    if op == "exists":
        return (value is not _MISSING) == (condition.value is not False)
    if value is _MISSING:
        return op == "ne"
    if op == "eq":
        return bool(value == condition.value)
    if op == "ne":
        return bool(value != condition.value)
    if op == "in":
        return value in condition.value
    if op == "contains":
        if isinstance(value, str):
            return isinstance(condition.value, str) and condition.value in value
        if isinstance(value, list | Mapping):
            try:
                return condition.value in value
            except TypeError:  # an unhashable value tested against an object's keys
                return False
        return False
    # Values of different kinds (a number and a text) never match an ordering.
    return _comparable(value, condition.value) and bool(_ORDER[op](value, condition.value))


def filter_(params: FilterParams, ctx: Context) -> ListResult:
    """Keep the items whose fields meet the conditions (all of them, or any)."""
    items = _items(params, ctx)
    combine = all if params.match == "all" else any
    kept = [item for item in items if combine(_matches(item, c) for c in params.conditions)]
    return ListResult(items=kept, count=len(kept), removed=len(items) - len(kept))


# -- sort


class SortKey(_Params):
    field: str = Path
    order: Literal["asc", "desc"] = "asc"


class SortParams(_Params):
    items: list[Any] | None = Field(
        None, max_length=MAX_ITEMS, description="The list; the node's input if absent"
    )
    by: list[SortKey] = Field(
        min_length=1, max_length=MAX_FIELDS, description="Fields to sort by, the first first"
    )


def _sort_key(value: Any) -> tuple[int, Any]:
    # Numbers before texts before booleans before the rest, so mixed lists still sort.
    if isinstance(value, bool):
        return (2, value)
    if isinstance(value, int | float):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    return (3, json.dumps(value, sort_keys=True, default=str))


def sort(params: SortParams, ctx: Context) -> ListResult:
    """Sort items by one or more fields, ascending or descending; missing values go last."""
    items = list(_items(params, ctx))
    # Stable sorts from the last key to the first make a multi-key sort. At every pass the
    # kinds keep one order (numbers, texts, booleans, the rest, then missing or null) and only
    # the values within a kind are reversed by 'desc'.
    for key in reversed(params.by):
        kinds: list[list[tuple[Any, Any]]] = [[], [], [], [], []]
        for item in items:
            value = _get(item, key.field)
            rank, comparable = (4, None) if value is _MISSING or value is None else _sort_key(value)
            kinds[rank].append((comparable, item))
        items = []
        for rank, kind in enumerate(kinds):
            if rank < 4:
                kind.sort(key=lambda pair: pair[0], reverse=key.order == "desc")
            items.extend(item for _, item in kind)
    return ListResult(items=items, count=len(items))


# -- deduplicate


class DeduplicateParams(_Params):
    items: list[Any] | None = Field(
        None, max_length=MAX_ITEMS, description="The list; the node's input if absent"
    )
    fields: list[str] | None = Field(
        None,
        max_length=MAX_FIELDS,
        description="Items with equal values in these fields are duplicates; whole items if absent",
    )
    keep: Literal["first", "last"] = Field("first", description="Which of the duplicates to keep")


def _identity(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))


def deduplicate(params: DeduplicateParams, ctx: Context) -> ListResult:
    """Remove duplicate items, compared whole or by some fields."""
    items = _items(params, ctx)
    fields = params.fields

    def key(item: Any) -> str:
        if fields is None:
            return _identity(item)
        return _identity([None if (v := _get(item, f)) is _MISSING else v for f in fields])

    ordered = items if params.keep == "first" else list(reversed(items))
    seen: set[str] = set()
    kept = []
    for item in ordered:
        k = key(item)
        if k not in seen:
            seen.add(k)
            kept.append(item)
    if params.keep == "last":
        kept.reverse()
    return ListResult(items=kept, count=len(kept), removed=len(items) - len(kept))


# -- aggregate


class Metric(_Params):
    op: Literal["sum", "count", "avg", "min", "max"] = Field(
        description="count without a field counts items; with one, items where it is present"
    )
    field: str | None = Field(None, min_length=1, max_length=MAX_PATH)
    name: str | None = Field(
        None, min_length=1, max_length=200, description="The output key; op_field if absent"
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.op != "count" and self.field is None:
            raise ValueError(f"{self.op} needs a 'field'")
        return self

    @property
    def key(self) -> str:
        if self.name:
            return self.name
        return self.op if self.field is None else f"{self.op}_{self.field}"


class AggregateParams(_Params):
    items: list[Any] | None = Field(
        None, max_length=MAX_ITEMS, description="The list; the node's input if absent"
    )
    group_by: list[str] = Field(
        default_factory=list, max_length=MAX_FIELDS, description="Fields; one group if empty"
    )
    metrics: list[Metric] = Field(
        default_factory=lambda: [Metric(op="count")], min_length=1, max_length=100
    )


class AggregateResult(BaseModel):
    groups: list[dict[str, Any]] = Field(
        description="One object per group: its group_by values, then one key per metric"
    )
    count: int = Field(description="How many groups")


class _Accumulator:
    def __init__(self, metric: Metric) -> None:
        self.metric = metric
        self.n = 0
        self.total: int | float = 0
        self.best: Any = None

    def add(self, index: int, item: Any) -> None:
        metric = self.metric
        if metric.field is None:
            self.n += 1
            return
        value = _get(item, metric.field)
        if value is _MISSING or value is None:
            return
        self.n += 1
        if metric.op in ("sum", "avg"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise _invalid(
                    f"items[{index}].{metric.field} is {value!r}: {metric.op} needs numbers"
                )
            self.total += value
        elif metric.op in ("min", "max"):
            if self.best is not None and not _comparable(self.best, value):
                raise _invalid(
                    f"items[{index}].{metric.field} is {value!r}: {metric.op} needs values of "
                    "one kind (all numbers or all texts)"
                )
            if (
                self.best is None
                or (metric.op == "min" and value < self.best)
                or (metric.op == "max" and value > self.best)
            ):
                self.best = value

    def result(self) -> Any:
        op = self.metric.op
        if op == "count":
            return self.n
        if op == "sum":
            return self.total
        if op == "avg":
            return self.total / self.n if self.n else None
        return self.best


def aggregate(params: AggregateParams, ctx: Context) -> AggregateResult:
    """Group items by fields and compute sum, count, avg, min and max per group."""
    items = _items(params, ctx)
    groups: dict[str, tuple[list[Any], list[_Accumulator]]] = {}
    for index, item in enumerate(items):
        values = [None if (v := _get(item, f)) is _MISSING else v for f in params.group_by]
        key = _identity(values)
        if key not in groups:
            groups[key] = (values, [_Accumulator(m) for m in params.metrics])
        for accumulator in groups[key][1]:
            accumulator.add(index, item)
    out = []
    for values, accumulators in groups.values():
        row = dict(zip(params.group_by, values, strict=True))
        row.update({a.metric.key: a.result() for a in accumulators})
        out.append(row)
    return AggregateResult(groups=out, count=len(out))
