"""The identity stores on SQL (SQLite or PostgreSQL): the security package's stores keep their
protocols' promises, atomic ones included, when processes share the database; the directory
keeps emails unique, organisations owned and invites single-use; and a database from before
organisations existed opens with its rows in the default one."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from argon2 import PasswordHasher
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import create_engine, inspect, select, text
from test_store import run_all

from flowforge.engine.frames import DEFAULT_ORG, ExecutionStatus
from flowforge.model import Workflow
from flowforge.security.apikeys import ApiKey, ApiKeys, InvalidApiKey
from flowforge.security.passwords import (
    AccountLocked,
    LockoutPolicy,
    PasswordLogin,
    hash_password,
)
from flowforge.security.signatures import (
    SignatureError,
    SignatureLogin,
    TooManyChallenges,
    account_id,
    ethereum_signer,
)
from flowforge.security.tokens import (
    InvalidToken,
    Principal,
    RefreshReused,
    Sessions,
    SigningKeys,
    TokenPair,
    hash_refresh_token,
)
from flowforge.store import Conflict, Directory, NotFound, SqlStore, WorkflowCatalog, normalize_url
from flowforge.store._auth import SqlChallengeStore, SqlFailureStore, SqlKeyStore, SqlRefreshStore
from flowforge.store._sql import HEAD_REVISION, MIGRATIONS
from flowforge.store._tables import canonical, executions, metadata, refresh_tokens, workflows

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# Cheap argon2 parameters: the lock-out is under test here, not the hash.
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
DOMAIN, URI = "flowforge.test", "https://flowforge.test"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def race(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` in ``count`` threads released at once; give each result or exception,
    in thread order."""
    barrier = threading.Barrier(count)
    outcomes: list[Any] = [None] * count

    def one(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = work(i)
        except Exception as exc:
            outcomes[i] = exc

    run_all([threading.Thread(target=one, args=(i,)) for i in range(count)])
    return outcomes


def key_record(key_id: str, **kw: Any) -> ApiKey:
    return ApiKey(
        key_id=key_id,
        secret_hash=kw.pop("secret_hash", "a" * 64),
        subject=kw.pop("subject", "usr_1"),
        org=kw.pop("org", "org_a"),
        scopes=kw.pop("scopes", frozenset({"workflows:read", "services:http:*"})),
        name=kw.pop("name", "deploy"),
        created_at=kw.pop("created_at", T0),
        **kw,
    )


# -- API keys


def test_the_key_store_round_trips_replaces_and_lists(make_store: Callable[[], SqlStore]) -> None:
    keys = SqlKeyStore(make_store())
    full = key_record(
        "k1",
        role="editor",
        expires_at=T0 + timedelta(days=30),
        rotated_at=T0 + timedelta(hours=1),
        previous_hash="b" * 64,
        previous_valid_until=T0 + timedelta(hours=2),
    )
    keys.add(full)
    assert keys.get("k1") == full
    assert keys.get("nobody") is None
    with pytest.raises(KeyError):
        keys.add(replace(full, name="same id"))
    assert keys.get("k1") == full

    revoked = replace(full, revoked_at=T0 + timedelta(minutes=5), previous_hash=None)
    keys.replace(revoked)
    assert keys.get("k1") == revoked
    with pytest.raises(KeyError):
        keys.replace(key_record("ghost"))
    assert keys.get("ghost") is None

    keys.add(key_record("k2", org="org_b", created_at=T0 + timedelta(seconds=1)))
    keys.add(key_record("k3", subject="usr_2", created_at=T0 + timedelta(seconds=2)))
    keys.add(key_record("k0", org=None, subject="service", created_at=T0 - timedelta(days=1)))
    assert [k.key_id for k in keys.list_keys()] == ["k0", "k1", "k2", "k3"]
    assert [k.key_id for k in keys.list_keys(org="org_a")] == ["k1", "k3"]
    assert [k.key_id for k in keys.list_keys(subject="usr_1")] == ["k1", "k2"]
    assert [k.key_id for k in keys.list_keys(org="org_a", subject="usr_2")] == ["k3"]
    assert keys.list_keys(org="org_c") == []


def test_last_use_only_moves_forward(make_store: Callable[[], SqlStore]) -> None:
    keys = SqlKeyStore(make_store())
    for key_id in ("k1", "k2", "k3"):
        keys.add(key_record(key_id))
    later = T0 + timedelta(minutes=10)
    keys.touch_many({"k1": later, "k2": T0, "missing": later})
    assert keys.get("k1").last_used_at == later  # type: ignore[union-attr]
    assert keys.get("k2").last_used_at == T0  # type: ignore[union-attr]
    assert keys.get("k3").last_used_at is None  # type: ignore[union-attr]
    # a flush from a process that saw an older use never moves the time back
    keys.touch_many({"k1": T0 + timedelta(minutes=1), "k2": later})
    assert keys.get("k1").last_used_at == later  # type: ignore[union-attr]
    assert keys.get("k2").last_used_at == later  # type: ignore[union-attr]
    keys.touch("k3", T0)
    keys.touch_many({})
    assert keys.get("k3").last_used_at == T0  # type: ignore[union-attr]
    assert keys.get("missing") is None


def test_api_keys_on_sql_are_shared_by_processes(make_store: Callable[[], SqlStore]) -> None:
    clock = Clock()
    here = ApiKeys(SqlKeyStore(make_store()), clock=clock)
    there = ApiKeys(SqlKeyStore(make_store()), clock=clock)  # another process, same database
    issued = here.create(
        subject="usr_1", scopes=["workflows:read"], org="org_a", role="viewer", name="ci"
    )
    assert issued.key not in repr(issued.record)
    seen = there.verify(issued.key)
    assert (seen.key_id, seen.org, seen.role, seen.scopes) == (
        issued.record.key_id,
        "org_a",
        "viewer",
        frozenset({"workflows:read"}),
    )
    assert here.store.get(seen.key_id).last_used_at == T0  # type: ignore[union-attr]

    clock.advance(timedelta(minutes=5))
    rotated = here.rotate(seen.key_id, grace=timedelta(minutes=1))
    assert rotated.record.key_id == seen.key_id and rotated.key != issued.key
    assert there.verify(rotated.key).key_id == seen.key_id
    assert there.verify(issued.key).key_id == seen.key_id  # the old secret, within its grace
    clock.advance(timedelta(minutes=2))
    with pytest.raises(InvalidApiKey) as old:
        there.verify(issued.key)
    assert old.value.reason == "wrong-secret"

    there.revoke(seen.key_id)
    with pytest.raises(InvalidApiKey) as gone:
        here.verify(rotated.key)
    assert gone.value.reason == "revoked"
    with pytest.raises(ValueError, match="revoked"):
        here.rotate(seen.key_id)
    assert [k.key_id for k in here.store.list_keys(org="org_a")] == [seen.key_id]

    # a key made elsewhere is adopted once, whichever process starts first
    other = here.create(subject="service", scopes=["*"], org="org_a", role="owner")
    assert there.adopt(other.key, subject="service", scopes=["*"]) == other.record


# -- sessions and refresh tokens


def sessions_on(store: SqlStore, clock: Clock, **kw: Any) -> Sessions:
    return Sessions(
        KEYS, SqlRefreshStore(store), issuer=URI, audience="flowforge-api", clock=clock, **kw
    )


KEYS = SigningKeys.generate()
ADA = Principal("usr_ada", "org_a", "editor", frozenset({"*"}))


def test_a_refresh_rotates_and_a_reused_token_ends_the_session(
    make_store: Callable[[], SqlStore],
) -> None:
    store, clock = make_store(), Clock()
    sessions = sessions_on(store, clock)
    first = sessions.start(ADA)
    record = sessions.store.get_session(first.session_id)
    assert record is not None and record.principal == ADA and record.revoked_at is None
    assert sessions.verify_access(first.access_token).principal == ADA

    clock.advance(timedelta(minutes=20))
    second = sessions.refresh(first.refresh_token)
    assert second.session_id == first.session_id
    assert second.refresh_token != first.refresh_token
    found = sessions.store.find(hash_refresh_token(first.refresh_token))
    assert found is not None and found[0].used_at == clock.now
    # the store keeps hashes only
    with store.engine.connect() as conn:
        stored = conn.execute(select(refresh_tokens.c.token_hash)).scalars().all()
    assert sorted(stored) == sorted(
        hash_refresh_token(t) for t in (first.refresh_token, second.refresh_token)
    )

    # a promoted user's next refresh carries the present role
    third = sessions.refresh(
        second.refresh_token, current=lambda p: Principal(p.sub, p.org, "admin", p.scopes)
    )
    assert sessions.verify_access(third.access_token).role == "admin"

    with pytest.raises(RefreshReused):
        sessions.refresh(first.refresh_token)  # copied: the whole session ends
    ended = sessions.store.get_session(first.session_id)
    assert ended is not None and ended.revoked_at == clock.now
    with pytest.raises(InvalidToken, match="revoked"):
        sessions.refresh(third.refresh_token)
    with pytest.raises(InvalidToken, match="unknown"):
        sessions.refresh("ffr_" + "x" * 43)


def test_two_processes_refreshing_one_token_at_once_give_one_pair(
    make_store: Callable[[], SqlStore],
) -> None:
    clock = Clock()
    processes = [sessions_on(make_store(), clock), sessions_on(make_store(), clock)]
    for _ in range(4):
        pair = processes[0].start(ADA)
        outcomes = race(2, lambda i, token=pair.refresh_token: processes[i].refresh(token))
        assert sorted(type(o).__name__ for o in outcomes) == ["RefreshReused", "TokenPair"]
        winner = next(o for o in outcomes if isinstance(o, TokenPair))
        # the loser took it for a copied token: the session is over for the winner too
        with pytest.raises(InvalidToken, match="revoked"):
            processes[1].refresh(winner.refresh_token)


def test_logout_everywhere_and_expiry(make_store: Callable[[], SqlStore]) -> None:
    clock = Clock()
    store = make_store()
    lasting = sessions_on(store, clock)
    brief = sessions_on(
        store, clock, refresh_ttl=timedelta(hours=1), session_max_age=timedelta(hours=1)
    )
    ada = [lasting.start(ADA) for _ in range(3)]
    bob = lasting.start(Principal("usr_bob", "org_a", "viewer", frozenset({"*"})))
    assert lasting.logout_everywhere("usr_ada") == 3
    assert lasting.logout_everywhere("usr_ada") == 0
    for pair in ada:
        with pytest.raises(InvalidToken, match="revoked"):
            lasting.refresh(pair.refresh_token)
    bob = lasting.refresh(bob.refresh_token)  # another user's session lives on
    assert lasting.logout(bob.refresh_token) and not lasting.logout(bob.refresh_token)

    short = brief.start(ADA)
    short = brief.refresh(short.refresh_token)  # two tokens now: the used one and its heir
    long = lasting.start(ADA)
    refresh = SqlRefreshStore(store)
    assert refresh.delete_expired(clock.now) == 0
    clock.advance(timedelta(hours=2))
    # the brief session and both of its tokens go; nothing of the others
    assert refresh.delete_expired(clock.now) == 3
    assert refresh.get_session(short.session_id) is None
    with pytest.raises(InvalidToken, match="unknown"):
        brief.refresh(short.refresh_token)
    assert lasting.refresh(long.refresh_token).session_id == long.session_id
    assert refresh.get_session(ada[0].session_id) is not None  # revoked, not yet expired


# -- signature challenges


def p256_signer() -> tuple[str, Callable[[str], str]]:
    private = ec.generate_private_key(ec.SECP256R1())

    def sign(message: str) -> str:
        return private.sign(message.encode(), ec.ECDSA(hashes.SHA256())).hex()

    return account_id(private.public_key()), sign


def login_on(store: SqlStore, clock: Clock, max_pending: int = 100_000) -> SignatureLogin:
    return SignatureLogin(DOMAIN, URI, 1, SqlChallengeStore(store, max_pending), clock=clock)


def test_a_challenge_signs_in_once(make_store: Callable[[], SqlStore]) -> None:
    clock = Clock()
    login = login_on(make_store(), clock)
    account, sign = p256_signer()
    issued = login.issue(account)
    assert login.verify(account, issued.message, sign(issued.message)) == account
    with pytest.raises(SignatureError) as again:
        login.verify(account, issued.message, sign(issued.message))
    assert again.value.reason == "unknown_nonce"

    # an Ethereum challenge keeps its chain id (a string column) as the number it was
    address, personal_sign = ethereum_signer("0x" + "4c" * 32)
    siwe = login.issue(address)
    assert siwe.kind == "siwe" and siwe.chain_id == 1
    assert login.verify(address, siwe.message, personal_sign(siwe.message)) == address

    # a failed attempt uses the nonce up too
    wrong = login.issue(account)
    _, other_sign = p256_signer()
    with pytest.raises(SignatureError) as bad:
        login.verify(account, wrong.message, other_sign(wrong.message))
    assert bad.value.reason == "bad_signature"
    with pytest.raises(SignatureError) as used:
        login.verify(account, wrong.message, sign(wrong.message))
    assert used.value.reason == "unknown_nonce"

    # taken after it expired: refused as expired, and gone
    late = login.issue(account)
    clock.advance(timedelta(minutes=6))
    with pytest.raises(SignatureError) as expired:
        login.verify(account, late.message, sign(late.message))
    assert expired.value.reason == "expired"
    assert login.store.take(late.nonce) is None


def test_processes_racing_for_one_nonce_sign_in_once(make_store: Callable[[], SqlStore]) -> None:
    clock = Clock(datetime.now(UTC))
    logins = [login_on(make_store(), clock) for _ in range(6)]
    account, sign = p256_signer()
    for _ in range(3):
        issued = logins[0].issue(account)
        signature = sign(issued.message)
        outcomes = race(6, lambda i, m=issued.message, s=signature: logins[i].verify(account, m, s))
        assert [o for o in outcomes if o == account] == [account]
        refused = [o for o in outcomes if o != account]
        assert all(
            isinstance(o, SignatureError) and o.reason == "unknown_nonce" for o in refused
        ), refused


def test_pending_challenges_are_bounded_and_purged(make_store: Callable[[], SqlStore]) -> None:
    clock = Clock()
    store = make_store()
    login = login_on(store, clock, max_pending=3)
    account, _ = p256_signer()
    first = [login.issue(account) for _ in range(2)]
    with pytest.raises(ValueError, match="held already"):
        login.store.add(first[0])
    first.append(login.issue(account))
    with pytest.raises(TooManyChallenges):
        login.issue(account)
    assert login.store.take(first[0].nonce) == first[0]
    login.issue(account)  # room again
    with pytest.raises(TooManyChallenges):
        login.issue(account)

    # expired ones make room as new ones arrive, and purge drops them
    clock.advance(timedelta(minutes=6))
    fresh = login.issue(account)
    assert login.store.take(first[1].nonce) is None  # dropped on the way in
    assert login.store.purge(clock.now) == 0
    clock.advance(timedelta(minutes=6))
    assert login.store.purge(clock.now) == 1
    assert login.store.take(fresh.nonce) is None


# -- password failures


def test_wrong_passwords_lock_the_account(make_store: Callable[[], SqlStore]) -> None:
    clock = Clock()
    failures = SqlFailureStore(make_store())
    policy = LockoutPolicy(max_failures=3, first_lock=timedelta(minutes=15))
    login = PasswordLogin(failures, policy=policy, hasher=CHEAP, clock=clock)
    stored = hash_password("correct horse", hasher=CHEAP)
    assert not login.check("ada@example.com", "wrong one", stored).ok
    assert not login.check("ada@example.com", "wrong two", stored).ok
    record = failures.get("ada@example.com")
    assert record is not None and len(record.failures) == 2 and record.locks == 0
    with pytest.raises(AccountLocked) as locked:
        login.check("ada@example.com", "wrong three", stored)
    assert locked.value.retry_after == T0 + timedelta(minutes=15)
    with pytest.raises(AccountLocked):  # the right password does not get in while locked
        login.check("ada@example.com", "correct horse", stored)
    assert login.locked_until("bob@example.com") is None
    assert not login.check("nobody@example.com", "guess", None).ok  # counted for unknowns too
    assert failures.get("nobody@example.com") is not None

    clock.advance(timedelta(minutes=16))
    assert login.check("ada@example.com", "correct horse", stored).ok
    assert failures.get("ada@example.com") is None
    assert failures.prune(clock.now + timedelta(days=2)) == 1  # nobody@ was quiet since
    assert failures.get("nobody@example.com") is None


def test_concurrent_wrong_guesses_are_all_counted(make_store: Callable[[], SqlStore]) -> None:
    clock = Clock()
    stored = hash_password("correct horse", hasher=CHEAP)
    policy = LockoutPolicy(max_failures=100)
    logins = [
        PasswordLogin(SqlFailureStore(make_store()), policy=policy, hasher=CHEAP, clock=clock)
        for _ in range(8)
    ]
    # twice: the first round races to insert the record, the second to update it
    for round_ in (1, 2):
        outcomes = race(8, lambda i: logins[i].check("ada@example.com", f"guess {i}", stored))
        assert all(o is not None and not isinstance(o, Exception) and not o.ok for o in outcomes)
        record = logins[0].failures.get("ada@example.com")
        assert record is not None and len(record.failures) == 8 * round_

    # at the limit, parallel guesses lock the account once and none slips past
    tight = LockoutPolicy(max_failures=5)
    locking = [
        PasswordLogin(SqlFailureStore(make_store()), policy=tight, hasher=CHEAP, clock=clock)
        for _ in range(8)
    ]
    outcomes = race(8, lambda i: locking[i].check("bob@example.com", "nope", stored))
    assert sum(isinstance(o, AccountLocked) for o in outcomes) == 4  # the 5th guess locks it
    assert sum(not isinstance(o, Exception) and not o.ok for o in outcomes) == 4
    record = locking[0].failures.get("bob@example.com")
    assert record is not None and record.locks == 1


# -- the directory


def test_organisations_and_users(make_store: Callable[[], SqlStore]) -> None:
    directory = Directory(make_store())
    ada = directory.create_user("  Ada@Example.COM ", "Ada", password_hash="h")
    assert ada.email == "ada@example.com" and directory.get_user(ada.id) == ada
    with pytest.raises(Conflict) as taken:
        directory.create_user("ADA@example.com")
    assert taken.value.field == "email"
    assert directory.user_by_email("ada@EXAMPLE.com") == ada
    assert directory.user_by_email("bob@example.com") is None
    bob = directory.create_user("bob@example.com")
    with pytest.raises(Conflict) as clash:
        directory.update_user(bob.id, email="Ada@example.com")
    assert clash.value.field == "email"
    directory.update_user(bob.id, email="Robert@Example.com", name="Bob")
    assert directory.get_user(bob.id).email == "robert@example.com"
    with pytest.raises(NotFound):
        directory.update_user("usr_ghost", name="x")
    with pytest.raises(NotFound):
        directory.get_user("usr_ghost")

    org = directory.create_org("Acme", "pro", owner=ada.id)
    assert directory.get_org(org.id) == org and org.id.startswith("org_")
    named = directory.create_org("Named", "free", org_id="named")
    with pytest.raises(Conflict):
        directory.create_org("Again", "free", org_id="named")
    with pytest.raises(NotFound):
        directory.create_org("Orphan", "free", owner="usr_ghost")
    assert directory.update_org("named", name="Renamed").name == "Renamed"
    assert directory.update_org("named", plan="basic").plan == "basic"
    with pytest.raises(NotFound):
        directory.update_org("nowhere", name="x")
    with pytest.raises(NotFound):
        directory.get_org("nowhere")
    counts = {o.id: n for o, n in directory.list_orgs()}
    assert counts == {org.id: 1, named.id: 0}
    assert [(o.id, role) for o, role in directory.orgs_of(ada.id)] == [(org.id, "owner")]


def test_memberships_keep_an_owner(make_store: Callable[[], SqlStore]) -> None:
    directory = Directory(make_store())
    ada, bob, cy = (directory.create_user(f"{n}@example.com") for n in ("ada", "bob", "cy"))
    org = directory.create_org("Acme", "pro", owner=ada.id)
    directory.add_member(org.id, bob.id, "editor")
    with pytest.raises(Conflict):
        directory.add_member(org.id, bob.id, "viewer")
    with pytest.raises(NotFound):
        directory.add_member(org.id, "usr_ghost", "viewer")
    assert directory.role_of(bob.id, org.id) == "editor"
    assert directory.role_of(cy.id, org.id) is None
    assert [(m.user.id, m.role) for m in directory.members(org.id)] == [
        (ada.id, "owner"),
        (bob.id, "editor"),
    ]
    assert directory.member(org.id, bob.id).user == bob
    with pytest.raises(NotFound):
        directory.member(org.id, cy.id)

    # the last owner can be neither demoted nor removed
    with pytest.raises(Conflict):
        directory.set_role(org.id, ada.id, "admin")
    with pytest.raises(Conflict):
        directory.remove_member(org.id, ada.id)
    assert directory.role_of(ada.id, org.id) == "owner"
    assert directory.set_role(org.id, bob.id, "owner") == "editor"
    assert directory.set_role(org.id, ada.id, "admin") == "owner"  # bob owns it now
    with pytest.raises(Conflict):
        directory.remove_member(org.id, bob.id)
    assert directory.remove_member(org.id, ada.id) == "admin"
    assert directory.role_of(ada.id, org.id) is None
    with pytest.raises(NotFound):
        directory.set_role(org.id, cy.id, "viewer")
    with pytest.raises(NotFound):
        directory.remove_member(org.id, cy.id)


def test_two_owners_demoting_each_other_at_once_leave_one(
    make_store: Callable[[], SqlStore],
) -> None:
    directory = Directory(make_store())
    ada, bob = directory.create_user("ada@example.com"), directory.create_user("bob@example.com")
    org = directory.create_org("Acme", "pro", owner=ada.id)
    directory.add_member(org.id, bob.id, "owner")
    processes = [Directory(make_store()), Directory(make_store())]
    users = [ada.id, bob.id]
    changes: list[Callable[[Directory, str], str]] = [
        lambda d, user: d.set_role(org.id, user, "admin"),
        lambda d, user: d.remove_member(org.id, user),
    ] * 2
    for change in changes:
        for user in users:
            if directory.role_of(user, org.id) is None:
                directory.add_member(org.id, user, "owner")
            else:
                directory.set_role(org.id, user, "owner")
        outcomes = race(2, lambda i, change=change: change(processes[i], users[i]))
        assert sorted(type(o).__name__ for o in outcomes) == ["Conflict", "str"], outcomes
        assert [m.role for m in directory.members(org.id)].count("owner") == 1


def test_sign_in_accounts_are_unique(make_store: Callable[[], SqlStore]) -> None:
    directory = Directory(make_store())
    ada, bob = directory.create_user("ada@example.com"), directory.create_user("bob@example.com")
    account, _ = p256_signer()
    directory.add_account(ada.id, account, "laptop")
    with pytest.raises(Conflict):
        directory.add_account(bob.id, account, "stolen")
    with pytest.raises(Conflict):
        directory.add_account(ada.id, account, "again")
    assert directory.user_of_account(account) == ada.id
    assert [(a["account"], a["label"]) for a in directory.accounts_of(ada.id)] == [
        (account, "laptop")
    ]
    assert directory.accounts_of(bob.id) == []
    assert not directory.remove_account(bob.id, account)  # not bob's to remove
    assert directory.remove_account(ada.id, account)
    assert directory.user_of_account(account) is None
    directory.add_account(bob.id, account, "now bob's")
    assert directory.user_of_account(account) == bob.id


def test_invites_are_single_use_and_expire(make_store: Callable[[], SqlStore]) -> None:
    directory = Directory(make_store())
    ada = directory.create_user("ada@example.com")
    token = directory.invite(ada.id, T0 + timedelta(days=7))
    assert token.startswith("ffi_") and directory.invited(token, T0) == ada.id
    assert directory.invited(token, T0 + timedelta(days=8)) is None
    assert directory.invited(token, T0) == ada.id  # looking does not use it up
    assert directory.take_invite(token, T0) == ada.id
    assert directory.take_invite(token, T0) is None
    assert directory.invited(token, T0) is None

    older = directory.invite(ada.id, T0 + timedelta(days=7))
    newer = directory.invite(ada.id, T0 + timedelta(days=7))
    assert directory.invited(older, T0) is None  # replaced by the newer one
    assert directory.take_invite(older, T0) is None
    expired = directory.invite(ada.id, T0 + timedelta(hours=1))
    assert directory.take_invite(newer, T0) is None
    assert directory.take_invite(expired, T0 + timedelta(hours=2)) is None
    assert directory.take_invite(expired, T0) is None  # the expired try used it up
    assert directory.take_invite("ffi_made-up", T0) is None

    racing = directory.invite(ada.id, T0 + timedelta(days=1))
    processes = [Directory(make_store()) for _ in range(5)]
    outcomes = race(5, lambda i: processes[i].take_invite(racing, T0))
    assert outcomes.count(ada.id) == 1 and outcomes.count(None) == 4


# -- migrating a database from before organisations


def test_a_database_at_0004_migrates_into_the_default_organisation(database_url: str) -> None:
    engine = create_engine(normalize_url(database_url))
    sqlite = engine.dialect.name == "sqlite"
    stamp = "2026-03-01 12:00:00.000000" if sqlite else "2026-03-01 12:00:00+00"
    flow = Workflow.model_validate(
        {
            "name": "legacy",
            "nodes": [
                {"id": "start", "type": "flow.start"},
                {"id": "say", "type": "flow.set", "params": {"values": {"hi": 1}}},
            ],
            "edges": [{"source": "start", "target": "say"}],
        }
    )
    version_id, definition = canonical(flow)
    workflow_id, execution_id = str(uuid.uuid4()), str(uuid.uuid4())
    try:
        with engine.begin() as conn:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = conn
            command.upgrade(config, "0004")
        columns = {c["name"] for c in inspect(engine).get_columns("workflows")}
        assert "org_id" not in columns and "organisations" not in inspect(engine).get_table_names()
        with engine.begin() as conn:
            row = {"at": stamp, "vid": version_id}
            conn.execute(
                text(
                    "INSERT INTO workflow_versions (id, name, definition, created_at) "
                    "VALUES (:vid, 'legacy', :definition, :at)"
                ),
                {**row, "definition": definition},
            )
            conn.execute(
                text(
                    "INSERT INTO workflows (id, name, description, tags, active, version, "
                    "version_id, source_path, created_at, updated_at) VALUES "
                    "(:id, 'legacy', NULL, '[\"old\"]', :active, 1, :vid, NULL, :at, :at)"
                ),
                {**row, "id": workflow_id, "active": False},
            )
            conn.execute(
                text(
                    "INSERT INTO workflow_revisions (workflow_id, number, version_id, created_at) "
                    "VALUES (:id, 1, :vid, :at)"
                ),
                {**row, "id": workflow_id},
            )
            conn.execute(
                text(
                    "INSERT INTO executions (id, workflow_version_id, workflow_name, status, "
                    "input, result, created_at, finished_at, depth, lease_token, "
                    "cancel_requested, workflow_id) VALUES (:id, :vid, 'legacy', 'COMPLETED', "
                    '\'{"n": 1}\', \'{"say": {"hi": 1}}\', :at, :at, 0, 0, :no, :wf)'
                ),
                {**row, "id": execution_id, "no": False, "wf": workflow_id},
            )
    finally:
        engine.dispose()

    store = SqlStore(database_url)
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").all() == [
                (HEAD_REVISION,)
            ]
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
            assert conn.execute(select(workflows.c.org_id)).scalars().all() == [DEFAULT_ORG]
            assert conn.execute(select(executions.c.org_id)).scalars().all() == [DEFAULT_ORG]
        run = store.get_execution(execution_id)
        assert (run.org_id, run.status, run.input, run.result) == (
            DEFAULT_ORG,
            ExecutionStatus.COMPLETED,
            {"n": 1},
            {"say": {"hi": 1}},
        )
        assert run.created_at == T0 and run.workflow_id == workflow_id
        assert [r.id for r in store.list_executions(org_id=DEFAULT_ORG)] == [execution_id]
        assert store.list_executions(org_id="org_b") == []

        catalog = WorkflowCatalog(store)
        entry = catalog.find("legacy")
        assert (entry.id, entry.org_id, entry.tags, entry.version) == (
            workflow_id,
            DEFAULT_ORG,
            ["old"],
            1,
        )
        assert catalog.definition(entry) == flow
        assert [e.id for e in catalog.list_workflows(org_id=DEFAULT_ORG)] == [workflow_id]
        # names are now unique per organisation
        with pytest.raises(Conflict):
            catalog.create(flow)
        elsewhere = catalog.create(flow, org_id="org_b")
        assert elsewhere.id != workflow_id and catalog.find("legacy", "org_b").id == elsewhere.id
        changed = flow.model_copy(update={"description": "still editable"})
        assert catalog.update(workflow_id, changed).version == 2
        assert catalog.find("legacy").org_id == DEFAULT_ORG
        # the identity tables are there and usable
        directory = Directory(store)
        owner = directory.create_user("owner@example.com")
        directory.create_org("Default", "pro", org_id=DEFAULT_ORG, owner=owner.id)
        assert directory.role_of(owner.id, DEFAULT_ORG) == "owner"
    finally:
        store.close()
