"""What both drivers do alike around a run: its ``execution`` scope, the frames a re-run keeps,
the workflow a sub-workflow step names; and the scope a node's expressions saw, rebuilt from the
journal."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic_core import PydanticSerializationError, to_jsonable_python

from flowforge.connectors.sdk import ActionError
from flowforge.engine import plan
from flowforge.engine.frames import ExecutionFrame, ExecutionRecord, ExecutionStatus, FrameStatus
from flowforge.errors import DefinitionError, FlowForgeError, StateConflict
from flowforge.model import Workflow, load_workflow
from flowforge.store import ExecutionStore, NotFound

__all__ = [
    "KEEP_INPUT",
    "MAX_SUBWORKFLOW_DEPTH",
    "execution_info",
    "jsonable_input",
    "kept_frames",
    "new_run",
    "recorded_scope",
    "rerun_from",
    "rerun_record",
    "resolve_workflow",
    "start_event",
]

MAX_SUBWORKFLOW_DEPTH = 16
KEEP_INPUT: Any = object()  # rerun(): keep the recorded input of the node


def new_run(
    workflow_name: str,
    version_id: str,
    input: Any,
    *,
    id: str,
    now: datetime,
    parent: tuple[str, str, int] | None = None,
    **fields: Any,
) -> ExecutionRecord:
    """The record of a run that starts now; ``parent`` is (run, step, depth) for a
    sub-workflow's run, ``fields`` the other columns (trigger, organisation, the driver's)."""
    return ExecutionRecord(
        id=id,
        workflow_version_id=version_id,
        workflow_name=workflow_name,
        status=ExecutionStatus.RUNNING,
        created_at=now,
        started_at=now,
        input=input,
        parent_id=parent[0] if parent else None,
        parent_node_id=parent[1] if parent else None,
        depth=parent[2] if parent else 0,
        **fields,
    )


def rerun_from(old: ExecutionRecord, from_node: str | None) -> str | None:
    """The node a re-run of ``old`` starts from: ``from_node``, or for a retry (none given)
    the node that failed the run, None when no node did (from the start). StateConflict for
    a retry of a run that neither failed nor was cancelled."""
    if from_node is not None:
        return from_node
    if old.status not in (ExecutionStatus.FAILED, ExecutionStatus.CANCELLED):
        raise StateConflict(
            f"execution {old.id} is {old.status.value}: only a failed or cancelled run can be "
            "retried"
        )
    node = (old.error or {}).get("node")
    return str(node) if node is not None else None


def rerun_record(
    old: ExecutionRecord,
    workflow: Workflow,
    graph: plan.Graph,
    frames: list[ExecutionFrame],
    from_node: str | None,
    input: Any,
    *,
    id: str,
    now: datetime,
    **driver: Any,
) -> tuple[ExecutionRecord, list[ExecutionFrame]]:
    """The new run of a re-run from ``from_node`` (``input`` replacing that node's input
    unless KEEP_INPUT) and the frames it keeps; ``driver`` sets the columns of the driver
    that runs it (a lease, a Temporal workflow id)."""
    if from_node is not None and from_node not in graph.index:
        raise FlowForgeError(f"node: the workflow has no node {from_node!r}")
    if input is not KEEP_INPUT and from_node is None:
        raise FlowForgeError("input: give the node whose input it replaces")
    record = new_run(
        old.workflow_name,
        old.workflow_version_id,
        old.input,
        id=id,
        now=now,
        source_path=old.source_path,
        workflow_id=old.workflow_id,
        trigger_node=old.trigger_node,
        retry_of=old.id,
        pinned=dict(old.pinned or {}),
        org_id=old.org_id,
        **driver,
    )
    if input is not KEEP_INPUT:
        assert record.pinned is not None and from_node is not None
        record.pinned[from_node] = jsonable_input(input)
    return record, kept_frames(graph, workflow, frames, from_node, record.id)


def kept_frames(
    graph: plan.Graph,
    workflow: Workflow,
    frames: list[ExecutionFrame],
    from_node: str | None,
    execution_id: str,
) -> list[ExecutionFrame]:
    """The frames a re-run from ``from_node`` keeps, renumbered for the new run: every step
    that ``from_node`` does not lead to and that ended well (completed, skipped, or failed on
    a node whose ``on_error`` handles it). Without ``from_node`` nothing is kept."""
    if from_node is None:
        return []
    rerun = {from_node}
    queue = [from_node]
    while queue:
        i = graph.index[queue.pop()]
        for e in graph.outgoing[i]:
            target = graph.ids[graph.edge_target[e]]
            if target not in rerun:
                rerun.add(target)
                queue.append(target)
    handled = {node.id for node in workflow.nodes if node.on_error != "fail"}
    last: dict[tuple[str, int | None], FrameStatus] = {}
    for frame in frames:
        if frame.status != FrameStatus.STARTED:
            last[(frame.node_id, frame.item)] = frame.status
    kept = {
        key
        for key, status in last.items()
        if key[0] not in rerun
        and (
            status in (FrameStatus.COMPLETED, FrameStatus.SKIPPED)
            or (status == FrameStatus.FAILED and key[0] in handled)
        )
    }
    out: list[ExecutionFrame] = []
    for frame in frames:
        if (frame.node_id, frame.item) in kept:
            out.append(dataclasses.replace(frame, execution_id=execution_id, seq=len(out) + 1))
    return out


def execution_info(record: ExecutionRecord) -> dict[str, Any]:
    started = record.started_at or record.created_at
    return {"id": record.id, "workflow": record.workflow_name, "started_at": started.isoformat()}


def start_event(record: ExecutionRecord) -> plan.Start:
    """The event that starts a run, and that a replay of its journal starts from."""
    return plan.Start(
        record.input,
        execution_info(record),
        trigger_node=record.trigger_node,
        pinned=record.pinned or {},
    )


def recorded_scope(
    graph: plan.Graph,
    record: ExecutionRecord,
    frames: list[ExecutionFrame],
    node_id: str | None = None,
    item: int | None = None,
) -> dict[str, Any] | None:
    """The names the expressions of ``node_id`` (of its for_each ``item``) saw in a run,
    rebuilt by folding the run's journal: ``trigger``, ``vars``, ``input``, ``execution``,
    ``nodes`` (those completed when the node was offered) and, for an item, ``item`` and
    ``index``. A node the run did not reach sees every node the run completed, and no input.
    Without ``node_id``: what the run's ``output`` sees. None when the node ran no such item."""
    offers: dict[int | None, plan.RunNode] = {}

    def keep(command: plan.RunNode) -> None:
        if command.node == node_id:
            offers.setdefault(command.item, command)

    state, _ = plan.replay(graph, start_event(record), frames, keep)
    if node_id is None:
        return state.scope()
    command = offers.get(item)
    if command is not None:
        scope = dict(command.scope)
    elif item is not None:
        return None
    elif offers:  # a for_each node, seen as its for_each expression sees it: before any item
        scope = dict(next(iter(offers.values())).scope)
        scope.pop("item", None)
        scope.pop("index", None)
    else:
        scope = {**state.scope(), "input": None}
    started = [
        f
        for f in frames
        if f.node_id == node_id and f.item == item and f.status == FrameStatus.STARTED
    ]
    if started:  # what the step was given, as the journal recorded it
        scope["input"] = started[-1].input
    attempt = started[-1].attempt if started else 1
    scope["execution"] = {**scope["execution"], "attempt": attempt}
    return scope


def jsonable_input(value: Any) -> Any:
    try:
        return to_jsonable_python(value)
    except (PydanticSerializationError, ValueError, TypeError) as exc:
        raise FlowForgeError(f"input: not JSON data: {exc}") from None


async def resolve_workflow(
    store: ExecutionStore, ref: str, parent_source: str | None, *, confine_files: bool
) -> tuple[Workflow, str | None]:
    """The workflow a ``flow.subworkflow`` step names: a stored version id, or a file path
    relative to the calling workflow's file. ActionError when it cannot be had."""
    if len(ref) == 64 and all(c in "0123456789abcdef" for c in ref):
        try:
            return await asyncio.to_thread(store.get_workflow_version, ref), None
        except NotFound:
            raise ActionError(f"no stored workflow {ref!r}", retryable=False) from None
    if confine_files and parent_source is None:
        raise ActionError(
            f"sub-workflow {ref!r}: a workflow that was not loaded from a file can call "
            "stored workflow versions only (by version id), not files",
            retryable=False,
            type="DefinitionError",
        )
    base = (Path(parent_source).parent if parent_source else Path.cwd()).resolve()
    path = (base / ref).resolve()
    if confine_files and not path.is_relative_to(base):
        raise ActionError(
            f"sub-workflow {ref!r}: outside the folder of the calling workflow's file",
            retryable=False,
            type="DefinitionError",
        )
    try:
        workflow = await asyncio.to_thread(load_workflow, path)
    except DefinitionError as exc:
        raise ActionError(str(exc), retryable=False, type="DefinitionError") from None
    return workflow, str(path)
