"""JSONata and JMESPath transforms."""

from __future__ import annotations

import re
from typing import Any

import jmespath
import jmespath.exceptions
import re2  # type: ignore[import-untyped]
from jsonata import Jsonata  # type: ignore[import-untyped]
from jsonata.regex_engine import RegexFlags  # type: ignore[import-untyped]
from pydantic import BaseModel, Field

from flowforge.connectors.data._common import (
    JSONATA_MAX_DEPTH,
    JSONATA_TIMEOUT_MS,
    MAX_EXPRESSION,
    _invalid,
    _Params,
    _plain,
    _source,
)
from flowforge.connectors.sdk import Context


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
