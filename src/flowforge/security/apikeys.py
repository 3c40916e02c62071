"""API keys: scoped, shown once, stored as a hash, with expiry, rotation and revocation.

A key reads ``ffk_<key id>_<secret><checksum>``: the ``ffk_`` prefix and fixed shape let secret
scanners (GitHub push protection, trufflehog, gitleaks) spot a leaked key; the 12-character key id
is the key's public name, shown in lists, audit entries and rate-limit buckets; the secret is 43
base62 characters (256 random bits); the last 6 characters are a CRC32 of everything before them
(GitHub's token format does the same), so a mistyped or truncated key is rejected with a clear
message before any lookup, and a scanner can tell a real key from look-alike noise offline.

Only the SHA-256 of the whole key is stored. A slow password hash such as argon2 exists to make
guessing a low-entropy human password expensive; a key with 256 random bits cannot be guessed at
any cost per guess, so a slow hash would add nothing but ~50 ms of CPU to every API request (and
a denial-of-service lever). Comparisons use ``hmac.compare_digest``.

Rotation keeps the key id and replaces the secret: the id is what audit entries, rate limits and
the UI refer to, and it stays meaningful across rotations. The old secret can be granted a grace
period so a deployment can roll over without downtime.

Scopes are colon-separated segments (``workflows:read``, ``executions:write``,
``services:slack:send``). A granted scope whose last segment is ``*`` grants every scope that
extends its other segments (``services:*`` grants ``services:slack:send`` and ``services:read``,
not ``services`` itself), and ``*`` alone grants everything. Nothing else is implied: ``write``
does not imply ``read``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
import zlib
from collections.abc import Callable, Iterable, Set
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from threading import Lock
from typing import Protocol, TypeAlias

from flowforge.errors import FlowForgeError

__all__ = [
    "API_KEY_PREFIX",
    "KEY_ID_LENGTH",
    "ApiKey",
    "ApiKeys",
    "InMemoryKeyStore",
    "InvalidApiKey",
    "IssuedKey",
    "KeyStore",
    "MalformedApiKey",
    "ParsedKey",
    "generate_api_key",
    "hash_api_key",
    "parse_api_key",
    "scope_allows",
    "validate_scope",
]

API_KEY_PREFIX = "ffk_"
KEY_ID_LENGTH = 12
_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_ID_LENGTH = KEY_ID_LENGTH
_SECRET_LENGTH = 43  # 62**43 > 2**256
_CHECKSUM_LENGTH = 6  # 62**6 > 2**32
_KEY_LENGTH = len(API_KEY_PREFIX) + _ID_LENGTH + 1 + _SECRET_LENGTH + _CHECKSUM_LENGTH
_BASE62_CHARS = frozenset(_BASE62)
_SEGMENT = r"[a-z][a-z0-9_.-]*"
_SCOPE = re.compile(rf"^(\*|{_SEGMENT}(:{_SEGMENT})*(:\*)?)$")
Clock: TypeAlias = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class InvalidApiKey(FlowForgeError):
    """A presented API key that authenticates nobody; ``reason`` is one of ``malformed``,
    ``unknown``, ``wrong-secret``, ``revoked`` or ``expired``. Never carries the key itself."""

    def __init__(self, reason: str, message: str, *, key_id: str | None = None) -> None:
        self.reason = reason
        self.key_id = key_id
        super().__init__(message)


class MalformedApiKey(InvalidApiKey):
    """A string that is not an API key at all; the message says what is wrong with its shape."""

    def __init__(self, message: str) -> None:
        super().__init__("malformed", f"malformed API key: {message}")


# -- format


def _base62(value: int, width: int) -> str:
    digits = []
    for _ in range(width):
        value, digit = divmod(value, 62)
        digits.append(_BASE62[digit])
    return "".join(reversed(digits))


def _random_base62(length: int) -> str:
    return "".join(secrets.choice(_BASE62) for _ in range(length))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode("ascii")), _CHECKSUM_LENGTH)


@dataclass(frozen=True, slots=True)
class ParsedKey:
    """A well-formed API key split into its public id and the full key string."""

    key_id: str
    key: str


def parse_api_key(presented: str) -> ParsedKey:
    """Gives the parts of a well-formed key; raises ``MalformedApiKey`` saying what is wrong."""
    if not isinstance(presented, str):
        raise MalformedApiKey("an API key is a string")
    if not presented.startswith(API_KEY_PREFIX):
        raise MalformedApiKey(f"an API key starts with {API_KEY_PREFIX!r}")
    if len(presented) != _KEY_LENGTH:
        raise MalformedApiKey(
            f"an API key is {_KEY_LENGTH} characters long, this one has {len(presented)}"
            " (truncated or padded?)"
        )
    key_id = presented[len(API_KEY_PREFIX) : len(API_KEY_PREFIX) + _ID_LENGTH]
    separator = presented[len(API_KEY_PREFIX) + _ID_LENGTH]
    rest = presented[len(API_KEY_PREFIX) + _ID_LENGTH + 1 :]
    if separator != "_" or not set(key_id) <= _BASE62_CHARS:
        raise MalformedApiKey(f"expected {API_KEY_PREFIX}<{_ID_LENGTH} letters or digits>_<secret>")
    if not set(rest) <= _BASE62_CHARS:
        raise MalformedApiKey("the secret part holds characters other than letters and digits")
    body, checksum = presented[:-_CHECKSUM_LENGTH], presented[-_CHECKSUM_LENGTH:]
    if not hmac.compare_digest(_checksum(body), checksum):
        raise MalformedApiKey("checksum mismatch: the key was mistyped or altered")
    return ParsedKey(key_id, presented)


def hash_api_key(key: str) -> str:
    """Gives the hex SHA-256 of a full key string, the only form of it that is stored."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _new_key(key_id: str) -> str:
    body = f"{API_KEY_PREFIX}{key_id}_{_random_base62(_SECRET_LENGTH)}"
    return body + _checksum(body)


def generate_api_key() -> str:
    """Gives a new well-formed key that no store holds yet, for a deployment to configure and
    have stored with ``ApiKeys.adopt`` (``FLOWFORGE_ADMIN_API_KEY``)."""
    return _new_key(_random_base62(_ID_LENGTH))


# -- scopes


def validate_scope(scope: str) -> str:
    """Gives ``scope`` if it is well formed (lowercase segments joined by ``:``, optionally ending
    in ``:*``, or ``*`` alone); raises ``ValueError`` otherwise."""
    if not isinstance(scope, str) or not _SCOPE.match(scope):
        raise ValueError(
            f"invalid scope {scope!r}: expected lowercase segments joined by ':' such as"
            " 'workflows:read', optionally ending in ':*', or '*' alone"
        )
    return scope


def scope_allows(granted: Set[str], needed: str) -> bool:
    """Gives whether the ``granted`` scopes cover the ``needed`` one.

    ``needed`` is matched literally except through wildcards in ``granted``: ``*`` covers
    everything and ``a:b:*`` covers every scope with at least one segment after ``a:b``.
    """
    validate_scope(needed)
    if needed in granted or "*" in granted:
        return True
    segments = needed.split(":")
    return any(":".join(segments[:depth]) + ":*" in granted for depth in range(1, len(segments)))


# -- records and store


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One stored API key: who it acts for, what it may do and its life cycle. No secret here,
    only hashes."""

    key_id: str
    secret_hash: str
    subject: str
    org: str | None
    scopes: frozenset[str]
    name: str
    created_at: datetime
    role: str | None = None
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    rotated_at: datetime | None = None
    # The secret replaced by the last rotation, accepted until ``previous_valid_until``.
    previous_hash: str | None = None
    previous_valid_until: datetime | None = None

    @property
    def prefix(self) -> str:
        """Gives the public beginning of the key (``ffk_<key id>``), for lists and logs."""
        return f"{API_KEY_PREFIX}{self.key_id}"

    def allows(self, needed: str) -> bool:
        """Gives whether this key's scopes cover ``needed``."""
        return scope_allows(self.scopes, needed)


class KeyStore(Protocol):
    """Where API key records live, keyed by key id."""

    def add(self, key: ApiKey) -> None:
        """Stores a new key; raises ``KeyError`` if the id is taken."""
        ...

    def get(self, key_id: str) -> ApiKey | None:
        """Gives the key with this id, if any."""
        ...

    def replace(self, key: ApiKey) -> None:
        """Overwrites the stored key with the same id (rotation, revocation)."""
        ...

    def touch(self, key_id: str, at: datetime) -> None:
        """Records that the key was used at ``at``."""
        ...

    def list_keys(self, *, org: str | None = None, subject: str | None = None) -> list[ApiKey]:
        """Gives the keys of an organisation and/or a subject, oldest first."""
        ...


class InMemoryKeyStore:
    """A ``KeyStore`` in a dictionary, for tests and the single-process server."""

    def __init__(self) -> None:
        self._lock = Lock()
        self._keys: dict[str, ApiKey] = {}

    def add(self, key: ApiKey) -> None:
        """Stores a new key; raises ``KeyError`` if the id is taken."""
        with self._lock:
            if key.key_id in self._keys:
                raise KeyError(f"API key id {key.key_id} already exists")
            self._keys[key.key_id] = key

    def get(self, key_id: str) -> ApiKey | None:
        """Gives the key with this id, if any."""
        # No lock: one dict read is atomic, and this is on every request's path.
        return self._keys.get(key_id)

    def replace(self, key: ApiKey) -> None:
        """Overwrites the stored key with the same id (rotation, revocation)."""
        with self._lock:
            if key.key_id not in self._keys:
                raise KeyError(key.key_id)
            self._keys[key.key_id] = key

    def touch(self, key_id: str, at: datetime) -> None:
        """Records that the key was used at ``at``."""
        with self._lock:
            key = self._keys.get(key_id)
            if key is not None:
                self._keys[key_id] = replace(key, last_used_at=at)

    def list_keys(self, *, org: str | None = None, subject: str | None = None) -> list[ApiKey]:
        """Gives the keys of an organisation and/or a subject, oldest first."""
        with self._lock:
            keys = list(self._keys.values())
        return sorted(
            (
                k
                for k in keys
                if (org is None or k.org == org) and (subject is None or k.subject == subject)
            ),
            key=lambda k: k.created_at,
        )


# -- the service


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new or rotated key: the full key string, to show exactly once, and its record."""

    key: str
    record: ApiKey


class ApiKeys:
    """Creates, verifies, rotates and revokes API keys over a ``KeyStore``.

    ``touch_interval`` spaces the writes of ``last_used_at``: a busy key would otherwise cost a
    database write per request for a timestamp nobody needs to the second.
    """

    def __init__(
        self,
        store: KeyStore,
        *,
        clock: Clock = _utcnow,
        touch_interval: timedelta = timedelta(minutes=1),
    ) -> None:
        self.store = store
        self._clock = clock
        self.touch_interval = touch_interval

    def create(
        self,
        *,
        subject: str,
        scopes: Iterable[str],
        org: str | None = None,
        name: str = "",
        role: str | None = None,
        expires_in: timedelta | None = None,
    ) -> IssuedKey:
        """Gives a new key for ``subject`` with ``scopes``, expiring after ``expires_in`` if
        given."""
        if not subject:
            raise ValueError("an API key needs a subject")
        checked = frozenset(validate_scope(s) for s in scopes)
        if expires_in is not None and expires_in <= timedelta(0):
            raise ValueError("expires_in must be positive")
        now = self._clock()
        for _ in range(5):
            key_id = _random_base62(_ID_LENGTH)
            key = _new_key(key_id)
            record = ApiKey(
                key_id=key_id,
                secret_hash=hash_api_key(key),
                subject=subject,
                org=org,
                scopes=checked,
                name=name,
                created_at=now,
                role=role,
                expires_at=now + expires_in if expires_in is not None else None,
            )
            try:
                self.store.add(record)
            except KeyError:
                continue  # 62**12 ids: a collision is a freak, not a pattern
            return IssuedKey(key, record)
        raise RuntimeError("could not find a free API key id")

    def adopt(
        self,
        key: str,
        *,
        subject: str,
        scopes: Iterable[str],
        org: str | None = None,
        name: str = "",
        role: str | None = None,
    ) -> ApiKey:
        """Gives the record of a key made elsewhere (``generate_api_key``), storing it if the
        store does not hold it yet. A key already stored is left as it is, revoked or not;
        ``ValueError`` if its id is held by another secret."""
        parsed = parse_api_key(key)
        stored = self.store.get(parsed.key_id)
        if stored is not None:
            if not hmac.compare_digest(stored.secret_hash, hash_api_key(parsed.key)):
                raise ValueError(f"API key id {parsed.key_id} is held by another key")
            return stored
        record = ApiKey(
            key_id=parsed.key_id,
            secret_hash=hash_api_key(parsed.key),
            subject=subject,
            org=org,
            scopes=frozenset(validate_scope(s) for s in scopes),
            name=name,
            created_at=self._clock(),
            role=role,
        )
        try:
            self.store.add(record)
        except KeyError:  # a concurrent start stored it first
            return self.adopt(key, subject=subject, scopes=scopes, org=org, name=name, role=role)
        return record

    def verify(self, presented: str) -> ApiKey:
        """Gives the record of a valid, live key; raises ``InvalidApiKey`` (or
        ``MalformedApiKey``) otherwise."""
        parsed = parse_api_key(presented)
        digest = hash_api_key(parsed.key)
        record = self.store.get(parsed.key_id)
        if record is None:
            raise InvalidApiKey("unknown", "invalid API key", key_id=parsed.key_id)
        now = self._clock()
        current = hmac.compare_digest(digest, record.secret_hash)
        previous = (
            record.previous_hash is not None
            and record.previous_valid_until is not None
            and hmac.compare_digest(digest, record.previous_hash)
            and now < record.previous_valid_until
        )
        if not (current or previous):
            raise InvalidApiKey("wrong-secret", "invalid API key", key_id=record.key_id)
        # Life-cycle reasons only once the secret is proven: nobody learns them from an id alone.
        if record.revoked_at is not None:
            raise InvalidApiKey("revoked", "this API key was revoked", key_id=record.key_id)
        if record.expires_at is not None and record.expires_at <= now:
            raise InvalidApiKey("expired", "this API key has expired", key_id=record.key_id)
        if record.last_used_at is None or now - record.last_used_at >= self.touch_interval:
            self.store.touch(record.key_id, now)
            record = replace(record, last_used_at=now)
        return record

    def rotate(self, key_id: str, *, grace: timedelta = timedelta(0)) -> IssuedKey:
        """Gives the key with a new secret under the same id; the old secret keeps working for
        ``grace`` (not at all by default)."""
        record = self._live(key_id)
        now = self._clock()
        key = _new_key(key_id)
        rotated = replace(
            record,
            secret_hash=hash_api_key(key),
            rotated_at=now,
            previous_hash=record.secret_hash if grace > timedelta(0) else None,
            previous_valid_until=now + grace if grace > timedelta(0) else None,
        )
        self.store.replace(rotated)
        return IssuedKey(key, rotated)

    def revoke(self, key_id: str) -> ApiKey:
        """Gives the revoked record; the key, and any old secret in its grace period, stop
        working at once. Revoking a revoked key changes nothing."""
        record = self.store.get(key_id)
        if record is None:
            raise KeyError(key_id)
        if record.revoked_at is not None:
            return record
        revoked = replace(
            record, revoked_at=self._clock(), previous_hash=None, previous_valid_until=None
        )
        self.store.replace(revoked)
        return revoked

    def _live(self, key_id: str) -> ApiKey:
        record = self.store.get(key_id)
        if record is None:
            raise KeyError(key_id)
        if record.revoked_at is not None:
            raise ValueError(f"API key {key_id} is revoked")
        return record
