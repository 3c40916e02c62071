"""Passwords: argon2id hashes, length bounds, and a lock-out after repeated failures.

Hashing is argon2-cffi's ``PasswordHasher`` (argon2id, RFC 9106's low-memory parameters by
default). A stored hash made with weaker parameters than the current ones is replaced on the next
successful sign-in (``PasswordCheck.new_hash``). Passwords are NFKC-normalised first, so the same
password typed on two keyboards that compose accents differently is the same password, and must
be 8 to 1,024 characters: long enough to mean something, short enough that nobody can make the
server hash a megabyte per attempt.

``PasswordLogin.check`` is the whole sign-in decision for one account name:

- an account locked out is refused before any hashing;
- otherwise the password is verified, and when the account does not exist a dummy hash with the
  same parameters is verified instead, so a caller cannot tell known from unknown accounts by
  timing; failures are counted for unknown accounts too, so the lock-out does not tell them apart
  either;
- ``max_failures`` failures within ``window`` lock the account for ``first_lock``, each further
  lock lasting ``growth`` times longer up to ``max_lock``; a success clears the count and the lock
  history, and so do ``forget_after`` without any failure or lock.

A lock-out lets anybody lock out an account whose name they know; that is the accepted price of
stopping online guessing, and the rate limiter in front of the API bounds it per client.
"""

from __future__ import annotations

import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from threading import Lock
from typing import Protocol, TypeAlias

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from flowforge.errors import FlowForgeError

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "AccountLocked",
    "FailureRecord",
    "FailureStore",
    "InMemoryFailureStore",
    "LockoutPolicy",
    "PasswordCheck",
    "PasswordLogin",
    "PasswordRejected",
    "check_password_policy",
    "hash_password",
    "needs_rehash",
    "verify_password",
]

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
Clock: TypeAlias = Callable[[], datetime]

_DEFAULT_HASHER = PasswordHasher()


def _utcnow() -> datetime:
    return datetime.now(UTC)


class PasswordRejected(FlowForgeError, ValueError):
    """A new password that does not meet the policy; the message says which rule."""


class AccountLocked(FlowForgeError):
    """Sign-in refused because of too many failures; ``retry_after`` is when it may resume."""

    def __init__(self, retry_after: datetime) -> None:
        self.retry_after = retry_after
        super().__init__(
            f"too many failed sign-ins: try again after {retry_after.isoformat(timespec='seconds')}"
        )


def _normalise(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def check_password_policy(password: str) -> str:
    """Gives the normalised password if it may be set; raises ``PasswordRejected`` otherwise."""
    if not isinstance(password, str):
        raise PasswordRejected("a password must be text")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordRejected(f"a password must be at most {MAX_PASSWORD_LENGTH} characters")
    normalised = _normalise(password)
    if len(normalised) < MIN_PASSWORD_LENGTH:
        raise PasswordRejected(f"a password must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(normalised) > MAX_PASSWORD_LENGTH:
        raise PasswordRejected(f"a password must be at most {MAX_PASSWORD_LENGTH} characters")
    return normalised


def hash_password(password: str, *, hasher: PasswordHasher = _DEFAULT_HASHER) -> str:
    """Gives the argon2id hash (PHC string) to store for a new password that meets the policy."""
    return hasher.hash(check_password_policy(password))


def verify_password(
    stored_hash: str, password: str, *, hasher: PasswordHasher = _DEFAULT_HASHER
) -> bool:
    """Gives whether ``password`` matches ``stored_hash``; a malformed hash never matches.

    No minimum length here: a password set under an older, laxer policy still verifies. Over
    the maximum it fails without hashing.
    """
    if not isinstance(password, str) or len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return hasher.verify(stored_hash, _normalise(password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str, *, hasher: PasswordHasher = _DEFAULT_HASHER) -> bool:
    """Gives whether ``stored_hash`` was made with other parameters than ``hasher``'s."""
    try:
        return hasher.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


# -- lock-out


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    """How many failures lock an account, and for how long."""

    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)
    first_lock: timedelta = timedelta(minutes=15)
    growth: float = 2.0
    max_lock: timedelta = timedelta(hours=24)
    forget_after: timedelta = timedelta(hours=24)

    def __post_init__(self) -> None:
        if self.max_failures < 1 or self.growth < 1:
            raise ValueError("max_failures must be at least 1 and growth at least 1")
        if self.first_lock <= timedelta(0) or self.max_lock < self.first_lock:
            raise ValueError("locks must be positive and max_lock at least first_lock")

    def lock_duration(self, lock_number: int) -> timedelta:
        """Gives how long the ``lock_number``-th lock (1 for the first) lasts."""
        if lock_number < 1:
            raise ValueError("lock numbers start at 1")
        # Compare in seconds before building a timedelta: growth ** n overflows one quickly.
        seconds = self.first_lock.total_seconds() * self.growth ** min(lock_number - 1, 64)
        return min(timedelta(seconds=min(seconds, 1e9)), self.max_lock)


@dataclass(frozen=True, slots=True)
class FailureRecord:
    """The recent failures of one account name and its lock state."""

    failures: tuple[datetime, ...] = ()
    locks: int = 0
    locked_until: datetime | None = None
    last_failure: datetime | None = None


def _quiet_since(record: FailureRecord, now: datetime) -> datetime:
    """Gives since when an account has seen no failure and no lock (``now`` while locked)."""
    moments = [m for m in (record.last_failure, record.locked_until) if m is not None]
    return min(max(moments), now) if moments else now


class FailureStore(Protocol):
    """Where failure records live, keyed by the normalised account name.

    ``update`` must be atomic (a transaction with ``SELECT ... FOR UPDATE`` in SQL), so parallel
    guesses cannot slip past the count.
    """

    def get(self, account: str) -> FailureRecord | None:
        """Gives the record of an account, if any."""
        ...

    def update(
        self, account: str, change: Callable[[FailureRecord | None], FailureRecord | None]
    ) -> FailureRecord | None:
        """Replaces the record with ``change(record)`` (None deletes it) and gives the result."""
        ...


class InMemoryFailureStore:
    """A ``FailureStore`` in a dictionary, for tests and the single-process server."""

    def __init__(self) -> None:
        self._lock = Lock()
        self._records: dict[str, FailureRecord] = {}

    def get(self, account: str) -> FailureRecord | None:
        """Gives the record of an account, if any."""
        with self._lock:
            return self._records.get(account)

    def update(
        self, account: str, change: Callable[[FailureRecord | None], FailureRecord | None]
    ) -> FailureRecord | None:
        """Replaces the record with ``change(record)`` (None deletes it) and gives the result."""
        with self._lock:
            result = change(self._records.get(account))
            if result is None:
                self._records.pop(account, None)
            else:
                self._records[account] = result
            return result

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def prune(self, now: datetime, forget_after: timedelta) -> int:
        """Deletes the records quiet (no failure, no lock) for ``forget_after``; gives how many."""
        with self._lock:
            stale = [
                account
                for account, r in self._records.items()
                if now - _quiet_since(r, now) >= forget_after
            ]
            for account in stale:
                del self._records[account]
            return len(stale)


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    """The outcome of a sign-in: whether it succeeded, and a new hash to store when the stored one
    used outdated parameters."""

    ok: bool
    new_hash: str | None = None


class PasswordLogin:
    """Password sign-in with constant work for unknown accounts and a growing lock-out."""

    def __init__(
        self,
        failures: FailureStore,
        *,
        policy: LockoutPolicy | None = None,
        hasher: PasswordHasher = _DEFAULT_HASHER,
        clock: Clock = _utcnow,
    ) -> None:
        self.failures = failures
        self.policy = policy or LockoutPolicy()
        self.hasher = hasher
        self._clock = clock
        # Same parameters as real hashes, so verifying against it costs the same.
        self._dummy_hash = hasher.hash(secrets.token_urlsafe(32))

    def locked_until(self, account: str) -> datetime | None:
        """Gives when the lock on ``account`` ends, or None when it is not locked."""
        record = self.failures.get(account)
        now = self._clock()
        if record and record.locked_until and record.locked_until > now:
            return record.locked_until
        return None

    def check(self, account: str, password: str, stored_hash: str | None) -> PasswordCheck:
        """Gives the outcome of signing in to ``account`` (a normalised name such as a lowercased
        e-mail) with ``password``; ``stored_hash`` is None when no such account exists.

        Raises ``AccountLocked`` while the account is locked, without looking at the password.
        """
        until = self.locked_until(account)
        if until is not None:
            raise AccountLocked(until)
        target = stored_hash if stored_hash is not None else self._dummy_hash
        matched = verify_password(target, password, hasher=self.hasher) and stored_hash is not None
        now = self._clock()
        if matched:
            self.failures.update(account, lambda _: None)
            new_hash = None
            if needs_rehash(target, hasher=self.hasher):
                new_hash = self.hasher.hash(_normalise(password))
            return PasswordCheck(True, new_hash)
        record = self.failures.update(account, lambda r: self._fail(r, now))
        if record is not None and record.locked_until is not None and record.locked_until > now:
            raise AccountLocked(record.locked_until)
        return PasswordCheck(False)

    def _fail(self, record: FailureRecord | None, now: datetime) -> FailureRecord:
        policy = self.policy
        record = record or FailureRecord()
        if now - _quiet_since(record, now) >= policy.forget_after:
            record = FailureRecord()
        if record.locked_until is not None and record.locked_until > now:
            return record  # a guess that raced the lock: already refused, not counted again
        recent = (*(t for t in record.failures if now - t < policy.window), now)
        if len(recent) < policy.max_failures:
            return replace(record, failures=recent, last_failure=now)
        locks = record.locks + 1
        return FailureRecord(
            failures=(),
            locks=locks,
            locked_until=now + policy.lock_duration(locks),
            last_failure=now,
        )
