"""``/api/v1/orgs``: your organisations, their settings, members and roles.

The ``org_id`` of these paths also selects the organisation the request acts in (no
``X-FlowForge-Org`` needed); one you are not a member of does not exist for you (404).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from flowforge.api._auth import CallerDep, guard
from flowforge.api._deps import ServerDep
from flowforge.api._schemas import (
    MemberAdd,
    MemberAdded,
    MemberOut,
    OrgCreate,
    OrgOut,
    OrgUpdate,
    RoleChange,
)
from flowforge.api.audit import record
from flowforge.security.auth import INVITE_TTL
from flowforge.security.ratelimit import Plan
from flowforge.security.rbac import Caller, Forbidden, Role

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/orgs", tags=["organisations"])

OrgId = Annotated[str, Path(min_length=1, max_length=64)]
UserId = Annotated[str, Path(min_length=1, max_length=64)]


def _owners_only(caller: Caller, *roles: str) -> None:
    """Making an owner, or changing what an owner is, is for owners."""
    if Role.OWNER in roles and not caller.can("members:owner"):
        raise Forbidden("only an owner may make an owner or change an owner's membership")


@router.get("", summary="Your organisations", **guard(None))
async def list_orgs(server: ServerDep, caller: CallerDep) -> list[OrgOut]:
    """With your role in each; a service API key sees its own organisation."""
    directory = server.auth.directory
    if caller.user_id is None:
        org = await asyncio.to_thread(directory.get_org, caller.org_id)
        return [OrgOut.of(org, caller.role)]
    found = await asyncio.to_thread(directory.orgs_of, caller.user_id)
    return [OrgOut.of(org, role) for org, role in found]


@router.post("", status_code=201, summary="Create an organisation", **guard("orgs:create"))
async def create_org(
    server: ServerDep, caller: CallerDep, request: Request, body: OrgCreate
) -> OrgOut:
    """A new organisation with you as its owner, on the free plan (the server's operator
    changes plans: ``flowforge orgs plan``)."""
    if caller.user_id is None:
        raise Forbidden("a service API key cannot own an organisation")
    org = await asyncio.to_thread(
        server.auth.directory.create_org, body.name, Plan.FREE, owner=caller.user_id
    )
    owner = Caller(org_id=org.id, role=Role.OWNER, user_id=caller.user_id, key_id=caller.key_id)
    await record(request, owner, "org.created", "org", org.id, name=org.name)
    return OrgOut.of(org, Role.OWNER)


@router.get("/{org_id}", summary="An organisation", **guard("members:read"))
async def get_org(server: ServerDep, caller: CallerDep, org_id: OrgId) -> OrgOut:
    org = await asyncio.to_thread(server.auth.directory.get_org, caller.org_id)
    return OrgOut.of(org, caller.role)


@router.patch("/{org_id}", summary="Rename an organisation", **guard("org:write"))
async def update_org(
    server: ServerDep, caller: CallerDep, request: Request, org_id: OrgId, body: OrgUpdate
) -> OrgOut:
    before = await asyncio.to_thread(server.auth.directory.get_org, caller.org_id)
    org = await asyncio.to_thread(server.auth.directory.update_org, caller.org_id, name=body.name)
    await record(
        request, caller, "org.updated", "org", org.id, name={"from": before.name, "to": org.name}
    )
    return OrgOut.of(org, caller.role)


@router.get("/{org_id}/members", summary="The members and their roles", **guard("members:read"))
async def list_members(server: ServerDep, caller: CallerDep, org_id: OrgId) -> list[MemberOut]:
    members = await asyncio.to_thread(server.auth.directory.members, caller.org_id)
    return [MemberOut.of(m) for m in members]


@router.post("/{org_id}/members", status_code=201, summary="Add a member", **guard("members:write"))
async def add_member(
    server: ServerDep, caller: CallerDep, request: Request, org_id: OrgId, body: MemberAdd
) -> MemberAdded:
    """Adds the user with this address, making the account if there is none: the answer
    then holds a one-time invite token, valid 7 days, with which they choose a password
    (``POST /api/v1/auth/accept``). Pass it on yourself; it is not shown again."""
    _owners_only(caller, body.role)
    directory = server.auth.directory
    user = await asyncio.to_thread(directory.user_by_email, body.email)
    token = expires = None
    if user is None:
        user = await asyncio.to_thread(directory.create_user, body.email, body.name)
        expires = datetime.now(UTC) + INVITE_TTL
        token = await asyncio.to_thread(directory.invite, user.id, expires)
    await asyncio.to_thread(directory.add_member, caller.org_id, user.id, body.role)
    server.auth.forget(user_id=user.id, org_id=caller.org_id)
    await record(request, caller, "member.added", "user", user.id, role=body.role)
    member = await asyncio.to_thread(directory.member, caller.org_id, user.id)
    return MemberAdded(
        **MemberOut.of(member).model_dump(), invite_token=token, invite_expires_at=expires
    )


@router.patch(
    "/{org_id}/members/{user_id}", summary="Change a member's role", **guard("members:write")
)
async def change_role(
    server: ServerDep,
    caller: CallerDep,
    request: Request,
    org_id: OrgId,
    user_id: UserId,
    body: RoleChange,
) -> MemberOut:
    """409 if it would leave the organisation without an owner."""
    directory = server.auth.directory
    current = await asyncio.to_thread(directory.member, caller.org_id, user_id)
    _owners_only(caller, body.role, current.role)
    before = await asyncio.to_thread(directory.set_role, caller.org_id, user_id, body.role)
    server.auth.forget(user_id=user_id, org_id=caller.org_id)
    await record(
        request,
        caller,
        "member.role_changed",
        "user",
        user_id,
        role={"from": before, "to": body.role},
    )
    member = await asyncio.to_thread(directory.member, caller.org_id, user_id)
    return MemberOut.of(member)


@router.delete(
    "/{org_id}/members/{user_id}",
    status_code=204,
    summary="Remove a member",
    **guard("members:write"),
)
async def remove_member(
    server: ServerDep, caller: CallerDep, request: Request, org_id: OrgId, user_id: UserId
) -> Response:
    """Their sessions and API keys stop acting in this organisation (at once on this
    process, within ``auth_cache_s`` on others); 409 for its last owner."""
    directory = server.auth.directory
    current = await asyncio.to_thread(directory.member, caller.org_id, user_id)
    _owners_only(caller, current.role)
    before = await asyncio.to_thread(directory.remove_member, caller.org_id, user_id)
    server.auth.forget(user_id=user_id, org_id=caller.org_id)
    await record(request, caller, "member.removed", "user", user_id, role=before)
    return Response(status_code=204)
