"""The credential vault: round trips, tampering, values moved between rows, wrong keys, master
key loading and its malformed forms, rotation (also under concurrent writes) and size bounds."""

from __future__ import annotations

import base64
import dataclasses
import os
import stat
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowforge.security.vault import (
    KEY_FILE_NAME,
    MASTER_KEY_ENV,
    MASTER_KEY_FILE_ENV,
    MAX_SECRET_BYTES,
    SEALED_VERSION,
    InMemorySealedStore,
    Keyring,
    MasterKey,
    MasterKeyError,
    Sealed,
    SealedRow,
    Vault,
    VaultError,
    load_keyring,
    parse_keyring,
    parse_master_key,
    write_keyring_file,
)

SECRET = {"api_key": "sk-live-5f3c9a1e7d", "user": "ops@example.org", "port": 5432}


@pytest.fixture
def k1() -> MasterKey:
    return MasterKey.generate("k1")


@pytest.fixture
def k2() -> MasterKey:
    return MasterKey.generate("k2")


@pytest.fixture
def vault(k1: MasterKey) -> Vault:
    return Vault(Keyring(k1))


def flip(data: bytes, index: int = 0) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def assert_no_secret(exc: BaseException, *values: str) -> None:
    """The error's message, and anything chained to it, shows none of ``values``."""
    seen: BaseException | None = exc
    while seen is not None:
        for value in values:
            assert value not in str(seen)
            assert value not in repr(seen.args)
        seen = seen.__cause__ or seen.__context__


# -- round trip and the sealed shape


@pytest.mark.parametrize(
    "secret",
    [
        SECRET,
        {},
        {"nested": {"list": [1, 2.5, True, None, "x"]}, "unicode": "pässwörd ✓ 密码 🔑"},
        {"pem": "-----BEGIN PRIVATE KEY-----\n" + "A" * 3000 + "\n-----END PRIVATE KEY-----"},
    ],
)
def test_round_trip(vault: Vault, secret: dict[str, Any]) -> None:
    sealed = vault.seal("org-1", "cred-1", secret)
    assert vault.open("org-1", "cred-1", sealed) == secret


def test_sealed_fits_database_columns_and_hides_the_secret(vault: Vault, k1: MasterKey) -> None:
    sealed = vault.seal("org-1", "cred-1", SECRET)
    assert sealed.version == SEALED_VERSION == 1
    assert sealed.key_id == "k1"
    assert isinstance(sealed.wrapped_key, bytes) and len(sealed.wrapped_key) == 60
    assert isinstance(sealed.nonce, bytes) and len(sealed.nonce) == 12
    assert isinstance(sealed.ciphertext, bytes)
    for value in ("sk-live-5f3c9a1e7d", "ops@example.org"):
        assert value.encode() not in sealed.ciphertext
        assert value not in repr(sealed)
    assert k1.key not in sealed.wrapped_key
    with pytest.raises(dataclasses.FrozenInstanceError):
        sealed.key_id = "other"  # type: ignore[misc]


def test_every_seal_uses_a_fresh_data_key_and_nonce(vault: Vault) -> None:
    a = vault.seal("org-1", "cred-1", SECRET)
    b = vault.seal("org-1", "cred-1", SECRET)
    assert a.nonce != b.nonce
    assert a.wrapped_key != b.wrapped_key
    assert a.ciphertext != b.ciphertext


# -- tampering and values moved between rows


@pytest.mark.parametrize(
    ("field", "change", "reason"),
    [
        ("ciphertext", lambda v: flip(v, 0), "does not authenticate"),
        ("ciphertext", lambda v: flip(v, len(v) - 1), "does not authenticate"),  # the tag
        ("ciphertext", lambda v: v[:-1], "does not authenticate"),
        ("ciphertext", lambda v: v + b"\x00", "does not authenticate"),
        ("nonce", lambda v: flip(v, 5), "does not authenticate"),
        ("nonce", lambda v: v[:8], "malformed"),
        ("wrapped_key", lambda v: flip(v, 0), "does not unwrap"),  # its nonce
        ("wrapped_key", lambda v: flip(v, 20), "does not unwrap"),  # the wrapped key
        ("wrapped_key", lambda v: flip(v, 59), "does not unwrap"),  # its tag
        ("wrapped_key", lambda v: v[:40], "malformed"),
        ("ciphertext", lambda v: b"", "malformed"),
        ("version", lambda v: 2, "unknown format version 2"),
        ("key_id", lambda v: "k9", "'k9', which is not configured"),
    ],
)
def test_tampered_values_are_refused(vault: Vault, field: str, change: Any, reason: str) -> None:
    sealed = vault.seal("org-1", "cred-1", SECRET)
    bad = dataclasses.replace(sealed, **{field: change(getattr(sealed, field))})
    with pytest.raises(VaultError, match=reason) as caught:
        vault.open("org-1", "cred-1", bad)
    assert "cred-1" in str(caught.value)
    assert_no_secret(caught.value, "sk-live-5f3c9a1e7d", "ops@example.org")


def test_a_value_renamed_to_another_known_key_id_is_refused(k1: MasterKey, k2: MasterKey) -> None:
    vault = Vault(Keyring(k2, [k1]))
    sealed = vault.seal("org-1", "cred-1", SECRET)
    with pytest.raises(VaultError, match="does not unwrap under master key 'k1'"):
        vault.open("org-1", "cred-1", dataclasses.replace(sealed, key_id="k1"))


@pytest.mark.parametrize(
    ("org", "cred"),
    [
        ("org-1", "cred-2"),  # another credential of the same organisation
        ("org-2", "cred-1"),  # the same credential id in another organisation
        ("org-2", "cred-2"),
        ("org-1c", "red-1"),  # field boundaries cannot be shifted
        ("org-", "1cred-1"),
    ],
)
def test_a_sealed_value_moved_to_another_row_does_not_open(
    vault: Vault, org: str, cred: str
) -> None:
    sealed = vault.seal("org-1", "cred-1", SECRET)
    with pytest.raises(VaultError) as caught:
        vault.open(org, cred, sealed)
    assert_no_secret(caught.value, "sk-live-5f3c9a1e7d")


def test_sealed_values_swapped_between_two_credentials_and_two_orgs(vault: Vault) -> None:
    store = InMemorySealedStore()
    rows = [("org-a", "c1"), ("org-a", "c2"), ("org-b", "c1")]
    for org, cred in rows:
        assert store.compare_and_swap(org, cred, None, vault.seal(org, cred, {"owner": org + cred}))
    for org, cred in rows:
        assert vault.open(org, cred, store.get(org, cred)) == {"owner": org + cred}  # type: ignore[arg-type]
    for org, cred in rows:
        for other_org, other_cred in rows:
            if (org, cred) == (other_org, other_cred):
                continue
            with pytest.raises(VaultError, match="does not unwrap"):
                vault.open(other_org, other_cred, store.get(org, cred))  # type: ignore[arg-type]


def test_a_ciphertext_spliced_under_another_rows_wrapped_key_does_not_open(vault: Vault) -> None:
    a = vault.seal("org-1", "cred-a", {"token": "aaa-secret"})
    b = vault.seal("org-1", "cred-b", {"token": "bbb-secret"})
    spliced = dataclasses.replace(b, nonce=a.nonce, ciphertext=a.ciphertext)
    with pytest.raises(VaultError, match="does not authenticate") as caught:
        vault.open("org-1", "cred-b", spliced)
    assert_no_secret(caught.value, "aaa-secret", "bbb-secret")


def test_the_wrong_master_key_opens_nothing(vault: Vault) -> None:
    sealed = vault.seal("org-1", "cred-1", SECRET)
    impostor = Vault(Keyring(MasterKey.generate("k1")))  # the same id, another key
    with pytest.raises(VaultError, match="does not unwrap under master key 'k1'"):
        impostor.open("org-1", "cred-1", sealed)
    stranger = Vault(Keyring(MasterKey.generate("k7")))
    with pytest.raises(VaultError, match=r"'k1', which is not configured \(configured: k7\)"):
        stranger.open("org-1", "cred-1", sealed)


def test_ids_and_values_of_the_wrong_type_are_refused(vault: Vault) -> None:
    sealed = vault.seal("org-1", "cred-1", SECRET)
    with pytest.raises(VaultError, match="org_id must be a non-empty string"):
        vault.seal("", "cred-1", SECRET)
    with pytest.raises(VaultError, match="credential_id must be"):
        vault.open("org-1", 7, sealed)  # type: ignore[arg-type]
    with pytest.raises(VaultError, match="credential_id must be"):
        vault.seal("org-1", "x" * 256, SECRET)
    with pytest.raises(VaultError, match="expected a Sealed value, got dict"):
        vault.open("org-1", "cred-1", {"ciphertext": b""})  # type: ignore[arg-type]
    with pytest.raises(VaultError, match="malformed"):
        vault.open("org-1", "cred-1", dataclasses.replace(sealed, nonce="0" * 12))  # type: ignore[arg-type]


# -- what a secret may be


def test_huge_secrets_are_refused_at_the_bound(vault: Vault) -> None:
    overhead = len('{"blob":""}')
    fits = {"blob": "x" * (MAX_SECRET_BYTES - overhead)}
    assert vault.open("o", "c", vault.seal("o", "c", fits)) == fits
    with pytest.raises(
        VaultError, match=f"65537 bytes as JSON, over the limit of {MAX_SECRET_BYTES}"
    ):
        vault.seal("o", "c", {"blob": "x" * (MAX_SECRET_BYTES - overhead + 1)})
    with pytest.raises(VaultError, match="over the limit"):
        vault.seal("o", "c", {"blob": "é" * (MAX_SECRET_BYTES // 2)})  # counted in UTF-8 bytes
    with pytest.raises(VaultError, match="over the limit"):
        vault.seal("o", "c", {"blob": "x" * (16 * 1024 * 1024)})


def test_an_oversized_stored_ciphertext_is_refused_before_decrypting(vault: Vault) -> None:
    sealed = vault.seal("o", "c", SECRET)
    huge = dataclasses.replace(sealed, ciphertext=b"\x00" * (MAX_SECRET_BYTES + 17))
    with pytest.raises(VaultError, match="malformed"):
        vault.open("o", "c", huge)


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        (["not", "a", "mapping"], "a mapping of field names to values, not list"),
        ("sk-live-5f3c9a1e7d", "not str"),
        ({1: "sk-live-5f3c9a1e7d"}, "field names must be strings"),
        ({"k": b"sk-live-5f3c9a1e7d"}, "JSON cannot represent"),
        ({"k": {"sk-live-5f3c9a1e7d"}}, "JSON cannot represent"),
        ({"k": float("nan"), "v": "sk-live-5f3c9a1e7d"}, "no NaN or infinity"),
        ({"k": "sk-live-5f3c9a1e7d\ud800"}, "lone surrogate"),
    ],
)
def test_secrets_json_cannot_hold_are_refused_without_showing_them(
    vault: Vault, secret: Any, reason: str
) -> None:
    with pytest.raises(VaultError, match=reason) as caught:
        vault.seal("o", "c", secret)
    assert caught.value.__context__ is None and caught.value.__cause__ is None
    assert_no_secret(caught.value, "sk-live-5f3c9a1e7d")


def test_deeply_nested_secrets_are_refused(vault: Vault) -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(sys.getrecursionlimit() + 100):
        node["n"] = {}
        node = node["n"]
    with pytest.raises(VaultError, match="nested too deeply"):
        vault.seal("o", "c", deep)


# -- master keys


def test_master_key_repr_and_keyring_repr_hide_the_key(k1: MasterKey, k2: MasterKey) -> None:
    for text in (repr(k1), str(k1), repr(Keyring(k2, [k1]))):
        assert k1.key.hex() not in text
        assert base64.b64encode(k1.key).decode() not in text
        assert "k1" in text


def test_master_key_checks_its_fields() -> None:
    with pytest.raises(VaultError, match="32 bytes"):
        MasterKey("k", b"\x00" * 16)
    with pytest.raises(VaultError, match="key id"):
        MasterKey("bad id", b"\x00" * 32)
    with pytest.raises(VaultError, match="key id"):
        MasterKey("x" * 65, b"\x00" * 32)


KEY = bytes(range(32))


@pytest.mark.parametrize(
    ("text", "key_id"),
    [
        (KEY.hex(), None),
        (KEY.hex().upper(), None),
        (base64.b64encode(KEY).decode(), None),
        (base64.urlsafe_b64encode(KEY).decode().rstrip("="), None),
        ("  " + base64.b64encode(KEY).decode() + "\n", None),
        ("prod-2026.1:" + base64.b64encode(KEY).decode(), "prod-2026.1"),
        ("k_1:" + KEY.hex(), "k_1"),
    ],
)
def test_master_key_spellings(text: str, key_id: str | None) -> None:
    key = parse_master_key(text)
    assert key.key == KEY
    if key_id is None:  # derived from the key: stable, and not the key itself
        assert key.key_id == parse_master_key(KEY.hex()).key_id
        assert key.key_id.startswith("mk-") and KEY.hex()[:8] not in key.key_id
    else:
        assert key.key_id == key_id
    assert parse_master_key(key.encode()) == key


MALFORMED = [
    ("", "is empty"),
    ("   ", "is empty"),
    (KEY.hex()[:32], "decodes to 24 bytes, a master key is 32 bytes"),
    (KEY.hex() + "00", "decodes to 49 bytes"),
    (base64.b64encode(KEY[:16]).decode(), "decodes to 16 bytes"),
    (base64.b64encode(KEY + b"!").decode(), "decodes to 33 bytes"),
    ("this-is-not-a-key!", "neither hex nor base64"),
    ("AAAA=AAA" + base64.b64encode(KEY).decode(), "neither hex nor base64"),
    (base64.b64encode(KEY).decode()[:-2] + "===", "neither hex nor base64"),
    ("A" * 41, "not valid base64"),
    ("bad!id:" + KEY.hex(), "key id before ':'"),
    (":" + KEY.hex(), "key id before ':'"),
    ("k1:", "neither hex nor base64"),
    ("k1:k2:" + KEY.hex(), "neither hex nor base64"),
]


@pytest.mark.parametrize(("value", "reason"), MALFORMED)
def test_malformed_master_key_variable_names_the_variable(
    tmp_path: Path, value: str, reason: str
) -> None:
    with pytest.raises(MasterKeyError, match=reason) as caught:
        load_keyring(tmp_path, {MASTER_KEY_ENV: value})
    assert caught.value.source == MASTER_KEY_ENV
    assert str(caught.value).startswith(f"{MASTER_KEY_ENV}: ")
    for part in value.strip().split(":"):  # the value is never echoed
        if len(part) > 3:
            assert part not in str(caught.value)
    assert not (tmp_path / KEY_FILE_NAME).exists()  # no silent fallback to a generated key


@pytest.mark.parametrize(("value", "reason"), MALFORMED[2:7])
def test_malformed_key_file_names_the_file_variable(
    tmp_path: Path, value: str, reason: str
) -> None:
    path = tmp_path / "secret.key"
    path.write_text(value)
    with pytest.raises(MasterKeyError, match=reason) as caught:
        load_keyring(tmp_path, {MASTER_KEY_FILE_ENV: str(path)})
    assert str(caught.value).startswith(f"{MASTER_KEY_FILE_ENV} ({path}): ")
    assert value not in str(caught.value)


def test_key_configuration_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope.key"
    with pytest.raises(MasterKeyError, match=f"{MASTER_KEY_FILE_ENV} .*cannot be read"):
        load_keyring(tmp_path, {MASTER_KEY_FILE_ENV: str(missing)})
    with pytest.raises(MasterKeyError, match=f"{MASTER_KEY_FILE_ENV}: is set but empty"):
        load_keyring(tmp_path, {MASTER_KEY_FILE_ENV: ""})
    with pytest.raises(MasterKeyError, match="not both"):
        load_keyring(tmp_path, {MASTER_KEY_ENV: KEY.hex(), MASTER_KEY_FILE_ENV: str(missing)})
    with pytest.raises(MasterKeyError, match=f"{MASTER_KEY_FILE_ENV} .*over 65536 bytes"):
        load_keyring(tmp_path, {MASTER_KEY_FILE_ENV: "/dev/zero"})
    with pytest.raises(MasterKeyError, match=f"{MASTER_KEY_FILE_ENV} .*cannot be read: "):
        load_keyring(tmp_path, {MASTER_KEY_FILE_ENV: str(tmp_path)})  # a folder
    binary = tmp_path / "binary.key"
    binary.write_bytes(b"\xff\xfe" + KEY)
    with pytest.raises(MasterKeyError, match="cannot be read: not UTF-8 text"):
        load_keyring(tmp_path, {MASTER_KEY_FILE_ENV: str(binary)})
    comments = tmp_path / "comments.key"
    comments.write_text("# nothing here\n\n")
    with pytest.raises(MasterKeyError, match="holds no key, only comments"):
        load_keyring(tmp_path, {MASTER_KEY_FILE_ENV: str(comments)})
    other = bytes(reversed(KEY))
    with pytest.raises(MasterKeyError, match=r"\(key 2\): decodes to 16 bytes"):
        load_keyring(
            tmp_path, {MASTER_KEY_ENV: f"{KEY.hex()},{base64.b64encode(other[:16]).decode()}"}
        )
    with pytest.raises(MasterKeyError, match="two different master keys share the id 'k'"):
        load_keyring(tmp_path, {MASTER_KEY_ENV: f"k:{KEY.hex()} k:{other.hex()}"})


def test_keys_from_the_variable_and_from_a_file(tmp_path: Path) -> None:
    old, new = MasterKey.generate("old"), MasterKey.generate("new")
    keyring = load_keyring(tmp_path, {MASTER_KEY_ENV: f"{new.encode()}, {old.encode()}"})
    assert keyring.current == new and keyring.key_ids == ("new", "old")
    assert keyring.retired == (old,)
    path = tmp_path / "keys"
    path.write_text(f"# current first\n{new.encode()}\n  {old.encode()}  # retired\n")
    from_file = load_keyring(tmp_path, {MASTER_KEY_FILE_ENV: str(path)})
    assert from_file.current == new and from_file.get("old") == old
    assert not (tmp_path / KEY_FILE_NAME).exists()


def test_key_file_is_generated_0600_and_reused(tmp_path: Path) -> None:
    home = tmp_path / "home" / ".flowforge"
    first = load_keyring(home, {})
    path = home / KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    content = path.read_text()
    assert len(first) == 1
    again = load_keyring(home, {})
    assert again.current == first.current
    assert path.read_text() == content
    assert sorted(p.name for p in home.iterdir()) == [KEY_FILE_NAME]  # no temporary left
    sealed = Vault(first).seal("o", "c", SECRET)
    assert Vault(again).open("o", "c", sealed) == SECRET


def test_key_file_is_never_overwritten_by_concurrent_first_starts(tmp_path: Path) -> None:
    barrier = threading.Barrier(8)
    results: list[Keyring] = []

    def start() -> None:
        barrier.wait()
        results.append(load_keyring(tmp_path, {}))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8
    assert len({r.current for r in results}) == 1
    assert load_keyring(tmp_path, {}).current == results[0].current
    assert [p.name for p in tmp_path.iterdir()] == [KEY_FILE_NAME]


def test_an_existing_key_file_is_used_as_it_is(tmp_path: Path, k1: MasterKey) -> None:
    (tmp_path / KEY_FILE_NAME).write_text(k1.encode() + "\n")
    assert load_keyring(tmp_path, {}).current == k1
    (tmp_path / KEY_FILE_NAME).write_text("garbage!")
    with pytest.raises(MasterKeyError, match=f"{KEY_FILE_NAME}: is neither hex nor base64"):
        load_keyring(tmp_path, {})


def test_write_keyring_file_replaces_atomically_with_mode_0600(
    tmp_path: Path, k1: MasterKey, k2: MasterKey
) -> None:
    path = tmp_path / KEY_FILE_NAME
    load_keyring(tmp_path, {})
    write_keyring_file(path, Keyring(k2, [k1]))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    keyring = load_keyring(tmp_path, {})
    assert keyring.current == k2 and keyring.retired == (k1,)
    assert parse_keyring(Keyring(k2, [k1]).encode()).key_ids == ("k2", "k1")


def test_keyring_operations(k1: MasterKey, k2: MasterKey) -> None:
    keyring = Keyring(k1).rotated(k2)
    assert keyring.current == k2 and "k1" in keyring and keyring.get("k1") == k1
    assert keyring.rotated(k2).key_ids == ("k2", "k1")  # rotating to the current key: no-op
    assert keyring.without("k1").key_ids == ("k2",)
    with pytest.raises(VaultError, match="is current"):
        keyring.without("k2")
    with pytest.raises(VaultError, match="holds no master key 'k9'"):
        keyring.without("k9")
    with pytest.raises(VaultError, match="another key with id 'k1'"):
        keyring.rotated(MasterKey.generate("k1"))


# -- rotation


def fill(vault: Vault, count: int, org: str = "org") -> InMemorySealedStore:
    store = InMemorySealedStore()
    for i in range(count):
        assert store.compare_and_swap(org, f"c{i}", None, vault.seal(org, f"c{i}", {"i": i}))
    return store


def test_rewrap_changes_only_the_wrapped_key(vault: Vault, k1: MasterKey, k2: MasterKey) -> None:
    sealed = vault.seal("org-1", "cred-1", SECRET)
    moved = vault.rewrap("org-1", "cred-1", sealed, k2)
    assert (moved.nonce, moved.ciphertext) == (sealed.nonce, sealed.ciphertext)
    assert moved.key_id == "k2" and moved.wrapped_key != sealed.wrapped_key
    assert Vault(Keyring(k2)).open("org-1", "cred-1", moved) == SECRET
    with pytest.raises(VaultError):
        Vault(Keyring(k1)).open("org-1", "cred-1", moved)
    with pytest.raises(VaultError, match="does not authenticate"):  # tampering is not carried on
        vault.rewrap(
            "org-1", "cred-1", dataclasses.replace(sealed, ciphertext=flip(sealed.ciphertext)), k2
        )
    with pytest.raises(VaultError, match="does not unwrap"):
        vault.rewrap("org-1", "cred-2", sealed, k2)


def test_after_rotation_the_new_key_opens_all_and_the_old_key_nothing(
    vault: Vault, k1: MasterKey, k2: MasterKey
) -> None:
    store = fill(vault, 50)
    before = {(r.org_id, r.credential_id): r.sealed for r in store.rows()}
    rotation = vault.rotate(store, k2)
    assert rotation.complete and rotation.rewrapped == 50 and not rotation.failures
    assert rotation.passes == 2  # one that re-wrapped, one that found nothing left
    assert vault.keyring.current == k2 and vault.keyring.key_ids == ("k2", "k1")
    new_only, old_only = Vault(Keyring(k2)), Vault(Keyring(k1))
    for org, cred, sealed in store.rows():
        assert sealed.key_id == "k2"
        assert sealed.ciphertext == before[(org, cred)].ciphertext
        assert new_only.open(org, cred, sealed) == {"i": int(cred[1:])}
        with pytest.raises(VaultError):
            old_only.open(org, cred, sealed)
    assert vault.seal("org", "new", SECRET).key_id == "k2"
    again = vault.rotate(store, k2)  # idempotent
    assert again.complete and again.rewrapped == 0 and again.passes == 1


def test_retire_waits_until_no_row_uses_the_key(vault: Vault, k1: MasterKey, k2: MasterKey) -> None:
    store = fill(vault, 3)
    vault.use(vault.keyring.rotated(k2))  # the new key is current, nothing re-wrapped yet
    with pytest.raises(VaultError, match="'k1' still seals 3 credential"):
        vault.retire(store, "k1")
    assert vault.rotate(store, k2).complete
    assert vault.retire(store, "k1").key_ids == ("k2",)
    assert vault.keyring.key_ids == ("k2",)
    for org, cred, sealed in store.rows():
        assert vault.open(org, cred, sealed) == {"i": int(cred[1:])}


def test_rotation_reports_rows_it_cannot_rewrap_and_rotates_the_rest(
    vault: Vault, k2: MasterKey
) -> None:
    store = fill(vault, 5)
    good = store.get("org", "c2")
    assert good is not None
    moved = dataclasses.replace(good)  # a value copied onto another row
    assert store.compare_and_swap("org", "c3", store.get("org", "c3"), moved)
    rotation = vault.rotate(store, k2)
    assert rotation.rewrapped == 4 and rotation.remaining == 1 and not rotation.complete
    assert [(f.org_id, f.credential_id) for f in rotation.failures] == [("org", "c3")]
    assert "does not unwrap" in rotation.failures[0].reason
    with pytest.raises(VaultError, match="still seals 1 credential"):
        vault.retire(store, "k1")


class InterferingStore(InMemorySealedStore):
    """Lets a 'concurrent writer' write a row just before rotation's compare-and-swap of it."""

    def __init__(self, interfere: Any) -> None:
        super().__init__()
        self.interfere = interfere
        self.conflicts = 0

    def compare_and_swap(
        self, org_id: str, credential_id: str, expected: Sealed | None, new: Sealed | None
    ) -> bool:
        if new is not None and new.key_id == "k2" and self.interfere is not None:
            interfere, self.interfere = self.interfere, None
            interfere(self)
        done = super().compare_and_swap(org_id, credential_id, expected, new)
        self.conflicts += not done
        return done


@pytest.mark.parametrize("writer_key", ["k1", "k2"])
def test_an_edit_racing_rotation_is_kept_and_ends_under_the_new_key(
    k1: MasterKey, k2: MasterKey, writer_key: str
) -> None:
    writer = Vault(Keyring(k1 if writer_key == "k1" else k2))  # sealed before or after the switch

    def edit(store: InMemorySealedStore) -> None:
        edited = writer.seal("org", "c0", {"edited": True})
        assert InMemorySealedStore.compare_and_swap(
            store, "org", "c0", store.get("org", "c0"), edited
        )

    vault = Vault(Keyring(k1))
    store = InterferingStore(edit)
    store.compare_and_swap("org", "c0", None, vault.seal("org", "c0", {"edited": False}))
    rotation = vault.rotate(store, k2)
    assert store.conflicts == 1 and rotation.complete
    sealed = store.get("org", "c0")
    assert sealed is not None and sealed.key_id == "k2"
    assert Vault(Keyring(k2)).open("org", "c0", sealed) == {"edited": True}


def test_a_row_deleted_during_rotation_is_skipped(vault: Vault, k2: MasterKey) -> None:
    def delete(store: InMemorySealedStore) -> None:
        InMemorySealedStore.compare_and_swap(store, "org", "c0", store.get("org", "c0"), None)

    store = InterferingStore(delete)
    store.compare_and_swap("org", "c0", None, vault.seal("org", "c0", SECRET))
    rotation = vault.rotate(store, k2)
    assert rotation.complete and rotation.rewrapped == 0 and len(store) == 0


class SlowRows(InMemorySealedStore):
    """Rows handed out one at a time, letting the writers in between rows."""

    def rows(self, *, exclude_key_id: str | None = None) -> list[SealedRow]:
        return _Yielding(super().rows(exclude_key_id=exclude_key_id))


class _Yielding(list[SealedRow]):
    def __iter__(self) -> Iterator[SealedRow]:
        for row in super().__iter__():
            time.sleep(0)  # gives up the GIL
            yield row


def test_rotation_under_concurrent_writes_loses_nothing(k1: MasterKey, k2: MasterKey) -> None:
    vault = Vault(Keyring(k1))
    store = SlowRows()
    credentials = 200
    for i in range(credentials):
        store.compare_and_swap("org", f"c{i}", None, vault.seal("org", f"c{i}", {"n": 0}))
    committed = [[0] * credentials for _ in range(4)]  # per writer, per credential
    inserted: list[list[str]] = [[] for _ in range(4)]
    stop = threading.Event()
    errors: list[BaseException] = []

    def write(w: int) -> None:
        try:
            step = 0
            while not stop.is_set():
                step += 1
                i = (step * 7 + w * 13) % credentials
                time.sleep(0)
                while True:  # read, change, seal, compare-and-swap; again on conflict
                    current = store.get("org", f"c{i}")
                    assert current is not None
                    value = vault.open("org", f"c{i}", current)
                    value["n"] += 1
                    if store.compare_and_swap(
                        "org", f"c{i}", current, vault.seal("org", f"c{i}", value)
                    ):
                        committed[w][i] += 1
                        break
                if step % 10 == 0:
                    cred = f"new-{w}-{step}"
                    assert store.compare_and_swap(
                        "org", cred, None, vault.seal("org", cred, {"n": step})
                    )
                    inserted[w].append(cred)
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)  # interleave the threads finely
    try:
        writers = [threading.Thread(target=write, args=(w,)) for w in range(4)]
        for thread in writers:
            thread.start()
        time.sleep(0.05)
        before = sum(map(sum, committed))
        rotation = vault.rotate(store, k2)
        during = sum(map(sum, committed)) - before
        time.sleep(0.05)  # writers go on under the new key
        stop.set()
        for thread in writers:
            thread.join()
    finally:
        sys.setswitchinterval(old_interval)
    assert not errors
    assert during > 0  # writes did race the rotation
    # Rows the writers re-sealed after the switch needed no re-wrap.
    assert 0 < rotation.rewrapped <= len(store) and not rotation.failures
    # Updates of existing rows can never be left behind; a row inserted from a seal that began
    # before the switch and landed after the last pass can: running rotate again finishes it.
    assert all(not r.credential_id.startswith("c") for r in store.rows(exclude_key_id="k2"))
    assert vault.rotate(store, k2).complete
    new_only, old_only = Vault(Keyring(k2)), Vault(Keyring(k1))
    for i in range(credentials):
        sealed = store.get("org", f"c{i}")
        assert sealed is not None and sealed.key_id == "k2"
        assert new_only.open("org", f"c{i}", sealed) == {"n": sum(c[i] for c in committed)}
        with pytest.raises(VaultError):
            old_only.open("org", f"c{i}", sealed)
    names = [cred for batch in inserted for cred in batch]
    assert names and len(store) == credentials + len(names)
    for cred in names:
        sealed = store.get("org", cred)
        assert sealed is not None
        assert new_only.open("org", cred, sealed)["n"] > 0
        with pytest.raises(VaultError):
            old_only.open("org", cred, sealed)
    assert vault.retire(store, "k1").key_ids == ("k2",)


def test_a_server_learns_of_another_processs_rotation_by_reloading(
    tmp_path: Path, k1: MasterKey, k2: MasterKey
) -> None:
    path = tmp_path / KEY_FILE_NAME
    write_keyring_file(path, Keyring(k1))
    reloads = []

    def reload() -> Keyring:
        reloads.append(1)
        return load_keyring(tmp_path, {})

    server = Vault(load_keyring(tmp_path, {}), reload=reload, reload_interval_s=60)
    store = fill(server, 3)
    cli = Vault(load_keyring(tmp_path, {}))  # `flowforge keys rotate` in another process
    write_keyring_file(path, cli.keyring.rotated(k2))  # the new key stored first
    assert cli.rotate(store, k2).complete
    for org, cred, sealed in store.rows():
        assert server.open(org, cred, sealed) == {"i": int(cred[1:])}
    assert len(reloads) == 1
    assert server.keyring.current == k2  # so its new seals use the new key too
    unknown = dataclasses.replace(server.seal("o", "c", SECRET), key_id="k9")
    for _ in range(3):  # an unknown id does not reload on every call
        with pytest.raises(VaultError, match="not configured"):
            server.open("o", "c", unknown)
    assert len(reloads) == 1


def test_rotate_rejects_a_zero_pass_budget(vault: Vault, k2: MasterKey) -> None:
    with pytest.raises(ValueError, match="max_passes"):
        vault.rotate(InMemorySealedStore(), k2, max_passes=0)


def test_the_vault_is_safe_to_share_between_threads(vault: Vault) -> None:
    failures: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(200):
                secret = {"t": t, "i": i, "token": os.urandom(8).hex()}
                assert vault.open(f"o{t}", f"c{i}", vault.seal(f"o{t}", f"c{i}", secret)) == secret
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
