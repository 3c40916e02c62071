"""Session tokens: short-lived signed access tokens and rotating refresh tokens.

**Access tokens** are JWTs (PyJWT) signed with Ed25519 (``EdDSA``, the default) or P-256
(``ES256``) keys. Every key carries a ``kid`` (its RFC 7638 thumbprint); ``SigningKeys`` holds the
current key, which signs, and the previous keys, which still verify until they are dropped, so a
rotation never logs anybody out. Verification trusts nothing the token says about how to check
it: the ``kid`` must name a key of the set, the algorithm is the one that key was made for (so
``alg: none`` and HS256 "signed" with a public key are refused), and headers that point at other
keys (``jku``, ``x5u``, ``jwk``, ``x5c``) or ask for extensions (``crit``) are refused outright.
``iss``, ``aud``, ``sub``, ``exp``, ``iat``, ``jti`` and ``typ`` are required; ``exp``, ``nbf`` and
``iat`` are checked against the service's clock with a small leeway.

**Refresh tokens** are opaque random strings (``ffr_`` and 256 random bits), not JWTs. Rotation,
reuse detection and logout need a server-side record of every refresh token anyway, so a
self-contained token would add nothing but size, and it would tie a 30-day token to the
retention of a signing key. The store keeps only the SHA-256 of each token, so a leaked table
holds nothing anyone can present. Each use rotates: the presented token is marked used and a new
one is issued in the same session; presenting a used token again means it was copied, so the
whole session (every token descended from the same login) is revoked. Logout revokes the session.
Access tokens already issued stay valid until they expire (15 minutes by default); that is the
price of verifying them without a store lookup.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from threading import Lock
from typing import Any, Literal, Protocol, TypeAlias

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from jwt.algorithms import get_default_algorithms

from flowforge.errors import FlowForgeError

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "REFRESH_TOKEN_PREFIX",
    "AccessClaims",
    "InMemoryRefreshStore",
    "InvalidToken",
    "Principal",
    "RefreshRecord",
    "RefreshReused",
    "RefreshStore",
    "SessionRecord",
    "Sessions",
    "SigningKey",
    "SigningKeys",
    "TokenPair",
    "hash_refresh_token",
    "verify_access_token",
]

Algorithm: TypeAlias = Literal["EdDSA", "ES256"]
PrivateKey: TypeAlias = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey: TypeAlias = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
Clock: TypeAlias = Callable[[], datetime]

ACCESS_TOKEN_TYPE = "access"
# RFC 9068's media type for JWT access tokens, so an ID token or any other JWT signed by the same
# key can never pass as an access token.
_ACCESS_HEADER_TYP = "at+jwt"
REFRESH_TOKEN_PREFIX = "ffr_"
_REFRESH_BYTES = 32
_REFRESH_LENGTH = len(REFRESH_TOKEN_PREFIX) + len(secrets.token_urlsafe(_REFRESH_BYTES))
# Far above any token this module issues; refuses absurd input before any parsing.
_MAX_TOKEN_LENGTH = 8192
_ALLOWED_HEADERS = frozenset({"alg", "kid", "typ"})
# Headers that tell a verifier where to fetch or find the key: trusting any of them lets the
# token choose the key that verifies it.
_KEY_POINTING_HEADERS = frozenset({"jku", "x5u", "jwk", "x5c"})
_YEAR_10000 = 253402300800
_REQUIRED_CLAIMS = ["iss", "aud", "sub", "exp", "iat", "jti", "typ"]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class InvalidToken(FlowForgeError):
    """A token that does not authenticate anybody; ``reason`` says why, without secrets."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"invalid token: {reason}")


class RefreshReused(InvalidToken):
    """A refresh token presented after it was already exchanged; its session is now revoked."""


# -- signing keys


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _public_jwk(algorithm: Algorithm, public_key: PublicKey) -> dict[str, Any]:
    jwk: dict[str, Any] = get_default_algorithms()[algorithm].to_jwk(public_key, as_dict=True)
    return jwk


def _thumbprint(jwk: Mapping[str, Any]) -> str:
    """Gives the RFC 7638 thumbprint of a public JWK: SHA-256 of its required members."""
    members = ("crv", "kty", "x", "y") if jwk["kty"] == "EC" else ("crv", "kty", "x")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode("ascii")).digest())


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One asymmetric key pair with its ``kid`` and the one algorithm it signs with."""

    kid: str
    algorithm: Algorithm
    private_key: PrivateKey = field(repr=False)
    public_key: PublicKey = field(repr=False)
    created_at: datetime

    @classmethod
    def generate(cls, algorithm: Algorithm = "EdDSA", *, now: datetime | None = None) -> SigningKey:
        """Gives a fresh key pair for ``algorithm`` whose kid is its public key's thumbprint."""
        private_key: PrivateKey
        if algorithm == "EdDSA":
            private_key = ed25519.Ed25519PrivateKey.generate()
        elif algorithm == "ES256":
            private_key = ec.generate_private_key(ec.SECP256R1())
        else:
            raise ValueError(f"unsupported signing algorithm {algorithm!r}: use EdDSA or ES256")
        return cls._from_private(private_key, now or _utcnow())

    @classmethod
    def from_private_pem(cls, pem: bytes, *, created_at: datetime | None = None) -> SigningKey:
        """Gives the signing key stored as an unencrypted PKCS#8 PEM (see ``private_pem``)."""
        private_key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(private_key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
            raise ValueError("a signing key must be an Ed25519 or a P-256 private key")
        return cls._from_private(private_key, created_at or _utcnow())

    @classmethod
    def _from_private(cls, private_key: PrivateKey, created_at: datetime) -> SigningKey:
        algorithm: Algorithm
        if isinstance(private_key, ed25519.Ed25519PrivateKey):
            algorithm = "EdDSA"
        elif isinstance(private_key.curve, ec.SECP256R1):
            algorithm = "ES256"
        else:
            raise ValueError(f"unsupported curve {private_key.curve.name}: ES256 needs P-256")
        public_key = private_key.public_key()
        kid = _thumbprint(_public_jwk(algorithm, public_key))
        return cls(kid, algorithm, private_key, public_key, created_at)

    def private_pem(self) -> bytes:
        """Gives the private key as unencrypted PKCS#8 PEM, for a store that encrypts it."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def public_jwk(self) -> dict[str, Any]:
        """Gives the public half as a JWK with ``kid``, ``alg`` and ``use``, for a JWKS document."""
        jwk = _public_jwk(self.algorithm, self.public_key)
        return {**jwk, "kid": self.kid, "alg": self.algorithm, "use": "sig"}


class SigningKeys:
    """The key set: the current key signs; it and the previous keys verify.

    ``rotate`` makes a new current key and keeps the old one for verification, so tokens signed
    before the rotation stay valid until they expire; ``drop`` (or ``retire`` by age) removes a
    previous key, after which its tokens fail. Keep a previous key at least as long as the
    access token lifetime plus the leeway.
    """

    def __init__(self, current: SigningKey, previous: Iterable[SigningKey] = ()) -> None:
        self._current = current
        # kid -> (key, when it stopped being current)
        self._previous: dict[str, tuple[SigningKey, datetime]] = {}
        for key in previous:
            if key.kid == current.kid:
                raise ValueError(f"key {key.kid} is both current and previous")
            self._previous[key.kid] = (key, key.created_at)

    @classmethod
    def generate(cls, algorithm: Algorithm = "EdDSA") -> SigningKeys:
        """Gives a key set with one fresh key."""
        return cls(SigningKey.generate(algorithm))

    @property
    def current(self) -> SigningKey:
        """Gives the key new tokens are signed with."""
        return self._current

    @property
    def kids(self) -> list[str]:
        """Gives the kid of every key that verifies, the current one first."""
        return [self._current.kid, *self._previous]

    def get(self, kid: str) -> SigningKey | None:
        """Gives the key that ``kid`` names, if it is still in the set."""
        if kid == self._current.kid:
            return self._current
        entry = self._previous.get(kid)
        return entry[0] if entry else None

    def rotate(self, new: SigningKey | None = None, *, now: datetime | None = None) -> SigningKey:
        """Gives the new current key (``new`` or a fresh one of the same algorithm); the old
        current key is kept for verification only."""
        new = new or SigningKey.generate(self._current.algorithm, now=now)
        if self.get(new.kid) is not None:
            raise ValueError(f"key {new.kid} is already in the set")
        self._previous[self._current.kid] = (self._current, now or _utcnow())
        self._current = new
        return new

    def drop(self, kid: str) -> None:
        """Removes a previous key: tokens it signed no longer verify."""
        if kid == self._current.kid:
            raise ValueError("the current key cannot be dropped: rotate first")
        if self._previous.pop(kid, None) is None:
            raise KeyError(kid)

    def retire(self, older_than: timedelta, *, now: datetime | None = None) -> list[str]:
        """Gives the kids of the previous keys dropped because they stopped signing more than
        ``older_than`` ago."""
        cutoff = (now or _utcnow()) - older_than
        gone = [kid for kid, (_, retired) in self._previous.items() if retired <= cutoff]
        for kid in gone:
            del self._previous[kid]
        return gone

    def jwks(self) -> dict[str, Any]:
        """Gives the public keys as a JWK Set document (RFC 7517) for other verifiers."""
        keys = [self._current, *(key for key, _ in self._previous.values())]
        return {"keys": [key.public_jwk() for key in keys]}


# -- access tokens


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a token speaks for: the user id, their organisation, role and scopes."""

    sub: str
    org: str | None = None
    role: str | None = None
    scopes: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """The verified claims of an access token."""

    sub: str
    org: str | None
    role: str | None
    scopes: frozenset[str]
    jti: str
    issued_at: datetime
    expires_at: datetime
    kid: str
    session_id: str | None = None

    @property
    def principal(self) -> Principal:
        """Gives the principal the token was issued for."""
        return Principal(self.sub, self.org, self.role, self.scopes)


def _numeric_date(payload: Mapping[str, Any], claim: str) -> float:
    value = payload[claim]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken(f"claim {claim!r} must be a number of seconds")
    if not 0 <= value < _YEAR_10000:  # also refuses NaN; datetime cannot hold more
        raise InvalidToken(f"claim {claim!r} is out of range")
    return float(value)


def _optional_str(payload: Mapping[str, Any], claim: str) -> str | None:
    value = payload.get(claim)
    if value is not None and not isinstance(value, str):
        raise InvalidToken(f"claim {claim!r} must be a string")
    return value


def verify_access_token(
    token: str,
    keys: SigningKeys,
    *,
    issuer: str,
    audience: str,
    leeway: timedelta = timedelta(seconds=30),
    now: datetime | None = None,
) -> AccessClaims:
    """Gives the claims of a valid access token; raises ``InvalidToken`` for anything else."""
    if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN_LENGTH:
        raise InvalidToken("not a token of a plausible size")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(f"malformed token ({exc})") from None
    pointing = sorted(_KEY_POINTING_HEADERS & header.keys())
    if pointing:
        raise InvalidToken(
            f"header {', '.join(pointing)} refused: keys come only from the server's key set"
        )
    unexpected = sorted(header.keys() - _ALLOWED_HEADERS)
    if unexpected:
        raise InvalidToken(f"unexpected header {', '.join(unexpected)}")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise InvalidToken("no key id (kid) in the header")
    key = keys.get(kid)
    if key is None:
        raise InvalidToken("unknown key id")
    # The key decides the algorithm, never the token: this is what refuses "none" and HS256
    # computed over the public key. PyJWT is told the same below.
    if header.get("alg") != key.algorithm:
        raise InvalidToken(f"algorithm {header.get('alg')!r} is not the algorithm of this key")
    if header.get("typ") != _ACCESS_HEADER_TYP:
        raise InvalidToken(f"header typ must be {_ACCESS_HEADER_TYP!r}")
    try:
        payload = jwt.decode(
            token,
            key.public_key,
            algorithms=[key.algorithm],
            issuer=issuer,
            audience=audience,
            options={
                "require": _REQUIRED_CLAIMS,
                "strict_aud": True,
                # Times are checked below against the caller's clock, the same one that issued.
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidToken(f"missing required claim {exc.claim!r}") from None
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(str(exc) or type(exc).__name__) from None
    if payload["typ"] != ACCESS_TOKEN_TYPE:
        raise InvalidToken(f"claim 'typ' must be {ACCESS_TOKEN_TYPE!r}")
    moment = (now or _utcnow()).timestamp()
    slack = leeway.total_seconds()
    exp = _numeric_date(payload, "exp")
    iat = _numeric_date(payload, "iat")
    if exp <= moment - slack:
        raise InvalidToken("expired")
    if iat > moment + slack:
        raise InvalidToken("not yet valid (issued in the future)")
    if "nbf" in payload and _numeric_date(payload, "nbf") > moment + slack:
        raise InvalidToken("not yet valid (nbf)")
    if not payload["sub"]:
        raise InvalidToken("empty subject")
    scopes = payload.get("scopes", [])
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise InvalidToken("claim 'scopes' must be a list of strings")
    return AccessClaims(
        sub=payload["sub"],
        org=_optional_str(payload, "org"),
        role=_optional_str(payload, "role"),
        scopes=frozenset(scopes),
        jti=payload["jti"],
        issued_at=datetime.fromtimestamp(iat, UTC),
        expires_at=datetime.fromtimestamp(exp, UTC),
        kid=kid,
        session_id=_optional_str(payload, "sid"),
    )


# -- refresh tokens and their store


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """One login: the principal, its absolute expiry and whether it was revoked.

    Every refresh token descends from exactly one session; revoking the session revokes them all.
    """

    id: str
    principal: Principal
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RefreshRecord:
    """One refresh token as stored: its SHA-256, its session, expiry and when it was used."""

    token_hash: str
    session_id: str
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


class RefreshStore(Protocol):
    """Where sessions and refresh token hashes live.

    ``rotate`` must be atomic (one transaction in SQL: an ``UPDATE ... WHERE used_at IS NULL``
    whose row count decides, then the ``INSERT``), so two concurrent uses of one token never both
    succeed.
    """

    def add_session(self, session: SessionRecord, first: RefreshRecord) -> None:
        """Stores a new session with its first refresh token."""
        ...

    def find(self, token_hash: str) -> tuple[RefreshRecord, SessionRecord] | None:
        """Gives the refresh token with this hash and its session, if known."""
        ...

    def rotate(self, used_hash: str, new: RefreshRecord, at: datetime) -> bool:
        """Marks ``used_hash`` used and stores ``new``, only if that token was unused and its
        session not revoked; gives whether it did."""
        ...

    def revoke_session(self, session_id: str, at: datetime) -> bool:
        """Revokes a session; gives whether it was live before."""
        ...

    def revoke_subject(self, sub: str, at: datetime) -> int:
        """Revokes every live session of a user; gives how many."""
        ...

    def get_session(self, session_id: str) -> SessionRecord | None:
        """Gives a session by id."""
        ...

    def delete_expired(self, now: datetime) -> int:
        """Deletes sessions and tokens past their expiry; gives how many records went."""
        ...


class InMemoryRefreshStore:
    """A ``RefreshStore`` in dictionaries, for tests and the single-process server."""

    def __init__(self) -> None:
        self._lock = Lock()
        self._sessions: dict[str, SessionRecord] = {}
        self._tokens: dict[str, RefreshRecord] = {}

    def add_session(self, session: SessionRecord, first: RefreshRecord) -> None:
        """Stores a new session with its first refresh token."""
        with self._lock:
            if session.id in self._sessions or first.token_hash in self._tokens:
                raise ValueError("session or refresh token already stored")
            self._sessions[session.id] = session
            self._tokens[first.token_hash] = first

    def find(self, token_hash: str) -> tuple[RefreshRecord, SessionRecord] | None:
        """Gives the refresh token with this hash and its session, if known."""
        with self._lock:
            record = self._tokens.get(token_hash)
            session = self._sessions.get(record.session_id) if record else None
            return (record, session) if record and session else None

    def rotate(self, used_hash: str, new: RefreshRecord, at: datetime) -> bool:
        """Marks ``used_hash`` used and stores ``new`` if it was unused and its session live."""
        with self._lock:
            record = self._tokens.get(used_hash)
            if record is None or record.used_at is not None or new.token_hash in self._tokens:
                return False
            session = self._sessions.get(record.session_id)
            if session is None or session.revoked_at is not None:
                return False
            self._tokens[used_hash] = replace(record, used_at=at)
            self._tokens[new.token_hash] = new
            return True

    def revoke_session(self, session_id: str, at: datetime) -> bool:
        """Revokes a session; gives whether it was live before."""
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None or session.revoked_at is not None:
                return False
            self._sessions[session_id] = replace(session, revoked_at=at)
            return True

    def revoke_subject(self, sub: str, at: datetime) -> int:
        """Revokes every live session of a user; gives how many."""
        with self._lock:
            live = [
                s
                for s in self._sessions.values()
                if s.principal.sub == sub and s.revoked_at is None
            ]
            for session in live:
                self._sessions[session.id] = replace(session, revoked_at=at)
            return len(live)

    def get_session(self, session_id: str) -> SessionRecord | None:
        """Gives a session by id."""
        with self._lock:
            return self._sessions.get(session_id)

    def delete_expired(self, now: datetime) -> int:
        """Deletes sessions and tokens past their expiry; gives how many records went."""
        with self._lock:
            sessions = [k for k, s in self._sessions.items() if s.expires_at <= now]
            for key in sessions:
                del self._sessions[key]
            tokens = [
                k
                for k, t in self._tokens.items()
                if t.expires_at <= now or t.session_id not in self._sessions
            ]
            for key in tokens:
                del self._tokens[key]
            return len(sessions) + len(tokens)


def hash_refresh_token(token: str) -> str:
    """The SHA-256 (hex) under which a refresh token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# -- the service


@dataclass(frozen=True, slots=True)
class TokenPair:
    """What a login or a refresh gives the client: both tokens and when the access one expires."""

    access_token: str
    refresh_token: str
    access_expires_at: datetime
    refresh_expires_at: datetime
    session_id: str


class Sessions:
    """Issues, verifies, refreshes and revokes session tokens.

    ``access_ttl`` bounds how long a stolen access token works and how long logout takes to
    reach access tokens; ``refresh_ttl`` is the idle limit (each refresh extends it) and
    ``session_max_age`` the absolute limit of one login. ``cache_size`` access tokens that
    verified are remembered so a repeat costs microseconds (0 turns that off).
    """

    def __init__(
        self,
        keys: SigningKeys,
        store: RefreshStore,
        *,
        issuer: str,
        audience: str,
        access_ttl: timedelta = timedelta(minutes=15),
        refresh_ttl: timedelta = timedelta(days=30),
        session_max_age: timedelta = timedelta(days=90),
        leeway: timedelta = timedelta(seconds=30),
        clock: Clock = _utcnow,
        cache_size: int = 4096,
    ) -> None:
        if access_ttl <= timedelta(0) or refresh_ttl <= timedelta(0):
            raise ValueError("token lifetimes must be positive")
        self.keys = keys
        self.store = store
        self.issuer = issuer
        self.audience = audience
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.session_max_age = session_max_age
        self.leeway = leeway
        self._clock = clock
        # token -> claims of tokens that passed full verification. A client sends the same
        # access token with every request for 15 minutes; a hit skips parsing and the signature
        # check (the bulk of the cost) but still checks expiry and that the key is in the set.
        self._cache_size = cache_size
        self._cache: OrderedDict[str, AccessClaims] = OrderedDict()
        self._cache_lock = Lock()

    def issue_access(
        self, principal: Principal, *, session_id: str | None = None
    ) -> tuple[str, datetime]:
        """Gives a signed access token for ``principal`` and its expiry."""
        now = self._clock()
        issued = int(now.timestamp())
        expires = issued + int(self.access_ttl.total_seconds())
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": principal.sub,
            "iat": issued,
            "nbf": issued,
            "exp": expires,
            "jti": secrets.token_urlsafe(16),
            "typ": ACCESS_TOKEN_TYPE,
            "org": principal.org,
            "role": principal.role,
            "scopes": sorted(principal.scopes),
        }
        if session_id is not None:
            payload["sid"] = session_id
        key = self.keys.current
        token = jwt.encode(
            payload,
            key.private_key,
            algorithm=key.algorithm,
            headers={"kid": key.kid, "typ": _ACCESS_HEADER_TYP},
        )
        return token, datetime.fromtimestamp(expires, UTC)

    def verify_access(self, token: str) -> AccessClaims:
        """Gives the claims of a valid access token; raises ``InvalidToken`` otherwise."""
        now = self._clock()
        with self._cache_lock:
            claims = self._cache.get(token)
        if claims is not None:
            if claims.expires_at > now - self.leeway and self.keys.get(claims.kid) is not None:
                return claims
            with self._cache_lock:
                self._cache.pop(token, None)
        claims = verify_access_token(
            token,
            self.keys,
            issuer=self.issuer,
            audience=self.audience,
            leeway=self.leeway,
            now=now,
        )
        if self._cache_size > 0:
            with self._cache_lock:
                self._cache[token] = claims
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return claims

    def start(self, principal: Principal) -> TokenPair:
        """Gives the token pair of a new session (a login)."""
        if not principal.sub:
            raise ValueError("a session needs a subject")
        now = self._clock()
        session = SessionRecord(
            id=secrets.token_urlsafe(16),
            principal=principal,
            created_at=now,
            expires_at=now + self.session_max_age,
        )
        refresh, record = self._new_refresh(session, now)
        self.store.add_session(session, record)
        return self._pair(session, principal, refresh, record)

    def refresh(
        self,
        refresh_token: str,
        *,
        current: Callable[[Principal], Principal | None] | None = None,
    ) -> TokenPair:
        """Gives a new token pair for a refresh token, which is used up.

        ``current`` maps the session's principal to the user's present one (a changed role, say)
        or to None when the user may no longer sign in, which ends the session. A token used a
        second time raises ``RefreshReused`` and revokes its whole session.
        """
        now = self._clock()
        found = self.store.find(hash_refresh_token(self._checked_refresh(refresh_token)))
        if found is None:
            raise InvalidToken("unknown refresh token")
        record, session = found
        if session.revoked_at is not None:
            raise InvalidToken("the session was revoked")
        if record.used_at is not None:
            self.store.revoke_session(session.id, now)
            raise RefreshReused("refresh token used twice: the session is revoked")
        if record.expires_at <= now or session.expires_at <= now:
            raise InvalidToken("refresh token expired")
        principal = session.principal
        if current is not None:
            present = current(principal)
            if present is None:
                self.store.revoke_session(session.id, now)
                raise InvalidToken("the user may no longer sign in")
            if present.sub != principal.sub:
                raise ValueError("current() must not change the subject of a session")
            principal = present
        refresh, new = self._new_refresh(session, now)
        if not self.store.rotate(record.token_hash, new, now):
            # Somebody used the same token between our read and our write: the same reuse.
            self.store.revoke_session(session.id, now)
            raise RefreshReused("refresh token used twice: the session is revoked")
        return self._pair(session, principal, refresh, new)

    def logout(self, refresh_token: str) -> bool:
        """Revokes the session of a refresh token; gives whether it was live."""
        found = self.store.find(hash_refresh_token(self._checked_refresh(refresh_token)))
        if found is None:
            return False
        return self.store.revoke_session(found[1].id, self._clock())

    def logout_everywhere(self, sub: str) -> int:
        """Revokes every session of a user; gives how many were live."""
        return self.store.revoke_subject(sub, self._clock())

    def _checked_refresh(self, token: str) -> str:
        if (
            not isinstance(token, str)
            or len(token) != _REFRESH_LENGTH
            or not token.startswith(REFRESH_TOKEN_PREFIX)
        ):
            raise InvalidToken("not a refresh token")
        return token

    def _new_refresh(self, session: SessionRecord, now: datetime) -> tuple[str, RefreshRecord]:
        token = REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(_REFRESH_BYTES)
        expires = min(now + self.refresh_ttl, session.expires_at)
        return token, RefreshRecord(hash_refresh_token(token), session.id, now, expires)

    def _pair(
        self, session: SessionRecord, principal: Principal, refresh: str, record: RefreshRecord
    ) -> TokenPair:
        access, access_expires = self.issue_access(principal, session_id=session.id)
        return TokenPair(access, refresh, access_expires, record.expires_at, session.id)
