"""Passwords: argon2id hashing and rehashing, the length policy, brute-force lock-out and its
growth, and sign-in that does the same work whether the account exists or not."""

from __future__ import annotations

import unicodedata
from datetime import timedelta
from typing import Literal

import pytest
from argon2 import PasswordHasher
from fake_clock import START, Clock

from flowforge.security.passwords import (
    MAX_PASSWORD_LENGTH,
    AccountLocked,
    FailureRecord,
    InMemoryFailureStore,
    LockoutPolicy,
    PasswordLogin,
    PasswordRejected,
    check_password_policy,
    hash_password,
    needs_rehash,
    verify_password,
)

GOOD = "correct horse battery staple"


class CountingHasher(PasswordHasher):
    """Cheap parameters (the tests hash a lot) and a count of verifications."""

    def __init__(self, time_cost: int = 1) -> None:
        super().__init__(time_cost=time_cost, memory_cost=1024, parallelism=1)
        self.verified: list[str] = []

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.verified.append(hash if isinstance(hash, str) else hash.decode())
        return super().verify(hash, password)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def hasher() -> CountingHasher:
    return CountingHasher()


@pytest.fixture
def store() -> InMemoryFailureStore:
    return InMemoryFailureStore()


@pytest.fixture
def login(store: InMemoryFailureStore, hasher: CountingHasher, clock: Clock) -> PasswordLogin:
    return PasswordLogin(store, hasher=hasher, clock=clock)


@pytest.fixture
def stored(hasher: CountingHasher) -> str:
    return hash_password(GOOD, hasher=hasher)


# -- hashing


def test_hash_is_argon2id_and_verifies() -> None:
    stored = hash_password(GOOD)  # the real default parameters, once
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert GOOD not in stored
    assert verify_password(stored, GOOD)
    assert not verify_password(stored, GOOD + "!")
    assert not needs_rehash(stored)
    assert hash_password(GOOD) != stored  # salted


@pytest.mark.parametrize(
    "bad_hash",
    ["", "plain text", "$argon2id$v=19$m=65536,t=3,p=4$broken", "$2b$12$" + "a" * 53],
)
def test_a_malformed_stored_hash_never_matches(bad_hash: str, hasher: CountingHasher) -> None:
    assert verify_password(bad_hash, GOOD, hasher=hasher) is False
    assert needs_rehash(bad_hash, hasher=hasher) is True


@pytest.mark.parametrize(
    ("password", "accepted"),
    [
        ("", False),
        ("1234567", False),
        ("12345678", True),
        ("x" * MAX_PASSWORD_LENGTH, True),
        ("x" * (MAX_PASSWORD_LENGTH + 1), False),
        ("ﬀﬀﬀ", False),  # three ligatures are six letters after NFKC
        ("ﬀﬀﬀﬀ", True),  # eight after NFKC
        ("\u2163" * 4, True),  # roman numeral four is "IV" after NFKC: eight characters
    ],
)
def test_length_policy(password: str, accepted: bool) -> None:
    if accepted:
        assert check_password_policy(password) == unicodedata.normalize("NFKC", password)
    else:
        with pytest.raises(PasswordRejected, match=r"at (least|most)"):
            check_password_policy(password)


def test_hash_refuses_what_the_policy_refuses(hasher: CountingHasher) -> None:
    with pytest.raises(PasswordRejected, match="at least 8"):
        hash_password("short", hasher=hasher)
    with pytest.raises(PasswordRejected, match="at most 1024"):
        hash_password("x" * 5000, hasher=hasher)


def test_overlong_passwords_fail_verification_without_hashing(
    hasher: CountingHasher, stored: str
) -> None:
    assert verify_password(stored, "x" * (MAX_PASSWORD_LENGTH + 1), hasher=hasher) is False
    assert hasher.verified == []


def test_an_old_short_password_still_verifies(hasher: CountingHasher) -> None:
    legacy = hasher.hash("abc")  # set before the policy existed
    assert verify_password(legacy, "abc", hasher=hasher)


def test_composed_and_decomposed_accents_are_the_same_password(hasher: CountingHasher) -> None:
    composed = "caf\u00e9 au lait"
    decomposed = "cafe\u0301 au lait"
    assert composed != decomposed
    assert verify_password(hash_password(composed, hasher=hasher), decomposed, hasher=hasher)


def test_sign_in_rehashes_a_hash_with_outdated_parameters(
    store: InMemoryFailureStore, clock: Clock
) -> None:
    weak, strong = CountingHasher(time_cost=1), CountingHasher(time_cost=2)
    old_hash = hash_password(GOOD, hasher=weak)
    login = PasswordLogin(store, hasher=strong, clock=clock)
    result = login.check("alice", GOOD, old_hash)
    assert result.ok and result.new_hash is not None
    assert ",t=2," in result.new_hash
    assert verify_password(result.new_hash, GOOD, hasher=strong)
    assert not needs_rehash(result.new_hash, hasher=strong)
    # Up to date: nothing to store.
    assert login.check("alice", GOOD, result.new_hash).new_hash is None
    # A failed sign-in never produces a hash.
    assert login.check("alice", "wrong password", old_hash).new_hash is None


# -- enumeration


def test_unknown_accounts_cost_one_verification_against_a_dummy_hash(
    login: PasswordLogin, hasher: CountingHasher, stored: str
) -> None:
    """The same work for a known and an unknown account: exactly one argon2 verification with
    the same parameters. (Counted, not timed: timing assertions do not belong in tests.)"""
    assert not login.check("alice", "wrong password", stored).ok
    assert not login.check("nobody", "wrong password", None).ok
    assert len(hasher.verified) == 2
    known, unknown = hasher.verified
    assert known == stored
    assert unknown != stored
    # Same algorithm, version and cost parameters: only salt and digest differ.
    assert unknown.rsplit("$", 2)[0] == known.rsplit("$", 2)[0]
    assert not hasher.check_needs_rehash(unknown)


def test_an_unknown_account_never_signs_in_whatever_the_password(
    login: PasswordLogin,
) -> None:
    for password in (GOOD, "", "x" * 2000):
        assert login.check("nobody", password, None).ok is False


def test_unknown_accounts_lock_out_exactly_like_known_ones(
    login: PasswordLogin, stored: str, clock: Clock
) -> None:
    outcomes: dict[str, list[str]] = {"alice": [], "nobody": []}
    for account, stored_hash in (("alice", stored), ("nobody", None)):
        for _ in range(6):
            try:
                outcomes[account].append(str(login.check(account, "guess-guess", stored_hash).ok))
            except AccountLocked as locked:
                outcomes[account].append(f"locked {locked.retry_after - clock.now}")
    assert outcomes["alice"] == outcomes["nobody"]
    assert outcomes["alice"] == ["False"] * 4 + ["locked 0:15:00"] * 2


# -- lock-out


def test_five_failures_lock_the_account_even_for_the_right_password(
    login: PasswordLogin, stored: str, clock: Clock, hasher: CountingHasher
) -> None:
    for _ in range(4):
        clock.advance(seconds=10)
        assert login.check("alice", "wrong password", stored).ok is False
    clock.advance(seconds=10)
    with pytest.raises(AccountLocked, match="too many failed sign-ins") as locked:
        login.check("alice", "wrong password", stored)
    assert locked.value.retry_after == clock.now + timedelta(minutes=15)
    assert login.locked_until("alice") == locked.value.retry_after
    verifications = len(hasher.verified)
    with pytest.raises(AccountLocked):
        login.check("alice", GOOD, stored)
    assert len(hasher.verified) == verifications  # refused before any hashing
    clock.advance(minutes=15)
    assert login.locked_until("alice") is None
    assert login.check("alice", GOOD, stored).ok is True


def test_failures_spread_beyond_the_window_do_not_lock(
    login: PasswordLogin, stored: str, clock: Clock, store: InMemoryFailureStore
) -> None:
    for _ in range(20):
        assert login.check("alice", "wrong password", stored).ok is False
        clock.advance(minutes=4)  # at most four failures in any 15 minutes
    record = store.get("alice")
    assert record is not None and record.locks == 0 and len(record.failures) <= 4


def test_success_resets_the_count(
    login: PasswordLogin, stored: str, store: InMemoryFailureStore
) -> None:
    for _ in range(4):
        login.check("alice", "wrong password", stored)
    assert login.check("alice", GOOD, stored).ok
    assert store.get("alice") is None
    for _ in range(4):
        assert login.check("alice", "wrong password", stored).ok is False


def test_each_lock_lasts_longer_up_to_the_cap(
    login: PasswordLogin, stored: str, clock: Clock
) -> None:
    durations = []
    for _ in range(9):
        for _ in range(4):
            login.check("alice", "wrong password", stored)
        with pytest.raises(AccountLocked) as locked:
            login.check("alice", "wrong password", stored)
        durations.append(locked.value.retry_after - clock.now)
        clock.now = locked.value.retry_after  # the attacker waits the lock out, then goes on
    assert durations == [
        timedelta(minutes=15),
        timedelta(minutes=30),
        timedelta(hours=1),
        timedelta(hours=2),
        timedelta(hours=4),
        timedelta(hours=8),
        timedelta(hours=16),
        timedelta(hours=24),
        timedelta(hours=24),
    ]


@pytest.mark.parametrize(
    ("forget_after", "third_lock"),
    [(timedelta(hours=24), timedelta(minutes=15)), (timedelta(days=30), timedelta(hours=1))],
)
def test_a_quiet_period_forgets_the_lock_history(
    store: InMemoryFailureStore,
    hasher: CountingHasher,
    stored: str,
    clock: Clock,
    forget_after: timedelta,
    third_lock: timedelta,
) -> None:
    policy = LockoutPolicy(forget_after=forget_after)
    login = PasswordLogin(store, policy=policy, hasher=hasher, clock=clock)
    for _ in range(2):
        for _ in range(5):
            try:
                login.check("alice", "wrong password", stored)
            except AccountLocked as refused:
                clock.now = refused.retry_after
    clock.advance(hours=24)  # a quiet day after the second lock ended
    for _ in range(4):
        login.check("alice", "wrong password", stored)
    with pytest.raises(AccountLocked) as locked:
        login.check("alice", "wrong password", stored)
    assert locked.value.retry_after - clock.now == third_lock


def test_accounts_lock_independently(login: PasswordLogin, stored: str) -> None:
    for _ in range(4):
        login.check("alice", "wrong password", stored)
    with pytest.raises(AccountLocked):
        login.check("alice", "wrong password", stored)
    assert login.check("bob", GOOD, stored).ok


@pytest.mark.parametrize(
    ("lock_number", "expected"),
    [(1, timedelta(minutes=15)), (2, timedelta(minutes=30)), (7, timedelta(hours=16)),
     (8, timedelta(hours=24)), (10_000, timedelta(hours=24))],
)  # fmt: skip
def test_lock_duration_table(lock_number: int, expected: timedelta) -> None:
    assert LockoutPolicy().lock_duration(lock_number) == expected


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_failures": 0},
        {"growth": 0.5},
        {"first_lock": timedelta(0)},
        {"first_lock": timedelta(hours=2), "max_lock": timedelta(hours=1)},
    ],
)
def test_nonsense_policies_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must be"):
        LockoutPolicy(**kwargs)  # type: ignore[arg-type]


def test_a_custom_policy_applies(store: InMemoryFailureStore, hasher: CountingHasher) -> None:
    clock = Clock()
    policy = LockoutPolicy(max_failures=2, first_lock=timedelta(minutes=1), growth=3)
    login = PasswordLogin(store, policy=policy, hasher=hasher, clock=clock)
    stored = hash_password(GOOD, hasher=hasher)
    assert login.check("alice", "nope-nope", stored).ok is False
    with pytest.raises(AccountLocked) as locked:
        login.check("alice", "nope-nope", stored)
    assert locked.value.retry_after == clock.now + timedelta(minutes=1)


def test_prune_drops_quiet_records_only(store: InMemoryFailureStore) -> None:
    store.update("quiet", lambda _: FailureRecord((START,), 0, None, START))
    locked_until = START + timedelta(days=2)
    store.update("locked", lambda _: FailureRecord((), 5, locked_until, START))
    assert store.prune(START + timedelta(days=1), timedelta(hours=24)) == 1
    assert store.get("quiet") is None and store.get("locked") is not None
    assert len(store) == 1
