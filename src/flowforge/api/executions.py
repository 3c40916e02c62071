"""``/api/v1/executions``: start, list, inspect, follow live, cancel, retry, re-run, delete."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent

from flowforge.api._auth import CallerDep, execution_for, guard, workflow_for
from flowforge.api._deps import ServerDep
from flowforge.api._errors import ApiError
from flowforge.api._schemas import (
    ExecutionOut,
    FrameOut,
    Page,
    RerunRequest,
    StartExecution,
    encode_cursor,
    require_zone,
    time_cursor,
)
from flowforge.api.audit import record as audit
from flowforge.engine.frames import (
    TERMINAL_EXECUTION_STATUSES,
    ExecutionRecord,
    ExecutionStatus,
)
from flowforge.engine.local import KEEP_INPUT, Progress
from flowforge.errors import StateConflict
from flowforge.server import Server

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/executions", tags=["executions"])

Wait = Annotated[
    float,
    Query(
        ge=0,
        le=300,
        description="Seconds to wait for the outcome: 200 with it if the run ends in time, "
        "else 202 with the id (0 answers 202 at once)",
    ),
]


async def _answer(
    server: Server, execution_id: str, wait: float, response: Response
) -> ExecutionOut:
    """The run after waiting up to ``wait`` seconds: 200 if it ended, else 202."""
    response.headers["Location"] = f"/api/v1/executions/{execution_id}"
    if wait > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(server.engine.wait(execution_id)), wait)
    record = await asyncio.to_thread(server.store.get_execution, execution_id)
    response.status_code = 200 if record.status in TERMINAL_EXECUTION_STATUSES else 202
    return ExecutionOut.of(record)


_ENDED_IN_TIME: dict[int | str, dict[str, Any]] = {
    200: {"description": "The run ended within `wait`", "model": ExecutionOut}
}


@router.post(
    "",
    status_code=202,
    summary="Start a run",
    **guard("executions:write", group="execute", resource=True, responses=_ENDED_IN_TIME),
)
async def start_execution(
    server: ServerDep,
    caller: CallerDep,
    request: Request,
    body: StartExecution,
    response: Response,
    wait: Wait = 0,
) -> ExecutionOut:
    """Start a stored workflow at its current version (``workflowId``, an id or a name), or a
    definition sent inline (``workflow``), which runs in your organisation. The run is durable
    before the answer."""
    if (body.workflow_id is None) == (body.workflow is None):
        raise ApiError(
            422,
            "give exactly one of workflowId and workflow",
            details=[{"field": "body.workflowId", "message": "give workflowId or workflow"}],
        )
    if body.workflow_id is not None:
        entry = await workflow_for(server, caller, body.workflow_id, "executions:write")
        execution_id = await server.start_run(entry, body.input)
        org_id = entry.org_id
    else:
        assert body.workflow is not None
        caller.require("executions:write")
        execution_id = await server.engine.submit(body.workflow, body.input, org_id=caller.org_id)
        org_id = caller.org_id
    await audit(request, caller, "execution.started", "execution", execution_id, org_id=org_id)
    return await _answer(server, execution_id, wait, response)


@router.get("", summary="List runs", **guard("executions:read", resource=True))
async def list_executions(
    server: ServerDep,
    caller: CallerDep,
    workflow_id: Annotated[
        str | None, Query(alias="workflowId", max_length=200, description="Id or name")
    ] = None,
    workflow_name: Annotated[
        str | None,
        Query(
            alias="workflowName",
            max_length=200,
            description="Only runs of definitions with this name, stored or sent inline",
        ),
    ] = None,
    status: Annotated[ExecutionStatus | None, Query(description="Only runs in this status")] = None,
    since: Annotated[datetime | None, Query(description="Created at or after (ISO 8601)")] = None,
    until: Annotated[datetime | None, Query(description="Created before (ISO 8601)")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Page[ExecutionOut]:
    """Your organisation's runs (or, with ``workflowId``, the runs of a workflow you may see,
    shared ones included), newest first, without frames (get one run for its frames)."""
    require_zone(since=since, until=until)
    workflow = org = None
    if workflow_id is not None:
        workflow = (await workflow_for(server, caller, workflow_id, "executions:read")).id
    else:
        caller.require("executions:read")
        org = caller.org_id
    records = await asyncio.to_thread(
        server.store.list_executions,
        status=status,
        workflow_id=workflow,
        org_id=org,
        workflow_name=workflow_name,
        since=since,
        until=until,
        limit=limit + 1,
        before=time_cursor(cursor),
    )
    more = len(records) > limit
    records = records[:limit]
    following = encode_cursor(records[-1].created_at, records[-1].id) if more else None
    return Page[ExecutionOut](items=[ExecutionOut.of(r) for r in records], next_cursor=following)


@router.get(
    "/{execution_id}",
    summary="Get a run with its frames",
    **guard("executions:read", resource=True),
)
async def get_execution(
    server: ServerDep,
    caller: CallerDep,
    execution_id: str,
    frames: Annotated[bool, Query(description="Include the journal")] = True,
) -> ExecutionOut:
    """The run and, in order, every frame of its journal: each step's input, output or
    error, attempt and timings."""
    record = await execution_for(server, caller, execution_id, "executions:read")
    journal = await asyncio.to_thread(server.store.get_frames, execution_id) if frames else None
    return ExecutionOut.of(record, journal)


async def _followed(server: ServerDep, caller: CallerDep, execution_id: str) -> ExecutionRecord:
    # A dependency, so that 403 and 404 answer before the stream's 200 goes out: raised
    # inside the generator, they would come after it.
    return await execution_for(server, caller, execution_id, "executions:read")


@router.get(
    "/{execution_id}/stream",
    summary="Follow a run live (Server-Sent Events)",
    response_class=EventSourceResponse,
    **guard("executions:read", resource=True),
)
async def stream_execution(
    server: ServerDep,
    execution_id: str,
    record: Annotated[ExecutionRecord, Depends(_followed)],
    after: Annotated[int, Query(ge=0, description="Send frames after this seq")] = 0,
    last_event_id: Annotated[str | None, Header(description="Resume after this seq")] = None,
) -> AsyncIterator[ServerSentEvent]:
    """One ``frame`` event per journal frame (its seq as the event id), ``progress`` events
    from steps that report how far they have come (``{nodeId, item, done, total, message}``),
    then an ``end`` event with the run once it has finished. Reconnecting with Last-Event-ID
    resumes."""
    if last_event_id is not None and last_event_id.isdigit():
        after = max(after, int(last_event_id))
    reported: dict[tuple[str, int | None], Progress] = {}
    with server.hub.follow(execution_id) as woken:
        while True:
            woken.clear()
            frames = await asyncio.to_thread(server.store.get_frames, execution_id, after)
            for frame in frames:
                after = frame.seq
                yield ServerSentEvent(
                    event="frame",
                    id=str(frame.seq),
                    data=FrameOut.of(frame).model_dump(mode="json", by_alias=True),
                )
            for update in server.hub.progress_of(execution_id):
                key = (update.node_id, update.item)
                if reported.get(key) != update:
                    reported[key] = update
                    yield ServerSentEvent(event="progress", data=_progress_json(update))
            if record.status in TERMINAL_EXECUTION_STATUSES and not frames:
                yield ServerSentEvent(
                    event="end", data=ExecutionOut.of(record).model_dump(mode="json", by_alias=True)
                )
                return
            if not frames:
                # woken by a frame written here, or poll for runs driven by other processes
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), 0.5)
            record = await asyncio.to_thread(server.store.get_execution, execution_id)


def _progress_json(update: Progress) -> dict[str, Any]:
    return {
        "nodeId": update.node_id,
        "item": update.item,
        "done": update.done,
        "total": update.total,
        "message": update.message,
    }


@router.post(
    "/{execution_id}/cancel",
    status_code=202,
    summary="Cancel a run",
    **guard("executions:write", resource=True),
)
async def cancel_execution(
    server: ServerDep, caller: CallerDep, request: Request, execution_id: str
) -> ExecutionOut:
    """Running steps are stopped and the run ends CANCELLED; 409 if it has ended."""
    record = await execution_for(server, caller, execution_id, "executions:write")
    if record.status in TERMINAL_EXECUTION_STATUSES:
        raise StateConflict(f"execution {execution_id} has ended ({record.status.value})")
    await server.engine.cancel(execution_id)
    await audit(
        request, caller, "execution.cancelled", "execution", execution_id, org_id=record.org_id
    )
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(server.engine.wait(execution_id)), 2)
    record = await asyncio.to_thread(server.store.get_execution, execution_id)
    return ExecutionOut.of(record)


@router.post(
    "/{execution_id}/retry",
    status_code=202,
    summary="Retry a failed run from the node that failed",
    **guard("executions:write", group="execute", resource=True, responses=_ENDED_IN_TIME),
)
async def retry_execution(
    server: ServerDep,
    caller: CallerDep,
    request: Request,
    execution_id: str,
    response: Response,
    wait: Wait = 0,
) -> ExecutionOut:
    """A new run (``retryOf`` points back) that keeps every step the failed node does not lead
    to, and runs that node and what follows it again."""
    old = await execution_for(server, caller, execution_id, "executions:write")
    new_id = await server.engine.rerun(execution_id)
    await audit(
        request, caller, "execution.retried", "execution", new_id, org_id=old.org_id, of=old.id
    )
    return await _answer(server, new_id, wait, response)


@router.post(
    "/{execution_id}/rerun",
    status_code=202,
    summary="Re-run from a node, optionally with an edited input",
    **guard("executions:write", group="execute", resource=True, responses=_ENDED_IN_TIME),
)
async def rerun_execution(
    server: ServerDep,
    caller: CallerDep,
    request: Request,
    execution_id: str,
    body: RerunRequest,
    response: Response,
    wait: Wait = 0,
) -> ExecutionOut:
    """Time travel: a new run that keeps the recorded outputs of every step ``node`` does
    not lead to, and runs ``node`` (with ``input`` if given) and what follows it again."""
    old = await execution_for(server, caller, execution_id, "executions:write")
    given = "input" in body.model_fields_set
    new_id = await server.engine.rerun(execution_id, body.node, body.input if given else KEEP_INPUT)
    await audit(
        request,
        caller,
        "execution.rerun",
        "execution",
        new_id,
        org_id=old.org_id,
        of=old.id,
        node=body.node,
    )
    return await _answer(server, new_id, wait, response)


@router.delete(
    "/{execution_id}",
    status_code=204,
    summary="Delete a run",
    **guard("executions:delete", resource=True),
)
async def delete_execution(
    server: ServerDep, caller: CallerDep, request: Request, execution_id: str
) -> Response:
    """Deletes the run, its frames and its sub-workflow runs; 409 while it is unfinished."""
    record = await execution_for(server, caller, execution_id, "executions:delete")
    if record.status not in TERMINAL_EXECUTION_STATUSES:
        raise StateConflict(f"execution {execution_id} is {record.status.value}: cancel it first")
    await asyncio.to_thread(server.store.delete_execution, execution_id)
    await audit(request, caller, "execution.deleted", "execution", execution_id)
    return Response(status_code=204)
