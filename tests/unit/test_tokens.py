"""Session tokens: access tokens round trip, every forged or hostile JWT is refused (the forgeries
are built by hand, byte by byte), signing keys rotate without logging anybody out, and refresh
tokens rotate, detect reuse and die on logout."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from fake_clock import START, Clock

from flowforge.security.tokens import (
    AccessClaims,
    InMemoryRefreshStore,
    InvalidToken,
    Principal,
    RefreshRecord,
    RefreshReused,
    SessionRecord,
    Sessions,
    SigningKey,
    SigningKeys,
    verify_access_token,
)

ISSUER = "https://flowforge.test"
AUDIENCE = "flowforge-api"
ALICE = Principal("user-1", org="org-1", role="editor", scopes=frozenset({"workflows:read"}))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def keys() -> SigningKeys:
    return SigningKeys.generate("EdDSA")


@pytest.fixture
def store() -> InMemoryRefreshStore:
    return InMemoryRefreshStore()


@pytest.fixture
def sessions(keys: SigningKeys, store: InMemoryRefreshStore, clock: Clock) -> Sessions:
    return Sessions(keys, store, issuer=ISSUER, audience=AUDIENCE, clock=clock)


# -- forging by hand


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], payload: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64(sign(signing_input.encode()))}"


def signer(key: SigningKey) -> Callable[[bytes], bytes]:
    """The JWS signature of ``key``: raw Ed25519, or ES256's r || s (not DER)."""
    private = key.private_key
    if isinstance(private, ed25519.Ed25519PrivateKey):
        return private.sign
    assert isinstance(private, ec.EllipticCurvePrivateKey)

    def es256(data: bytes) -> bytes:
        r, s = decode_dss_signature(private.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    return es256


def no_signature(_: bytes) -> bytes:
    return b""


def good_header(key: SigningKey) -> dict[str, Any]:
    return {"alg": key.algorithm, "kid": key.kid, "typ": "at+jwt"}


def good_payload(now: datetime = START, **changes: Any) -> dict[str, Any]:
    issued = int(now.timestamp())
    payload = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-1",
        "iat": issued,
        "nbf": issued,
        "exp": issued + 900,
        "jti": "jti-1",
        "typ": "access",
        "org": "org-1",
        "role": "editor",
        "scopes": ["workflows:read"],
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not DROP}


DROP = object()


def verify(token: str, keys: SigningKeys, now: datetime = START) -> AccessClaims:
    return verify_access_token(token, keys, issuer=ISSUER, audience=AUDIENCE, now=now)


def refused(token: str, keys: SigningKeys, match: str, now: datetime = START) -> None:
    with pytest.raises(InvalidToken, match=match):
        verify(token, keys, now)


# -- access tokens that are fine


@pytest.mark.parametrize("algorithm", ["EdDSA", "ES256"])
def test_access_token_round_trip(algorithm: str, store: InMemoryRefreshStore, clock: Clock) -> None:
    keys = SigningKeys.generate(algorithm)  # type: ignore[arg-type]
    sessions = Sessions(keys, store, issuer=ISSUER, audience=AUDIENCE, clock=clock)
    token, expires = sessions.issue_access(ALICE, session_id="s-1")
    claims = sessions.verify_access(token)
    assert claims.principal == ALICE
    assert (claims.sub, claims.org, claims.role) == ("user-1", "org-1", "editor")
    assert claims.scopes == frozenset({"workflows:read"})
    assert claims.session_id == "s-1"
    assert claims.kid == keys.current.kid
    assert claims.expires_at == expires == START + timedelta(minutes=15)
    header = jwt.get_unverified_header(token)
    assert header == {"alg": algorithm, "kid": keys.current.kid, "typ": "at+jwt"}
    assert sessions.issue_access(ALICE)[0] != token  # a fresh jti each time


@pytest.mark.parametrize("algorithm", ["EdDSA", "ES256"])
def test_the_hand_forger_makes_valid_tokens(algorithm: str) -> None:
    """The control for every forgery below: with nothing hostile, the hand-built token passes,
    so each refusal is due to the one thing changed."""
    keys = SigningKeys.generate(algorithm)  # type: ignore[arg-type]
    token = forge(good_header(keys.current), good_payload(), signer(keys.current))
    assert verify(token, keys).sub == "user-1"


def test_leeway_accepts_small_clock_skew(keys: SigningKeys) -> None:
    sign = signer(keys.current)
    late = forge(good_header(keys.current), good_payload(exp=int(START.timestamp()) - 20), sign)
    early = forge(
        good_header(keys.current),
        good_payload(START + timedelta(seconds=20)),
        sign,
    )
    assert verify(late, keys).sub == "user-1"
    assert verify(early, keys).sub == "user-1"


# -- hostile access tokens


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_is_refused(keys: SigningKeys, alg: str) -> None:
    header = {**good_header(keys.current), "alg": alg}
    refused(forge(header, good_payload(), no_signature), keys, "algorithm")


def test_alg_none_without_kid_is_refused(keys: SigningKeys) -> None:
    refused(forge({"alg": "none", "typ": "at+jwt"}, good_payload(), no_signature), keys, "kid")


@pytest.mark.parametrize("algorithm", ["EdDSA", "ES256"])
@pytest.mark.parametrize("public_form", ["pem", "der", "raw-jwk-x"])
def test_hs256_signed_with_the_public_key_is_refused(algorithm: str, public_form: str) -> None:
    """The classic key-confusion forgery: the attacker knows the public key (it is published in
    the JWKS) and uses its bytes as an HMAC secret."""
    keys = SigningKeys.generate(algorithm)  # type: ignore[arg-type]
    public = keys.current.public_key
    secret = {
        "pem": public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "der": public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "raw-jwk-x": keys.current.public_jwk()["x"].encode(),
    }[public_form]
    header = {**good_header(keys.current), "alg": "HS256"}
    token = forge(header, good_payload(), lambda data: hmac.new(secret, data, "sha256").digest())
    refused(token, keys, "algorithm 'HS256' is not the algorithm of this key")


def test_the_algorithm_of_another_key_type_is_refused(keys: SigningKeys) -> None:
    header = {**good_header(keys.current), "alg": "ES256"}
    refused(forge(header, good_payload(), signer(keys.current)), keys, "algorithm")


def test_pyjwt_pins_the_algorithm_too(keys: SigningKeys) -> None:
    """Defence in depth: even past our own header check, decoding pins the key's algorithm."""
    public_pem = keys.current.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {**good_header(keys.current), "alg": "HS256"}
    token = forge(header, good_payload(), lambda d: hmac.new(public_pem, d, "sha256").digest())
    with pytest.raises(jwt.InvalidAlgorithmError):
        jwt.decode(token, keys.current.public_key, algorithms=[keys.current.algorithm])


def test_unknown_kid_is_refused(keys: SigningKeys) -> None:
    other = SigningKey.generate()
    token = forge(good_header(other), good_payload(), signer(other))
    refused(token, keys, "unknown key id")


@pytest.mark.parametrize("kid", [None, 7, ["x"], {"kid": "x"}])
def test_missing_or_non_string_kid_is_refused(keys: SigningKeys, kid: Any) -> None:
    header = {**good_header(keys.current), "kid": kid}
    if kid is None:
        del header["kid"]
    refused(forge(header, good_payload(), signer(keys.current)), keys, r"\(kid\)|Key ID")


def test_a_signature_from_another_key_under_our_kid_is_refused(keys: SigningKeys) -> None:
    impostor = SigningKey.generate()
    token = forge(good_header(keys.current), good_payload(), signer(impostor))
    refused(token, keys, "Signature verification failed")


def test_a_tampered_payload_is_refused(keys: SigningKeys) -> None:
    token = forge(good_header(keys.current), good_payload(), signer(keys.current))
    head, _, signature = token.split(".")
    admin = b64(json.dumps(good_payload(role="owner")).encode())
    refused(f"{head}.{admin}.{signature}", keys, "Signature verification failed")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("jku", "https://attacker.example/jwks.json"),
        ("x5u", "https://attacker.example/cert.pem"),
        ("x5c", ["MIIBszCCAVmgAwIBAgIU"]),
    ],
)
def test_headers_pointing_at_other_keys_are_refused(
    keys: SigningKeys, name: str, value: Any
) -> None:
    """Even correctly signed by our own key: a token must not name where its key comes from."""
    header = {**good_header(keys.current), name: value}
    refused(forge(header, good_payload(), signer(keys.current)), keys, f"header {name} refused")


def test_embedded_jwk_of_the_attackers_key_is_refused(keys: SigningKeys) -> None:
    attacker = SigningKey.generate()
    for kid in (attacker.kid, keys.current.kid):
        header = {**good_header(attacker), "kid": kid, "jwk": attacker.public_jwk()}
        refused(forge(header, good_payload(), signer(attacker)), keys, "header jwk refused")


@pytest.mark.parametrize(
    "extra", [{"crit": ["exp"]}, {"b64": False, "crit": ["b64"]}, {"cty": "JWT"}, {"x5t": "abc"}]
)
def test_other_unexpected_headers_are_refused(keys: SigningKeys, extra: dict[str, Any]) -> None:
    header = {**good_header(keys.current), **extra}
    with pytest.raises(InvalidToken):
        verify(forge(header, good_payload(), signer(keys.current)), keys)


@pytest.mark.parametrize("typ", [None, "JWT", "at+JWT", "refresh"])
def test_header_typ_must_say_access_token(keys: SigningKeys, typ: str | None) -> None:
    header = {**good_header(keys.current), "typ": typ}
    if typ is None:
        del header["typ"]
    refused(forge(header, good_payload(), signer(keys.current)), keys, "header typ")


def test_expired_token_is_refused(keys: SigningKeys) -> None:
    payload = good_payload(START - timedelta(hours=1))  # expired 45 minutes ago
    refused(forge(good_header(keys.current), payload, signer(keys.current)), keys, "expired")
    just_past_leeway = good_payload(exp=int(START.timestamp()) - 31)
    token = forge(good_header(keys.current), just_past_leeway, signer(keys.current))
    refused(token, keys, "expired")


def test_issued_tokens_expire_after_their_ttl(sessions: Sessions, clock: Clock) -> None:
    token, _ = sessions.issue_access(ALICE)
    clock.advance(minutes=15, seconds=29)
    assert sessions.verify_access(token).sub == ALICE.sub
    clock.advance(seconds=2)
    with pytest.raises(InvalidToken, match="expired"):
        sessions.verify_access(token)


def test_repeated_verification_is_cached_but_rechecks_expiry_and_keys(
    keys: SigningKeys, store: InMemoryRefreshStore, clock: Clock
) -> None:
    cached = Sessions(keys, store, issuer=ISSUER, audience=AUDIENCE, clock=clock, cache_size=2)
    token, _ = cached.issue_access(ALICE)
    first = cached.verify_access(token)
    assert cached.verify_access(token) is first  # a hit
    for _ in range(3):  # push it out of a cache of two
        cached.verify_access(cached.issue_access(ALICE)[0])
    again = cached.verify_access(token)
    assert again == first and again is not first
    uncached = Sessions(keys, store, issuer=ISSUER, audience=AUDIENCE, clock=clock, cache_size=0)
    assert uncached.verify_access(token) is not uncached.verify_access(token)
    # A hit is still refused once the token expires or its key leaves the set.
    clock.advance(minutes=16)
    with pytest.raises(InvalidToken, match="expired"):
        cached.verify_access(token)
    clock.now = START
    assert cached.verify_access(token) == first
    keys.rotate()
    keys.drop(first.kid)
    with pytest.raises(InvalidToken, match="unknown key id"):
        cached.verify_access(token)


def test_not_yet_valid_token_is_refused(keys: SigningKeys) -> None:
    now = int(START.timestamp())
    sign = signer(keys.current)
    future_nbf = good_payload(nbf=now + 120)
    refused(forge(good_header(keys.current), future_nbf, sign), keys, r"not yet valid \(nbf\)")
    future_iat = good_payload(iat=now + 120)
    refused(forge(good_header(keys.current), future_iat, sign), keys, "issued in the future")


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"iss": "https://attacker.example"}, "Invalid issuer"),
        ({"iss": 5}, "Issuer"),
        ({"aud": "another-api"}, "Audience"),
        ({"aud": [AUDIENCE, "another-api"]}, "claim format"),
        ({"typ": "refresh"}, "claim 'typ'"),
        ({"sub": ""}, "empty subject"),
        ({"sub": 42}, "Subject must be a string"),
        ({"jti": 42}, "JWT ID must be a string"),
        ({"exp": "tomorrow"}, "'exp' must be a number"),
        ({"exp": True}, "'exp' must be a number"),
        ({"exp": 1e300}, "'exp' is out of range"),
        ({"iat": -5}, "'iat' is out of range"),
        ({"scopes": "workflows:*"}, "'scopes' must be a list"),
        ({"scopes": [1, 2]}, "'scopes' must be a list"),
        ({"org": ["org-1", "org-2"]}, "'org' must be a string"),
    ],
)
def test_wrong_claims_are_refused(keys: SigningKeys, changes: dict[str, Any], match: str) -> None:
    token = forge(good_header(keys.current), good_payload(**changes), signer(keys.current))
    refused(token, keys, match)


@pytest.mark.parametrize("claim", ["sub", "exp", "iat", "jti", "typ", "iss", "aud"])
def test_missing_required_claims_are_refused(keys: SigningKeys, claim: str) -> None:
    dropped: dict[str, Any] = {claim: DROP}
    token = forge(good_header(keys.current), good_payload(**dropped), signer(keys.current))
    refused(token, keys, f"missing required claim '{claim}'")


@pytest.mark.parametrize(
    "garbage",
    ["", "a", "a.b", "a.b.c", "....", "eyJ.eyJ.sig", "x" * 9000, "é.é.é"],
)
def test_garbage_is_refused(keys: SigningKeys, garbage: str) -> None:
    with pytest.raises(InvalidToken):
        verify(garbage, keys)


def test_a_refresh_token_is_not_an_access_token(sessions: Sessions) -> None:
    pair = sessions.start(ALICE)
    with pytest.raises(InvalidToken):
        sessions.verify_access(pair.refresh_token)
    with pytest.raises(InvalidToken, match="not a refresh token"):
        sessions.refresh(pair.access_token)


# -- signing keys


def test_rotation_keeps_old_tokens_valid_until_the_old_key_is_dropped(
    keys: SigningKeys, sessions: Sessions
) -> None:
    old_kid = keys.current.kid
    old_token, _ = sessions.issue_access(ALICE)
    new_key = keys.rotate()
    assert keys.current is new_key and new_key.kid != old_kid
    assert keys.kids == [new_key.kid, old_kid]
    new_token, _ = sessions.issue_access(ALICE)
    assert jwt.get_unverified_header(new_token)["kid"] == new_key.kid
    assert sessions.verify_access(old_token).kid == old_kid
    assert sessions.verify_access(new_token).kid == new_key.kid
    assert {k["kid"] for k in keys.jwks()["keys"]} == {old_kid, new_key.kid}

    keys.drop(old_kid)
    with pytest.raises(InvalidToken, match="unknown key id"):
        sessions.verify_access(old_token)
    assert sessions.verify_access(new_token).sub == ALICE.sub
    with pytest.raises(ValueError, match="current key cannot be dropped"):
        keys.drop(new_key.kid)
    with pytest.raises(KeyError):
        keys.drop(old_kid)


def test_retire_drops_previous_keys_by_age(keys: SigningKeys) -> None:
    first = keys.current.kid
    keys.rotate(now=START)
    second = keys.current.kid
    keys.rotate(now=START + timedelta(minutes=10))
    assert keys.retire(timedelta(minutes=20), now=START + timedelta(minutes=25)) == [first]
    assert keys.get(first) is None
    assert keys.get(second) is not None
    assert keys.retire(timedelta(minutes=20), now=START + timedelta(minutes=25)) == []


def test_rotating_in_a_key_already_in_the_set_is_refused(keys: SigningKeys) -> None:
    current = keys.current
    with pytest.raises(ValueError, match="already in the set"):
        keys.rotate(current)
    with pytest.raises(ValueError, match="both current and previous"):
        SigningKeys(current, [current])


@pytest.mark.parametrize("algorithm", ["EdDSA", "ES256"])
def test_keys_survive_pem_storage_with_the_same_kid(algorithm: str) -> None:
    key = SigningKey.generate(algorithm)  # type: ignore[arg-type]
    again = SigningKey.from_private_pem(key.private_pem())
    assert (again.kid, again.algorithm) == (key.kid, algorithm)
    jwk = key.public_jwk()
    assert jwk["kid"] == key.kid and jwk["alg"] == algorithm and jwk["use"] == "sig"
    assert "d" not in jwk  # never the private part
    assert "private_key" not in repr(key)


def test_kid_is_the_rfc7638_thumbprint() -> None:
    # The RFC 8037 appendix A.3 example: this Ed25519 public key has this thumbprint.
    private = ed25519.Ed25519PrivateKey.from_private_bytes(
        bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    )
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    assert SigningKey.from_private_pem(pem).kid == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_unsupported_keys_are_refused() -> None:
    p384 = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(ValueError, match="P-256"):
        SigningKey.from_private_pem(p384)
    with pytest.raises(ValueError, match="unsupported signing algorithm"):
        SigningKey.generate("HS256")  # type: ignore[arg-type]


# -- refresh tokens


def test_refresh_rotates_the_refresh_token(sessions: Sessions, clock: Clock) -> None:
    first = sessions.start(ALICE)
    assert first.refresh_token.startswith("ffr_")
    assert sessions.verify_access(first.access_token).session_id == first.session_id
    clock.advance(minutes=20)
    second = sessions.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    assert second.session_id == first.session_id
    claims = sessions.verify_access(second.access_token)
    assert claims.principal == ALICE
    assert claims.issued_at == clock.now
    assert second.refresh_expires_at == clock.now + timedelta(days=30)
    third = sessions.refresh(second.refresh_token)
    assert third.refresh_token not in {first.refresh_token, second.refresh_token}


def test_reusing_a_refresh_token_revokes_the_whole_session(
    sessions: Sessions, store: InMemoryRefreshStore
) -> None:
    first = sessions.start(ALICE)
    other_login = sessions.start(ALICE)
    second = sessions.refresh(first.refresh_token)
    # The stolen copy of the first token is presented again: by the thief or by the victim.
    with pytest.raises(RefreshReused, match="used twice"):
        sessions.refresh(first.refresh_token)
    session = store.get_session(first.session_id)
    assert session is not None and session.revoked_at is not None
    # The legitimate successor dies with the session, so the thief's copy is worth nothing.
    with pytest.raises(InvalidToken, match="revoked"):
        sessions.refresh(second.refresh_token)
    with pytest.raises(InvalidToken, match="revoked"):
        sessions.refresh(first.refresh_token)
    # Another login of the same user is not touched.
    assert sessions.refresh(other_login.refresh_token).session_id == other_login.session_id


class StaleStore(InMemoryRefreshStore):
    """A store whose reads lag one write: two processes racing on one token."""

    def __init__(self) -> None:
        super().__init__()
        self.stale: tuple[RefreshRecord, SessionRecord] | None = None

    def find(self, token_hash: str) -> tuple[RefreshRecord, SessionRecord] | None:
        return self.stale or super().find(token_hash)


def test_two_concurrent_uses_of_one_refresh_token_count_as_reuse(
    keys: SigningKeys, clock: Clock
) -> None:
    store = StaleStore()
    sessions = Sessions(keys, store, issuer=ISSUER, audience=AUDIENCE, clock=clock)
    pair = sessions.start(ALICE)
    store.stale = store.find(hashlib.sha256(pair.refresh_token.encode()).hexdigest())
    sessions.refresh(pair.refresh_token)  # the first process wins
    with pytest.raises(RefreshReused):
        sessions.refresh(pair.refresh_token)  # the second read "unused" but loses the write
    session = store.get_session(pair.session_id)
    assert session is not None and session.revoked_at is not None


def test_logout_revokes_the_session(sessions: Sessions, clock: Clock) -> None:
    pair = sessions.start(ALICE)
    assert sessions.logout(pair.refresh_token) is True
    assert sessions.logout(pair.refresh_token) is False
    with pytest.raises(InvalidToken, match="revoked"):
        sessions.refresh(pair.refresh_token)
    assert sessions.logout("ffr_" + "A" * 43) is False
    # Access tokens are stateless: the one already issued lives out its 15 minutes.
    assert sessions.verify_access(pair.access_token).sub == ALICE.sub


def test_logout_everywhere_revokes_every_session_of_the_user(sessions: Sessions) -> None:
    a, b = sessions.start(ALICE), sessions.start(ALICE)
    bob = sessions.start(Principal("user-2"))
    assert sessions.logout_everywhere(ALICE.sub) == 2
    for pair in (a, b):
        with pytest.raises(InvalidToken, match="revoked"):
            sessions.refresh(pair.refresh_token)
    assert sessions.refresh(bob.refresh_token).session_id == bob.session_id


def test_refresh_tokens_expire_when_idle(sessions: Sessions, clock: Clock) -> None:
    pair = sessions.start(ALICE)
    clock.advance(days=30, seconds=1)
    with pytest.raises(InvalidToken, match="expired"):
        sessions.refresh(pair.refresh_token)


def test_a_session_ends_at_its_maximum_age_however_often_it_refreshes(
    sessions: Sessions, clock: Clock
) -> None:
    pair = sessions.start(ALICE)
    for _ in range(4):
        clock.advance(days=20)
        pair = sessions.refresh(pair.refresh_token)
    assert pair.refresh_expires_at == START + timedelta(days=90)  # capped by the session
    clock.advance(days=10)
    with pytest.raises(InvalidToken, match="expired"):
        sessions.refresh(pair.refresh_token)


@pytest.mark.parametrize(
    "token",
    ["", "ffr_", "ffr_short", "xxx_" + "A" * 43, "ffr_" + "A" * 44, "ffr_" + "A" * 43],
)
def test_malformed_or_unknown_refresh_tokens_are_refused(sessions: Sessions, token: str) -> None:
    with pytest.raises(InvalidToken, match=r"not a refresh token|unknown refresh token"):
        sessions.refresh(token)


def test_refresh_picks_up_the_users_present_role(sessions: Sessions) -> None:
    pair = sessions.start(ALICE)
    demoted = replace(ALICE, role="viewer", scopes=frozenset())
    after = sessions.refresh(pair.refresh_token, current=lambda _: demoted)
    claims = sessions.verify_access(after.access_token)
    assert (claims.role, claims.scopes) == ("viewer", frozenset())
    with pytest.raises(InvalidToken, match="no longer sign in"):
        sessions.refresh(after.refresh_token, current=lambda _: None)
    with pytest.raises(InvalidToken, match="revoked"):
        sessions.refresh(after.refresh_token)


def test_only_hashes_of_refresh_tokens_are_stored(
    sessions: Sessions, store: InMemoryRefreshStore
) -> None:
    pair = sessions.start(ALICE)
    digest = hashlib.sha256(pair.refresh_token.encode()).hexdigest()
    found = store.find(digest)
    assert found is not None
    assert found[0].token_hash == digest
    assert pair.refresh_token not in repr(store.__dict__)


def test_delete_expired_forgets_old_sessions(
    sessions: Sessions, store: InMemoryRefreshStore, clock: Clock
) -> None:
    old = sessions.start(ALICE)
    sessions.refresh(old.refresh_token)
    clock.advance(days=60)
    fresh = sessions.start(ALICE)
    assert store.delete_expired(clock.now) == 2  # the two refresh tokens of the idle session
    assert store.get_session(old.session_id) is not None
    clock.advance(days=31)
    assert store.delete_expired(clock.now) == 2  # the old session, and fresh's idle token
    assert store.get_session(old.session_id) is None
    assert store.get_session(fresh.session_id) is not None
