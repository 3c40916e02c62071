"""What the data actions share: the parameter base, the size limits, the error helper, reading
a list from the parameters or the node's input, and looking values up by dotted path."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from flowforge.connectors.sdk import ActionError, Context

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
