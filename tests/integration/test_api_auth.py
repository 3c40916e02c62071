"""Identity and access over HTTP, on the real server and database: the first owner's setup and
the admin key, password sign-in with its lock-out and rate limit, sessions (refresh, reuse,
logout, password change), hostile access tokens, signature sign-in (SIWE and P-256), members and
organisations, API keys, --insecure-no-auth, and the security and CORS headers."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hmac
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from api_support import assert_error, running, workflow
from cachetools import TTLCache
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from flowforge.security.apikeys import generate_api_key, parse_api_key
from flowforge.security.auth import AUDIENCE
from flowforge.security.signatures import SignInMessage
from flowforge.security.tokens import SigningKey
from flowforge.server import Server

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

# Sign-in routes share one limit per client address, and every request here comes from the
# same one: tests that are not about that limit lift it.
FAST: dict[str, Any] = {"login_limit": "10000/minute", "load_examples": False}
OWNER_PASSWORD = "owner password 1"
PASSWORD = "member password 1"
WRONG = "not the password"
HELLO = workflow("hello", {"id": "start", "type": "flow.start"})


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


async def set_up_owner(
    client: httpx.AsyncClient, server: Server, email: str = "olive@example.com"
) -> dict[str, Any]:
    """The first owner chooses an address and a password with the setup token: their
    session."""
    token = await asyncio.to_thread(server.auth.setup_token)
    assert token is not None
    answer = await client.post(
        "/api/v1/auth/accept",
        json={"token": token, "password": OWNER_PASSWORD, "email": email, "name": "Olive"},
    )
    assert answer.status_code == 200, answer.text
    session: dict[str, Any] = answer.json()
    return session


async def add_member(
    client: httpx.AsyncClient,
    owner: dict[str, str],
    email: str,
    role: str,
    org: str = "default",
) -> tuple[str, dict[str, Any]]:
    """Adds a new user to ``org``, who accepts the invite: their id and first session."""
    added = await client.post(
        f"/api/v1/orgs/{org}/members", json={"email": email, "role": role}, headers=owner
    )
    assert added.status_code == 201, added.text
    invite = added.json()["inviteToken"]
    assert invite
    accepted = await client.post(
        "/api/v1/auth/accept", json={"token": invite, "password": PASSWORD}
    )
    assert accepted.status_code == 200, accepted.text
    return added.json()["userId"], accepted.json()


async def login(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD, **extra: str
) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/login", json={"email": email, "password": password, **extra}
    )


async def me(client: httpx.AsyncClient, credential: str, **headers: str) -> httpx.Response:
    return await client.get("/api/v1/auth/me", headers={**bearer(credential), **headers})


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/api/v1/auth/refresh", json={"refreshToken": token})


def assert_invalid_token(response: httpx.Response, *secrets: str) -> dict[str, Any]:
    """A 401 for a credential that proves nobody, that tells the client so and repeats none of
    ``secrets``."""
    error = assert_error(response, 401, "UNAUTHORIZED")
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    for secret in secrets:
        assert secret not in response.text
    return error


# -- the first owner, the admin key


async def test_the_setup_token_makes_the_first_owner_once(
    database_url: str, tmp_path: Path
) -> None:
    async with running(database_url, tmp_path, signed_in=False, **FAST) as (client, server):
        anonymous = await client.get("/api/v1/auth/me")
        assert_error(anonymous, 401, "UNAUTHORIZED")
        # No credential sent: the challenge names the scheme but no invalid token.
        assert anonymous.headers["www-authenticate"] == 'Bearer realm="flowforge"'

        token = await asyncio.to_thread(server.auth.setup_token)
        assert token is not None
        short = await client.post("/api/v1/auth/accept", json={"token": token, "password": "short"})
        assert_error(short, 422, "VALIDATION_ERROR")  # the token is not spent on a bad password
        await asyncio.to_thread(server.auth.directory.create_user, "taken@example.com", "Taken")
        taken = await client.post(
            "/api/v1/auth/accept",
            json={"token": token, "password": OWNER_PASSWORD, "email": "TAKEN@example.com"},
        )
        assert assert_error(taken, 409, "CONFLICT")["details"][0]["field"] == "email"
        # nor on an address somebody has: the owner can still accept with another one
        accepted = await client.post(
            "/api/v1/auth/accept",
            json={
                "token": token,
                "password": OWNER_PASSWORD,
                "email": "Olive@Example.com",
                "name": "Olive",
            },
        )
        assert accepted.status_code == 200, accepted.text
        session = accepted.json()
        assert session["tokenType"] == "Bearer" and session["orgId"] == "default"
        assert 850 <= session["expiresIn"] <= 900
        assert session["refreshToken"].startswith("ffr_")
        assert accepted.headers["cache-control"] == "no-store"

        who = (await me(client, session["accessToken"])).json()
        assert who["user"]["email"] == "olive@example.com" and who["user"]["name"] == "Olive"
        assert (who["orgId"], who["role"], who["keyId"]) == ("default", "owner", None)
        assert [(o["id"], o["role"]) for o in who["orgs"]] == [("default", "owner")]

        again = await client.post(
            "/api/v1/auth/accept", json={"token": token, "password": "another password"}
        )
        assert_error(again, 401, "UNAUTHORIZED")
        assert await asyncio.to_thread(server.auth.setup_token) is None
        assert (await login(client, "olive@example.com", OWNER_PASSWORD)).status_code == 200
        assert_error(
            await login(client, "olive@example.com", "another password"), 401, "UNAUTHORIZED"
        )


async def test_an_admin_api_key_replaces_the_setup_token_and_stays_revoked(
    database_url: str, tmp_path: Path
) -> None:
    key = generate_api_key()
    key_id = parse_api_key(key).key_id
    async with running(database_url, tmp_path, signed_in=False, admin_api_key=key, **FAST) as (
        client,
        server,
    ):
        assert await asyncio.to_thread(server.auth.setup_token) is None
        who = await me(client, key)
        assert who.status_code == 200, who.text
        body = who.json()
        assert (body["user"], body["orgId"], body["role"], body["keyId"]) == (
            None,
            "default",
            "owner",
            key_id,
        )
        assert body["scopes"] == ["*"]
        # An owner of "default" in deed, not only in name.
        created = await client.post("/api/v1/workflows", json=HELLO, headers=bearer(key))
        assert created.status_code == 201, created.text
        listed = (await client.get("/api/v1/api-keys?all=true", headers=bearer(key))).json()
        assert [(k["id"], k["name"]) for k in listed] == [(key_id, "FLOWFORGE_ADMIN_API_KEY")]

        revoked = await client.delete(f"/api/v1/api-keys/{key_id}", headers=bearer(key))
        assert revoked.status_code == 204, revoked.text
        assert "revoked" in assert_invalid_token(await me(client, key), key)["message"]

    # The next start finds the same key configured: it does not bring it back to life.
    async with running(database_url, tmp_path, signed_in=False, admin_api_key=key, **FAST) as (
        client,
        server,
    ):
        assert "revoked" in assert_invalid_token(await me(client, key), key)["message"]
        assert await asyncio.to_thread(server.auth.setup_token) is None


# -- password sign-in and sessions


async def test_password_sign_in_refresh_rotation_reuse_and_logout(
    database_url: str, tmp_path: Path
) -> None:
    async with running(database_url, tmp_path, signed_in=False, **FAST) as (client, server):
        owner = await set_up_owner(client, server)
        user_id, _ = await add_member(
            client, bearer(owner["accessToken"]), "Eve@Example.com", "editor"
        )

        wrong = await login(client, "eve@example.com", WRONG)
        unknown = await login(client, "nobody@example.com", WRONG)
        for refused in (wrong, unknown):
            assert_error(refused, 401, "UNAUTHORIZED")
            assert refused.headers["cache-control"] == "no-store"
        # The same answer: nobody learns which addresses have an account.
        assert wrong.json()["error"]["message"] == unknown.json()["error"]["message"]
        assert wrong.json()["error"]["message"] == "wrong e-mail address or password"

        signed = await login(client, "EVE@example.com", PASSWORD)  # addresses ignore case
        assert signed.status_code == 200, signed.text
        first = signed.json()
        who = (await me(client, first["accessToken"])).json()
        assert who["user"]["id"] == user_id and who["role"] == "editor"
        assert who["user"]["email"] == "eve@example.com"

        # Each refresh gives new tokens; the old refresh token is used up.
        rotated = await refresh(client, first["refreshToken"])
        assert rotated.status_code == 200, rotated.text
        second = rotated.json()
        assert second["refreshToken"] != first["refreshToken"]
        assert second["accessToken"] != first["accessToken"]
        assert (await me(client, second["accessToken"])).json()["user"]["id"] == user_id
        third = (await refresh(client, second["refreshToken"])).json()

        # Presenting a used refresh token again means it was copied: the session ends, so the
        # newest refresh token (the thief's or the owner's) stops working too.
        reused = await refresh(client, first["refreshToken"])
        assert "used twice" in assert_error(reused, 401, "UNAUTHORIZED")["message"]
        assert_error(await refresh(client, third["refreshToken"]), 401, "UNAUTHORIZED")
        assert_error(await refresh(client, "ffr_" + "x" * 43), 401, "UNAUTHORIZED")
        assert_error(await refresh(client, "not a refresh token"), 401, "UNAUTHORIZED")

        # Logout ends the session; another session of the same user lives on.
        other = (await login(client, "eve@example.com")).json()
        session = (await login(client, "eve@example.com")).json()
        out = await client.post(
            "/api/v1/auth/logout", json={"refreshToken": session["refreshToken"]}
        )
        assert out.status_code == 204, out.text
        assert (
            "revoked"
            in assert_error(await refresh(client, session["refreshToken"]), 401, "UNAUTHORIZED")[
                "message"
            ]
        )
        assert (await refresh(client, other["refreshToken"])).status_code == 200
        # Access tokens are checked without a lookup: the one issued lapses on its own.
        assert (await me(client, session["accessToken"])).status_code == 200


async def test_wrong_passwords_lock_the_account_even_against_the_right_one(
    database_url: str, tmp_path: Path
) -> None:
    async with running(database_url, tmp_path, signed_in=False, **FAST) as (client, server):
        owner = await set_up_owner(client, server)
        _, session = await add_member(
            client, bearer(owner["accessToken"]), "mallory@example.com", "viewer"
        )
        for _ in range(3):
            assert_error(await login(client, "mallory@example.com", WRONG), 401, "UNAUTHORIZED")
        # A wrong current password when changing it counts as a failed sign-in too.
        guessed = await client.put(
            "/api/v1/auth/me/password",
            json={"currentPassword": WRONG, "newPassword": "anything at all"},
            headers=bearer(session["accessToken"]),
        )
        assert_error(guessed, 403, "FORBIDDEN")
        fifth = await login(client, "mallory@example.com", WRONG)
        assert_error(fifth, 429, "ACCOUNT_LOCKED")
        assert 840 <= int(fifth.headers["retry-after"]) <= 900  # the first lock: 15 minutes

        right = await login(client, "mallory@example.com", PASSWORD)
        error = assert_error(right, 429, "ACCOUNT_LOCKED")
        assert "too many failed sign-ins" in error["message"]
        assert int(right.headers["retry-after"]) > 0
        assert "accessToken" not in right.text
        # The lock is the account's: another one signs in from the same address.
        assert (await login(client, "olive@example.com", OWNER_PASSWORD)).status_code == 200


async def test_sign_in_attempts_are_limited_per_client_address(
    database_url: str, tmp_path: Path
) -> None:
    async with running(
        database_url, tmp_path, signed_in=False, login_limit="3/minute", load_examples=False
    ) as (client, server):
        service = await asyncio.to_thread(
            server.auth.api_keys.create,
            subject="service",
            scopes=["*"],
            org="default",
            role="owner",
            name="tests",
        )
        for remaining in (2, 1, 0):
            attempt = await login(client, "nobody@example.com", WRONG)
            assert_error(attempt, 401, "UNAUTHORIZED")
            assert attempt.headers["ratelimit-limit"] == "3"
            assert attempt.headers["ratelimit-remaining"] == str(remaining)
            assert attempt.headers["ratelimit-policy"] == "3;w=60"

        refused = await login(client, "nobody@example.com", WRONG)
        error = assert_error(refused, 429, "RATE_LIMITED")
        assert "login" in error["message"]
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        for name in ("retry-after", "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"):
            assert len(refused.headers.get_list(name)) == 1, name  # once, not "60, 60"
        assert refused.headers["ratelimit-limit"] == "3"
        assert refused.headers["ratelimit-remaining"] == "0"
        assert 1 <= int(refused.headers["ratelimit-reset"]) <= 60
        # Every sign-in route counts in the same group, before looking at what was sent...
        challenge = await client.post("/api/v1/auth/challenge", json={"account": "0x" + "ab" * 20})
        assert_error(challenge, 429, "RATE_LIMITED")
        # ...but a refresh is no sign-in: its token is a 256-bit secret, not a guess.
        assert_error(await refresh(client, "ffr_" + "x" * 43), 401, "UNAUTHORIZED")
        # Signed-in requests are counted apart, per credential.
        assert (await me(client, service.key)).status_code == 200


# -- hostile access tokens


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def forge(header: dict[str, Any], payload: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
    """A JWT built by hand, so nothing a library refuses to make is out of reach."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    return f"{signing_input}.{_b64(sign(signing_input.encode()))}"


async def test_hostile_access_tokens_are_refused_without_leaking(
    database_url: str, tmp_path: Path
) -> None:
    async with running(database_url, tmp_path, signed_in=False, **FAST) as (client, server):
        owner = await set_up_owner(client, server)
        jwks = (await client.get("/.well-known/jwks.json")).json()
        assert len(jwks["keys"]) == 1
        published = jwks["keys"][0]
        assert (published["kty"], published["crv"], published["alg"]) == ("OKP", "Ed25519", "EdDSA")
        assert "d" not in published  # the public half only
        kid = published["kid"]
        public_raw = _unb64(published["x"])
        public_pem = ed25519.Ed25519PublicKey.from_public_bytes(public_raw).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        # The server's own key signs the forgeries that differ from a real token in one claim
        # or header only, so that one difference is what gets them refused.
        server_key = server.auth.sessions.keys.current
        assert server_key.kid == kid
        assert isinstance(server_key.private_key, ed25519.Ed25519PrivateKey)
        sign = server_key.private_key.sign
        claims = (await me(client, owner["accessToken"])).json()
        now = int(time.time())

        def payload(**changes: Any) -> dict[str, Any]:
            good = {
                "iss": server.auth.issuer,
                "aud": AUDIENCE,
                "sub": claims["user"]["id"],
                "iat": now,
                "nbf": now,
                "exp": now + 600,
                "jti": "forged",
                "typ": "access",
                "org": "default",
                "role": "owner",
                "scopes": ["*"],
            }
            return {**good, **changes}

        header = {"alg": "EdDSA", "kid": kid, "typ": "at+jwt"}
        control = forge(header, payload(), sign)
        head, _, signature = control.split(".")
        assert (await me(client, control)).json()["role"] == "owner"  # the forger is sound

        impostor = ed25519.Ed25519PrivateKey.generate()
        stranger = SigningKey.generate()  # a key the server never held
        assert isinstance(stranger.private_key, ed25519.Ed25519PrivateKey)
        stranger_sign = stranger.private_key.sign
        hostile: dict[str, tuple[str, str]] = {  # name: (token, why it is refused)
            "alg none": (
                forge({**header, "alg": "none"}, payload(), lambda _: b""),
                "algorithm 'none' is not the algorithm of this key",
            ),
            "alg none, no kid": (
                forge({"alg": "none", "typ": "at+jwt"}, payload(), lambda _: b""),
                "no key id",
            ),
            "HS256 with the public PEM": (
                forge(
                    {**header, "alg": "HS256"},
                    payload(),
                    lambda data: hmac.new(public_pem, data, "sha256").digest(),
                ),
                "algorithm 'HS256' is not the algorithm of this key",
            ),
            "HS256 with the raw public key": (
                forge(
                    {**header, "alg": "HS256"},
                    payload(),
                    lambda data: hmac.new(public_raw, data, "sha256").digest(),
                ),
                "algorithm 'HS256' is not the algorithm of this key",
            ),
            "unknown kid": (
                forge({**header, "kid": stranger.kid}, payload(), stranger_sign),
                "unknown key id",
            ),
            "jku": (
                forge({**header, "jku": "https://attacker.example/jwks.json"}, payload(), sign),
                "header jku refused",
            ),
            "x5u": (
                forge({**header, "x5u": "https://attacker.example/cert.pem"}, payload(), sign),
                "header x5u refused",
            ),
            "expired": (
                forge(header, payload(iat=now - 4000, nbf=now - 4000, exp=now - 3100), sign),
                "expired",
            ),
            "nbf in the future": (forge(header, payload(nbf=now + 3600), sign), "not yet valid"),
            "iat in the future": (
                forge(header, payload(iat=now + 3600, nbf=now + 3600), sign),
                "not yet valid",
            ),
            "wrong audience": (forge(header, payload(aud="another-api"), sign), "Audience"),
            "wrong issuer": (
                forge(header, payload(iss="https://attacker.example"), sign),
                "issuer",
            ),
            "another key under our kid": (
                forge(header, payload(), impostor.sign),
                "Signature verification failed",
            ),
            "tampered payload": (
                ".".join([head, _b64(json.dumps(payload(sub="usr_other")).encode()), signature]),
                "Signature verification failed",
            ),
            "garbage": ("this.is.not-a-token", "malformed token"),
            "over-long header": (
                forge({**header, "pad": "A" * 9000}, payload(), sign),
                "not a token of a plausible size",
            ),
        }
        for name, (token, reason) in hostile.items():
            answer = await me(client, token)
            error = assert_invalid_token(answer, token, token.split(".")[0][:40])
            assert reason in error["message"], (name, error["message"])
            assert len(error["message"]) < 200, name
            # Nor does another route let it through.
            listed = await client.get("/api/v1/workflows", headers=bearer(token))
            assert listed.status_code == 401, name
        # The server's key set took in none of it.
        assert (await client.get("/.well-known/jwks.json")).json() == jwks


# -- signature sign-in


def new_wallet() -> LocalAccount:
    # Imported here, after flowforge.security.signatures has imported it: importing
    # eth-account first would raise the recursion limit of the whole test process.
    from eth_account import Account

    account: LocalAccount = Account.create()
    return account


def siwe_sign(wallet: LocalAccount, text: str) -> str:
    from eth_account.messages import encode_defunct

    return "0x" + bytes(wallet.sign_message(encode_defunct(text=text)).signature).hex()


def p256_sign(key: ec.EllipticCurvePrivateKey, text: str, *, raw: bool = False) -> str:
    der = key.sign(text.encode(), ec.ECDSA(hashes.SHA256()))
    if not raw:
        return der.hex()
    r, s = decode_dss_signature(der)
    return (r.to_bytes(32, "big") + s.to_bytes(32, "big")).hex()


def p256_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


async def challenge(client: httpx.AsyncClient, account: str) -> dict[str, Any]:
    answer = await client.post("/api/v1/auth/challenge", json={"account": account})
    assert answer.status_code == 200, answer.text
    issued: dict[str, Any] = answer.json()
    return issued


def assert_signature_refused(response: httpx.Response, reason: str) -> None:
    error = assert_error(response, 401, "INVALID_SIGNATURE")
    assert error["details"] == [{"field": "body", "message": reason}], error


async def test_signature_sign_in_with_an_ethereum_account_and_a_p256_key(
    database_url: str, tmp_path: Path
) -> None:
    async with running(
        database_url, tmp_path, signed_in=False, public_url="https://flowforge.example", **FAST
    ) as (client, server):
        owner = await set_up_owner(client, server)
        user_id = (await me(client, owner["accessToken"])).json()["user"]["id"]
        as_owner = bearer(owner["accessToken"])
        wallet, key = new_wallet(), ec.generate_private_key(ec.SECP256R1())

        # Registering proves possession: a challenge for the key, signed by it.
        siwe = await challenge(client, wallet.address.lower())
        assert siwe["kind"] == "siwe" and siwe["account"] == wallet.address
        # An https public URL: browsers are told to keep to https.
        assert "max-age=" in (await client.get("/health")).headers["strict-transport-security"]
        assert siwe["message"].startswith("flowforge.example wants you to sign in")
        assert "URI: https://flowforge.example\n" in siwe["message"]
        assert "Chain ID: 1\n" in siwe["message"] and f"Nonce: {siwe['nonce']}" in siwe["message"]
        forged = await client.post(
            "/api/v1/auth/me/accounts",
            json={
                "account": wallet.address,
                "message": siwe["message"],
                "signature": siwe_sign(new_wallet(), siwe["message"]),
            },
            headers=as_owner,
        )
        assert_signature_refused(forged, "bad_signature")
        siwe = await challenge(client, wallet.address)
        added = await client.post(
            "/api/v1/auth/me/accounts",
            json={
                "account": wallet.address,
                "message": siwe["message"],
                "signature": siwe_sign(wallet, siwe["message"]),
                "label": "wallet",
            },
            headers=as_owner,
        )
        assert added.status_code == 201, added.text
        assert (added.json()["account"], added.json()["label"]) == (wallet.address, "wallet")

        ecdsa = await challenge(client, p256_pem(key))
        assert ecdsa["kind"] == "ecdsa" and ecdsa["account"].startswith("p256:0")
        assert "sign in with your P-256 key" in ecdsa["message"]
        added = await client.post(
            "/api/v1/auth/me/accounts",
            json={
                "account": p256_pem(key),
                "message": ecdsa["message"],
                "signature": p256_sign(key, ecdsa["message"]),
                "label": "laptop",
            },
            headers=as_owner,
        )
        assert added.status_code == 201, added.text
        p256_account = ecdsa["account"]
        accounts = (await client.get("/api/v1/auth/me/accounts", headers=as_owner)).json()
        assert sorted(a["account"] for a in accounts) == sorted([wallet.address, p256_account])

        # Signing in: SIWE with the server's message.
        siwe = await challenge(client, wallet.address)
        attempt = {
            "account": wallet.address,
            "message": siwe["message"],
            "signature": siwe_sign(wallet, siwe["message"]),
        }
        signed = await client.post("/api/v1/auth/signature", json=attempt)
        assert signed.status_code == 200, signed.text
        assert (await me(client, signed.json()["accessToken"])).json()["user"]["id"] == user_id
        # The same signed challenge a second time: the nonce was used.
        replayed = await client.post("/api/v1/auth/signature", json=attempt)
        assert_signature_refused(replayed, "unknown_nonce")

        # A message built by the client around the nonce is fine when it names this server...
        fields = SignInMessage.parse((await challenge(client, wallet.address))["message"])
        own = dataclasses.replace(fields, statement=None).text()
        signed = await client.post(
            "/api/v1/auth/signature",
            json={"account": wallet.address, "message": own, "signature": siwe_sign(wallet, own)},
        )
        assert signed.status_code == 200, signed.text
        # ...and refused for another site or another chain, though signed by the right key.
        for change, reason in (
            ({"domain": "flowforge.example.evil"}, "wrong_domain"),
            ({"chain_id": 5}, "wrong_chain_id"),
            ({"uri": "https://evil.example"}, "wrong_uri"),
        ):
            fields = SignInMessage.parse((await challenge(client, wallet.address))["message"])
            text = dataclasses.replace(fields, **change).text()
            refused = await client.post(
                "/api/v1/auth/signature",
                json={
                    "account": wallet.address,
                    "message": text,
                    "signature": siwe_sign(wallet, text),
                },
            )
            assert_signature_refused(refused, reason)
            assert "accessToken" not in refused.text

        # Another key's signature over a challenge for the registered account.
        siwe = await challenge(client, wallet.address)
        stolen = await client.post(
            "/api/v1/auth/signature",
            json={
                "account": wallet.address,
                "message": siwe["message"],
                "signature": siwe_sign(new_wallet(), siwe["message"]),
            },
        )
        assert_signature_refused(stolen, "bad_signature")

        # The P-256 key signs in with DER or raw r || s signatures, and not with another key's.
        for raw in (False, True):
            ecdsa = await challenge(client, p256_account)
            signed = await client.post(
                "/api/v1/auth/signature",
                json={
                    "account": p256_account,
                    "message": ecdsa["message"],
                    "signature": p256_sign(key, ecdsa["message"], raw=raw),
                },
            )
            assert signed.status_code == 200, signed.text
            assert signed.json()["orgId"] == "default"
        ecdsa = await challenge(client, p256_account)
        other = ec.generate_private_key(ec.SECP256R1())
        stolen = await client.post(
            "/api/v1/auth/signature",
            json={
                "account": p256_account,
                "message": ecdsa["message"],
                "signature": p256_sign(other, ecdsa["message"]),
            },
        )
        assert_signature_refused(stolen, "bad_signature")

        # Keys nobody registered get a challenge (nobody learns which keys are registered)
        # but no session, however well they sign it.
        stranger = new_wallet()
        unregistered_keys: list[tuple[str, Callable[[str], str]]] = [
            (stranger.address, lambda text: siwe_sign(stranger, text)),
            (p256_pem(other), lambda text: p256_sign(other, text)),
        ]
        for account, signer in unregistered_keys:
            issued = await challenge(client, account)
            unregistered = await client.post(
                "/api/v1/auth/signature",
                json={
                    "account": account,
                    "message": issued["message"],
                    "signature": signer(issued["message"]),
                },
            )
            assert_error(unregistered, 401, "UNAUTHORIZED")
            assert "accessToken" not in unregistered.text


# -- organisations and memberships


async def test_a_cached_membership_expiring_as_it_is_read_is_read_again(
    database_url: str, tmp_path: Path
) -> None:
    """What a process remembers expires by time: an entry that lapses between the lookup and
    the read is a miss (the database is asked), never an error."""
    async with running(database_url, tmp_path, **FAST) as (client, server):
        owner = await asyncio.to_thread(server.auth.directory.create_user, "cache@example.com")
        await asyncio.to_thread(server.auth.directory.add_member, "default", owner.id, "editor")
        signed = await asyncio.to_thread(server.auth.start_session, owner)

        def clock() -> Callable[[], float]:
            """Every look at it is 3 s after the last: an entry (ttl 5 s) looked up and then
            read has expired in between."""
            ticks = iter(range(0, 10**6, 3))
            return lambda: float(next(ticks))

        server.auth._roles = TTLCache(100, 5, timer=clock())
        server.auth._plans = TTLCache(100, 5, timer=clock())
        for _ in range(6):
            answer = await me(client, signed.tokens.access_token)
            assert answer.status_code == 200, answer.text
            assert answer.json()["role"] == "editor"


async def test_memberships_decide_what_sessions_and_keys_may_do(
    database_url: str, tmp_path: Path
) -> None:
    async with running(database_url, tmp_path, signed_in=False, **FAST) as (client, server):
        owner_token = (await set_up_owner(client, server))["accessToken"]
        owner = bearer(owner_token)
        second = await client.post("/api/v1/orgs", json={"name": "Second"}, headers=owner)
        assert second.status_code == 201, second.text
        second_id = second.json()["id"]
        third_id = (
            await client.post("/api/v1/orgs", json={"name": "Third"}, headers=owner)
        ).json()["id"]
        eve_id, eve = await add_member(client, owner, "eve@example.com", "editor")
        # The org_id of the path selects the organisation the owner acts in.
        joined = await client.post(
            f"/api/v1/orgs/{second_id}/members",
            json={"email": "eve@example.com", "role": "viewer"},
            headers=owner,
        )
        assert joined.status_code == 201, joined.text
        assert joined.json()["inviteToken"] is None  # she has an account already
        token = eve["accessToken"]
        key = (
            await client.post("/api/v1/api-keys", json={"name": "eve's"}, headers=bearer(token))
        ).json()["key"]

        # The session acts in the organisation it started in, or the one the header names.
        home = (await me(client, token)).json()
        assert (home["orgId"], home["role"]) == ("default", "editor")
        assert {o["id"]: o["role"] for o in home["orgs"]} == {
            "default": "editor",
            second_id: "viewer",
        }
        away = (await me(client, token, **{"X-FlowForge-Org": second_id})).json()
        assert (away["orgId"], away["role"]) == (second_id, "viewer")
        # what the role grants, for clients that disable what it does not (the editor)
        assert "workflows:read" in away["rolePermissions"]
        assert "workflows:write" not in away["rolePermissions"]
        by_path = await client.get(f"/api/v1/orgs/{second_id}", headers=bearer(token))
        assert (by_path.json()["id"], by_path.json()["role"]) == (second_id, "viewer")
        created = await client.post("/api/v1/workflows", json=HELLO, headers=bearer(token))
        assert created.status_code == 201, created.text
        as_viewer = await client.post(
            "/api/v1/workflows",
            json=HELLO,
            headers={**bearer(token), "X-FlowForge-Org": second_id},
        )
        assert_error(as_viewer, 403, "FORBIDDEN")
        # An organisation she is not in: 403 by header, and it does not exist by path.
        assert_error(await me(client, token, **{"X-FlowForge-Org": third_id}), 403, "FORBIDDEN")
        assert_error(
            await client.get(f"/api/v1/orgs/{third_id}", headers=bearer(token)), 404, "NOT_FOUND"
        )
        assert_error(
            await client.get(f"/api/v1/orgs/{third_id}/members", headers=bearer(token)),
            404,
            "NOT_FOUND",
        )
        # An API key belongs to one organisation.
        assert (await me(client, key)).json()["orgId"] == "default"
        assert_error(await me(client, key, **{"X-FlowForge-Org": second_id}), 403, "FORBIDDEN")
        # A session can start in another organisation.
        there = await login(client, "eve@example.com", org=second_id)
        assert there.json()["orgId"] == second_id
        assert_error(await login(client, "eve@example.com", org=third_id), 403, "FORBIDDEN")

        # A role change takes effect on the next request, for her session and her key (which
        # acts with at most her role now).
        changed = await client.patch(
            f"/api/v1/orgs/default/members/{eve_id}", json={"role": "viewer"}, headers=owner
        )
        assert changed.status_code == 200 and changed.json()["role"] == "viewer"
        assert (await me(client, token)).json()["role"] == "viewer"
        assert (await me(client, key)).json()["role"] == "viewer"
        for credential in (token, key):
            refused = await client.post("/api/v1/workflows", json=HELLO, headers=bearer(credential))
            assert_error(refused, 403, "FORBIDDEN")
        # Nor may she give herself more.
        raised = await client.patch(
            f"/api/v1/orgs/default/members/{eve_id}", json={"role": "owner"}, headers=bearer(token)
        )
        assert_error(raised, 403, "FORBIDDEN")
        back = await client.patch(
            f"/api/v1/orgs/default/members/{eve_id}", json={"role": "editor"}, headers=owner
        )
        assert back.status_code == 200, back.text
        again = await client.post(
            "/api/v1/workflows", json=workflow("again", *HELLO["nodes"]), headers=bearer(key)
        )
        assert again.status_code == 201, again.text

        # Removed from "default": neither her session nor her key acts there any more, and the
        # session cannot be refreshed into it; her other organisation still knows her.
        removed = await client.delete(f"/api/v1/orgs/default/members/{eve_id}", headers=owner)
        assert removed.status_code == 204, removed.text
        assert "no longer a member" in assert_invalid_token(await me(client, token))["message"]
        assert "no longer a member" in assert_invalid_token(await me(client, key), key)["message"]
        assert_error(
            await client.get("/api/v1/workflows", headers=bearer(token)), 401, "UNAUTHORIZED"
        )
        assert_error(await refresh(client, eve["refreshToken"]), 401, "UNAUTHORIZED")
        still = (await me(client, token, **{"X-FlowForge-Org": second_id})).json()
        assert (still["orgId"], still["role"]) == (second_id, "viewer")
        members = (await client.get("/api/v1/orgs/default/members", headers=owner)).json()
        assert eve_id not in [m["userId"] for m in members]
        # The last owner cannot leave.
        owner_id = (await me(client, owner_token)).json()["user"]["id"]
        last = await client.delete(f"/api/v1/orgs/default/members/{owner_id}", headers=owner)
        assert_error(last, 409, "CONFLICT")


# -- API keys


async def test_api_keys_are_shown_once_capped_by_their_maker_and_rotate_and_revoke(
    database_url: str, tmp_path: Path
) -> None:
    async with running(database_url, tmp_path, signed_in=False, **FAST) as (client, server):
        owner = bearer((await set_up_owner(client, server))["accessToken"])
        eve_id, eve = await add_member(client, owner, "eve@example.com", "editor")
        as_eve = bearer(eve["accessToken"])

        made = await client.post("/api/v1/api-keys", json={"name": "ci"}, headers=as_eve)
        assert made.status_code == 201, made.text
        issued = made.json()
        key, key_id = issued["key"], issued["id"]
        assert parse_api_key(key).key_id == key_id and issued["prefix"] == f"ffk_{key_id}"
        assert (issued["role"], issued["scopes"], issued["userId"]) == ("editor", ["*"], eve_id)
        assert issued["orgId"] == "default" and issued["expiresAt"] is None
        who = (await me(client, key)).json()
        assert (who["user"]["id"], who["role"], who["keyId"]) == (eve_id, "editor", key_id)
        listed = await client.get("/api/v1/api-keys", headers=as_eve)
        assert [k["id"] for k in listed.json()] == [key_id]
        assert "key" not in listed.json()[0]
        assert key not in listed.text and key[len(f"ffk_{key_id}_") :] not in listed.text
        # Keys can be presented as X-API-Key too.
        by_header = await client.get("/api/v1/auth/me", headers={"X-API-Key": key})
        assert by_header.json()["keyId"] == key_id

        # At most her role, and within the scopes of the credential that makes it.
        assert_error(
            await client.post(
                "/api/v1/api-keys", json={"name": "x", "role": "admin"}, headers=as_eve
            ),
            403,
            "FORBIDDEN",
        )
        viewer = (
            await client.post(
                "/api/v1/api-keys", json={"name": "ro", "role": "viewer"}, headers=as_eve
            )
        ).json()
        assert viewer["role"] == "viewer"
        assert_error(
            await client.post("/api/v1/workflows", json=HELLO, headers=bearer(viewer["key"])),
            403,
            "FORBIDDEN",
        )
        narrow = (
            await client.post(
                "/api/v1/api-keys",
                json={"name": "narrow", "scopes": ["workflows:read", "apikeys:own"]},
                headers=as_eve,
            )
        ).json()
        assert narrow["scopes"] == ["apikeys:own", "workflows:read"]
        with_narrow = bearer(narrow["key"])
        assert (await client.get("/api/v1/workflows", headers=with_narrow)).status_code == 200
        assert_error(
            await client.post("/api/v1/workflows", json=HELLO, headers=with_narrow),
            403,
            "FORBIDDEN",
        )
        for scopes in (["workflows:write"], [], ["*"]):  # [] means every scope
            wider = await client.post(
                "/api/v1/api-keys", json={"name": "wider", "scopes": scopes}, headers=with_narrow
            )
            assert_error(wider, 403, "FORBIDDEN")
        same = await client.post(
            "/api/v1/api-keys",
            json={"name": "same", "scopes": ["workflows:read"]},
            headers=with_narrow,
        )
        assert same.status_code == 201 and same.json()["scopes"] == ["workflows:read"]
        assert_error(
            await client.post(
                "/api/v1/api-keys", json={"name": "x", "scopes": ["Bad Scope"]}, headers=as_eve
            ),
            422,
            "VALIDATION_ERROR",
        )

        # Expiry: the date is kept, and once it passes the key stops.
        expiring = (
            await client.post(
                "/api/v1/api-keys", json={"name": "month", "expiresInDays": 30}, headers=as_eve
            )
        ).json()
        expires = datetime.fromisoformat(expiring["expiresAt"])
        assert abs(expires - datetime.now(UTC) - timedelta(days=30)) < timedelta(minutes=1)
        assert (await me(client, expiring["key"])).status_code == 200
        record = await asyncio.to_thread(server.auth.key_store.get, expiring["id"])
        assert record is not None
        lapsed = dataclasses.replace(record, expires_at=datetime.now(UTC) - timedelta(seconds=1))
        await asyncio.to_thread(server.auth.key_store.replace, lapsed)  # a month later
        assert "expired" in assert_invalid_token(await me(client, expiring["key"]))["message"]

        # Rotation keeps the id; without grace the old secret stops at once.
        rotated = await client.post(
            f"/api/v1/api-keys/{key_id}/rotate", json={"graceSeconds": 0}, headers=as_eve
        )
        assert rotated.status_code == 200, rotated.text
        new_key = rotated.json()["key"]
        assert rotated.json()["id"] == key_id and new_key != key
        assert rotated.json()["rotatedAt"] is not None
        assert_invalid_token(await me(client, key), key)
        assert (await me(client, new_key)).json()["keyId"] == key_id
        # With grace, both work until the grace ends.
        graced = await client.post(
            f"/api/v1/api-keys/{key_id}/rotate", json={"graceSeconds": 3}, headers=as_eve
        )
        newest = graced.json()["key"]
        ends = datetime.fromisoformat(graced.json()["rotatedAt"]) + timedelta(seconds=3)
        assert (await me(client, new_key)).status_code == 200
        assert (await me(client, newest)).status_code == 200
        await asyncio.sleep(max(0.0, (ends - datetime.now(UTC)).total_seconds()) + 0.2)
        assert_invalid_token(await me(client, new_key), new_key)
        assert (await me(client, newest)).status_code == 200

        # Another member's key: hers to manage, or an admin's; not a colleague's.
        mine = (
            await client.post("/api/v1/api-keys", json={"name": "owner's"}, headers=owner)
        ).json()
        for attempt in (
            client.delete(f"/api/v1/api-keys/{mine['id']}", headers=as_eve),
            client.post(f"/api/v1/api-keys/{mine['id']}/rotate", json={}, headers=as_eve),
            client.get("/api/v1/api-keys?all=true", headers=as_eve),
        ):
            assert "apikeys:admin" in assert_error(await attempt, 403, "FORBIDDEN")["message"]
        assert (await me(client, mine["key"])).status_code == 200
        every = (await client.get("/api/v1/api-keys?all=true", headers=owner)).json()
        assert {key_id, mine["id"], viewer["id"]} <= {k["id"] for k in every}
        assert_error(
            await client.delete("/api/v1/api-keys/AAAAAAAAAAAA", headers=owner), 404, "NOT_FOUND"
        )

        # Revoked (here by the owner, an admin): refused from then on, listed as revoked.
        revoked = await client.delete(f"/api/v1/api-keys/{key_id}", headers=owner)
        assert revoked.status_code == 204, revoked.text
        assert "revoked" in assert_invalid_token(await me(client, newest), newest)["message"]
        hers = {k["id"]: k for k in (await client.get("/api/v1/api-keys", headers=as_eve)).json()}
        assert hers[key_id]["revokedAt"] is not None
        assert hers[viewer["id"]]["revokedAt"] is None
        again = await client.post(
            f"/api/v1/api-keys/{key_id}/rotate", json={"graceSeconds": 0}, headers=as_eve
        )
        assert_error(again, 409, "CONFLICT")


# -- changing the password


async def test_a_password_change_needs_the_current_one_and_ends_other_sessions(
    database_url: str, tmp_path: Path
) -> None:
    async with running(database_url, tmp_path, signed_in=False, **FAST) as (client, server):
        owner = bearer((await set_up_owner(client, server))["accessToken"])
        _, here = await add_member(client, owner, "eve@example.com", "editor")
        elsewhere = (await login(client, "eve@example.com")).json()
        as_eve = bearer(here["accessToken"])

        wrong = await client.put(
            "/api/v1/auth/me/password",
            json={"currentPassword": WRONG, "newPassword": "a brand new one"},
            headers=as_eve,
        )
        assert_error(wrong, 403, "FORBIDDEN")
        short = await client.put(
            "/api/v1/auth/me/password",
            json={"currentPassword": PASSWORD, "newPassword": "short"},
            headers=as_eve,
        )
        assert_error(short, 422, "VALIDATION_ERROR")
        assert (await refresh(client, elsewhere["refreshToken"])).status_code == 200
        elsewhere = (await login(client, "eve@example.com")).json()

        changed = await client.put(
            "/api/v1/auth/me/password",
            json={"currentPassword": PASSWORD, "newPassword": "a brand new one"},
            headers=as_eve,
        )
        assert changed.status_code == 204, changed.text
        assert (
            "revoked"
            in assert_error(await refresh(client, elsewhere["refreshToken"]), 401, "UNAUTHORIZED")[
                "message"
            ]
        )
        assert_error(await login(client, "eve@example.com", PASSWORD), 401, "UNAUTHORIZED")
        assert (await login(client, "eve@example.com", "a brand new one")).status_code == 200
        # The access token it was changed with works until it lapses, as every one does.
        assert (await me(client, here["accessToken"])).status_code == 200
        # A service key has no password to change.
        service = await asyncio.to_thread(
            server.auth.api_keys.create,
            subject="service",
            scopes=["*"],
            org="default",
            role="owner",
        )
        no_user = await client.put(
            "/api/v1/auth/me/password",
            json={"currentPassword": PASSWORD, "newPassword": "a brand new one"},
            headers=bearer(service.key),
        )
        assert_error(no_user, 403, "FORBIDDEN")


# -- --insecure-no-auth


async def test_insecure_no_auth_lets_anonymous_requests_act_as_the_owner(
    database_url: str, tmp_path: Path
) -> None:
    async with running(database_url, tmp_path, signed_in=False, insecure_no_auth=True, **FAST) as (
        client,
        _,
    ):
        who = await client.get("/api/v1/auth/me")
        assert who.status_code == 200, who.text
        body = who.json()
        assert (body["user"], body["orgId"], body["role"]) == (None, "default", "owner")
        created = await client.post("/api/v1/workflows", json=HELLO)
        assert created.status_code == 201, created.text
        assert (await client.get("/api/v1/orgs/default/members")).status_code == 200
        # an API key would outlive the mode: none is made while it is on
        key = await client.post("/api/v1/api-keys", json={"name": "lasting"})
        assert "--insecure-no-auth" in assert_error(key, 403, "FORBIDDEN")["message"]


# -- headers


async def test_security_headers_on_every_answer(database_url: str, tmp_path: Path) -> None:
    async with running(database_url, tmp_path, signed_in=False, **FAST) as (client, _):
        api = await client.get("/api/v1/workflows")  # an error answer gets them too
        health = await client.get("/health")
        sign_in = await login(client, "nobody@example.com", WRONG)
        docs = await client.get("/docs")
        assert docs.status_code == 200 and "swagger" in docs.text.lower()
        for answer in (api, health, sign_in, docs):
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert answer.headers["x-frame-options"] == "DENY"
            assert answer.headers["referrer-policy"] == "no-referrer"
            assert "strict-transport-security" not in answer.headers  # plain http here
            assert "access-control-allow-origin" not in answer.headers
        for answer in (api, health, sign_in):
            assert answer.headers["content-security-policy"] == (
                "default-src 'none'; frame-ancestors 'none'"
            )
        # The docs page loads Swagger UI's script and style, which that policy would block.
        assert "content-security-policy" not in docs.headers
        assert sign_in.headers["cache-control"] == "no-store"
        who = await client.get("/api/v1/auth/me")
        assert who.status_code == 401 and who.headers["cache-control"] == "no-store"
        assert health.headers.get("cache-control") != "no-store"
        jwks = await client.get("/.well-known/jwks.json")
        assert jwks.headers["content-security-policy"].startswith("default-src 'none'")
        # Without cors_origins, no origin is let in, preflight or not.
        preflight = await client.options(
            "/api/v1/workflows",
            headers={"Origin": "https://tools.example", "Access-Control-Request-Method": "GET"},
        )
        assert not [h for h in preflight.headers if h.startswith("access-control-")]
        from_page = await client.get("/health", headers={"Origin": "https://tools.example"})
        assert not [h for h in from_page.headers if h.startswith("access-control-")]


async def test_cors_lets_in_the_configured_origin_only(database_url: str, tmp_path: Path) -> None:
    async with running(
        database_url, tmp_path, signed_in=False, cors_origins="https://tools.example", **FAST
    ) as (client, server):
        asked = "authorization, content-type, x-flowforge-org, idempotency-key"
        preflight = await client.options(
            "/api/v1/workflows",
            headers={
                "Origin": "https://tools.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": asked,
            },
        )
        assert preflight.status_code == 200, preflight.text
        assert preflight.headers["access-control-allow-origin"] == "https://tools.example"
        methods = preflight.headers["access-control-allow-methods"].split(", ")
        assert {"GET", "POST", "PUT", "PATCH", "DELETE"} <= set(methods)
        allowed = {h.strip() for h in preflight.headers["access-control-allow-headers"].split(",")}
        assert {"authorization", "content-type", "x-flowforge-org", "idempotency-key"} <= allowed
        assert preflight.headers["access-control-max-age"] == "600"
        assert "access-control-allow-credentials" not in preflight.headers  # bearer, no cookies

        service = await asyncio.to_thread(
            server.auth.api_keys.create,
            subject="service",
            scopes=["*"],
            org="default",
            role="owner",
        )
        from_page = await client.get(
            "/api/v1/workflows",
            headers={"Origin": "https://tools.example", **bearer(service.key)},
        )
        assert from_page.status_code == 200, from_page.text
        assert from_page.headers["access-control-allow-origin"] == "https://tools.example"
        exposed = {h.strip() for h in from_page.headers["access-control-expose-headers"].split(",")}
        assert {"retry-after", "ratelimit-remaining", "x-request-id", "etag"} <= exposed
        assert from_page.headers["ratelimit-remaining"]  # which a page may now read

        for origin in (
            "https://evil.example",
            "https://tools.example.evil",
            "http://tools.example",
        ):
            refused = await client.options(
                "/api/v1/workflows",
                headers={
                    "Origin": origin,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "authorization",
                },
            )
            assert refused.status_code == 400, origin
            assert "access-control-allow-origin" not in refused.headers
            other_page = await client.get("/health", headers={"Origin": origin})
            assert "access-control-allow-origin" not in other_page.headers
        # A header outside the documented list is not allowed either.
        odd = await client.options(
            "/api/v1/workflows",
            headers={
                "Origin": "https://tools.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "x-something-else",
            },
        )
        assert odd.status_code == 400
