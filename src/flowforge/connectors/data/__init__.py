"""The data connector: JSONata and JMESPath transforms, filtering, sorting, deduplicating and
aggregating lists of objects, CSV to and from JSON, and dates and times.

Runaway work is bounded: expressions by length, JSONata by a time and depth limit and a
linear-time regular expression engine (RE2), and every result by the number of values it holds,
so an expression that repeats one object a billion times is refused instead of serialized.
"""

from __future__ import annotations

from flowforge.connectors.data._common import (
    JSONATA_MAX_DEPTH,
    JSONATA_TIMEOUT_MS,
    MAX_EXPRESSION,
    MAX_FIELDS,
    MAX_ITEMS,
    MAX_PATH,
    MAX_TEXT,
    MAX_VALUES_OUT,
    Path,
)
from flowforge.connectors.data._csv import (
    CsvToJsonParams,
    CsvToJsonResult,
    JsonToCsvParams,
    JsonToCsvResult,
    csv_to_json,
    json_to_csv,
)
from flowforge.connectors.data._dates import (
    DatetimeParams,
    DatetimeResult,
    Difference,
    datetime_,
)
from flowforge.connectors.data._lists import (
    AggregateParams,
    AggregateResult,
    Condition,
    DeduplicateParams,
    FilterParams,
    ListResult,
    Metric,
    SortKey,
    SortParams,
    aggregate,
    deduplicate,
    filter_,
    sort,
)
from flowforge.connectors.data._query import (
    JmespathParams,
    JsonataParams,
    TransformResult,
    jmespath_,
    jsonata,
)
from flowforge.connectors.sdk import Connector

__all__ = [
    "JSONATA_MAX_DEPTH",
    "JSONATA_TIMEOUT_MS",
    "MAX_EXPRESSION",
    "MAX_FIELDS",
    "MAX_ITEMS",
    "MAX_PATH",
    "MAX_TEXT",
    "MAX_VALUES_OUT",
    "AggregateParams",
    "AggregateResult",
    "Condition",
    "CsvToJsonParams",
    "CsvToJsonResult",
    "DatetimeParams",
    "DatetimeResult",
    "DeduplicateParams",
    "Difference",
    "FilterParams",
    "JmespathParams",
    "JsonToCsvParams",
    "JsonToCsvResult",
    "JsonataParams",
    "ListResult",
    "Metric",
    "Path",
    "SortKey",
    "SortParams",
    "TransformResult",
    "aggregate",
    "connector",
    "csv_to_json",
    "datetime_",
    "deduplicate",
    "filter_",
    "jmespath_",
    "json_to_csv",
    "jsonata",
    "sort",
]

connector = Connector(
    "data",
    name="Data",
    description="Transform JSON with JSONata or JMESPath; filter, sort, deduplicate and "
    "aggregate lists; convert CSV; parse, format and compute dates and times.",
    category="Data",
    icon="table",
)

# The handlers are plain functions in the private modules, registered here in one place so the
# actions keep one fixed order whatever order the modules are imported in.
connector.action("jsonata", input=JsonataParams, output=TransformResult)(jsonata)
connector.action("jmespath", input=JmespathParams, output=TransformResult)(jmespath_)
connector.action("filter", input=FilterParams, output=ListResult)(filter_)
connector.action("sort", input=SortParams, output=ListResult)(sort)
connector.action("deduplicate", input=DeduplicateParams, output=ListResult)(deduplicate)
connector.action("aggregate", input=AggregateParams, output=AggregateResult)(aggregate)
connector.action("csv_to_json", input=CsvToJsonParams, output=CsvToJsonResult)(csv_to_json)
connector.action("json_to_csv", input=JsonToCsvParams, output=JsonToCsvResult)(json_to_csv)
connector.action("datetime", input=DatetimeParams, output=DatetimeResult)(datetime_)
