"""The credential vault: secrets sealed with AES-256-GCM under per-credential data keys.

Envelope encryption. Every ``seal`` draws a fresh random 256-bit data key and encrypts the
secret's JSON with it (AES-256-GCM, random 96-bit nonce); the data key is then wrapped by the
current master key, also with AES-256-GCM. GCM rather than AES key wrap (RFC 3394/5649) for the
wrap because key wrap takes no associated data, and the wrap is where the binding lives:

- the ciphertext's associated data binds the format version, the organisation id and the
  credential id;
- the wrapped key's associated data binds the same plus the master key id.

A sealed value copied to another row (another credential id or organisation) therefore fails to
unwrap, and a ciphertext spliced under another row's wrapped key fails to authenticate. The
master key id sits in the wrap and not in the ciphertext so that rotating the master key
re-wraps 60 bytes per credential and leaves the ciphertext as it is. A data key encrypts exactly
one message, so its random nonce can never repeat; each master key wraps one data key per seal
or rewrap, far below the 2**32 wraps random GCM nonces allow.

Master keys come from ``FLOWFORGE_MASTER_KEY`` (the keys themselves) or
``FLOWFORGE_MASTER_KEY_FILE`` (a file holding them), else from ``<home>/master.key``, which is
generated (mode 0600, atomically, never overwritten) on first use. The syntax is one or more keys
separated by commas, spaces or new lines (``#`` starts a comment in a file); the first is
current, the others are retired keys still needed to open what they sealed. A key is 32 bytes
written as 64 hex digits or as base64 (standard or URL-safe, padding optional), optionally
prefixed by its id and a colon: ``prod-2026:3q2+7w...=``. Without an id, the id is derived from
the key (``mk-`` and 16 hex digits of a domain-separated SHA-256), so it is stable across
restarts.

Rotation (``Vault.rotate``) makes the new key current at once, so seals from then on use it,
then re-wraps every row of a ``SealedStore`` still under another key, one compare-and-swap per
row: a credential edited meanwhile is re-read and re-wrapped, never overwritten with a stale
value. ``Vault.retire`` drops an old key only once no row uses it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from flowforge.errors import FlowForgeError

__all__ = [
    "KEY_FILE_NAME",
    "MASTER_KEY_ENV",
    "MASTER_KEY_FILE_ENV",
    "MAX_SECRET_BYTES",
    "SEALED_VERSION",
    "InMemorySealedStore",
    "Keyring",
    "MasterKey",
    "MasterKeyError",
    "Rotation",
    "RotationFailure",
    "Sealed",
    "SealedRow",
    "SealedStore",
    "Vault",
    "VaultError",
    "load_keyring",
    "parse_keyring",
    "parse_master_key",
    "write_keyring_file",
]

MASTER_KEY_ENV = "FLOWFORGE_MASTER_KEY"
MASTER_KEY_FILE_ENV = "FLOWFORGE_MASTER_KEY_FILE"
KEY_FILE_NAME = "master.key"
SEALED_VERSION = 1
MAX_SECRET_BYTES = 64 * 1024  # of JSON, UTF-8 encoded

_KEY_BYTES = 32
_NONCE_BYTES = 12
_TAG_BYTES = 16
_WRAPPED_KEY_BYTES = _NONCE_BYTES + _KEY_BYTES + _TAG_BYTES
_MAX_ID_CHARS = 255
_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HEX_KEY = re.compile(r"[0-9a-fA-F]{64}")
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")
_SEPARATORS = re.compile(r"[\s,]+")
_KEY_SYNTAX = "32 bytes as 64 hex digits or base64, optionally prefixed 'key-id:'"
_CAS_ATTEMPTS = 100
_MAX_KEY_FILE_BYTES = 64 * 1024

_log = logging.getLogger(__name__)


class VaultError(FlowForgeError):
    """A secret that cannot be sealed or opened, and why; the message never holds secret
    material (values, keys, plaintext)."""


class MasterKeyError(VaultError):
    """A malformed or unreadable master key configuration; ``source`` names the environment
    variable or file it came from."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


# -- master keys and keyrings


def _derived_key_id(key: bytes) -> str:
    """A stable id for a key given without one: a domain-separated digest, not the key."""
    return "mk-" + hashlib.sha256(b"flowforge master key id\x00" + key).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class MasterKey:
    """A 256-bit master key and its id; the id is stored next to every data key it wraps."""

    key_id: str
    key: bytes = field(repr=False)
    _aead: AESGCM = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.key_id, str) or not _KEY_ID.fullmatch(self.key_id):
            raise VaultError(
                "a master key id is 1 to 64 letters, digits, '.', '_' or '-', starting with a "
                "letter or digit"
            )
        if not isinstance(self.key, bytes) or len(self.key) != _KEY_BYTES:
            raise VaultError(f"a master key is {_KEY_BYTES} bytes (AES-256)")
        object.__setattr__(self, "_aead", AESGCM(self.key))

    @classmethod
    def generate(cls, key_id: str | None = None) -> MasterKey:
        """A new random master key; its id is derived from the key unless given."""
        key = secrets.token_bytes(_KEY_BYTES)
        return cls(key_id or _derived_key_id(key), key)

    def encode(self) -> str:
        """The key as ``key-id:base64``, the syntax ``parse_master_key`` reads."""
        return f"{self.key_id}:{base64.b64encode(self.key).decode('ascii')}"


def parse_master_key(text: str, *, source: str = MASTER_KEY_ENV) -> MasterKey:
    """The master key ``text`` spells (``[key-id:]`` then hex or base64 of 32 bytes); a
    ``MasterKeyError`` naming ``source`` otherwise. Errors never quote the text."""
    text = text.strip()
    if not text:
        raise MasterKeyError(source, f"is empty; expected {_KEY_SYNTAX}")
    key_id: str | None = None
    if ":" in text:
        key_id, text = text.split(":", 1)
        if not _KEY_ID.fullmatch(key_id):
            raise MasterKeyError(
                source,
                "the key id before ':' must be 1 to 64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit",
            )
    if _HEX_KEY.fullmatch(text):
        key = bytes.fromhex(text)
    else:
        if not _BASE64.fullmatch(text):
            raise MasterKeyError(source, f"is neither hex nor base64; expected {_KEY_SYNTAX}")
        padded = text.rstrip("=").replace("-", "+").replace("_", "/")
        padded += "=" * (-len(padded) % 4)
        try:
            key = base64.b64decode(padded, validate=True)
        except (binascii.Error, ValueError):
            raise MasterKeyError(
                source, f"is not valid base64 or hex; expected {_KEY_SYNTAX}"
            ) from None
        if len(key) != _KEY_BYTES:
            raise MasterKeyError(
                source,
                f"decodes to {len(key)} bytes, a master key is {_KEY_BYTES} bytes ({_KEY_SYNTAX})",
            )
    return MasterKey(key_id or _derived_key_id(key), key)


class Keyring:
    """The current master key, which seals, and the retired ones, which only open; immutable,
    so a vault swaps a whole keyring at once."""

    __slots__ = ("_current", "_keys")

    def __init__(self, current: MasterKey, retired: Iterable[MasterKey] = ()) -> None:
        self._current = current
        self._keys: dict[str, MasterKey] = {current.key_id: current}
        for key in retired:
            known = self._keys.get(key.key_id)
            if known is not None and known.key != key.key:
                raise VaultError(f"two different master keys share the id {key.key_id!r}")
            self._keys.setdefault(key.key_id, key)

    @property
    def current(self) -> MasterKey:
        """The key new seals use."""
        return self._current

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The ids of every key held, the current one first."""
        return tuple(self._keys)

    @property
    def retired(self) -> tuple[MasterKey, ...]:
        """The keys held besides the current one."""
        return tuple(k for k in self._keys.values() if k is not self._current)

    def get(self, key_id: str) -> MasterKey | None:
        """The key with this id, or None."""
        return self._keys.get(key_id)

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"Keyring(current={self._current.key_id!r}, retired={list(self._keys)[1:]!r})"

    def rotated(self, new_key: MasterKey) -> Keyring:
        """This keyring with ``new_key`` current and every key held so far retired."""
        known = self._keys.get(new_key.key_id)
        if known is not None and known.key != new_key.key:
            raise VaultError(f"the keyring already holds another key with id {new_key.key_id!r}")
        return Keyring(new_key, [k for k in self._keys.values() if k.key_id != new_key.key_id])

    def without(self, key_id: str) -> Keyring:
        """This keyring without the retired key ``key_id``."""
        if key_id == self._current.key_id:
            raise VaultError(f"master key {key_id!r} is current and cannot be removed")
        if key_id not in self._keys:
            raise VaultError(f"the keyring holds no master key {key_id!r}")
        return Keyring(self._current, [k for k in self.retired if k.key_id != key_id])

    def encode(self) -> str:
        """The keyring in key-file syntax: the current key first, one key per line."""
        return "".join(key.encode() + "\n" for key in self._keys.values())


def parse_keyring(text: str, *, source: str = MASTER_KEY_ENV) -> Keyring:
    """The keyring ``text`` holds: keys separated by commas, spaces or lines, ``#`` comments;
    the first is current. A ``MasterKeyError`` naming ``source`` (and which key) otherwise."""
    words: list[str] = []
    for line in text.splitlines():
        words.extend(w for w in _SEPARATORS.split(line.split("#", 1)[0]) if w)
    if not words:
        what = "is empty" if not text.strip() else "holds no key, only comments"
        raise MasterKeyError(source, f"{what}; expected {_KEY_SYNTAX}")
    keys = []
    for number, word in enumerate(words, 1):
        where = source if len(words) == 1 else f"{source} (key {number})"
        keys.append(parse_master_key(word, source=where))
    try:
        return Keyring(keys[0], keys[1:])
    except VaultError as exc:
        raise MasterKeyError(source, str(exc)) from None


def load_keyring(home: Path, environ: Mapping[str, str] | None = None) -> Keyring:
    """The master keys configured by ``FLOWFORGE_MASTER_KEY`` or ``FLOWFORGE_MASTER_KEY_FILE``;
    with neither, the ones in ``<home>/master.key``, generated there on first use."""
    env = os.environ if environ is None else environ
    inline, file_name = env.get(MASTER_KEY_ENV), env.get(MASTER_KEY_FILE_ENV)
    if inline is not None and file_name is not None:
        raise MasterKeyError(MASTER_KEY_ENV, f"set it or {MASTER_KEY_FILE_ENV}, not both")
    if inline is not None:
        return parse_keyring(inline, source=MASTER_KEY_ENV)
    if file_name is not None:
        if not file_name.strip():
            raise MasterKeyError(MASTER_KEY_FILE_ENV, "is set but empty; it names a key file")
        path = Path(file_name).expanduser()
        source = f"{MASTER_KEY_FILE_ENV} ({path})"
        return parse_keyring(_read_key_file(path, source), source=source)
    path = Path(home).expanduser() / KEY_FILE_NAME
    try:
        text = _read_key_file(path, str(path), missing_ok=True)
    except FileNotFoundError:
        text = _create_key_file(path)
    return parse_keyring(text, source=str(path))


def _read_key_file(path: Path, source: str, *, missing_ok: bool = False) -> str:
    """The text of a key file, read up to a bound (a key file is small; /dev/zero is not)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(_MAX_KEY_FILE_BYTES + 1)
        if len(data) > _MAX_KEY_FILE_BYTES:
            raise MasterKeyError(source, f"is over {_MAX_KEY_FILE_BYTES} bytes; not a key file")
        return data.decode("utf-8")
    except FileNotFoundError:
        if missing_ok:
            raise
        reason = "no such file"
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
    except UnicodeDecodeError:
        reason = "not UTF-8 text"
    raise MasterKeyError(source, f"cannot be read: {reason}")


def write_keyring_file(path: Path, keyring: Keyring) -> None:
    """Replace the key file at ``path`` with ``keyring``, atomically and with mode 0600 (for
    rotation: store the new key durably before re-wrapping anything under it)."""
    _atomic_write(Path(path), _KEY_FILE_HEADER + keyring.encode(), replace=True)


_KEY_FILE_HEADER = (
    "# FlowForge master keys: the first is current, the others are retired keys still needed\n"
    "# to open credentials sealed under them. Keep this file secret and backed up: without it\n"
    "# the stored credentials cannot be decrypted.\n"
)


def _create_key_file(path: Path) -> str:
    """The text of a freshly generated key file at ``path``, or of the one a concurrent first
    start wrote there first."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = MasterKey.generate()
    text = _KEY_FILE_HEADER + Keyring(key).encode()
    if _atomic_write(path, text, replace=False):
        _log.warning(
            "generated master key %s at %s: back it up, the credentials cannot be decrypted "
            "without it",
            key.key_id,
            path,
        )
        return text
    return _read_key_file(path, str(path))


def _atomic_write(path: Path, text: str, *, replace: bool) -> bool:
    """Write ``text`` to ``path`` with mode 0600 so readers see all or nothing; False when
    ``replace`` is off and the file already exists (it is left as it is)."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)  # fails if the name exists: never overwrites
            except FileExistsError:
                return False
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    _fsync_directory(path.parent)
    return True


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform or file system allows it
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# -- sealed values


@dataclass(frozen=True, slots=True)
class Sealed:
    """A sealed secret as stored in a credential row: the master key id (text), the wrapped
    data key, the nonce and the ciphertext (bytes, not memoryview: a SQL layer converts), and
    the format version (an int)."""

    key_id: str
    wrapped_key: bytes
    nonce: bytes
    ciphertext: bytes
    version: int = SEALED_VERSION


def _aad(purpose: bytes, *fields: str) -> bytes:
    """Associated data: the purpose, the version and each field length-prefixed, so that no
    two different field lists encode alike."""
    parts = [b"flowforge-vault", purpose, str(SEALED_VERSION).encode()]
    parts.extend(f.encode("utf-8") for f in fields)
    return b"".join(struct.pack(">I", len(p)) + p for p in parts)


def _check_id(name: str, value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > _MAX_ID_CHARS:
        raise VaultError(f"{name} must be a non-empty string of at most {_MAX_ID_CHARS} chars")
    return value


# -- storage


class SealedRow(NamedTuple):
    """One stored credential's sealed value and the ids it is bound to."""

    org_id: str
    credential_id: str
    sealed: Sealed


class SealedStore(Protocol):
    """Where sealed credentials live, as rotation needs it. A SQL store compares the whole
    sealed value (or a row version bumped on every write) in ``compare_and_swap``."""

    def rows(self, *, exclude_key_id: str | None = None) -> Iterable[SealedRow]:
        """Every stored row, or those not sealed under ``exclude_key_id``. Rows written during
        the iteration may or may not appear."""
        ...

    def get(self, org_id: str, credential_id: str) -> Sealed | None:
        """The row's sealed value now, or None if there is no such row."""
        ...

    def compare_and_swap(
        self, org_id: str, credential_id: str, expected: Sealed | None, new: Sealed | None
    ) -> bool:
        """Store ``new`` (None deletes) if the row holds ``expected`` (None: no row); whether
        it did. Atomic against every other write of the same row."""
        ...


class InMemorySealedStore:
    """A ``SealedStore`` in a dict under a lock, for tests and single-process use."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], Sealed] = {}
        self._lock = threading.Lock()

    def rows(self, *, exclude_key_id: str | None = None) -> list[SealedRow]:
        """A snapshot of the rows, optionally without those under ``exclude_key_id``."""
        with self._lock:
            items = list(self._rows.items())
        return [
            SealedRow(org, cred, sealed)
            for (org, cred), sealed in items
            if exclude_key_id is None or sealed.key_id != exclude_key_id
        ]

    def get(self, org_id: str, credential_id: str) -> Sealed | None:
        """The row's sealed value, or None."""
        with self._lock:
            return self._rows.get((org_id, credential_id))

    def compare_and_swap(
        self, org_id: str, credential_id: str, expected: Sealed | None, new: Sealed | None
    ) -> bool:
        """Store ``new`` (None deletes) if the row holds ``expected``; whether it did."""
        key = (org_id, credential_id)
        with self._lock:
            if self._rows.get(key) != expected:
                return False
            if new is None:
                self._rows.pop(key, None)
            else:
                self._rows[key] = new
            return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._rows)


# -- rotation results


@dataclass(frozen=True, slots=True)
class RotationFailure:
    """A row rotation could not re-wrap, and why (never secret material)."""

    org_id: str
    credential_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Rotation:
    """What ``Vault.rotate`` did: rows re-wrapped, passes made, rows it could not re-wrap, and
    how many rows were still under another key when it finished (0: complete)."""

    key_id: str
    rewrapped: int
    passes: int
    failures: tuple[RotationFailure, ...]
    remaining: int

    @property
    def complete(self) -> bool:
        """Whether every row is now sealed under ``key_id``."""
        return self.remaining == 0


# -- the vault


class Vault:
    """Seals and opens credential secrets with a keyring's master keys; thread-safe.

    ``reload``, if given, returns the keyring as configured now; the vault calls it (at most
    once per ``reload_interval_s``) when it meets a key id it does not hold, which is how a
    server learns of a rotation another process (``flowforge keys rotate``) started: it can
    then open the rows re-wrapped under the new key, and its own seals use the new key too.
    """

    def __init__(
        self,
        keyring: Keyring,
        *,
        reload: Callable[[], Keyring] | None = None,
        reload_interval_s: float = 1.0,
    ) -> None:
        self._keyring = keyring
        self._reload = reload
        self._reload_interval_s = reload_interval_s
        self._last_reload = float("-inf")
        self._lock = threading.Lock()

    @property
    def keyring(self) -> Keyring:
        """The keyring in use."""
        return self._keyring

    def use(self, keyring: Keyring) -> None:
        """Use ``keyring`` from now on."""
        with self._lock:
            self._keyring = keyring

    # seal and open

    def seal(self, org_id: str, credential_id: str, secret: Mapping[str, Any]) -> Sealed:
        """``secret`` encrypted under a fresh data key wrapped by the current master key, bound
        to the organisation and credential ids."""
        _check_id("org_id", org_id)
        _check_id("credential_id", credential_id)
        plaintext = _encode_secret(secret)
        master = self._keyring.current
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(_NONCE_BYTES)
        ciphertext = AESGCM(data_key).encrypt(
            nonce, plaintext, _aad(b"data", org_id, credential_id)
        )
        return Sealed(
            key_id=master.key_id,
            wrapped_key=_wrap(master, data_key, org_id, credential_id),
            nonce=nonce,
            ciphertext=ciphertext,
        )

    def open(self, org_id: str, credential_id: str, sealed: Sealed) -> dict[str, Any]:
        """The secret ``sealed`` holds, if it was sealed for this organisation and credential;
        a ``VaultError`` otherwise (altered, copied from another row, or an unknown key)."""
        data_key = self._data_key(org_id, credential_id, sealed)
        plaintext = _decrypt_data(data_key, org_id, credential_id, sealed)
        return _decode_secret(plaintext, credential_id)

    def rewrap(self, org_id: str, credential_id: str, sealed: Sealed, new_key: MasterKey) -> Sealed:
        """``sealed`` with its data key wrapped by ``new_key`` instead; the nonce and the
        ciphertext stay. The ciphertext is authenticated first, so what comes back opens."""
        data_key = self._data_key(org_id, credential_id, sealed)
        _decrypt_data(data_key, org_id, credential_id, sealed)
        return Sealed(
            key_id=new_key.key_id,
            wrapped_key=_wrap(new_key, data_key, org_id, credential_id),
            nonce=sealed.nonce,
            ciphertext=sealed.ciphertext,
        )

    # rotation

    def rotate(self, store: SealedStore, new_key: MasterKey, *, max_passes: int = 5) -> Rotation:
        """Make ``new_key`` current, then re-wrap every row of ``store`` under it.

        Seals made after the call starts use ``new_key``. Each row is re-wrapped with a
        compare-and-swap; when a concurrent write wins, the row is read again and re-wrapped
        if it is still under an old key, so no edit is lost and none is left behind. Further
        passes catch rows written from seals that began before the switch; rotation stops
        after a pass with nothing to do, or after ``max_passes``. Running it again with the
        same key resumes an interrupted rotation. Store ``new_key`` durably first.
        """
        if max_passes < 1:
            raise ValueError("max_passes must be at least 1")
        with self._lock:
            self._keyring = self._keyring.rotated(new_key)
        rewrapped = passes = 0
        failures: dict[tuple[str, str], tuple[Sealed, RotationFailure]] = {}
        while passes < max_passes:
            passes += 1
            done_this_pass = 0
            for row in store.rows(exclude_key_id=new_key.key_id):
                failed = failures.get((row.org_id, row.credential_id))
                if failed is not None and failed[0] == row.sealed:
                    continue
                outcome = self._rewrap_row(store, row, new_key)
                if isinstance(outcome, tuple):
                    failures[(row.org_id, row.credential_id)] = outcome
                else:
                    failures.pop((row.org_id, row.credential_id), None)
                    done_this_pass += outcome
            rewrapped += done_this_pass
            if done_this_pass == 0:
                break
        remaining = sum(1 for _ in store.rows(exclude_key_id=new_key.key_id))
        return Rotation(
            key_id=new_key.key_id,
            rewrapped=rewrapped,
            passes=passes,
            failures=tuple(f for _, f in failures.values()),
            remaining=remaining,
        )

    def _rewrap_row(
        self, store: SealedStore, row: SealedRow, new_key: MasterKey
    ) -> int | tuple[Sealed, RotationFailure]:
        """1 if this call re-wrapped the row, 0 if it needed nothing (already under the new
        key, or deleted), or the sealed value it could not re-wrap and why."""
        org_id, credential_id, current = row
        for _ in range(_CAS_ATTEMPTS):
            if current.key_id == new_key.key_id:
                return 0
            try:
                new = self.rewrap(org_id, credential_id, current, new_key)
            except VaultError as exc:
                return current, RotationFailure(org_id, credential_id, str(exc))
            if store.compare_and_swap(org_id, credential_id, current, new):
                return 1
            latest = store.get(org_id, credential_id)  # a concurrent write won: look again
            if latest is None:
                return 0
            current = latest
        return current, RotationFailure(
            org_id, credential_id, f"written concurrently {_CAS_ATTEMPTS} times in a row"
        )

    def retire(self, store: SealedStore, key_id: str) -> Keyring:
        """The keyring without the retired key ``key_id``, now in use; refused while any row
        of ``store`` is still sealed under it (finish the rotation first)."""
        users = sum(1 for row in store.rows() if row.sealed.key_id == key_id)
        if users:
            raise VaultError(
                f"master key {key_id!r} still seals {users} credential(s); rotate them first"
            )
        with self._lock:
            self._keyring = self._keyring.without(key_id)
            return self._keyring

    # keys

    def _data_key(self, org_id: str, credential_id: str, sealed: Sealed) -> bytes:
        """The data key of ``sealed``, unwrapped; a ``VaultError`` saying why not otherwise."""
        _check_id("org_id", org_id)
        _check_id("credential_id", credential_id)
        where = f"credential {credential_id!r} of organisation {org_id!r}"
        if not isinstance(sealed, Sealed):
            raise VaultError(f"{where}: expected a Sealed value, got {type(sealed).__name__}")
        if sealed.version != SEALED_VERSION:
            raise VaultError(f"{where}: sealed with unknown format version {sealed.version!r}")
        if not (
            isinstance(sealed.wrapped_key, bytes)
            and len(sealed.wrapped_key) == _WRAPPED_KEY_BYTES
            and isinstance(sealed.nonce, bytes)
            and len(sealed.nonce) == _NONCE_BYTES
            and isinstance(sealed.ciphertext, bytes)
            and _TAG_BYTES < len(sealed.ciphertext) <= MAX_SECRET_BYTES + _TAG_BYTES
        ):
            raise VaultError(f"{where}: the sealed value is malformed (wrong field sizes)")
        master = self._master(sealed.key_id)
        if master is None:
            raise VaultError(
                f"{where}: sealed under master key {sealed.key_id!r}, which is not configured "
                f"(configured: {', '.join(self._keyring.key_ids)})"
            )
        aad = _aad(b"wrap", org_id, credential_id, master.key_id)
        try:
            return master._aead.decrypt(
                sealed.wrapped_key[:_NONCE_BYTES], sealed.wrapped_key[_NONCE_BYTES:], aad
            )
        except InvalidTag:
            pass  # raised outside the handler: the error keeps no context
        raise VaultError(
            f"{where}: the data key does not unwrap under master key {master.key_id!r}; the "
            "value was altered, copied from another credential or organisation, or sealed "
            "under a different key with the same id"
        )

    def _master(self, key_id: str) -> MasterKey | None:
        master = self._keyring.get(key_id)
        if master is not None or self._reload is None:
            return master
        with self._lock:
            master = self._keyring.get(key_id)  # another thread may have reloaded
            now = time.monotonic()
            if master is None and now - self._last_reload >= self._reload_interval_s:
                self._last_reload = now
                fresh = self._reload()
                if key_id in fresh:
                    self._keyring = fresh
                    master = fresh.get(key_id)
        return master


def _wrap(master: MasterKey, data_key: bytes, org_id: str, credential_id: str) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    aad = _aad(b"wrap", org_id, credential_id, master.key_id)
    return nonce + master._aead.encrypt(nonce, data_key, aad)


def _decrypt_data(data_key: bytes, org_id: str, credential_id: str, sealed: Sealed) -> bytes:
    aad = _aad(b"data", org_id, credential_id)
    try:
        return AESGCM(data_key).decrypt(sealed.nonce, sealed.ciphertext, aad)
    except InvalidTag:
        pass
    raise VaultError(
        f"credential {credential_id!r} of organisation {org_id!r}: the ciphertext does not "
        "authenticate; it was altered or spliced from another credential"
    )


def _encode_secret(secret: Mapping[str, Any]) -> bytes:
    """The secret as compact UTF-8 JSON, refused past ``MAX_SECRET_BYTES``."""
    if not isinstance(secret, Mapping):
        raise VaultError(f"a secret is a mapping of field names to values, not {_kind(secret)}")
    if not all(isinstance(name, str) for name in secret):
        raise VaultError("a secret's field names must be strings")
    problem: str | None = None
    data = b""
    try:
        text = json.dumps(dict(secret), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        problem = "holds text that is not valid Unicode (a lone surrogate)"
    except (TypeError, ValueError):
        problem = (
            "holds a value JSON cannot represent (only str, int, float, bool, None, lists and "
            "mappings with string keys; no NaN or infinity)"
        )
    except RecursionError:
        problem = "is nested too deeply"
    if problem is not None:  # raised here, so the error carries no context holding values
        raise VaultError(f"the secret {problem}")
    if len(data) > MAX_SECRET_BYTES:
        raise VaultError(
            f"the secret is {len(data)} bytes as JSON, over the limit of {MAX_SECRET_BYTES}"
        )
    return data


def _decode_secret(plaintext: bytes, credential_id: str) -> dict[str, Any]:
    value: Any = None
    # The decode error holds the plaintext: swallowed here so that it is never chained.
    with contextlib.suppress(ValueError, RecursionError):
        value = json.loads(plaintext)
    if not isinstance(value, dict):
        raise VaultError(f"credential {credential_id!r}: the decrypted secret is not a JSON object")
    return value


def _kind(value: object) -> str:
    return type(value).__name__
