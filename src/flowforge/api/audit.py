"""``/api/v1/audit``: the organisation's audit log, and ``record``, which the routes call to
append to it."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.requests import HTTPConnection

from flowforge.api._auth import CallerDep, client_address, guard
from flowforge.api._deps import ServerDep
from flowforge.api._schemas import AuditOut, Page, encode_cursor, number_cursor, require_zone
from flowforge.logs import request_id
from flowforge.security.rbac import Caller
from flowforge.server import Server
from flowforge.store import AuditEntry

__all__ = ["record", "router"]

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


async def record(
    request: HTTPConnection,
    caller: Caller | None,
    action: str,
    target_kind: str | None = None,
    target_id: str | None = None,
    *,
    org_id: str | None = None,
    **details: Any,
) -> None:
    """Append an entry for what ``caller`` (None: somebody not signed in) just did."""
    server: Server = request.app.state.server
    entry = AuditEntry(
        action=action,
        org_id=org_id or (caller.org_id if caller else None),
        actor=caller.actor if caller else None,
        actor_kind=caller.actor_kind if caller else "anonymous",
        target_kind=target_kind,
        target_id=target_id,
        details=details,
        request_id=request_id.get(),
        ip=client_address(request),
    )
    await asyncio.to_thread(server.audit.append, entry)


@router.get("", summary="List the audit log", **guard("audit:read"))
async def list_audit(
    server: ServerDep,
    caller: CallerDep,
    action: Annotated[
        str | None,
        Query(
            max_length=64,
            description="An action (`workflow.updated`), or a prefix ending in `.` (`workflow.`)",
        ),
    ] = None,
    actor: Annotated[
        str | None, Query(max_length=64, description="A user id or an API key id")
    ] = None,
    target_id: Annotated[
        str | None, Query(alias="targetId", max_length=200, description="The resource's id")
    ] = None,
    since: Annotated[datetime | None, Query(description="At or after (ISO 8601)")] = None,
    until: Annotated[datetime | None, Query(description="Before (ISO 8601)")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Page[AuditOut]:
    """Newest first: sign-ins, API key and credential changes, workflow changes, runs
    started, shares, member and role changes, settings."""
    require_zone(since=since, until=until)
    before = number_cursor(cursor)
    entries = await asyncio.to_thread(
        server.audit.entries,
        caller.org_id,
        action=action,
        actor=actor,
        target_id=target_id,
        since=since,
        until=until,
        before_id=before,
        limit=limit + 1,
    )
    more = len(entries) > limit
    entries = entries[:limit]
    following = encode_cursor(entries[-1].id) if more and entries[-1].id is not None else None
    return Page[AuditOut](items=[AuditOut.of(e) for e in entries], next_cursor=following)
