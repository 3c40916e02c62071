"""Who may call what (issue #5): every route of the API against every role, anonymous callers
and a narrowly scoped API key, and the ids of another organisation on every route that takes
one.

``TABLE`` is written out by hand, not read from ``rbac``: it is the contract, so a change of
the permission matrix (or a new route) that nobody meant makes these tests fail.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from api_support import assert_error, running, workflow
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.routing import iter_route_contexts

from flowforge.api import create_app
from flowforge.config import Settings
from flowforge.engine.frames import DEFAULT_ORG
from flowforge.security.auth import SERVICE_SUBJECT
from flowforge.security.passwords import hash_password
from flowforge.security.signatures import account_id
from flowforge.server import Server
from flowforge.store import User

# From least to most: "public" needs no sign-in, "any" any signed-in caller; "nobody" is
# beyond every role.
LEVELS = ("public", "any", "viewer", "editor", "admin", "owner", "nobody")
ROLES = ("viewer", "editor", "admin", "owner")
PASSWORD = "matrix-password-1"
NEW_PASSWORD = "matrix-password-2"

HELLO = workflow(
    "hello",
    {"id": "start", "type": "flow.start"},
    {"id": "greet", "type": "flow.set", "params": {"values": {"text": "Hi {{ input.name }}"}}},
)
HELLO_V2 = {
    **HELLO,
    "nodes": [*HELLO["nodes"], {"id": "done", "type": "flow.noop"}],
    "edges": [*HELLO["edges"], {"source": "greet", "target": "done"}],
}
MATRIX = {**HELLO, "name": "matrix"}
MATRIX_V2 = {**HELLO_V2, "name": "matrix"}
BROKEN = workflow(
    "broken",
    {"id": "start", "type": "flow.start"},
    {"id": "boom", "type": "flow.fail", "params": {"message": "no"}},
)
PARKED = workflow(
    "parked",
    {"id": "start", "type": "flow.start"},
    {"id": "nap", "type": "flow.wait", "params": {"seconds": 3600}},
)
HOOK = workflow(
    "hook",
    {"id": "in", "type": "trigger.webhook", "params": {"path": "matrix"}},
    {"id": "out", "type": "flow.noop"},
)
# Services that get a body that works (the others get {}: refused or validated, never run far).
SERVICE_BODIES: dict[str, dict[str, Any]] = {
    "math.evaluate": {"expression": "1 + 2"},
    "data.jmespath": {"expression": "a", "data": {"a": 1}},
    "crypto.hash": {"text": "x"},
}


@functools.cache
def _password_hash() -> str:
    """One argon2 hash for every user of every test: hashing is what costs."""
    return hash_password(PASSWORD)


@dataclass
class Call:
    """One concrete request."""

    url: str
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Who:
    """A caller: a role in the default organisation (or "anonymous"), how it signs in."""

    role: str
    user: User | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class World:
    """The default organisation's resources the routes are called on, and ways to make fresh
    ones for calls that use them up."""

    client: httpx.AsyncClient  # sends no credential of its own
    server: Server
    setup: dict[str, str]  # an owner API key of the default organisation
    partner: str  # another organisation, to share with
    signin: User  # a user with PASSWORD and a sign-in key, for the public routes
    signin_key: ec.EllipticCurvePrivateKey
    colleague: User  # a member whose API keys are nobody else's
    workflow: str = ""  # two versions
    run: str = ""  # completed
    failed: str = ""
    blob: str = ""
    credential: str = "matrix-cred"
    names: Iterator[int] = field(default_factory=itertools.count)

    def unique(self, prefix: str) -> str:
        return f"{prefix}-{next(self.names)}"

    async def as_setup(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = await self.client.request(method, url, headers=self.setup, **kwargs)
        assert response.status_code < 300, response.text
        return response

    async def new_workflow(self, definition: dict[str, Any] = HELLO) -> str:
        body = {**definition, "name": self.unique(definition["name"])}
        created = await self.as_setup("POST", "/api/v1/workflows", json=body)
        workflow_id: str = created.json()["id"]
        return workflow_id

    async def new_run(self, workflow_id: str, wait: float = 10) -> str:
        started = await self.as_setup(
            "POST",
            f"/api/v1/executions?wait={wait}",
            json={"workflowId": workflow_id, "input": {"name": "Ada"}},
        )
        run_id: str = started.json()["id"]
        return run_id

    async def new_member(self, role: str, *, password: bool = False) -> User:
        directory = self.server.auth.directory
        email = f"{self.unique(role)}@matrix.example"
        user = directory.create_user(
            email, role.title(), password_hash=_password_hash() if password else None
        )
        directory.add_member(DEFAULT_ORG, user.id, role)
        return user

    def new_key(self, subject: str, role: str = "owner") -> str:
        issued = self.server.auth.api_keys.create(
            subject=subject, scopes=["*"], org=DEFAULT_ORG, role=role, name="fresh"
        )
        return issued.record.key_id

    def new_account(self, user: User) -> str:
        account = account_id(ec.generate_private_key(ec.SECP256R1()).public_key())
        self.server.auth.directory.add_account(user.id, account, "fresh")
        return account

    def signed_challenge(self, key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
        account = account_id(key.public_key())
        message = self.server.auth.challenge(account).message
        signature = key.sign(message.encode(), ec.ECDSA(hashes.SHA256())).hex()
        return {"account": account, "message": message, "signature": signature}


Make = Callable[[World, Who], Awaitable[Call]]


@dataclass(frozen=True)
class Case:
    """A route (``method`` and the ``route`` template of the app), the ``x-permission`` its
    OpenAPI operation names (None: not in the document), the least level that may call it in
    its own organisation, and how to make a request to it. ``ok``: an allowed caller gets a
    2xx answer (else anything but 401, 403 and 5xx)."""

    method: str
    route: str
    permission: str | None
    least: str
    make: Make
    ok: bool = True
    variant: str = ""

    @property
    def name(self) -> str:
        return f"{self.method} {self.route}{' (' + self.variant + ')' if self.variant else ''}"


def fixed(url: str, **kwargs: Any) -> Make:
    async def make(world: World, who: Who) -> Call:
        return Call(url, **kwargs)

    return make


def on_workflow(suffix: str = "", **kwargs: Any) -> Make:
    async def make(world: World, who: Who) -> Call:
        return Call(f"/api/v1/workflows/{world.workflow}{suffix}", **kwargs)

    return make


def on_run(suffix: str = "", **kwargs: Any) -> Make:
    async def make(world: World, who: Who) -> Call:
        return Call(f"/api/v1/executions/{world.run}{suffix}", **kwargs)

    return make


async def _create_workflow(world: World, who: Who) -> Call:
    return Call("/api/v1/workflows", json={**HELLO, "name": world.unique("created")})


async def _import_workflow(world: World, who: Who) -> Call:
    text = yaml.safe_dump({**HELLO, "name": world.unique("imported")})
    return Call(
        "/api/v1/workflows/import",
        content=text.encode(),
        headers={"content-type": "application/yaml"},
    )


async def _delete_workflow(world: World, who: Who) -> Call:
    return Call(f"/api/v1/workflows/{await world.new_workflow()}")


async def _revoke_share(world: World, who: Who) -> Call:
    shares = f"/api/v1/workflows/{world.workflow}/shares"
    body = {"granteeKind": "org", "grantee": world.partner, "access": "view"}
    await world.as_setup("PUT", shares, json=body)
    return Call(f"{shares}/org/{world.partner}")


async def _grant_share(world: World, who: Who) -> Call:
    body = {"granteeKind": "org", "grantee": world.partner, "access": "run"}
    return Call(f"/api/v1/workflows/{world.workflow}/shares", json=body)


async def _start(world: World, who: Who) -> Call:
    return Call("/api/v1/executions", json={"workflowId": world.workflow, "input": {"name": "Ada"}})


async def _start_inline(world: World, who: Who) -> Call:
    return Call("/api/v1/executions", json={"workflow": HELLO, "input": {"name": "Ada"}})


async def _runs_of_workflow(world: World, who: Who) -> Call:
    return Call(f"/api/v1/executions?workflowId={world.workflow}")


async def _cancel(world: World, who: Who) -> Call:
    parked = await world.new_run(await world.new_workflow(PARKED), wait=0)
    return Call(f"/api/v1/executions/{parked}/cancel")


async def _retry(world: World, who: Who) -> Call:
    return Call(f"/api/v1/executions/{world.failed}/retry")


async def _delete_run(world: World, who: Who) -> Call:
    return Call(f"/api/v1/executions/{await world.new_run(world.workflow)}")


async def _preview_in_run(world: World, who: Who) -> Call:
    body = {"expression": "{{ input.name }}", "executionId": world.run, "nodeId": "greet"}
    return Call("/api/v1/expressions/preview", json=body)


async def _blob(world: World, who: Who) -> Call:
    return Call(f"/api/v1/blobs/{world.blob}")


async def _login(world: World, who: Who) -> Call:
    return Call("/api/v1/auth/login", json={"email": world.signin.email, "password": PASSWORD})


async def _challenge(world: World, who: Who) -> Call:
    account = account_id(world.signin_key.public_key())
    return Call("/api/v1/auth/challenge", json={"account": account})


async def _signature(world: World, who: Who) -> Call:
    return Call("/api/v1/auth/signature", json=world.signed_challenge(world.signin_key))


def _refresh_token(world: World) -> str:
    return world.server.auth.start_session(world.signin, DEFAULT_ORG).tokens.refresh_token


async def _refresh(world: World, who: Who) -> Call:
    return Call("/api/v1/auth/refresh", json={"refreshToken": _refresh_token(world)})


async def _logout(world: World, who: Who) -> Call:
    return Call("/api/v1/auth/logout", json={"refreshToken": _refresh_token(world)})


async def _accept(world: World, who: Who) -> Call:
    invited = await world.new_member("viewer")
    expires = datetime.now(UTC) + timedelta(hours=1)
    token = world.server.auth.directory.invite(invited.id, expires)
    return Call("/api/v1/auth/accept", json={"token": token, "password": NEW_PASSWORD})


async def _change_password(world: World, who: Who) -> Call:
    body = {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    return Call("/api/v1/auth/me/password", json=body)


async def _add_account(world: World, who: Who) -> Call:
    body = world.signed_challenge(ec.generate_private_key(ec.SECP256R1()))
    return Call("/api/v1/auth/me/accounts", json={**body, "label": "laptop"})


async def _remove_account(world: World, who: Who) -> Call:
    account = world.new_account(who.user or world.signin)
    return Call(f"/api/v1/auth/me/accounts/{account}")


def _subject(world: World, who: Who) -> str:
    return who.user.id if who.user is not None else world.colleague.id


def _create_key(role: str) -> Make:
    async def make(world: World, who: Who) -> Call:
        return Call("/api/v1/api-keys", json={"name": world.unique("key"), "role": role})

    return make


async def _rotate_own(world: World, who: Who) -> Call:
    key = world.new_key(_subject(world, who), "viewer")
    return Call(f"/api/v1/api-keys/{key}/rotate", json={"graceSeconds": 0})


async def _rotate_colleagues(world: World, who: Who) -> Call:
    key = world.new_key(world.colleague.id, "viewer")
    return Call(f"/api/v1/api-keys/{key}/rotate", json={"graceSeconds": 0})


async def _revoke_own(world: World, who: Who) -> Call:
    return Call(f"/api/v1/api-keys/{world.new_key(_subject(world, who), 'viewer')}")


async def _revoke_colleagues(world: World, who: Who) -> Call:
    return Call(f"/api/v1/api-keys/{world.new_key(world.colleague.id, 'viewer')}")


async def _create_org(world: World, who: Who) -> Call:
    return Call("/api/v1/orgs", json={"name": world.unique("org")})


def _add_member(role: str) -> Make:
    async def make(world: World, who: Who) -> Call:
        email = f"{world.unique('invited')}@matrix.example"
        return Call(f"/api/v1/orgs/{DEFAULT_ORG}/members", json={"email": email, "role": role})

    return make


def _change_role(current: str, to: str) -> Make:
    async def make(world: World, who: Who) -> Call:
        member = await world.new_member(current)
        return Call(f"/api/v1/orgs/{DEFAULT_ORG}/members/{member.id}", json={"role": to})

    return make


def _remove_member(current: str) -> Make:
    async def make(world: World, who: Who) -> Call:
        member = await world.new_member(current)
        return Call(f"/api/v1/orgs/{DEFAULT_ORG}/members/{member.id}")

    return make


_HTTP_SECRET = {"connector": "http", "data": {"type": "bearer", "token": "s3cret"}}


async def _delete_credential(world: World, who: Who) -> Call:
    credential = world.unique("doomed")
    await world.as_setup("PUT", f"/api/v1/credentials/{credential}", json=_HTTP_SECRET)
    return Call(f"/api/v1/credentials/{credential}")


WF = "/api/v1/workflows/{workflow_id}"
RUN = "/api/v1/executions/{execution_id}"
ORG = "/api/v1/orgs/{org_id}"
HOOKS = "/hooks/{path:path}"
VERSION_1 = "/versions/1"
RERUN = {"node": "greet", "input": {"name": "Grace"}}

TABLE: tuple[Case, ...] = (
    # workflows
    Case("POST", "/api/v1/workflows", "workflows:write", "editor", _create_workflow),
    Case("GET", "/api/v1/workflows", "workflows:read", "viewer", fixed("/api/v1/workflows")),
    Case("POST", "/api/v1/workflows/import", "workflows:write", "editor", _import_workflow),
    Case("GET", WF, "workflows:read", "viewer", on_workflow()),
    Case("PUT", WF, "workflows:write", "editor", on_workflow(json=MATRIX_V2)),
    Case("DELETE", WF, "workflows:delete", "editor", _delete_workflow),
    Case("POST", WF + "/activate", "workflows:write", "editor", on_workflow("/activate")),
    Case("POST", WF + "/deactivate", "workflows:write", "editor", on_workflow("/deactivate")),
    Case("GET", WF + "/export", "workflows:export", "viewer", on_workflow("/export")),
    Case("GET", WF + "/versions", "workflows:read", "viewer", on_workflow("/versions")),
    Case("GET", WF + "/versions/{number}", "workflows:read", "viewer", on_workflow(VERSION_1)),
    Case("GET", WF + "/diff", "workflows:read", "viewer", on_workflow("/diff?from=1&to=2")),
    Case("GET", WF + "/triggers", "workflows:read", "viewer", on_workflow("/triggers")),
    Case(
        "GET",
        "/api/v1/schedules/preview",
        "workflows:read",
        "viewer",
        fixed("/api/v1/schedules/preview?cron=30+7+*+*+MON-FRI&timezone=Europe/Berlin"),
    ),
    # shares
    Case("GET", WF + "/shares", "workflows:share", "editor", on_workflow("/shares")),
    Case("PUT", WF + "/shares", "workflows:share", "editor", _grant_share),
    Case(
        "DELETE",
        WF + "/shares/{grantee_kind}/{grantee_id}",
        "workflows:share",
        "editor",
        _revoke_share,
    ),
    # executions
    Case("POST", "/api/v1/executions", "executions:write", "editor", _start),
    Case(
        "POST",
        "/api/v1/executions",
        "executions:write",
        "editor",
        _start_inline,
        variant="inline definition",
    ),
    Case("GET", "/api/v1/executions", "executions:read", "viewer", fixed("/api/v1/executions")),
    Case(
        "GET",
        "/api/v1/executions",
        "executions:read",
        "viewer",
        _runs_of_workflow,
        variant="of one workflow",
    ),
    Case("GET", RUN, "executions:read", "viewer", on_run()),
    Case("GET", RUN + "/stream", "executions:read", "viewer", on_run("/stream")),
    Case("POST", RUN + "/cancel", "executions:write", "editor", _cancel),
    Case("POST", RUN + "/retry", "executions:write", "editor", _retry),
    Case("POST", RUN + "/rerun", "executions:write", "editor", on_run("/rerun", json=RERUN)),
    Case("DELETE", RUN, "executions:delete", "editor", _delete_run),
    Case(
        "POST",
        "/api/v1/expressions/preview",
        "executions:read",
        "viewer",
        fixed("/api/v1/expressions/preview", json={"expression": "{{ 1 + 1 }}"}),
    ),
    Case(
        "POST",
        "/api/v1/expressions/preview",
        "executions:read",
        "viewer",
        _preview_in_run,
        variant="in a run's scope",
    ),
    # webhooks: called by other systems, never signed in
    *(
        Case(
            method, HOOKS, "public" if method != "HEAD" else None, "public", fixed("/hooks/matrix")
        )
        for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
    ),
    # system and connectors
    Case("GET", "/health", "public", "public", fixed("/health")),
    Case("GET", "/metrics", "metrics:read", "admin", fixed("/metrics")),
    Case("GET", "/api/v1/node-types", "workflows:read", "viewer", fixed("/api/v1/node-types")),
    Case("GET", "/api/v1/blobs/{blob_id}", "executions:read", "viewer", _blob),
    # FastAPI's own documentation
    Case("GET", "/openapi.json", None, "public", fixed("/openapi.json")),
    Case("GET", "/docs", None, "public", fixed("/docs")),
    Case("GET", "/docs/oauth2-redirect", None, "public", fixed("/docs/oauth2-redirect")),
    Case("GET", "/redoc", None, "public", fixed("/redoc")),
    # signing in
    Case("POST", "/api/v1/auth/login", "public", "public", _login),
    Case("POST", "/api/v1/auth/challenge", "public", "public", _challenge),
    Case("POST", "/api/v1/auth/signature", "public", "public", _signature),
    Case("POST", "/api/v1/auth/refresh", "public", "public", _refresh),
    Case("POST", "/api/v1/auth/logout", "public", "public", _logout),
    Case("POST", "/api/v1/auth/accept", "public", "public", _accept),
    Case("GET", "/.well-known/jwks.json", "public", "public", fixed("/.well-known/jwks.json")),
    # one's own account
    Case("GET", "/api/v1/auth/me", "authenticated", "any", fixed("/api/v1/auth/me")),
    Case("PUT", "/api/v1/auth/me/password", "account:write", "viewer", _change_password),
    Case(
        "GET", "/api/v1/auth/me/accounts", "authenticated", "any", fixed("/api/v1/auth/me/accounts")
    ),
    Case("POST", "/api/v1/auth/me/accounts", "account:write", "viewer", _add_account),
    Case(
        "DELETE", "/api/v1/auth/me/accounts/{account}", "account:write", "viewer", _remove_account
    ),
    # API keys
    Case("GET", "/api/v1/api-keys", "apikeys:own", "viewer", fixed("/api/v1/api-keys")),
    Case(
        "GET",
        "/api/v1/api-keys",
        "apikeys:own",
        "admin",
        fixed("/api/v1/api-keys?all=true"),
        variant="every key of the organisation",
    ),
    Case("POST", "/api/v1/api-keys", "apikeys:own", "viewer", _create_key("viewer")),
    Case(
        "POST",
        "/api/v1/api-keys",
        "apikeys:own",
        "owner",
        _create_key("owner"),
        variant="with the role owner",
    ),
    Case("POST", "/api/v1/api-keys/{key_id}/rotate", "apikeys:own", "viewer", _rotate_own),
    Case(
        "POST",
        "/api/v1/api-keys/{key_id}/rotate",
        "apikeys:own",
        "admin",
        _rotate_colleagues,
        variant="another member's key",
    ),
    Case("DELETE", "/api/v1/api-keys/{key_id}", "apikeys:own", "viewer", _revoke_own),
    Case(
        "DELETE",
        "/api/v1/api-keys/{key_id}",
        "apikeys:own",
        "admin",
        _revoke_colleagues,
        variant="another member's key",
    ),
    # organisations and members
    Case("GET", "/api/v1/orgs", "authenticated", "any", fixed("/api/v1/orgs")),
    Case("POST", "/api/v1/orgs", "orgs:create", "viewer", _create_org),
    Case("GET", ORG, "members:read", "viewer", fixed(f"/api/v1/orgs/{DEFAULT_ORG}")),
    Case(
        "PATCH",
        ORG,
        "org:write",
        "owner",
        fixed(f"/api/v1/orgs/{DEFAULT_ORG}", json={"name": "Default"}),
    ),
    Case(
        "GET",
        ORG + "/members",
        "members:read",
        "viewer",
        fixed(f"/api/v1/orgs/{DEFAULT_ORG}/members"),
    ),
    Case("POST", ORG + "/members", "members:write", "admin", _add_member("editor")),
    Case(
        "POST",
        ORG + "/members",
        "members:write",
        "owner",
        _add_member("owner"),
        variant="as an owner",
    ),
    Case(
        "PATCH",
        ORG + "/members/{user_id}",
        "members:write",
        "admin",
        _change_role("viewer", "editor"),
    ),
    Case(
        "PATCH",
        ORG + "/members/{user_id}",
        "members:write",
        "owner",
        _change_role("viewer", "owner"),
        variant="to owner",
    ),
    Case(
        "PATCH",
        ORG + "/members/{user_id}",
        "members:write",
        "owner",
        _change_role("owner", "admin"),
        variant="an owner's",
    ),
    Case("DELETE", ORG + "/members/{user_id}", "members:write", "admin", _remove_member("editor")),
    Case(
        "DELETE",
        ORG + "/members/{user_id}",
        "members:write",
        "owner",
        _remove_member("owner"),
        variant="an owner",
    ),
    # credentials
    Case("GET", "/api/v1/credentials", "credentials:read", "editor", fixed("/api/v1/credentials")),
    Case(
        "GET",
        "/api/v1/credentials/{credential_id}",
        "credentials:read",
        "editor",
        fixed("/api/v1/credentials/matrix-cred"),
    ),
    Case(
        "PUT",
        "/api/v1/credentials/{credential_id}",
        "credentials:write",
        "editor",
        fixed("/api/v1/credentials/matrix-cred", json=_HTTP_SECRET),
    ),
    Case(
        "DELETE",
        "/api/v1/credentials/{credential_id}",
        "credentials:write",
        "editor",
        _delete_credential,
    ),
    # audit
    Case("GET", "/api/v1/audit", "audit:read", "admin", fixed("/api/v1/audit")),
)


def service_cases(server: Server) -> list[Case]:
    """``POST /api/v1/{connector}/{action}`` for every service: editors and up, each action
    under a permission of its own."""
    cases = []
    for connector in server.registry.connectors.values():
        if not connector.service:
            continue
        for action in connector.actions.values():
            url = f"/api/v1/{connector.id}/{action.name}"
            body = SERVICE_BODIES.get(action.type)
            cases.append(
                Case(
                    "POST",
                    url,
                    f"services:{connector.id}:{action.name}",
                    "editor",
                    fixed(url, json=body if body is not None else {}),
                    ok=body is not None,
                )
            )
    return cases


def allowed(least: str, role: str) -> bool:
    if role == "anonymous":
        return least == "public"
    return LEVELS.index(role) >= LEVELS.index(least)


async def request(world: World, case: Case, who: Who) -> httpx.Response:
    call = await case.make(world, who)
    return await world.client.request(
        case.method,
        call.url,
        json=call.json,
        content=call.content,
        headers={**who.headers, **call.headers},
    )


def problem(case: Case, who: Who, response: httpx.Response) -> str | None:
    """What is wrong with the answer ``who`` got from ``case``, if anything."""
    status = response.status_code
    if allowed(case.least, who.role):
        expected = "2xx" if case.ok else "neither 401, 403 nor 5xx"
        wrong = status in (401, 403) or status >= 500 or (case.ok and not 200 <= status < 300)
    else:
        expected = "401 with WWW-Authenticate" if who.role == "anonymous" else "403"
        try:
            if who.role == "anonymous":
                assert_error(response, 401, "UNAUTHORIZED")
                assert response.headers["www-authenticate"].startswith("Bearer ")
            else:
                assert_error(response, 403, "FORBIDDEN")
            wrong = False
        except (AssertionError, KeyError):
            wrong = True
    if wrong:
        return f"{who.role} on {case.name}: expected {expected}, got {status} {response.text[:200]}"
    return None


@asynccontextmanager
async def world_of(database_url: str, home: Path) -> AsyncIterator[World]:
    """A server whose default organisation holds a workflow with two versions, a completed
    and a failed run, a blob, a credential and an active webhook."""
    async with running(
        database_url, home, signed_in=False, load_examples=False, login_limit="10000/minute"
    ) as (
        client,
        server,
    ):
        auth = server.auth
        directory = auth.directory
        setup = auth.api_keys.create(
            subject=SERVICE_SUBJECT, scopes=["*"], org=DEFAULT_ORG, role="owner", name="setup"
        )
        signin = directory.create_user(
            "signin@matrix.example", "Signin", password_hash=_password_hash()
        )
        directory.add_member(DEFAULT_ORG, signin.id, "viewer")
        signin_key = ec.generate_private_key(ec.SECP256R1())
        directory.add_account(signin.id, account_id(signin_key.public_key()), "matrix")
        colleague = directory.create_user("colleague@matrix.example", "Colleague")
        directory.add_member(DEFAULT_ORG, colleague.id, "editor")
        world = World(
            client=client,
            server=server,
            setup={"Authorization": f"Bearer {setup.key}"},
            partner=directory.create_org("Partner", "pro").id,
            signin=signin,
            signin_key=signin_key,
            colleague=colleague,
        )
        created = await world.as_setup("POST", "/api/v1/workflows", json=MATRIX)
        world.workflow = created.json()["id"]
        await world.as_setup("PUT", f"/api/v1/workflows/{world.workflow}", json=MATRIX_V2)
        world.run = await world.new_run(world.workflow)
        world.failed = await world.new_run(await world.new_workflow(BROKEN))
        runs = [
            (await world.as_setup("GET", f"/api/v1/executions/{r}")).json()
            for r in (world.run, world.failed)
        ]
        assert [r["status"] for r in runs] == ["COMPLETED", "FAILED"]
        await world.as_setup("POST", "/api/v1/workflows?active=true", json=HOOK)
        world.blob = (await server.put_blob(b"matrix", "text/plain", "matrix.txt")).blob
        await world.as_setup("PUT", f"/api/v1/credentials/{world.credential}", json=_HTTP_SECRET)
        yield world


async def callers(world: World, kind: str) -> list[Who]:
    """Anonymous, then a member of each role, signed in with a session or an API key."""
    found = [Who("anonymous")]
    auth = world.server.auth
    for role in ROLES:
        user = await world.new_member(role, password=True)
        if kind == "session":
            token = auth.start_session(user, DEFAULT_ORG).tokens.access_token
        else:
            token = auth.api_keys.create(
                subject=user.id, scopes=["*"], org=DEFAULT_ORG, role=role, name="matrix"
            ).key
        found.append(Who(role, user, {"Authorization": f"Bearer {token}"}))
    return found


def _operations(server: Server) -> tuple[set[tuple[str, str]], dict[str, Any]]:
    """Every (method, path template) the app answers, and its OpenAPI paths."""
    app = create_app(server.settings, server=server)
    routes: set[tuple[str, str]] = set()
    for route in iter_route_contexts(app.routes):
        methods = set(route.methods or ())
        if "GET" in methods:
            methods.discard("HEAD")  # Starlette answers HEAD wherever it answers GET
        routes |= {(method, str(route.path)) for method in methods}
    paths: dict[str, Any] = app.openapi()["paths"]
    return routes, paths


def _documented(route: str) -> str:
    """The OpenAPI path of a route template (``{path:path}`` is ``{path}`` there)."""
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", route)


async def test_the_table_covers_every_route_and_every_operation_names_its_permission(
    database_url: str, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path, load_examples=False)
    server = Server(settings, database_url=database_url)
    routes, paths = _operations(server)
    services = service_cases(server)
    assert len(services) > 40  # every service of every built-in connector
    cases = (*TABLE, *services)
    listed = {(c.method, c.route) for c in cases}
    assert sorted(routes - listed) == [], "routes without an entry in TABLE"
    assert sorted(listed - routes) == [], "entries in TABLE for routes the app does not have"

    for case in cases:
        operation = paths.get(_documented(case.route), {}).get(case.method.lower())
        if case.permission is None:
            assert operation is None, f"{case.name} is documented: give its x-permission"
        else:
            assert operation is not None, f"{case.name} is not in the OpenAPI document"
            assert operation.get("x-permission") == case.permission, case.name
    documented = {(m.upper(), p): op for p, ops in paths.items() for m, op in ops.items()}
    assert set(documented) == {(c.method, _documented(c.route)) for c in cases if c.permission}
    assert [name for name, op in documented.items() if not op.get("x-permission")] == []
    # variants of one route agree on its permission
    by_route: dict[tuple[str, str], set[str | None]] = {}
    for case in cases:
        by_route.setdefault((case.method, case.route), set()).add(case.permission)
    assert all(len(p) == 1 for p in by_route.values()), by_route


@pytest.mark.parametrize("kind", ["session", "api_key"])
async def test_every_role_on_every_route(database_url: str, tmp_path: Path, kind: str) -> None:
    """Allowed callers are never refused (and succeed on real resources); the others get
    exactly 403 in the error shape, or 401 with WWW-Authenticate when not signed in."""
    async with world_of(database_url, tmp_path) as world:
        cases = (*TABLE, *service_cases(world.server))
        problems = []
        for who in await callers(world, kind):
            for case in cases:
                found = problem(case, who, await request(world, case, who))
                if found:
                    problems.append(found)
        assert not problems, "\n".join(problems)


# (scopes of an owner's API key, which permissions they cover)
SCOPED: tuple[tuple[list[str], Callable[[str], bool]], ...] = (
    (["workflows:read"], lambda permission: permission == "workflows:read"),
    (
        ["executions:read", "services:data:*"],
        lambda permission: (
            permission == "executions:read" or permission.startswith("services:data:")
        ),
    ),
)


async def test_a_scoped_api_key_is_refused_outside_its_scopes(
    database_url: str, tmp_path: Path
) -> None:
    """Even an owner's key does only what its scopes say. Routes open to any signed-in caller
    (``authenticated``) check no scope, so they are left out here."""
    async with world_of(database_url, tmp_path) as world:
        owner = await world.new_member("owner")
        cases = [
            c for c in (*TABLE, *service_cases(world.server)) if c.least not in ("public", "any")
        ]
        problems = []
        for scopes, covers in SCOPED:
            key = world.server.auth.api_keys.create(
                subject=owner.id, scopes=scopes, org=DEFAULT_ORG, role="owner", name="scoped"
            )
            who = Who("owner", owner, {"Authorization": f"Bearer {key.key}"})
            within = [c for c in cases if c.permission and covers(c.permission)]
            assert len(within) >= 3
            for case in cases:
                expected = case if case in within else replace(case, least="nobody")
                found = problem(expected, who, await request(world, case, who))
                if found:
                    problems.append(f"{scopes}: {found}")
        assert not problems, "\n".join(problems)


Ids = dict[str, str]


@dataclass(frozen=True)
class Foreign:
    """A request on ids of another organisation (``make`` fills them in)."""

    method: str
    route: str
    make: Callable[[Ids], Call]


def at(template: str, **kwargs: Any) -> Callable[[Ids], Call]:
    return lambda ids: Call(template.format(**ids), **kwargs)


B_WF = "/api/v1/workflows/{workflow}"
B_RUN = "/api/v1/executions/{run}"
B_ORG = "/api/v1/orgs/{org}"
SHARE_TO_A = {"granteeKind": "org", "grantee": DEFAULT_ORG, "access": "edit"}

FOREIGN: tuple[Foreign, ...] = (
    Foreign("GET", WF, at(B_WF)),
    Foreign("GET", WF, at("/api/v1/workflows/{name}")),
    Foreign("PUT", WF, at(B_WF, json=MATRIX_V2)),
    Foreign("DELETE", WF, at(B_WF)),
    Foreign("POST", WF + "/activate", at(B_WF + "/activate")),
    Foreign("POST", WF + "/deactivate", at(B_WF + "/deactivate")),
    Foreign("GET", WF + "/export", at(B_WF + "/export")),
    Foreign("GET", WF + "/versions", at(B_WF + "/versions")),
    Foreign("GET", WF + "/versions/{number}", at(B_WF + VERSION_1)),
    Foreign("GET", WF + "/diff", at(B_WF + "/diff?from=1&to=1")),
    Foreign("GET", WF + "/triggers", at(B_WF + "/triggers")),
    Foreign("GET", WF + "/shares", at(B_WF + "/shares")),
    Foreign("PUT", WF + "/shares", at(B_WF + "/shares", json=SHARE_TO_A)),
    Foreign(
        "DELETE",
        WF + "/shares/{grantee_kind}/{grantee_id}",
        at(B_WF + f"/shares/org/{DEFAULT_ORG}"),
    ),
    Foreign(
        "POST",
        "/api/v1/executions",
        lambda i: Call("/api/v1/executions", json={"workflowId": i["workflow"]}),
    ),
    Foreign("GET", "/api/v1/executions", at("/api/v1/executions?workflowId={workflow}")),
    Foreign("GET", RUN, at(B_RUN)),
    Foreign("GET", RUN + "/stream", at(B_RUN + "/stream")),
    Foreign("POST", RUN + "/cancel", at(B_RUN + "/cancel")),
    Foreign("POST", RUN + "/retry", at(B_RUN + "/retry")),
    Foreign("POST", RUN + "/rerun", at(B_RUN + "/rerun", json=RERUN)),
    Foreign("DELETE", RUN, at(B_RUN)),
    Foreign(
        "POST",
        "/api/v1/expressions/preview",
        lambda i: Call(
            "/api/v1/expressions/preview",
            json={"expression": "{{ trigger }}", "executionId": i["run"], "nodeId": "greet"},
        ),
    ),
    Foreign("GET", "/api/v1/credentials/{credential_id}", at("/api/v1/credentials/{credential}")),
    Foreign(
        "DELETE", "/api/v1/credentials/{credential_id}", at("/api/v1/credentials/{credential}")
    ),
    Foreign(
        "POST", "/api/v1/api-keys/{key_id}/rotate", at("/api/v1/api-keys/{key}/rotate", json={})
    ),
    Foreign("DELETE", "/api/v1/api-keys/{key_id}", at("/api/v1/api-keys/{key}")),
    Foreign("GET", ORG, at(B_ORG)),
    Foreign("PATCH", ORG, at(B_ORG, json={"name": "Taken"})),
    Foreign("GET", ORG + "/members", at(B_ORG + "/members")),
    Foreign(
        "POST",
        ORG + "/members",
        at(B_ORG + "/members", json={"email": "x@a.example", "role": "owner"}),
    ),
    Foreign(
        "PATCH", ORG + "/members/{user_id}", at(B_ORG + "/members/{member}", json={"role": "owner"})
    ),
    Foreign("DELETE", ORG + "/members/{user_id}", at(B_ORG + "/members/{member}")),
    # B's member in A's organisation
    Foreign(
        "PATCH",
        ORG + "/members/{user_id}",
        at(f"/api/v1/orgs/{DEFAULT_ORG}/members/{{member}}", json={"role": "viewer"}),
    ),
    Foreign(
        "DELETE", ORG + "/members/{user_id}", at(f"/api/v1/orgs/{DEFAULT_ORG}/members/{{member}}")
    ),
    Foreign(
        "DELETE", "/api/v1/auth/me/accounts/{account}", at("/api/v1/auth/me/accounts/{account}")
    ),
)
# Routes with path parameters that name no resource of an organisation.
NOT_FOREIGN = {
    ("GET", HOOKS),  # a webhook's path: public, whoever's workflow listens on it
    *((m, HOOKS) for m in ("HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")),
    # content-addressed by SHA-256 and shared by every organisation: knowing the id means
    # knowing the content
    ("GET", "/api/v1/blobs/{blob_id}"),
    # stores a credential of this id in the caller's own organisation: checked apart
    ("PUT", "/api/v1/credentials/{credential_id}"),
}


def _twin(value: str) -> str:
    """An id of the same length that names nothing."""
    return "0" * len(value)


def _same_404(
    foreign: Foreign, got: httpx.Response, missing: httpx.Response, ids: Ids
) -> str | None:
    """What tells the answer on another organisation's ids from the one on ids that do not
    exist, if anything."""
    try:
        error = assert_error(got, 404, "NOT_FOUND")
        expected = assert_error(missing, 404, "NOT_FOUND")
        text = repr((error["message"], error["details"]))
        for value in sorted(ids.values(), key=len, reverse=True):
            text = text.replace(value, _twin(value))
        assert text == repr((expected["message"], expected["details"])), "leaks"
    except AssertionError as exc:
        reason = (str(exc).splitlines() or ["AssertionError"])[0][:60]
        return f"{foreign.method} {foreign.route}: {got.status_code} {got.text[:200]} ({reason})"
    return None


async def test_another_organisations_ids_are_404_on_every_route(
    database_url: str, tmp_path: Path
) -> None:
    """Signed in to A as an owner (by session, with or without naming A in X-FlowForge-Org,
    or by a user's or a service API key), every id of organisation B answers exactly as an id
    that does not exist; nothing of B is listed, and nothing of B changes."""
    async with world_of(database_url, tmp_path) as world:
        server = world.server
        auth = server.auth
        directory = auth.directory
        # organisation B: an owner, a viewer, a workflow, a run, a credential, an API key
        owner_b = directory.create_user("owner@beta.example", "Owner B")
        org_b = directory.create_org("Beta", "pro", owner=owner_b.id).id
        member_b = directory.create_user("viewer@beta.example", "Viewer B")
        directory.add_member(org_b, member_b.id, "viewer")
        account_b = world.new_account(owner_b)
        admin_b = auth.api_keys.create(
            subject=SERVICE_SUBJECT, scopes=["*"], org=org_b, role="owner", name="b"
        )
        as_b = {"Authorization": f"Bearer {admin_b.key}"}
        key_b = auth.api_keys.create(
            subject=owner_b.id, scopes=["*"], org=org_b, role="owner", name="owner b"
        )

        async def in_b(method: str, url: str, **kwargs: Any) -> httpx.Response:
            response = await world.client.request(method, url, headers=as_b, **kwargs)
            assert response.status_code < 300, response.text
            return response

        wf_b = (await in_b("POST", "/api/v1/workflows", json={**HELLO, "name": "beta-flow"})).json()
        run_b = (
            await in_b(
                "POST",
                "/api/v1/executions?wait=10",
                json={"workflowId": wf_b["id"], "input": {"name": "Bea"}},
            )
        ).json()
        credential_b = (
            await in_b("PUT", "/api/v1/credentials/beta-cred", json=_HTTP_SECRET)
        ).json()
        ids: Ids = {
            "workflow": wf_b["id"],
            "name": wf_b["name"],
            "run": run_b["id"],
            "credential": credential_b["id"],
            "key": key_b.record.key_id,
            "org": org_b,
            "member": member_b.id,
            "account": account_b,
        }
        twins = {k: _twin(v) for k, v in ids.items()}

        # organisation A's owner, three ways
        owner_a = await world.new_member("owner")
        session = auth.start_session(owner_a, DEFAULT_ORG).tokens.access_token
        user_key = auth.api_keys.create(
            subject=owner_a.id, scopes=["*"], org=DEFAULT_ORG, role="owner", name="a"
        ).key
        signed_in = {
            "session": {"Authorization": f"Bearer {session}"},
            # the path names B, the header A: the path decides, as for anyone else
            "session naming A": {
                "Authorization": f"Bearer {session}",
                "X-FlowForge-Org": DEFAULT_ORG,
            },
            "user key": {"Authorization": f"Bearer {user_key}"},
            "service key": world.setup,
        }

        covered = {(f.method, f.route) for f in FOREIGN}
        with_ids = {(c.method, c.route) for c in TABLE if "{" in c.route}
        assert sorted(with_ids - covered - NOT_FOREIGN) == [], "routes not tried with B's ids"
        assert covered <= {(c.method, c.route) for c in TABLE}  # two by body or query

        problems = []
        for how, headers in signed_in.items():
            for foreign in FOREIGN:
                if how == "service key" and "/auth/me/" in foreign.route:
                    continue  # a service key has no account of its own (403 either way)
                answers = []
                for values in (ids, twins):
                    call = foreign.make(values)
                    answers.append(
                        await world.client.request(
                            foreign.method, call.url, json=call.json, headers=headers
                        )
                    )
                found = _same_404(foreign, *answers, ids)
                if found:
                    problems.append(f"{how}: {found}")
            # naming B in the header is as good as naming an organisation that does not exist
            refused = [
                await world.client.get(
                    "/api/v1/workflows", headers={**headers, "X-FlowForge-Org": org}
                )
                for org in (org_b, _twin(org_b))
            ]
            first, second = (assert_error(r, 403, "FORBIDDEN") for r in refused)
            assert first["message"] == second["message"]
        assert not problems, "\n".join(problems)

        # nothing of B in A's lists
        owner_a_headers = signed_in["session"]
        for url in (
            "/api/v1/workflows",
            "/api/v1/executions",
            "/api/v1/credentials",
            "/api/v1/api-keys?all=true",
            "/api/v1/orgs",
            f"/api/v1/orgs/{DEFAULT_ORG}/members",
            "/api/v1/audit?limit=200",
            "/api/v1/auth/me/accounts",
        ):
            listed = await world.client.get(url, headers=owner_a_headers)
            assert listed.status_code == 200, listed.text
            assert not [k for k, v in ids.items() if v in listed.text], url

        # a credential of the same id is A's own: made anew, B's stays as it was
        same_id = await world.client.put(
            f"/api/v1/credentials/{ids['credential']}", json=_HTTP_SECRET, headers=owner_a_headers
        )
        assert same_id.status_code == 201, same_id.text
        assert (await in_b("GET", "/api/v1/credentials/beta-cred")).json() == credential_b

        # and nothing of B changed
        after = (await in_b("GET", f"/api/v1/workflows/{ids['workflow']}")).json()
        assert (after["version"], after["name"], after["active"]) == (1, "beta-flow", False)
        assert (await in_b("GET", f"/api/v1/workflows/{ids['workflow']}/shares")).json() == []
        run_after = (await in_b("GET", f"/api/v1/executions/{ids['run']}")).json()
        assert run_after["status"] == "COMPLETED"
        assert (await in_b("GET", f"/api/v1/orgs/{org_b}")).json()["name"] == "Beta"
        members = (await in_b("GET", f"/api/v1/orgs/{org_b}/members")).json()
        assert sorted((m["email"], m["role"]) for m in members) == [
            ("owner@beta.example", "owner"),
            ("viewer@beta.example", "viewer"),
        ]
        me = await world.client.get(
            "/api/v1/auth/me", headers={"Authorization": f"Bearer {key_b.key}"}
        )
        assert me.status_code == 200 and me.json()["orgId"] == org_b  # not rotated, not revoked
        assert directory.accounts_of(owner_b.id)[0]["account"] == account_b
