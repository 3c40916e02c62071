"""Every route's authentication, rate limit and permission, through one dependency.

A route declares what it needs with ``guard``: ``@router.get("", **guard("workflows:read"))``.
The guard authenticates the request (``Authorization: Bearer <API key or access token>``, or
``X-API-Key``), counts it against the caller's rate limit in the route's group, and checks the
permission against ``rbac`` (``x-permission`` in the OpenAPI document says which). Routes on one
workflow or run (``resource=True``) check the permission once they have loaded it, with
``workflow_for`` and ``execution_for``: a resource of another organisation is 404 unless a
share grants it.

The organisation of a request is the API key's, or for a session the one its token names, the
``X-FlowForge-Org`` header, or the ``org_id`` of the path.
"""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from flowforge.api._errors import ApiError
from flowforge.engine.frames import DEFAULT_ORG, ExecutionRecord
from flowforge.security.auth import NeedsLookup, Unauthenticated
from flowforge.security.ratelimit import Plan, RateLimiter
from flowforge.security.rbac import Caller, Forbidden, Role, shared_allows
from flowforge.server import Server
from flowforge.store import NotFound, WorkflowEntry

__all__ = [
    "PERMISSION_KEY",
    "CallerDep",
    "authenticate",
    "client_address",
    "execution_for",
    "guard",
    "limit",
    "response_headers",
    "workflow_for",
]

PERMISSION_KEY = "x-permission"
ORG_HEADER = "x-flowforge-org"
_STATE_HEADERS = "ratelimit_headers"


def _credential(request: HTTPConnection) -> str | None:
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthenticated("send Authorization: Bearer <API key or access token>")
        return value.strip()
    return request.headers.get("x-api-key") or None


async def authenticate(request: Request) -> Caller:
    """The caller of a request (FastAPI runs it once per request, however many parameters
    ask for it); Unauthenticated or Forbidden otherwise."""
    server: Server = request.app.state.server
    if server.settings.insecure_no_auth:
        return Caller(org_id=DEFAULT_ORG, role=Role.OWNER, plan=Plan.ENTERPRISE)
    presented = _credential(request)
    if presented is None:
        raise Unauthenticated("sign in: send Authorization: Bearer <API key or access token>")
    # A path's org_id wins over the header: /orgs/B/... must never act on another organisation
    from_path = "org_id" in request.path_params
    org = str(request.path_params["org_id"]) if from_path else request.headers.get(ORG_HEADER)
    auth = server.auth
    try:
        try:
            return auth.resolve(presented, org, offline=True)
        except NeedsLookup:
            return await asyncio.to_thread(auth.resolve, presented, org)
    except Forbidden:
        if from_path:  # an organisation the caller is not in does not exist for them
            raise NotFound(f"no organisation {org!r}") from None
        raise


CallerDep = Annotated[Caller, Depends(authenticate)]


async def limit(
    request: HTTPConnection, server: Server, identity: str, group: str, plan: Plan
) -> None:
    """Count a request against ``identity``'s limit in ``group``: 429 with Retry-After when
    it is used up. The RateLimit headers go out with the response."""
    limiter: RateLimiter = server.limiter
    if limiter.shared:  # Redis: a network round trip
        decision = await asyncio.to_thread(limiter.hit, identity, group, plan)
    else:
        decision = limiter.hit(identity, group, plan)
    headers = decision.headers()
    if headers:  # the middleware adds them to the answer, a 429 included
        request.scope.setdefault("state", {})[_STATE_HEADERS] = headers
    if not decision.allowed:
        raise ApiError(
            429,
            f"rate limit of {decision.window} in {group} reached; retry in "
            f"{headers.get('Retry-After', '1')} s",
        )


def response_headers(scope: MutableMapping[str, Any]) -> dict[str, str]:
    """The RateLimit headers a guard left for the response of this request."""
    state = scope.get("state") or {}
    headers: dict[str, str] = state.get(_STATE_HEADERS) or {}
    return headers


class _Guard:
    """The dependency ``guard`` makes; ``permission`` is what the route table test reads."""

    def __init__(self, permission: str | None, group: str, resource: bool) -> None:
        self.permission = permission
        self.group = group
        self.resource = resource

    async def __call__(self, request: Request, caller: CallerDep) -> None:
        server: Server = request.app.state.server
        await limit(request, server, caller.actor, self.group, caller.plan)
        if self.permission is not None and not self.resource:
            caller.require(self.permission)


def guard(
    permission: str | None,
    *,
    group: str = "api",
    resource: bool = False,
    openapi_extra: dict[str, Any] | None = None,
    responses: dict[int | str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The keyword arguments of a route that needs ``permission`` (None: any signed-in
    caller), counted in rate limit ``group``; with ``resource``, the route checks the
    permission on the workflow or run it loads. ``openapi_extra`` and ``responses`` are the
    route's own, merged in."""
    extra = dict(openapi_extra or {})
    extra[PERMISSION_KEY] = permission or "authenticated"
    return {
        "dependencies": [Depends(_Guard(permission, group, resource))],
        "openapi_extra": extra,
        "responses": {
            401: {"description": "Not signed in, or the credential is not valid"},
            403: {"description": f"The caller may not: needs {permission or 'a sign-in'}"},
            429: {"description": "Rate limit reached: see Retry-After"},
            **(responses or {}),
        },
    }


async def workflow_for(server: Server, caller: Caller, ref: str, permission: str) -> WorkflowEntry:
    """The workflow ``ref`` (id, or name in the caller's organisation) if the caller may do
    ``permission`` on it: 404 if it is another organisation's and not shared with them, 403 if
    they may see it but not do this."""
    if "\x00" in ref:  # no id or name holds one, and PostgreSQL refuses it in a query
        raise NotFound(f"no workflow {ref!r}")
    entry = await asyncio.to_thread(server.catalog.find, ref, caller.org_id)
    await _allow(server, caller, entry.org_id, entry.id, permission, f"no workflow {ref!r}")
    return entry


async def execution_for(
    server: Server, caller: Caller, execution_id: str, permission: str
) -> ExecutionRecord:
    """The run if the caller may do ``permission`` on it: 404 if it is another
    organisation's and its workflow is not shared with them, 403 if they may see it but not
    do this."""
    missing = f"no execution {execution_id!r}"
    if "\x00" in execution_id:  # no id holds one, and PostgreSQL refuses it in a query
        raise NotFound(missing)
    record = await asyncio.to_thread(server.store.get_execution, execution_id)
    await _allow(server, caller, record.org_id, record.workflow_id, permission, missing)
    return record


async def _allow(
    server: Server,
    caller: Caller,
    org_id: str,
    workflow_id: str | None,
    permission: str,
    missing: str,
) -> None:
    """Whether the caller may do ``permission`` on a resource of ``org_id`` (of workflow
    ``workflow_id``): by their role in their own organisation, else by the workflow's shares;
    NotFound saying ``missing`` when neither lets them see it, the same as for none."""
    if org_id == caller.org_id:
        caller.require(permission)
        return
    found: list[tuple[str, str]] = []
    if workflow_id is not None:
        grants = await asyncio.to_thread(
            server.shares.granted, [workflow_id], caller.user_id, caller.org_id
        )
        found = grants.get(workflow_id, [])
    if not found:
        raise NotFound(missing)
    if not shared_allows(caller, found, permission):
        raise Forbidden(f"this workflow is shared with you without {permission}")


def client_address(request: HTTPConnection) -> str:
    """The address of the client (the peer: set up a proxy's forwarded headers in uvicorn
    with --forwarded-allow-ips for the address behind it)."""
    return request.client.host if request.client else "unknown"
