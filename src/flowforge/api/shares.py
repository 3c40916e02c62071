"""``/api/v1/workflows/{workflow_id}/shares``: give a user or an organisation outside yours
view, run or edit access to one workflow, and take it back."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request, Response

from flowforge.api._auth import CallerDep, guard, workflow_for
from flowforge.api._deps import ServerDep
from flowforge.api._errors import ApiError
from flowforge.api._schemas import ShareIn, ShareOut
from flowforge.api.audit import record
from flowforge.store import NotFound

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/workflows/{workflow_id}/shares", tags=["shares"])

_SHARE = "workflows:share"


@router.get("", summary="Who a workflow is shared with", **guard(_SHARE, resource=True))
async def list_shares(server: ServerDep, caller: CallerDep, workflow_id: str) -> list[ShareOut]:
    entry = await workflow_for(server, caller, workflow_id, _SHARE)
    found = await asyncio.to_thread(server.shares.of_workflow, entry.id)
    return [ShareOut.of(share) for share in found]


@router.put("", summary="Share a workflow (or change a share)", **guard(_SHARE, resource=True))
async def grant(
    server: ServerDep, caller: CallerDep, request: Request, workflow_id: str, body: ShareIn
) -> ShareOut:
    """``granteeKind`` ``user`` (``grantee``: their id or address) or ``org`` (its id);
    ``access`` ``view`` (read it and its runs), ``run`` (and start, retry, re-run and cancel
    runs, which use your organisation's credentials) or ``edit`` (and save versions). Shares
    to an organisation give each member at most what their role there allows."""
    entry = await workflow_for(server, caller, workflow_id, _SHARE)
    directory = server.auth.directory
    if body.grantee_kind == "user":
        if "@" in body.grantee:
            user = await asyncio.to_thread(directory.user_by_email, body.grantee)
        else:
            try:
                user = await asyncio.to_thread(directory.get_user, body.grantee)
            except NotFound:
                user = None
        if user is None:
            raise _bad_grantee("no user with this id or address")
        grantee = user.id
        if await asyncio.to_thread(directory.role_of, grantee, entry.org_id):
            raise _bad_grantee("this user is a member of the workflow's organisation already")
    else:
        try:
            grantee = (await asyncio.to_thread(directory.get_org, body.grantee)).id
        except NotFound:
            raise _bad_grantee("no organisation with this id") from None
        if grantee == entry.org_id:
            raise _bad_grantee("this is the workflow's own organisation")
    share, before = await asyncio.to_thread(
        server.shares.grant, entry.id, body.grantee_kind, grantee, body.access, caller.actor
    )
    await record(
        request,
        caller,
        "share.granted",
        "workflow",
        entry.id,
        grantee_kind=body.grantee_kind,
        grantee=grantee,
        access={"from": before, "to": body.access},
    )
    return ShareOut.of(share)


def _bad_grantee(reason: str) -> ApiError:
    return ApiError(
        422, f"grantee: {reason}", details=[{"field": "body.grantee", "message": reason}]
    )


@router.delete(
    "/{grantee_kind}/{grantee_id}",
    status_code=204,
    summary="Stop sharing a workflow with someone",
    **guard(_SHARE, resource=True),
)
async def revoke(
    server: ServerDep,
    caller: CallerDep,
    request: Request,
    workflow_id: str,
    grantee_kind: Literal["user", "org"],
    grantee_id: Annotated[str, Path(min_length=1, max_length=64)],
) -> Response:
    """Their access ends at once."""
    entry = await workflow_for(server, caller, workflow_id, _SHARE)
    if not await asyncio.to_thread(server.shares.revoke, entry.id, grantee_kind, grantee_id):
        raise NotFound(f"workflow {workflow_id} is not shared with {grantee_kind} {grantee_id}")
    await record(
        request,
        caller,
        "share.revoked",
        "workflow",
        entry.id,
        grantee_kind=grantee_kind,
        grantee=grantee_id,
    )
    return Response(status_code=204)
