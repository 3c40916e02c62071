"""``/api/v1/workflows``: the catalogue, its versions, import and export, activation."""

from __future__ import annotations

import asyncio
import difflib
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Request, Response

from flowforge.api._auth import CallerDep, guard, workflow_for
from flowforge.api._deps import ServerDep
from flowforge.api._errors import ApiError
from flowforge.api._schemas import (
    Diff,
    EdgeChanges,
    NodeChanges,
    Page,
    RevisionDetail,
    RevisionOut,
    WorkflowDetail,
    WorkflowOut,
    encode_cursor,
    number_cursor,
    time_cursor,
)
from flowforge.api.audit import record
from flowforge.model import Workflow, dump_workflow, parse_workflow
from flowforge.security.rbac import Caller
from flowforge.server import Server
from flowforge.store import LastRun, WorkflowEntry

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/workflows", tags=["workflows"])

_EXAMPLE = {
    "name": "hello",
    "nodes": [
        {"id": "start", "type": "flow.start"},
        {"id": "greet", "type": "flow.set", "params": {"values": {"text": "Hi {{ input.name }}"}}},
    ],
    "edges": [{"source": "start", "target": "greet"}],
}
_IMPORT_TYPES: dict[str, Literal["json", "yaml"]] = {
    "application/json": "json",
    "application/yaml": "yaml",
    "application/x-yaml": "yaml",
    "text/yaml": "yaml",
    "text/x-yaml": "yaml",
}
Limit = Annotated[int, Query(ge=1, le=200, description="Items per page")]
Cursor = Annotated[str | None, Query(max_length=500, description="nextCursor of the last page")]


def _expected_version(if_match: str | None) -> int | None:
    if if_match is None or if_match.strip() == "*":
        return None
    text = if_match.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise ApiError(
            400,
            'If-Match: give the version number the change is based on, e.g. "3"',
            details=[{"field": "If-Match", "message": "not a version number"}],
        )
    return int(text)


def _detail(
    response: Response, entry: WorkflowEntry, workflow: Workflow, last_run: LastRun | None = None
) -> WorkflowDetail:
    response.headers["ETag"] = f'"{entry.version}"'
    return WorkflowDetail.with_definition(entry, workflow, last_run)


async def _last_runs(
    server: Server, caller: Caller, entries: list[WorkflowEntry]
) -> dict[str, LastRun]:
    """The newest run of each workflow, in one query, unless the caller's key may not read
    runs. (Scopes are what decide: every role, and every share that shows a workflow, lets
    one see its runs.)"""
    if not entries or not caller.within("executions:read"):
        return {}
    return await asyncio.to_thread(server.store.last_runs, [e.id for e in entries])


async def _last_run(server: Server, caller: Caller, entry: WorkflowEntry) -> LastRun | None:
    return (await _last_runs(server, caller, [entry])).get(entry.id)


# PostgreSQL refuses a NUL character in a query: such a filter is invalid input, not a 500
_NO_NUL = r"^[^\x00]*$"


@router.post(
    "",
    status_code=201,
    summary="Create a workflow",
    **guard(
        "workflows:write",
        openapi_extra={"requestBody": {"content": {"application/json": {"example": _EXAMPLE}}}},
    ),
)
async def create_workflow(
    server: ServerDep,
    caller: CallerDep,
    request: Request,
    workflow: Workflow,
    response: Response,
    active: Annotated[bool, Query(description="Activate its triggers at once")] = False,
) -> WorkflowDetail:
    """Validate and store a definition as version 1 in your organisation. An invalid
    definition gets 422 listing every problem, and nothing is stored."""
    return await _create(server, caller, request, workflow, response, active)


async def _create(
    server: Server,
    caller: Caller,
    request: Request,
    workflow: Workflow,
    response: Response,
    active: bool,
) -> WorkflowDetail:
    specs = server.specs(workflow)
    entry = await asyncio.to_thread(
        server.catalog.create, workflow, active=active, trigger_specs=specs, org_id=caller.org_id
    )
    await record(request, caller, "workflow.created", "workflow", entry.id, name=entry.name)
    response.headers["Location"] = f"/api/v1/workflows/{entry.id}"
    return _detail(response, entry, workflow)


@router.post(
    "/import",
    status_code=201,
    summary="Import a workflow file (JSON or YAML)",
    **guard(
        "workflows:write",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/yaml": {"schema": {"type": "string"}},
                    "application/json": {"schema": {"type": "object"}},
                },
            }
        },
    ),
)
async def import_workflow(
    server: ServerDep,
    caller: CallerDep,
    request: Request,
    response: Response,
    active: Annotated[bool, Query(description="Activate its triggers at once")] = False,
) -> WorkflowDetail:
    """Create a workflow from a JSON or YAML document, as written by export."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fmt = _IMPORT_TYPES.get(content_type)
    if fmt is None:
        raise ApiError(
            415,
            f"Content-Type {content_type or '(none)'!r}: send application/json or application/yaml",
            details=[{"field": "Content-Type", "message": "not JSON or YAML"}],
        )
    body = await request.body()
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise ApiError(
            400, "body: not UTF-8 text", details=[{"field": "body", "message": "not UTF-8"}]
        ) from None
    workflow = parse_workflow(text, fmt, "body")
    return await _create(server, caller, request, workflow, response, active)


@router.get("", summary="List workflows", **guard("workflows:read"))
async def list_workflows(
    server: ServerDep,
    caller: CallerDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    active: Annotated[bool | None, Query(description="Only active or inactive ones")] = None,
    tag: Annotated[
        str | None, Query(max_length=64, pattern=_NO_NUL, description="Only those with this tag")
    ] = None,
    search: Annotated[
        str | None, Query(max_length=200, pattern=_NO_NUL, description="Name contains")
    ] = None,
) -> Page[WorkflowOut]:
    """Your organisation's workflows and those shared with you or it, most recently updated
    first."""
    entries = await asyncio.to_thread(
        server.catalog.list_workflows,
        limit=limit + 1,
        before=time_cursor(cursor),
        active=active,
        tag=tag,
        search=search,
        org_id=caller.org_id,
        shared_with=(caller.user_id, caller.org_id),
    )
    more = len(entries) > limit
    entries = entries[:limit]
    following = encode_cursor(entries[-1].updated_at, entries[-1].id) if more else None
    last = await _last_runs(server, caller, entries)
    items = [WorkflowOut.of(e, last.get(e.id)) for e in entries]
    return Page[WorkflowOut](items=items, next_cursor=following)


@router.get(
    "/{workflow_id}",
    summary="Get a workflow with its current definition",
    **guard("workflows:read", resource=True),
)
async def get_workflow(
    server: ServerDep, caller: CallerDep, workflow_id: str, response: Response
) -> WorkflowDetail:
    """``workflow_id`` is the id or the name. The ETag is the version number."""
    entry = await workflow_for(server, caller, workflow_id, "workflows:read")
    workflow = await asyncio.to_thread(server.definition, entry.version_id)
    return _detail(response, entry, workflow, await _last_run(server, caller, entry))


@router.put(
    "/{workflow_id}", summary="Save a new version", **guard("workflows:write", resource=True)
)
async def update_workflow(
    server: ServerDep,
    caller: CallerDep,
    request: Request,
    workflow_id: str,
    workflow: Workflow,
    response: Response,
    if_match: Annotated[
        str | None,
        Header(description="The version the change is based on; 409 if it is no longer current"),
    ] = None,
) -> WorkflowDetail:
    """Every save with a changed definition is a new immutable version; saving the same
    definition again changes nothing. Sent with If-Match, a save based on an older version
    gets 409 and stores nothing."""
    entry = await workflow_for(server, caller, workflow_id, "workflows:write")
    specs = server.specs(workflow)
    before = entry.version
    entry = await asyncio.to_thread(
        server.catalog.update,
        entry.id,
        workflow,
        expected_version=_expected_version(if_match),
        trigger_specs=specs,
    )
    if entry.version != before:
        await record(
            request,
            caller,
            "workflow.updated",
            "workflow",
            entry.id,
            org_id=entry.org_id,
            version=entry.version,
        )
    return _detail(response, entry, workflow, await _last_run(server, caller, entry))


@router.delete(
    "/{workflow_id}",
    status_code=204,
    summary="Delete a workflow",
    **guard("workflows:delete", resource=True),
)
async def delete_workflow(
    server: ServerDep, caller: CallerDep, request: Request, workflow_id: str
) -> Response:
    """Its triggers stop at once and its shares end; its past runs are kept."""
    entry = await workflow_for(server, caller, workflow_id, "workflows:delete")
    await asyncio.to_thread(server.catalog.delete, entry.id)
    await record(request, caller, "workflow.deleted", "workflow", entry.id, name=entry.name)
    return Response(status_code=204)


@router.post(
    "/{workflow_id}/activate",
    summary="Activate a workflow's triggers",
    **guard("workflows:write", resource=True),
)
async def activate(
    server: ServerDep, caller: CallerDep, request: Request, workflow_id: str
) -> WorkflowOut:
    """Registers its webhooks and schedules; 409 if a webhook path is taken."""
    entry = await workflow_for(server, caller, workflow_id, "workflows:write")
    workflow = await asyncio.to_thread(server.definition, entry.version_id)
    specs = server.specs(workflow)
    entry = await asyncio.to_thread(server.catalog.set_active, entry.id, True, specs)
    await record(request, caller, "workflow.activated", "workflow", entry.id, org_id=entry.org_id)
    return WorkflowOut.of(entry, await _last_run(server, caller, entry))


@router.post(
    "/{workflow_id}/deactivate",
    summary="Deactivate a workflow's triggers",
    **guard("workflows:write", resource=True),
)
async def deactivate(
    server: ServerDep, caller: CallerDep, request: Request, workflow_id: str
) -> WorkflowOut:
    entry = await workflow_for(server, caller, workflow_id, "workflows:write")
    entry = await asyncio.to_thread(server.catalog.set_active, entry.id, False)
    await record(request, caller, "workflow.deactivated", "workflow", entry.id, org_id=entry.org_id)
    return WorkflowOut.of(entry, await _last_run(server, caller, entry))


@router.get(
    "/{workflow_id}/export",
    summary="Export a workflow as a file",
    **guard(
        "workflows:export",
        resource=True,
        responses={
            200: {
                "description": "The definition",
                "content": {
                    "application/yaml": {"schema": {"type": "string"}},
                    "application/json": {"schema": {"type": "object"}},
                },
            }
        },
    ),
)
async def export_workflow(
    server: ServerDep,
    caller: CallerDep,
    workflow_id: str,
    format: Annotated[Literal["yaml", "json"], Query(description="File format")] = "yaml",
    version: Annotated[int | None, Query(ge=1, description="A past version")] = None,
) -> Response:
    """The definition as YAML or JSON, ready to import or to keep in git."""
    entry = await workflow_for(server, caller, workflow_id, "workflows:export")
    if version is None:
        workflow = await asyncio.to_thread(server.definition, entry.version_id)
    else:
        _, workflow = await asyncio.to_thread(server.catalog.revision, entry.id, version)
    media = "application/yaml" if format == "yaml" else "application/json"
    filename = f"{_safe_name(entry.name)}.{format}"
    return Response(
        dump_workflow(workflow, format),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/{workflow_id}/versions",
    summary="List a workflow's versions",
    **guard("workflows:read", resource=True),
)
async def list_versions(
    server: ServerDep, caller: CallerDep, workflow_id: str, limit: Limit = 50, cursor: Cursor = None
) -> Page[RevisionOut]:
    """Newest first."""
    before = number_cursor(cursor)
    entry = await workflow_for(server, caller, workflow_id, "workflows:read")
    revisions = await asyncio.to_thread(
        server.catalog.revisions, entry.id, limit=limit + 1, before=before
    )
    more = len(revisions) > limit
    revisions = revisions[:limit]
    following = encode_cursor(revisions[-1].number) if more else None
    return Page[RevisionOut](items=[RevisionOut.of(r) for r in revisions], next_cursor=following)


@router.get(
    "/{workflow_id}/versions/{number}",
    summary="Get one version",
    **guard("workflows:read", resource=True),
)
async def get_version(
    server: ServerDep,
    caller: CallerDep,
    workflow_id: str,
    number: Annotated[int, Path(ge=1, le=2**31)],
) -> RevisionDetail:
    entry = await workflow_for(server, caller, workflow_id, "workflows:read")
    revision, workflow = await asyncio.to_thread(server.catalog.revision, entry.id, number)
    return RevisionDetail(**RevisionOut.of(revision).model_dump(), definition=workflow)


@router.get(
    "/{workflow_id}/diff", summary="Compare two versions", **guard("workflows:read", resource=True)
)
async def diff_versions(
    server: ServerDep,
    caller: CallerDep,
    workflow_id: str,
    from_: Annotated[int, Query(alias="from", ge=1, le=2**31, description="Older version")],
    to: Annotated[int, Query(ge=1, le=2**31, description="Newer version")],
) -> Diff:
    """Nodes added, removed and changed, edges added and removed, and a unified YAML diff."""
    entry = await workflow_for(server, caller, workflow_id, "workflows:read")
    _, old = await asyncio.to_thread(server.catalog.revision, entry.id, from_)
    _, new = await asyncio.to_thread(server.catalog.revision, entry.id, to)
    old_nodes = {n.id: n for n in old.nodes}
    new_nodes = {n.id: n for n in new.nodes}
    old_edges = {_edge(e) for e in old.edges}
    new_edges = {_edge(e) for e in new.edges}
    unified = difflib.unified_diff(
        dump_workflow(old, "yaml").splitlines(keepends=True),
        dump_workflow(new, "yaml").splitlines(keepends=True),
        fromfile=f"version {from_}",
        tofile=f"version {to}",
    )
    return Diff(
        from_version=from_,
        to_version=to,
        nodes=NodeChanges(
            added=[i for i in new_nodes if i not in old_nodes],
            removed=[i for i in old_nodes if i not in new_nodes],
            changed=[i for i in new_nodes if i in old_nodes and old_nodes[i] != new_nodes[i]],
        ),
        edges=EdgeChanges(
            added=sorted(new_edges - old_edges), removed=sorted(old_edges - new_edges)
        ),
        unified="".join(unified),
    )


def _edge(edge: Any) -> str:
    return f"{edge.source}:{edge.source_port} -> {edge.target}"


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name)[:100] or "workflow"
