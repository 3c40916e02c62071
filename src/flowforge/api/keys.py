"""``/api/v1/api-keys``: your API keys (and, for admins, the organisation's): create (shown
once), list, rotate, revoke."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from flowforge.api._auth import CallerDep, guard
from flowforge.api._deps import ServerDep
from flowforge.api._schemas import ApiKeyCreate, ApiKeyIssued, ApiKeyOut, RotateKey
from flowforge.api.audit import record
from flowforge.errors import StateConflict
from flowforge.security.apikeys import ApiKey, IssuedKey
from flowforge.security.auth import SERVICE_SUBJECT
from flowforge.security.rbac import Caller, Forbidden
from flowforge.server import Server
from flowforge.store import NotFound

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/api-keys", tags=["api keys"])

KeyId = Annotated[str, Path(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9]+$")]


def _mine(caller: Caller, key: ApiKey) -> bool:
    if caller.user_id is not None:
        return key.subject == caller.user_id
    return key.key_id == caller.key_id


def _issued(issued: IssuedKey) -> ApiKeyIssued:
    shown = ApiKeyOut.of(issued.record, SERVICE_SUBJECT)
    return ApiKeyIssued(**shown.model_dump(), key=issued.key)


async def _key_for(server: Server, caller: Caller, key_id: str) -> ApiKey:
    """A key of the caller's, or of their organisation for an admin: 404 for another
    organisation's (or none), 403 for a colleague's without ``apikeys:admin``."""
    key = await asyncio.to_thread(server.auth.key_store.inner.get, key_id)
    if key is None or key.org != caller.org_id:
        raise NotFound(f"no API key {key_id!r}")
    if not _mine(caller, key) and not caller.can("apikeys:admin"):
        raise Forbidden("this is another member's key: managing it needs apikeys:admin")
    return key


@router.get("", summary="List API keys", **guard("apikeys:own"))
async def list_keys(
    server: ServerDep,
    caller: CallerDep,
    every: Annotated[
        bool,
        Query(alias="all", description="Every key of the organisation (needs apikeys:admin)"),
    ] = False,
) -> list[ApiKeyOut]:
    """Your keys (revoked ones included), oldest first; never a secret."""
    if every and not caller.can("apikeys:admin"):
        raise Forbidden("listing every key of the organisation needs apikeys:admin")
    keys = await asyncio.to_thread(server.auth.key_store.list_keys, org=caller.org_id)
    return [ApiKeyOut.of(k, SERVICE_SUBJECT) for k in keys if every or _mine(caller, k)]


@router.post("", status_code=201, summary="Create an API key", **guard("apikeys:own"))
async def create_key(
    server: ServerDep, caller: CallerDep, request: Request, body: ApiKeyCreate
) -> ApiKeyIssued:
    """The key is in the answer this once: it is stored only as a hash. It acts for you in
    this organisation, with at most your role and, if given, only ``scopes``; it stops
    working when it expires, is revoked, or you leave the organisation."""
    if server.settings.insecure_no_auth:
        raise Forbidden(
            "no API keys while authentication is off (--insecure-no-auth): they would outlive it"
        )
    expires = timedelta(days=body.expires_in_days) if body.expires_in_days else None
    issued = await asyncio.to_thread(
        server.auth.create_key,
        caller,
        name=body.name,
        role=body.role,
        scopes=body.scopes,
        expires_in=expires,
    )
    made = issued.record
    await record(
        request,
        caller,
        "apikey.created",
        "apikey",
        made.key_id,
        role=made.role,
        scopes=sorted(made.scopes),
    )
    return _issued(issued)


@router.post("/{key_id}/rotate", summary="Give an API key a new secret", **guard("apikeys:own"))
async def rotate_key(
    server: ServerDep, caller: CallerDep, request: Request, key_id: KeyId, body: RotateKey
) -> ApiKeyIssued:
    """The same key id with a new secret, shown this once; the old secret keeps working for
    ``graceSeconds`` (0: stops at once)."""
    key = await _key_for(server, caller, key_id)
    if key.revoked_at is not None:
        raise StateConflict(f"API key {key_id} is revoked: create a new one")
    issued = await asyncio.to_thread(
        server.auth.api_keys.rotate, key_id, grace=timedelta(seconds=body.grace_seconds)
    )
    await record(request, caller, "apikey.rotated", "apikey", key_id, grace_s=body.grace_seconds)
    return _issued(issued)


@router.delete("/{key_id}", status_code=204, summary="Revoke an API key", **guard("apikeys:own"))
async def revoke_key(
    server: ServerDep, caller: CallerDep, request: Request, key_id: KeyId
) -> Response:
    """The key stops working at once on this server process, within ``auth_cache_s`` on
    the others."""
    await _key_for(server, caller, key_id)
    await asyncio.to_thread(server.auth.api_keys.revoke, key_id)
    await record(request, caller, "apikey.revoked", "apikey", key_id)
    return Response(status_code=204)
