"""``POST /api/v1/expressions/preview``: what a ``{{ }}`` expression gives, evaluated by the
engine's sandbox in the scope a node had in a run, for the editor's live preview."""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime, time
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import Field

from flowforge.api._auth import CallerDep, execution_for, guard
from flowforge.api._deps import ServerDep
from flowforge.api._errors import ApiError
from flowforge.api._schemas import _In, _Out
from flowforge.engine import expr, plan
from flowforge.engine.frames import ExecutionRecord
from flowforge.engine.runs import recorded_scope
from flowforge.server import Server

__all__ = [
    "PREVIEW_MAX_BYTES",
    "ExpressionFailure",
    "ExpressionPreview",
    "ExpressionValue",
    "router",
]

router = APIRouter()

PREVIEW_MAX_BYTES = 64 * 1024  # of the value as JSON


class ExpressionPreview(_In):
    """An expression and, optionally, the run and node whose scope it is evaluated in."""

    expression: str = Field(
        max_length=10_000,
        description="Text that may hold {{ }}, as a node parameter: one expression alone gives "
        "its native value, anything else text",
        examples=["{{ trigger.amount * 2 }}"],
    )
    execution_id: str | None = Field(
        None,
        max_length=64,
        description="The run whose journal gives trigger, vars, nodes and input; without it "
        "they are empty",
    )
    node_id: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        description="The node whose scope to use (the nodes completed before it, its input); "
        "without it, the scope of the workflow's output (every completed node)",
    )
    item: int | None = Field(
        None, ge=0, le=2**31 - 1, description="The for_each item of the node: gives item and index"
    )


class ExpressionValue(_Out):
    ok: Literal[True] = True
    value: Any = Field(description="The value, as JSON")


class ExpressionFailure(_Out):
    ok: Literal[False] = False
    error: str = Field(description="What went wrong, naming the expression")


@router.post(
    "/api/v1/expressions/preview",
    summary="Evaluate an expression in a run's scope",
    tags=["executions"],
    **guard("executions:read", resource=True),
)
async def preview_expression(
    server: ServerDep, caller: CallerDep, body: ExpressionPreview
) -> ExpressionValue | ExpressionFailure:
    """Evaluate ``expression`` with the engine's sandbox, as a parameter of ``nodeId`` was in
    run ``executionId``: ``trigger`` (the run's input), ``vars`` (of the version it ran),
    ``nodes`` (the nodes completed when the node was offered), ``input`` (what its step was
    given), ``execution``, and ``item`` and ``index`` with ``item``. 200 with ``{ok: true,
    value}``, or ``{ok: false, error}`` when the expression fails (syntax, an undefined name,
    the sandbox, a value over 64 KiB as JSON); 404 for a run you may not see."""
    if body.item is not None and (body.execution_id is None or body.node_id is None):
        reason = "an item is one that a for_each node ran in a run: give executionId and nodeId"
        raise ApiError(422, f"item: {reason}", details=[{"field": "body.item", "message": reason}])
    if body.execution_id is None:
        caller.require("executions:read")
        scope: dict[str, Any] = {
            "trigger": {},
            "vars": {},
            "nodes": plan.NodesScope({}, {}, 0),
            "input": None,
            "execution": {},
        }
    else:
        record = await execution_for(server, caller, body.execution_id, "executions:read")
        scope = await _scope(server, record, body.node_id, body.item)
    try:
        value = await asyncio.to_thread(expr.evaluate, body.expression, scope)
        return ExpressionValue(value=_previewable(value))
    except (expr.ExpressionError, _Unpreviewable) as exc:
        return ExpressionFailure(error=str(exc))


async def _scope(
    server: Server, record: ExecutionRecord, node_id: str | None, item: int | None
) -> dict[str, Any]:
    """The scope of ``node_id`` (its ``item``) in the run, from the run's journal."""
    workflow = await asyncio.to_thread(server.definition, record.workflow_version_id)
    if node_id is not None and all(node.id != node_id for node in workflow.nodes):
        reason = f"the workflow execution {record.id} ran has no node {node_id!r}"
        raise ApiError(
            422, f"nodeId: {reason}", details=[{"field": "body.nodeId", "message": reason}]
        )
    frames = await asyncio.to_thread(server.store.get_frames, record.id)
    graph = plan.Graph.build(workflow, server.registry)
    scope = await asyncio.to_thread(recorded_scope, graph, record, frames, node_id, item)
    if scope is None:
        reason = f"node {node_id!r} ran no item {item} in execution {record.id}"
        raise ApiError(422, f"item: {reason}", details=[{"field": "body.item", "message": reason}])
    return scope


class _Unpreviewable(Exception):
    """A value that cannot be shown: not JSON, or too large."""


def _previewable(value: Any) -> Any:
    """The value as plain JSON data (times as ISO 8601 text); _Unpreviewable if it is not
    JSON (NaN, a huge integer) or over PREVIEW_MAX_BYTES."""
    try:
        text = json.dumps(
            value, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_iso
        )
    except (ValueError, TypeError) as exc:
        raise _Unpreviewable(f"value is not JSON: {exc}") from None
    size = len(text.encode())
    if size > PREVIEW_MAX_BYTES:
        raise _Unpreviewable(
            f"value too large to preview: {size} bytes as JSON (the limit is {PREVIEW_MAX_BYTES})"
        )
    return json.loads(text)


def _iso(value: Any) -> str:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    raise TypeError(f"a {type(value).__name__} is not data")
