"""``/api/v1/credentials``: the organisation's credentials, sealed by the vault. Secrets go in
and never come back out: answers hold the id, connector and dates only."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from flowforge.api._auth import CallerDep, guard
from flowforge.api._deps import ServerDep
from flowforge.api._errors import ApiError
from flowforge.api._schemas import CredentialIn, CredentialOut
from flowforge.api.audit import record
from flowforge.errors import FlowForgeError
from flowforge.security.rbac import Caller
from flowforge.server import Server
from flowforge.store import CredentialEntry, NotFound

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/credentials", tags=["credentials"])

CredentialId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$",
        description="The id nodes name it by (`credential:` of a node)",
    ),
]


async def _entry(server: Server, caller: Caller, credential_id: str) -> CredentialEntry | None:
    entries = await asyncio.to_thread(server.credentials.rows.entries, caller.org_id)
    return next((e for e in entries if e.id == credential_id), None)


@router.get("", summary="List credentials", **guard("credentials:read"))
async def list_credentials(server: ServerDep, caller: CallerDep) -> list[CredentialOut]:
    entries = await asyncio.to_thread(server.credentials.rows.entries, caller.org_id)
    return [CredentialOut.of(e) for e in entries]


@router.get("/{credential_id}", summary="A credential's metadata", **guard("credentials:read"))
async def get_credential(
    server: ServerDep, caller: CallerDep, credential_id: CredentialId
) -> CredentialOut:
    entry = await _entry(server, caller, credential_id)
    if entry is None:
        raise NotFound(f"no credential {credential_id!r}")
    return CredentialOut.of(entry)


@router.put(
    "/{credential_id}",
    summary="Store a credential (or replace its secret)",
    **guard("credentials:write", responses={201: {"description": "Created"}}),
)
async def put_credential(
    server: ServerDep,
    caller: CallerDep,
    request: Request,
    response: Response,
    credential_id: CredentialId,
    body: CredentialIn,
) -> CredentialOut:
    """``data`` must fit the connector's credential schema (``credentialSchema`` of its node
    types); it is sealed under a key of its own, bound to this organisation and id, and never
    shown again. Nodes of this organisation's runs name it by ``credential_id``."""
    existed = await _entry(server, caller, credential_id) is not None
    try:
        await asyncio.to_thread(
            server.credentials.set,
            server.registry,
            credential_id,
            body.connector,
            body.data,
            caller.org_id,
        )
    except FlowForgeError as exc:
        field, _, reason = str(exc).partition(": ")
        where = "body.connector" if field == "connector" else "body.data"
        detail = {"field": where, "message": reason or str(exc)}
        raise ApiError(422, str(exc), details=[detail]) from None
    await record(
        request,
        caller,
        "credential.replaced" if existed else "credential.created",
        "credential",
        credential_id,
        connector=body.connector,
    )
    response.status_code = 200 if existed else 201
    entry = await _entry(server, caller, credential_id)
    assert entry is not None
    return CredentialOut.of(entry)


@router.delete(
    "/{credential_id}", status_code=204, summary="Delete a credential", **guard("credentials:write")
)
async def delete_credential(
    server: ServerDep, caller: CallerDep, request: Request, credential_id: CredentialId
) -> Response:
    """Runs that name it fail from then on with a CredentialError."""
    if not await asyncio.to_thread(server.credentials.rows.delete, caller.org_id, credential_id):
        raise NotFound(f"no credential {credential_id!r}")
    await record(request, caller, "credential.deleted", "credential", credential_id)
    return Response(status_code=204)
