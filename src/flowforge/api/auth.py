"""``/api/v1/auth``: signing in (password, signature, invite), refreshing and ending sessions,
the caller's own account and sign-in keys; ``/.well-known/jwks.json``.

Sign-in attempts are limited per client address (``login_limit``), on top of each account's
lock-out after repeated wrong passwords.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Path, Request, Response
from starlette.requests import HTTPConnection

from flowforge.api._auth import CallerDep, client_address, guard, limit
from flowforge.api._deps import ServerDep
from flowforge.api._errors import ApiError
from flowforge.api._schemas import (
    AcceptInvite,
    AccountIn,
    AccountOut,
    ChallengeOut,
    ChallengeRequest,
    LoginRequest,
    MeOut,
    OrgOut,
    PasswordChange,
    RefreshRequest,
    SignatureLogin,
    TokenOut,
    UserOut,
)
from flowforge.api.audit import record
from flowforge.security.auth import SignedIn, Unauthenticated
from flowforge.security.passwords import check_password_policy, hash_password
from flowforge.security.ratelimit import Plan
from flowforge.security.rbac import ROLE_PERMISSIONS, Caller, Forbidden, Role
from flowforge.server import LOGIN_GROUP, Server
from flowforge.store import NotFound

__all__ = ["router", "well_known"]

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
well_known = APIRouter(tags=["auth"])

_PUBLIC: dict[str, Any] = {
    "openapi_extra": {"x-permission": "public"},
    "responses": {
        401: {"description": "Wrong credentials, or a token that is not (or no longer) valid"},
        429: {"description": "Too many sign-in attempts from this address, or a locked account"},
    },
}


async def _count_attempt(request: HTTPConnection, server: Server) -> None:
    await limit(request, server, f"ip:{client_address(request)}", LOGIN_GROUP, Plan.FREE)


def _tokens(signed: SignedIn) -> TokenOut:
    return TokenOut.of(signed.tokens, signed.org_id, datetime.now(UTC))


def _user_caller(user_id: str, org_id: str | None) -> Caller:
    """The caller to record a sign-in or sign-out under (the log does not show roles)."""
    return Caller(org_id=org_id or "", role=Role.VIEWER, user_id=user_id)


@router.post("/login", summary="Sign in with an e-mail address and a password", **_PUBLIC)
async def login(server: ServerDep, request: Request, body: LoginRequest) -> TokenOut:
    """Starts a session in ``org`` (default: the first organisation you joined). Five wrong
    passwords in 15 minutes lock the account for 15 minutes, then longer (429)."""
    await _count_attempt(request, server)
    try:
        signed = await asyncio.to_thread(
            server.auth.password_login, body.email, body.password, body.org
        )
    except Unauthenticated:
        # recorded after the answer: its time must not tell known addresses from unknown ones
        server.spawn(_record_failure(server, request, body.email))
        raise
    await record(
        request, _user_caller(signed.user_id, signed.org_id), "auth.login", "user", signed.user_id
    )
    return _tokens(signed)


async def _record_failure(server: Server, request: Request, email: str) -> None:
    """A failed sign-in, in the audit log of each organisation of the address's user."""
    user = await asyncio.to_thread(server.auth.directory.user_by_email, email)
    if user is None:
        return
    for org, _ in await asyncio.to_thread(server.auth.directory.orgs_of, user.id):
        await record(request, None, "auth.login_failed", "user", user.id, org_id=org.id)


@router.post("/challenge", summary="Ask for a sign-in challenge to sign with your key", **_PUBLIC)
async def challenge(server: ServerDep, request: Request, body: ChallengeRequest) -> ChallengeOut:
    """An Ethereum address gets a Sign-In with Ethereum message (sign it with
    ``personal_sign``); a P-256 or secp256k1 key a message of the same layout to sign with
    ECDSA over SHA-256. It can be used once, within five minutes."""
    await _count_attempt(request, server)
    try:
        issued = await asyncio.to_thread(server.auth.challenge, body.account)
    except ValueError as exc:
        reason = str(exc)
        raise ApiError(
            422, f"account: {reason}", details=[{"field": "body.account", "message": reason}]
        ) from None
    return ChallengeOut(
        kind=issued.kind,
        account=issued.account,
        message=issued.message,
        nonce=issued.nonce,
        expires_at=issued.expires_at,
    )


@router.post("/signature", summary="Sign in with a signed challenge", **_PUBLIC)
async def signature_login(server: ServerDep, request: Request, body: SignatureLogin) -> TokenOut:
    """Send the challenge's message and your signature of it (hex): 65 bytes for SIWE, DER
    or raw ``r || s`` for ECDSA."""
    await _count_attempt(request, server)
    signed = await asyncio.to_thread(
        server.auth.signature_login, body.account, body.message, body.signature, body.org
    )
    await record(
        request,
        _user_caller(signed.user_id, signed.org_id),
        "auth.login",
        "user",
        signed.user_id,
        method="signature",
    )
    return _tokens(signed)


@router.post("/refresh", summary="Exchange a refresh token for new tokens", **_PUBLIC)
async def refresh(server: ServerDep, request: Request, body: RefreshRequest) -> TokenOut:
    """Each refresh token works once; presenting one a second time ends its session (it was
    copied). Not limited per address as sign-ins are: a refresh token is a 256-bit secret,
    and many users behind one proxy refresh often."""
    signed = await asyncio.to_thread(server.auth.refresh, body.refresh_token)
    return _tokens(signed)


@router.post("/logout", status_code=204, summary="End a session", **_PUBLIC)
async def logout(server: ServerDep, request: Request, body: RefreshRequest) -> Response:
    """Revokes the session of the refresh token: it and every token refreshed from it stop
    working (access tokens already issued lapse within their 15 minutes)."""
    user_id = await asyncio.to_thread(server.auth.logout, body.refresh_token)
    if user_id is not None:
        for org, _ in await asyncio.to_thread(server.auth.directory.orgs_of, user_id):
            await record(request, _user_caller(user_id, org.id), "auth.logout", "user", user_id)
    return Response(status_code=204)


@router.post(
    "/accept",
    summary="Use an invite or the setup token: choose a password and sign in",
    **_PUBLIC,
)
async def accept(server: ServerDep, request: Request, body: AcceptInvite) -> TokenOut:
    """The first start of a server prints a setup token for its owner; an admin who adds a
    member gets an invite token for them. Either works once."""
    await _count_attempt(request, server)
    signed = await asyncio.to_thread(
        server.auth.accept_invite, body.token, body.password, email=body.email, name=body.name
    )
    await record(
        request,
        _user_caller(signed.user_id, signed.org_id),
        "auth.invite_accepted",
        "user",
        signed.user_id,
    )
    return _tokens(signed)


@router.get("/me", summary="Who you are signed in as", **guard(None))
async def me(server: ServerDep, caller: CallerDep) -> MeOut:
    """Your user (none for a service key), the organisation and role of this request, and
    every organisation you belong to."""
    directory = server.auth.directory
    if caller.user_id is None:
        org = await asyncio.to_thread(directory.get_org, caller.org_id)
        return MeOut(
            user=None,
            org_id=caller.org_id,
            role=caller.role,
            role_permissions=sorted(ROLE_PERMISSIONS[caller.role]),
            key_id=caller.key_id,
            scopes=sorted(caller.scopes),
            orgs=[OrgOut.of(org, caller.role)],
        )
    user = await asyncio.to_thread(directory.get_user, caller.user_id)
    orgs = await asyncio.to_thread(directory.orgs_of, caller.user_id)
    return MeOut(
        user=UserOut.of(user),
        org_id=caller.org_id,
        role=caller.role,
        role_permissions=sorted(ROLE_PERMISSIONS[caller.role]),
        key_id=caller.key_id,
        scopes=sorted(caller.scopes),
        orgs=[OrgOut.of(org, role) for org, role in orgs],
    )


def _user_of(caller: Caller) -> str:
    if caller.user_id is None:
        raise Forbidden("a service API key has no user account")
    return caller.user_id


@router.put(
    "/me/password", status_code=204, summary="Change your password", **guard("account:write")
)
async def change_password(
    server: ServerDep, caller: CallerDep, request: Request, body: PasswordChange
) -> Response:
    """Give the current password (a wrong one counts towards the lock-out) and the new one
    (8 to 1,024 characters). Every session of yours ends, this one included: sign in again
    with the new password (access tokens already issued lapse within their 15 minutes)."""
    user_id = _user_of(caller)
    auth = server.auth
    user = await asyncio.to_thread(auth.directory.get_user, user_id)
    check_password_policy(body.new_password)
    outcome = await asyncio.to_thread(
        auth.passwords.check, user.email, body.current_password, user.password_hash
    )
    if not outcome.ok:
        raise Forbidden("the current password is wrong")
    new_hash = await asyncio.to_thread(hash_password, body.new_password)
    await asyncio.to_thread(auth.directory.set_password, user_id, new_hash)
    await asyncio.to_thread(auth.sessions.logout_everywhere, user_id)
    await record(request, caller, "user.password_changed", "user", user_id)
    return Response(status_code=204)


@router.get("/me/accounts", summary="Your sign-in keys", **guard(None))
async def list_accounts(server: ServerDep, caller: CallerDep) -> list[AccountOut]:
    rows = await asyncio.to_thread(server.auth.directory.accounts_of, _user_of(caller))
    return [AccountOut(**row) for row in rows]


@router.post(
    "/me/accounts",
    status_code=201,
    summary="Register a key to sign in with",
    **guard("account:write"),
)
async def add_account(
    server: ServerDep, caller: CallerDep, request: Request, body: AccountIn
) -> AccountOut:
    """An Ethereum address, or a P-256 or secp256k1 public key (hex or PEM), proven yours by
    signing a challenge for it (``/challenge``). From then on, ``/challenge`` and
    ``/signature`` sign you in with it."""
    user_id = _user_of(caller)
    canonical = await asyncio.to_thread(
        server.auth.register_account,
        user_id,
        body.account,
        body.label,
        body.message,
        body.signature,
    )
    await record(request, caller, "user.key_added", "user", user_id, account=canonical)
    rows = await asyncio.to_thread(server.auth.directory.accounts_of, user_id)
    return next(AccountOut(**row) for row in rows if row["account"] == canonical)


@router.delete(
    "/me/accounts/{account}",
    status_code=204,
    summary="Remove a sign-in key",
    **guard("account:write"),
)
async def remove_account(
    server: ServerDep,
    caller: CallerDep,
    request: Request,
    account: str = Path(max_length=200),
) -> Response:
    user_id = _user_of(caller)
    if not await asyncio.to_thread(server.auth.directory.remove_account, user_id, account):
        raise NotFound(f"no sign-in key {account!r}")
    await record(request, caller, "user.key_removed", "user", user_id, account=account)
    return Response(status_code=204)


@well_known.get("/.well-known/jwks.json", summary="The public keys of access tokens", **_PUBLIC)
async def jwks(server: ServerDep) -> dict[str, Any]:
    """For other services that verify FlowForge's access tokens (EdDSA, by ``kid``)."""
    return server.auth.sessions.keys.jwks()
