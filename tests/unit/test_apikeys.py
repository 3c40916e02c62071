"""API keys: the format and its parse errors, the round trip, wrong secrets, expiry, revocation,
rotation, last-used bookkeeping, and the scope matcher."""

from __future__ import annotations

import hashlib
import hmac
import re
import zlib
from datetime import timedelta

import pytest
from fake_clock import START, Clock

from flowforge.security.apikeys import (
    ApiKeys,
    InMemoryKeyStore,
    InvalidApiKey,
    MalformedApiKey,
    hash_api_key,
    parse_api_key,
    scope_allows,
    validate_scope,
)

KEY_SHAPE = re.compile(r"^ffk_[0-9A-Za-z]{12}_[0-9A-Za-z]{49}$")
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store() -> InMemoryKeyStore:
    return InMemoryKeyStore()


@pytest.fixture
def keys(store: InMemoryKeyStore, clock: Clock) -> ApiKeys:
    return ApiKeys(store, clock=clock)


def with_checksum(body: str) -> str:
    """A key body completed with a valid checksum: forgeries that pass the shape checks."""
    value, digits = zlib.crc32(body.encode()), []
    for _ in range(6):
        value, digit = divmod(value, 62)
        digits.append(BASE62[digit])
    return body + "".join(reversed(digits))


def reason(keys: ApiKeys, presented: str) -> str:
    with pytest.raises(InvalidApiKey) as refused:
        keys.verify(presented)
    assert presented not in str(refused.value)  # never echo a key
    return refused.value.reason


# -- round trip


def test_create_then_verify(keys: ApiKeys, store: InMemoryKeyStore, clock: Clock) -> None:
    issued = keys.create(
        subject="user-1",
        org="org-1",
        scopes=["workflows:read", "executions:write"],
        name="ci",
        role="editor",
    )
    assert KEY_SHAPE.match(issued.key)
    record = issued.record
    assert issued.key.startswith(record.prefix + "_")
    assert record.secret_hash == hashlib.sha256(issued.key.encode()).hexdigest()
    assert issued.key.split("_")[2] not in repr(record)  # the secret is not stored
    assert store.get(record.key_id) == record
    clock.advance(minutes=5)
    verified = keys.verify(issued.key)
    assert verified.key_id == record.key_id
    assert (verified.subject, verified.org, verified.role) == ("user-1", "org-1", "editor")
    assert verified.scopes == frozenset({"workflows:read", "executions:write"})
    assert verified.last_used_at == clock.now
    assert verified.allows("workflows:read") and not verified.allows("workflows:write")


def test_two_keys_differ(keys: ApiKeys) -> None:
    a = keys.create(subject="user-1", scopes=[])
    b = keys.create(subject="user-1", scopes=[])
    assert a.key != b.key and a.record.key_id != b.record.key_id


def test_last_used_is_written_at_most_once_a_minute(
    keys: ApiKeys, store: InMemoryKeyStore, clock: Clock
) -> None:
    issued = keys.create(subject="user-1", scopes=[])
    keys.verify(issued.key)
    first = clock.now
    clock.advance(seconds=30)
    keys.verify(issued.key)
    record = store.get(issued.record.key_id)
    assert record is not None and record.last_used_at == first
    clock.advance(seconds=31)
    keys.verify(issued.key)
    record = store.get(issued.record.key_id)
    assert record is not None and record.last_used_at == clock.now


def test_list_by_org_and_subject(keys: ApiKeys, store: InMemoryKeyStore, clock: Clock) -> None:
    a = keys.create(subject="user-1", org="org-1", scopes=[])
    clock.advance(seconds=1)
    b = keys.create(subject="user-2", org="org-1", scopes=[])
    keys.create(subject="user-1", org="org-2", scopes=[])
    assert [k.key_id for k in store.list_keys(org="org-1")] == [a.record.key_id, b.record.key_id]
    assert len(store.list_keys(subject="user-1")) == 2
    assert len(store.list_keys()) == 3


def test_store_refuses_duplicate_ids(keys: ApiKeys, store: InMemoryKeyStore) -> None:
    issued = keys.create(subject="user-1", scopes=[])
    with pytest.raises(KeyError, match="already exists"):
        store.add(issued.record)


def test_create_validates_its_input(keys: ApiKeys) -> None:
    with pytest.raises(ValueError, match="invalid scope"):
        keys.create(subject="user-1", scopes=["Workflows:Read"])
    with pytest.raises(ValueError, match="needs a subject"):
        keys.create(subject="", scopes=[])
    with pytest.raises(ValueError, match="must be positive"):
        keys.create(subject="user-1", scopes=[], expires_in=timedelta(0))


# -- refused keys


def test_wrong_secret(keys: ApiKeys) -> None:
    issued = keys.create(subject="user-1", scopes=[])
    prefix = issued.key[: len("ffk_") + 12 + 1]
    forged = with_checksum(prefix + "A" * 43)
    assert parse_api_key(forged).key_id == issued.record.key_id  # well-formed, wrong secret
    assert reason(keys, forged) == "wrong-secret"


def test_unknown_key_id(keys: ApiKeys) -> None:
    assert reason(keys, with_checksum("ffk_" + "Z" * 12 + "_" + "A" * 43)) == "unknown"


def test_constant_time_comparison_is_used(keys: ApiKeys, monkeypatch: pytest.MonkeyPatch) -> None:
    issued = keys.create(subject="user-1", scopes=[])
    calls: list[tuple[object, object]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)  # the module apikeys calls through
    keys.verify(issued.key)
    assert (hash_api_key(issued.key), issued.record.secret_hash) in calls


def test_expired(keys: ApiKeys, clock: Clock) -> None:
    issued = keys.create(subject="user-1", scopes=[], expires_in=timedelta(days=30))
    assert issued.record.expires_at == START + timedelta(days=30)
    clock.advance(days=29, hours=23)
    assert keys.verify(issued.key).key_id == issued.record.key_id
    clock.advance(hours=1)
    assert reason(keys, issued.key) == "expired"


def test_revoked(keys: ApiKeys, clock: Clock) -> None:
    issued = keys.create(subject="user-1", scopes=["*"])
    clock.advance(minutes=1)
    revoked = keys.revoke(issued.record.key_id)
    assert revoked.revoked_at == clock.now
    assert reason(keys, issued.key) == "revoked"
    assert keys.revoke(issued.record.key_id) == revoked  # idempotent
    with pytest.raises(KeyError):
        keys.revoke("nonexistent0")


def test_lifecycle_reasons_need_the_right_secret(keys: ApiKeys) -> None:
    """Somebody holding only the public key id learns nothing about the key's state."""
    issued = keys.create(subject="user-1", scopes=[])
    keys.revoke(issued.record.key_id)
    prefix = issued.key[: len("ffk_") + 12 + 1]
    assert reason(keys, with_checksum(prefix + "B" * 43)) == "wrong-secret"


MALFORMED = [
    ("", "starts with 'ffk_'"),
    ("Bearer abc", "starts with 'ffk_'"),
    ("ghp_" + "a" * 62, "starts with 'ffk_'"),
    ("FFK_" + "a" * 62, "starts with 'ffk_'"),
    ("ffk_", "66 characters long, this one has 4"),
    ("ffk_abc_def", "66 characters long, this one has 11"),
    ("ffk_" + "a" * 12 + "_" + "a" * 48, "this one has 65 (truncated or padded?)"),
    ("ffk_" + "a" * 12 + "_" + "a" * 50, "this one has 67"),
    ("ffk_" + "a" * 12 + "-" + "a" * 49, "expected ffk_<12 letters or digits>_<secret>"),
    ("ffk_" + "a" * 11 + "!_" + "a" * 49, "expected ffk_<12 letters or digits>_<secret>"),
    ("ffk_" + "a" * 12 + "_" + "a" * 48 + "=", "characters other than letters and digits"),
    ("ffk_" + "a" * 12 + "_" + "a" * 48 + "é", "characters other than letters and digits"),
    ("ffk_" + "a" * 12 + "_" + "a" * 49, "checksum mismatch"),
]


@pytest.mark.parametrize(("presented", "message"), MALFORMED)
def test_malformed_keys_get_clear_errors(keys: ApiKeys, presented: str, message: str) -> None:
    with pytest.raises(MalformedApiKey, match=re.escape(message)) as refused:
        keys.verify(presented)
    assert refused.value.reason == "malformed"
    assert str(refused.value).startswith("malformed API key: ")


def test_one_mistyped_character_fails_the_checksum(keys: ApiKeys) -> None:
    issued = keys.create(subject="user-1", scopes=[])
    position = len(issued.key) - 20
    swapped = "B" if issued.key[position] != "B" else "C"
    typo = issued.key[:position] + swapped + issued.key[position + 1 :]
    with pytest.raises(MalformedApiKey, match="checksum mismatch"):
        keys.verify(typo)


def test_non_strings_are_malformed() -> None:
    with pytest.raises(MalformedApiKey, match="is a string"):
        parse_api_key(None)  # type: ignore[arg-type]


# -- rotation


def test_rotation_keeps_the_id_and_kills_the_old_secret(keys: ApiKeys, clock: Clock) -> None:
    issued = keys.create(subject="user-1", scopes=["workflows:read"])
    clock.advance(days=1)
    rotated = keys.rotate(issued.record.key_id)
    assert rotated.key != issued.key
    assert rotated.record.key_id == issued.record.key_id
    assert rotated.key.startswith(issued.record.prefix + "_")
    assert rotated.record.rotated_at == clock.now
    assert rotated.record.scopes == issued.record.scopes
    assert reason(keys, issued.key) == "wrong-secret"
    assert keys.verify(rotated.key).key_id == issued.record.key_id


def test_rotation_with_a_grace_period(keys: ApiKeys, clock: Clock) -> None:
    issued = keys.create(subject="user-1", scopes=[])
    rotated = keys.rotate(issued.record.key_id, grace=timedelta(hours=1))
    clock.advance(minutes=59)
    assert keys.verify(issued.key).key_id == issued.record.key_id
    assert keys.verify(rotated.key).key_id == issued.record.key_id
    clock.advance(minutes=1)
    assert reason(keys, issued.key) == "wrong-secret"
    assert keys.verify(rotated.key).key_id == issued.record.key_id


def test_revocation_ends_the_grace_period(keys: ApiKeys) -> None:
    issued = keys.create(subject="user-1", scopes=[])
    rotated = keys.rotate(issued.record.key_id, grace=timedelta(hours=1))
    keys.revoke(issued.record.key_id)
    assert reason(keys, issued.key) == "wrong-secret"
    assert reason(keys, rotated.key) == "revoked"


def test_a_revoked_key_cannot_be_rotated_back_to_life(keys: ApiKeys) -> None:
    issued = keys.create(subject="user-1", scopes=[])
    keys.revoke(issued.record.key_id)
    with pytest.raises(ValueError, match="revoked"):
        keys.rotate(issued.record.key_id)
    with pytest.raises(KeyError):
        keys.rotate("nonexistent0")


# -- scopes


SCOPE_TABLE = [
    # granted, needed, allowed
    ({"workflows:read"}, "workflows:read", True),
    ({"workflows:read"}, "workflows:write", False),
    ({"workflows:write"}, "workflows:read", False),  # write does not imply read
    ({"workflows:read"}, "executions:read", False),
    ({"workflows:*"}, "workflows:read", True),
    ({"workflows:*"}, "workflows:delete", True),
    ({"workflows:*"}, "workflows", False),
    ({"workflows:*"}, "workflowsx:read", False),
    ({"workflows:*"}, "executions:read", False),
    ({"services:*"}, "services:slack:send", True),
    ({"services:slack:*"}, "services:slack:send", True),
    ({"services:slack:*"}, "services:gmail:send", False),
    ({"services:slack:*"}, "services:slack", False),
    ({"services:slack:send"}, "services:slack:*", False),
    ({"services:*"}, "services:*", True),
    ({"*"}, "executions:write", True),
    ({"*"}, "anything:at:all", True),
    ({"*:read"}, "workflows:read", False),  # a wildcard stands only at the end
    ({"work*"}, "workflows:read", False),
    ({"executions:write", "workflows:read"}, "executions:write", True),
    (set(), "workflows:read", False),
    ({"workflows:read"}, "workflows:read:extra", False),
]


@pytest.mark.parametrize(("granted", "needed", "allowed"), SCOPE_TABLE)
def test_scope_table(granted: set[str], needed: str, allowed: bool) -> None:
    assert scope_allows(frozenset(granted), needed) is allowed


@pytest.mark.parametrize(
    "scope",
    ["", "Workflows:read", "workflows:", ":read", "workflows::read", "work*", "*:read",
     "workflows:*:read", "workflows read", "workflows:read ", "*:*"],
)  # fmt: skip
def test_invalid_scopes(scope: str) -> None:
    with pytest.raises(ValueError, match="invalid scope"):
        validate_scope(scope)
    with pytest.raises(ValueError, match="invalid scope"):
        scope_allows(frozenset({"*"}), scope)


@pytest.mark.parametrize("scope", ["*", "workflows:read", "services:*", "services:slack:send"])
def test_valid_scopes(scope: str) -> None:
    assert validate_scope(scope) == scope
