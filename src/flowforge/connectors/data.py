"""The data connector: JSONata and JMESPath transforms, filtering, sorting, deduplicating and
aggregating lists of objects, CSV to and from JSON, and dates and times.

Runaway work is bounded: expressions by length, JSONata by a time and depth limit and a
linear-time regular expression engine (RE2), and every result by the number of values it holds,
so an expression that repeats one object a billion times is refused instead of serialized.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jmespath
import jmespath.exceptions
import re2  # type: ignore[import-untyped]
from jsonata import Jsonata  # type: ignore[import-untyped]
from jsonata.regex_engine import RegexFlags  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field, model_validator

from flowforge.connectors.sdk import MAX_BLOB_BYTES, ActionError, Blob, Connector, Context

__all__ = ["connector"]

connector = Connector(
    "data",
    name="Data",
    description="Transform JSON with JSONata or JMESPath; filter, sort, deduplicate and "
    "aggregate lists; convert CSV; parse, format and compute dates and times.",
    category="Data",
    icon="table",
)

MAX_EXPRESSION = 10_000  # characters
MAX_ITEMS = 1_000_000
MAX_VALUES_OUT = 2_000_000  # JSON values (objects, lists, scalars) in one result
MAX_FIELDS = 20
MAX_PATH = 500
MAX_TEXT = 16 * 1024 * 1024  # characters of CSV taken or given inline
JSONATA_TIMEOUT_MS = 5_000
JSONATA_MAX_DEPTH = 150  # evaluation depth; deeper recursion would exhaust Python's stack


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


def _invalid(message: str, type: str = "InvalidInput") -> ActionError:
    return ActionError(message, retryable=False, type=type)


def _plain(value: Any, what: str, limit: int = MAX_VALUES_OUT) -> Any:
    """``value`` as plain JSON data (copied), refused when it holds more than ``limit`` values:
    shared references can make a tiny object whose JSON text is astronomically long."""
    budget = [limit]

    def walk(v: Any, depth: int) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            raise _invalid(f"{what} has more than {limit:,} values", "TooLarge")
        if depth > 200:
            raise _invalid(f"{what} is nested more than 200 levels deep", "TooLarge")
        if v is None or isinstance(v, str | bool | int):
            return v
        if isinstance(v, float):
            if not math.isfinite(v):
                raise _invalid(f"{what} holds {v}, which is not JSON data", "OutputError")
            return v
        if isinstance(v, Mapping):
            return {str(k): walk(x, depth + 1) for k, x in v.items()}
        if isinstance(v, list | tuple):
            if len(v) > budget[0]:  # before copying a lazy range of ten million numbers
                raise _invalid(f"{what} has more than {limit:,} values", "TooLarge")
            return [walk(x, depth + 1) for x in v]
        raise _invalid(f"{what} holds a {type(v).__name__}, which is not JSON data", "OutputError")

    return walk(value, 0)


def _source(params: BaseModel, field: str, ctx: Context) -> Any:
    """The field's value, or the node's input when the field was not given."""
    if field in params.model_fields_set:
        return getattr(params, field)
    return ctx.input


def _items(params: BaseModel, ctx: Context) -> list[Any]:
    items = _source(params, "items", ctx)
    if not isinstance(items, list):
        raise _invalid(
            "items: give a list (or connect a node whose output is a list), "
            f"not {type(items).__name__}"
        )
    if len(items) > MAX_ITEMS:
        raise _invalid(f"items: at most {MAX_ITEMS:,} are allowed, not {len(items):,}", "TooLarge")
    return items


_MISSING = object()
_INDEX = re.compile(r"-?[0-9]{1,18}")  # not str.isdigit(), which takes "³" and int() does not


def _get(item: Any, path: str) -> Any:
    """The value at a dotted path (``a.b.0.c``), or _MISSING."""
    value = item
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and _INDEX.fullmatch(part):
            index = int(part)
            if not -len(value) <= index < len(value):
                return _MISSING
            value = value[index]
        else:
            return _MISSING
    return value


Path = Field(min_length=1, max_length=MAX_PATH, description="A field, dotted for nesting: a.b.0")


class ListResult(BaseModel):
    items: list[Any]
    count: int = Field(description="How many items are in 'items'")
    removed: int = Field(0, description="How many input items were left out")


# -- JSONata and JMESPath


def _re2_engine(pattern: str, flags: RegexFlags) -> Any:
    # RE2 runs in linear time: no regular expression can make a transform hang (ReDoS).
    prefix = ("i" if flags.case_insensitive else "") + ("m" if flags.multiline else "")
    try:
        return re2.compile(f"(?{prefix}){pattern}" if prefix else pattern)
    except re2.error as exc:
        raise ValueError(f"invalid regular expression /{pattern}/: {exc}") from None


class JsonataParams(_Params):
    expression: str = Field(
        min_length=1,
        max_length=MAX_EXPRESSION,
        description="A JSONata expression (jsonata.org)",
        examples=["$sum(orders.(price * quantity))"],
    )
    data: Any = Field(None, description="The document to transform; the node's input if absent")
    bindings: dict[str, Any] = Field(
        default_factory=dict, max_length=100, description="Variables, used as $name"
    )
    timeout_ms: int = Field(
        JSONATA_TIMEOUT_MS, ge=1, le=60_000, description="Stop an evaluation that runs longer"
    )


class TransformResult(BaseModel):
    result: Any = Field(description="The value of the expression (null when it matches nothing)")


@connector.action("jsonata", input=JsonataParams, output=TransformResult)
def jsonata(params: JsonataParams, ctx: Context) -> TransformResult:
    """Transform data with a JSONata expression.

    Evaluation stops after 'timeout_ms' or past a depth of 150; regular expressions use RE2.
    """
    for name in params.bindings:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", name):
            raise _invalid(f"bindings: {name!r} is not a variable name")
    data = _source(params, "data", ctx)
    try:
        expression = Jsonata(
            params.expression,
            regex_engine=_re2_engine,
            timeout=params.timeout_ms,
            stack=JSONATA_MAX_DEPTH,
        )
        result = expression.evaluate(data, params.bindings or None)
    except RecursionError:
        raise _invalid("expression: recursion too deep", "ExpressionError") from None
    except Exception as exc:  # the interpreter's own errors are JException, others are bugs
        message = str(exc) or type(exc).__name__
        if "D1012" in message or "timeout" in message.lower():
            raise _invalid(
                f"expression: stopped after {params.timeout_ms} ms (timeout_ms)", "Timeout"
            ) from None
        if "D1011" in message:
            message = f"recursion deeper than {JSONATA_MAX_DEPTH} levels"
        raise _invalid(f"expression: {message}", "ExpressionError") from None
    return TransformResult(result=_plain(result, "the result"))


class JmespathParams(_Params):
    expression: str = Field(
        min_length=1,
        max_length=MAX_EXPRESSION,
        description="A JMESPath query (jmespath.org)",
        examples=["people[?age > `30`].name"],
    )
    data: Any = Field(None, description="The document to query; the node's input if absent")


@connector.action("jmespath", input=JmespathParams, output=TransformResult)
def jmespath_(params: JmespathParams, ctx: Context) -> TransformResult:
    """Query data with a JMESPath expression."""
    data = _source(params, "data", ctx)
    try:
        result = jmespath.search(params.expression, data)
    except jmespath.exceptions.JMESPathError as exc:
        text = " ".join(str(exc).split())
        raise _invalid(f"expression: {text}", "ExpressionError") from None
    except (TypeError, ValueError, RecursionError) as exc:
        raise _invalid(f"expression: {exc}", "ExpressionError") from None
    return TransformResult(result=_plain(result, "the result"))


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


@connector.action("filter", input=FilterParams, output=ListResult)
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


@connector.action("sort", input=SortParams, output=ListResult)
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


@connector.action("deduplicate", input=DeduplicateParams, output=ListResult)
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


@connector.action("aggregate", input=AggregateParams, output=AggregateResult)
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


# -- CSV


class CsvToJsonParams(_Params):
    text: str | None = Field(None, max_length=MAX_TEXT, description="The CSV as text")
    blob: Blob | None = Field(None, description="The CSV as a stored file")
    delimiter: str = Field(",", min_length=1, max_length=1, description="The field separator")
    header: bool = Field(
        True, description="The first row names the fields; otherwise rows are lists"
    )
    typed: bool = Field(
        False, description="Turn numbers into numbers (not those with leading zeros, like 007)"
    )
    encoding: Literal["utf-8", "utf-16", "latin-1", "cp1252"] = Field(
        "utf-8", description="How a blob's bytes are text (a UTF-8 BOM is skipped)"
    )
    max_rows: int = Field(MAX_ITEMS, ge=1, le=MAX_ITEMS)

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.text is None) == (self.blob is None):
            raise ValueError("give exactly one of 'text' and 'blob'")
        if self.delimiter in ('"', "\n", "\r"):
            raise ValueError("delimiter: a quote or a line break cannot separate fields")
        return self


class CsvToJsonResult(BaseModel):
    rows: list[Any] = Field(description="Objects keyed by the header, or lists without one")
    columns: list[str] = Field(description="The header's names (empty without a header)")
    count: int


_INT = re.compile(r"[+-]?(0|[1-9]\d{0,17})")
_FLOAT = re.compile(r"[+-]?(0|[1-9]\d*)?(\.\d+)?([eE][+-]?\d{1,3})?")


def _typed(cell: str) -> Any:
    if _INT.fullmatch(cell):
        return int(cell)
    if len(cell) <= 40 and any(c.isdigit() for c in cell) and _FLOAT.fullmatch(cell):
        number = float(cell)
        return number if math.isfinite(number) else cell
    return cell


def _csv_text(params: CsvToJsonParams, ctx: Context) -> str:
    if params.text is not None:
        return params.text
    assert params.blob is not None
    if params.blob.size > MAX_BLOB_BYTES:
        raise _invalid(f"blob: {params.blob.size:,} bytes is over the limit", "TooLarge")
    data = ctx.read_blob(params.blob)
    encoding = "utf-8-sig" if params.encoding == "utf-8" else params.encoding
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise _invalid(
            f"blob: byte {exc.start} is not {params.encoding} text; set 'encoding'"
        ) from None


@connector.action("csv_to_json", input=CsvToJsonParams, output=CsvToJsonResult)
def csv_to_json(params: CsvToJsonParams, ctx: Context) -> CsvToJsonResult:
    """Read CSV text or a CSV file into a list of objects (or of lists)."""
    text = _csv_text(params, ctx)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=params.delimiter, strict=True)
    convert: Callable[[str], Any] = _typed if params.typed else str
    columns: list[str] = []
    rows: list[Any] = []
    try:
        for record in reader:
            if not record:
                continue  # blank lines
            if params.header and not columns:
                columns = record
                duplicates = sorted({c for c in columns if columns.count(c) > 1})
                if duplicates:
                    raise _invalid(f"the header names {duplicates} more than once")
                continue
            if len(rows) >= params.max_rows:
                raise _invalid(
                    f"the CSV has more than {params.max_rows:,} rows (max_rows)", "TooLarge"
                )
            if columns and len(record) != len(columns):
                raise _invalid(
                    f"line {reader.line_num}: {len(record)} fields where the header has "
                    f"{len(columns)}",
                    "MalformedCsv",
                )
            cells = [convert(cell) for cell in record]
            rows.append(dict(zip(columns, cells, strict=True)) if columns else cells)
            if len(rows) % 10_000 == 0:
                ctx.raise_if_cancelled()
    except csv.Error as exc:  # among them a field over csv's limit of 131,072 characters
        raise _invalid(f"line {reader.line_num}: malformed CSV ({exc})", "MalformedCsv") from None
    return CsvToJsonResult(rows=rows, columns=columns, count=len(rows))


class JsonToCsvParams(_Params):
    items: list[Any] | None = Field(
        None, max_length=MAX_ITEMS, description="Objects, one per row; the node's input if absent"
    )
    columns: list[str] | None = Field(
        None,
        max_length=10_000,
        description="Column order; every key met, in order of appearance, if absent",
    )
    delimiter: str = Field(",", min_length=1, max_length=1)
    header: bool = Field(True, description="Write the column names first")
    escape_formulas: bool = Field(
        False, description="Prefix cells starting with = + - @ with ' so spreadsheets show text"
    )
    as_blob: bool = Field(False, description="Give a stored file instead of text")
    name: str = Field("data.csv", min_length=1, max_length=200, description="The file's name")


class JsonToCsvResult(BaseModel):
    text: str | None = Field(None, description="The CSV, unless as_blob")
    file: Blob | None = Field(None, description="The CSV file, when as_blob")
    rows: int
    columns: list[str]


def _cell(value: Any, escape: bool) -> str:
    if value is None or value is _MISSING:
        text = ""
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = value
    elif isinstance(value, int | float):
        text = repr(value) if isinstance(value, float) else str(value)
    else:
        text = json.dumps(value, ensure_ascii=False, default=str)
    # Only texts: a negative number is data, not a formula.
    if escape and isinstance(value, str) and text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        text = "'" + text
    return text


@connector.action("json_to_csv", input=JsonToCsvParams, output=JsonToCsvResult)
def json_to_csv(params: JsonToCsvParams, ctx: Context) -> JsonToCsvResult:
    """Write a list of objects as CSV text, or as a CSV file."""
    items = _items(params, ctx)
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise _invalid(f"items[{index}] is a {type(item).__name__}, not an object")
    columns = params.columns
    if columns is None:
        columns = list(dict.fromkeys(str(k) for item in items for k in item))
    limit = MAX_BLOB_BYTES if params.as_blob else MAX_TEXT
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=params.delimiter, lineterminator="\r\n")
    if params.header:
        writer.writerow(columns)
    for index, item in enumerate(items):
        writer.writerow([_cell(item.get(c), params.escape_formulas) for c in columns])
        if index % 10_000 == 0 and out.tell() > limit:
            break
    text = out.getvalue()
    if len(text) > limit:
        hint = "" if params.as_blob else "; set as_blob for larger files"
        raise _invalid(f"the CSV is over {limit:,} characters{hint}", "TooLarge")
    if params.as_blob:
        file = ctx.put_blob(text.encode(), "text/csv", params.name)
        return JsonToCsvResult(file=file, rows=len(items), columns=columns)
    return JsonToCsvResult(text=text, rows=len(items), columns=columns)


# -- dates and times


class DatetimeParams(_Params):
    operation: Literal["parse", "format", "convert", "add", "subtract", "difference"] = Field(
        "parse", description="difference: from 'value' to 'other'"
    )
    value: str | float = Field(
        description="ISO 8601 text, text in 'input_format', 'now', or Unix seconds",
        examples=["2026-03-29T01:30:00+01:00", "now", 1767225600],
    )
    input_format: str | None = Field(
        None, max_length=200, description="A strftime format for 'value' (and 'other')"
    )
    timezone: str = Field(
        "UTC",
        max_length=100,
        description="The zone of times written without one (IANA name like Europe/Paris, or +02:00)",
    )
    to_timezone: str | None = Field(None, max_length=100, description="Convert the result to it")
    output_format: str | None = Field(
        None, max_length=200, description="A strftime format for 'result'; ISO 8601 if absent"
    )
    other: str | float | None = Field(None, description="difference: the second time")
    years: int = Field(0, ge=-9999, le=9999, description="add/subtract: calendar years")
    months: int = Field(0, ge=-120_000, le=120_000, description="add/subtract: calendar months")
    weeks: float = Field(0, ge=-600_000, le=600_000)
    days: float = Field(0, ge=-4_000_000, le=4_000_000)
    hours: float = Field(0, ge=-1e8, le=1e8)
    minutes: float = Field(0, ge=-1e10, le=1e10)
    seconds: float = Field(0, ge=-1e12, le=1e12)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if isinstance(self.value, str) and len(self.value) > 200:
            raise ValueError("value: at most 200 characters")
        if isinstance(self.other, str) and len(self.other) > 200:
            raise ValueError("other: at most 200 characters")
        if self.operation == "difference" and self.other is None:
            raise ValueError("difference needs 'other'")
        if self.operation == "convert" and self.to_timezone is None:
            raise ValueError("convert needs 'to_timezone'")
        return self


class Difference(BaseModel):
    seconds: float = Field(description="From 'value' to 'other'; negative when 'other' is earlier")
    minutes: float
    hours: float
    days: float
    weeks: float
    text: str = Field(description="As [-]D days, HH:MM:SS")


class DatetimeResult(BaseModel):
    result: str = Field(description="The time in 'output_format', or ISO 8601")
    iso: str
    timestamp: float = Field(description="Unix seconds")
    timezone: str
    year: int
    month: int
    day: int
    hour: int
    minute: int
    second: int
    microsecond: int
    weekday: int = Field(description="1 is Monday, 7 is Sunday")
    day_of_year: int
    difference: Difference | None = None


_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})")


def _zone(name: str, field: str) -> tzinfo:
    if name.upper() in ("UTC", "Z"):
        return UTC
    match = _OFFSET.fullmatch(name)
    if match:
        sign, hours, minutes = match.groups()
        delta = timedelta(hours=int(hours), minutes=int(minutes))
        if delta >= timedelta(hours=24):
            raise _invalid(f"{field}: {name!r} is not a UTC offset")
        return timezone(-delta if sign == "-" else delta)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _invalid(
            f"{field}: {name!r} is not a known time zone (use an IANA name like Europe/Paris)"
        ) from None


def _parse(value: str | float, field: str, params: DatetimeParams, zone: tzinfo) -> datetime:
    try:
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value, UTC)
        text = value.strip()
        if text.lower() == "now":
            return datetime.now(UTC)
        if params.input_format is not None:
            parsed = datetime.strptime(text, params.input_format)
        else:
            parsed = datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError) as exc:
        how = f"the format {params.input_format!r}" if params.input_format else "ISO 8601"
        raise _invalid(f"{field}: {value!r} is not a time in {how} ({exc})") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)


def _add_months(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    if not 1 <= year <= 9999:
        raise OverflowError("year out of range")
    for day in range(moment.day, 27, -1):  # the 31st of a 30-day month is its 30th
        try:
            return moment.replace(year=year, month=month + 1, day=day)
        except ValueError:
            continue
    return moment.replace(year=year, month=month + 1, day=min(moment.day, 28))


def _zone_name(moment: datetime) -> str:
    zone = moment.tzinfo
    if isinstance(zone, ZoneInfo):
        return zone.key
    offset = moment.strftime("%z")  # +0200, or +020030 with seconds
    return "UTC" if offset in ("", "+0000") else f"{offset[:3]}:{offset[3:5]}"


def _difference(seconds: float) -> Difference:
    delta = timedelta(seconds=seconds)
    return Difference(
        seconds=seconds,
        minutes=seconds / 60,
        hours=seconds / 3600,
        days=seconds / 86400,
        weeks=seconds / 604800,
        text=str(delta),
    )


@connector.action("datetime", input=DatetimeParams, output=DatetimeResult)
def datetime_(params: DatetimeParams, ctx: Context) -> DatetimeResult:
    """Parse, format, convert, shift and compare dates and times, with time zones."""
    zone = _zone(params.timezone, "timezone")
    target = _zone(params.to_timezone, "to_timezone") if params.to_timezone else None
    moment = _parse(params.value, "value", params, zone)
    difference = None
    try:
        if params.operation in ("add", "subtract"):
            sign = -1 if params.operation == "subtract" else 1
            # Years, months, weeks and days move the calendar (10:00 stays 10:00 across a DST
            # change); hours, minutes and seconds are elapsed time.
            moment = _add_months(moment, sign * (params.years * 12 + params.months))
            moment += sign * timedelta(weeks=params.weeks, days=params.days)
            elapsed = timedelta(hours=params.hours, minutes=params.minutes, seconds=params.seconds)
            zone_of_moment = moment.tzinfo
            moment = (moment.astimezone(UTC) + sign * elapsed).astimezone(zone_of_moment)
        elif params.operation == "difference":
            assert params.other is not None
            other = _parse(params.other, "other", params, zone)
            difference = _difference((other - moment).total_seconds())
        if target is not None:
            moment = moment.astimezone(target)
        result = moment.strftime(params.output_format) if params.output_format else None
    except OverflowError:
        raise _invalid("the result is outside the years 1 to 9999", "OutOfRange") from None
    except ValueError as exc:
        raise _invalid(f"output_format: {exc}") from None
    iso = moment.isoformat()
    return DatetimeResult(
        result=result if result is not None else iso,
        iso=iso,
        timestamp=moment.timestamp(),
        timezone=_zone_name(moment),
        year=moment.year,
        month=moment.month,
        day=moment.day,
        hour=moment.hour,
        minute=moment.minute,
        second=moment.second,
        microsecond=moment.microsecond,
        weekday=moment.isoweekday(),
        day_of_year=moment.timetuple().tm_yday,
        difference=difference,
    )
