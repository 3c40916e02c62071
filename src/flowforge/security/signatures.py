"""Signature login: a server-issued challenge signed by a key the user registered.

Two kinds of account sign in this way:

- ``siwe``: an Ethereum address. The client signs a Sign-In with Ethereum message (EIP-4361)
  with ``personal_sign`` (EIP-191); the server recovers the signer's address with eth-account
  and compares it to the registered one. The client may sign the message the server built, or
  build its own (a wallet library does) around the server's nonce: its domain, URI and chain id
  must then be the server's. Signatures are the 65-byte ``r || s || v`` form (``v`` 0, 1, 27
  or 28); EIP-2098 compact signatures and contract wallets (EIP-1271) are not accepted.
- ``ecdsa``: a raw P-256 or secp256k1 public key. The client signs the UTF-8 bytes of the exact
  message the server issued, ECDSA with SHA-256. Signatures are accepted in DER (canonical,
  as OpenSSL, Java and ``cryptography`` make them) or as raw ``r || s``, 32 bytes each (as
  WebCrypto and most hardware tokens make them).

A nonce is random (128 bits), lives five minutes by default, belongs to one account, one domain
and (for SIWE) one chain id, and is used once: the first verification attempt that names it
takes it out of the store, whether the attempt succeeds or fails.

Account ids are canonical strings, the form to store with a user: an EIP-55 checksummed address
(``0x5aAe...``) or the curve and the compressed SEC1 point in hex (``p256:02ab...``,
``secp256k1:03cd...``). ``account_id`` turns the other accepted spellings (lower-case addresses,
uncompressed points, PEM or DER SubjectPublicKeyInfo) into that form.

Refusals are ``SignatureError`` with a stable ``reason`` code; their messages quote text from
the request only in short, truncated form.
"""

from __future__ import annotations

import contextlib
import hmac
import re
import secrets
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol, TypeAlias, get_args

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from eth_keys.exceptions import BadSignature
from eth_utils.address import to_checksum_address
from eth_utils.exceptions import ValidationError as EthValidationError

from flowforge.errors import FlowForgeError


@contextlib.contextmanager
def _recursion_limit_kept() -> Iterator[None]:
    """Puts the interpreter's recursion limit back as it was when the block ends."""
    limit = sys.getrecursionlimit()
    try:
        yield
    finally:
        sys.setrecursionlimit(limit)


# Importing eth-account imports py_ecc, which raises the recursion limit of the whole process
# to 100000. With that limit, deeply nested hostile input (JSON, YAML, expressions) overflows
# the C stack and kills the server with a segmentation fault instead of a RecursionError.
# Nothing this module calls needs the higher limit.
with _recursion_limit_kept():
    from eth_account import Account
    from eth_account.messages import encode_defunct

__all__ = [
    "MAX_MESSAGE_CHARS",
    "Challenge",
    "ChallengeKind",
    "ChallengeStore",
    "MemoryChallengeStore",
    "SignInMessage",
    "SignatureError",
    "SignatureFailure",
    "SignatureLogin",
    "TooManyChallenges",
    "account_id",
    "ethereum_signer",
]

ChallengeKind: TypeAlias = Literal["siwe", "ecdsa"]
SignatureFailure: TypeAlias = Literal[
    "malformed_message",
    "malformed_signature",
    "bad_account",
    "unknown_nonce",
    "wrong_account",
    "wrong_domain",
    "wrong_uri",
    "wrong_chain_id",
    "expired",
    "not_yet_valid",
    "message_mismatch",
    "bad_signature",
]

MAX_MESSAGE_CHARS = 8192
"""The longest message ``verify`` reads; longer input is refused before any parsing."""

_MAX_SIGNATURE_BYTES = 80  # DER of a 256-bit ECDSA signature is at most 72 bytes
_MAX_KEY_CHARS = 4096
_NONCE_BYTES = 16

# -- the grammar of EIP-4361 (and RFC 3986 for its URIs), in ASCII only

_UNRESERVED = r"A-Za-z0-9\-._~"
_SUB_DELIMS = r"!$&'()*+,;="
_GEN_DELIMS = r":/?#\[\]@"
_PCT = r"%[0-9A-Fa-f]{2}"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"

# An authority without userinfo: "user@host" reads as "host" to some people and not others.
_DOMAIN = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]{{2,45}}\])(?::[0-9]{{1,5}})?")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
_URI = re.compile(
    rf"[A-Za-z][A-Za-z0-9+.\-]*:(?:[{_UNRESERVED}{_SUB_DELIMS}{_GEN_DELIMS}]|{_PCT})*"
)
_STATEMENT = re.compile(rf"[{_UNRESERVED}{_SUB_DELIMS}{_GEN_DELIMS} ]+")
_REQUEST_ID = re.compile(rf"(?:[{_UNRESERVED}{_SUB_DELIMS}:@]|{_PCT})*")
_NONCE = re.compile(r"[A-Za-z0-9]{8,128}")
_CHAIN_ID = re.compile(r"[1-9][0-9]{0,19}")
_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?(?:Z|[+-][0-9]{2}:[0-9]{2})"
)
_ADDRESS = re.compile(r"0x[0-9A-Fa-f]{40}")
_PRINTABLE = re.compile(r"[\x20-\x7e\n]*")
_HEX = re.compile(r"(?:0x)?((?:[0-9A-Fa-f]{2})+)")

_CURVES: dict[str, ec.EllipticCurve] = {"p256": ec.SECP256R1(), "secp256k1": ec.SECP256K1()}
_CURVE_WORDS = {"p256": "P-256 key", "secp256k1": "secp256k1 key"}
_KEY_ACCOUNT = re.compile(r"(p256|secp256k1):(0[23][0-9a-f]{64})")
_ACCOUNT_WORDS = "Ethereum account|P-256 key|secp256k1 key"
_HEADER = re.compile(
    rf"(?:([A-Za-z][A-Za-z0-9+.\-]*)://)?(\S+) wants you to sign in with your ({_ACCOUNT_WORDS}):"
)
_HEADER_TAIL = " wants you to sign in with your "


class SignatureError(FlowForgeError):
    """A sign-in attempt refused: ``reason`` is a stable code, the message says why in words."""

    def __init__(self, reason: SignatureFailure, message: str) -> None:
        self.reason: SignatureFailure = reason
        super().__init__(message)


class TooManyChallenges(FlowForgeError):
    """The challenge store holds as many live challenges as it may: issue again later."""


def _shown(text: str, limit: int = 40) -> str:
    """A short, quoted excerpt of text from a request, for an error message."""
    return repr(text[:limit]) + ("..." if len(text) > limit else "")


# -- account ids


def account_id(key: str | bytes | ec.EllipticCurvePublicKey) -> str:
    """The canonical account id of an Ethereum address or a P-256 / secp256k1 public key.

    Takes an address (``0x`` and 40 hex digits: all lower case, all upper case, or with a valid
    EIP-55 checksum), ``p256:`` or ``secp256k1:`` and a SEC1 point in hex (compressed or not),
    a PEM or DER SubjectPublicKeyInfo, or a ``cryptography`` public key. Raises ValueError for
    anything else, for points off the curve and for other curves.
    """
    if isinstance(key, ec.EllipticCurvePublicKey):
        return _key_account(key)
    if isinstance(key, bytes):
        if len(key) > _MAX_KEY_CHARS:
            raise ValueError("the public key is too long")
        return _key_account(_load_spki(key, serialization.load_der_public_key))
    if not isinstance(key, str):
        raise ValueError("an account is a string, bytes or an EC public key")
    if len(key) > _MAX_KEY_CHARS:
        raise ValueError("the account is too long")
    text = key.strip()
    if _ADDRESS.fullmatch(text):
        checksummed: str = to_checksum_address(text)
        digits = text[2:]
        if digits not in (digits.lower(), digits.upper()) and text != checksummed:
            raise ValueError("the address has mixed case but not a valid EIP-55 checksum")
        return checksummed
    if text.startswith("-----BEGIN PUBLIC KEY-----"):
        return _key_account(_load_spki(text.encode("ascii", "replace"), _load_pem))
    curve_name, _, point_hex = text.partition(":")
    if curve_name in _CURVES and _HEX.fullmatch(point_hex) and not point_hex.startswith("0x"):
        try:
            public = ec.EllipticCurvePublicKey.from_encoded_point(
                _CURVES[curve_name], bytes.fromhex(point_hex)
            )
        except ValueError:
            raise ValueError(f"not a point on {curve_name}") from None
        return _key_account(public)
    raise ValueError(
        "not an account: expected an Ethereum address, 'p256:' or 'secp256k1:' and a SEC1 "
        "point in hex, or a PEM public key"
    )


def _load_pem(data: bytes) -> object:
    return serialization.load_pem_public_key(data)


def _load_spki(data: bytes, load: Callable[[bytes], object]) -> ec.EllipticCurvePublicKey:
    try:
        public = load(data)
    except (ValueError, TypeError):
        raise ValueError("not a readable public key") from None
    if not isinstance(public, ec.EllipticCurvePublicKey):
        raise ValueError("not an elliptic-curve public key (P-256 or secp256k1)")
    return public


def _key_account(public: ec.EllipticCurvePublicKey) -> str:
    for name, curve in _CURVES.items():
        if public.curve.name == curve.name:
            point = public.public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
            )
            return f"{name}:{point.hex()}"
    raise ValueError(f"the curve {public.curve.name} is not accepted (P-256 or secp256k1)")


def _public_key(account: str) -> ec.EllipticCurvePublicKey:
    curve_name, _, point_hex = account.partition(":")
    return ec.EllipticCurvePublicKey.from_encoded_point(
        _CURVES[curve_name], bytes.fromhex(point_hex)
    )


def _kind_of(account: str) -> ChallengeKind:
    return "siwe" if account.startswith("0x") else "ecdsa"


# -- field checks, shared by the builder and the parser


def _check_domain(value: str) -> str:
    if not _DOMAIN.fullmatch(value):
        raise ValueError("not a valid domain (an RFC 3986 host and optional port, no userinfo)")
    return value


def _check_scheme(value: str) -> str:
    if not _SCHEME.fullmatch(value):
        raise ValueError("not a valid URI scheme")
    return value


def _check_uri(value: str) -> str:
    if not _URI.fullmatch(value):
        raise ValueError("not a valid RFC 3986 URI")
    return value


def _check_statement(value: str) -> str:
    if not _STATEMENT.fullmatch(value):
        raise ValueError(
            "not a valid statement (RFC 3986 reserved and unreserved characters and spaces)"
        )
    return value


def _check_account(value: str) -> str:
    if _ADDRESS.fullmatch(value):
        if to_checksum_address(value) != value:
            raise ValueError("the address is not EIP-55 checksummed")
        return value
    if not _KEY_ACCOUNT.fullmatch(value):
        raise ValueError("not an account id (a checksummed address or a compressed key)")
    return value


def _check_nonce(value: str) -> str:
    if not _NONCE.fullmatch(value):
        raise ValueError("not a valid nonce (8 to 128 letters and digits)")
    return value


def _check_request_id(value: str) -> str:
    if not _REQUEST_ID.fullmatch(value):
        raise ValueError("not a valid request id")
    return value


def _check_time(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("times must be timezone-aware")
    return value


def _parse_chain_id(text: str) -> int:
    if not _CHAIN_ID.fullmatch(text):
        raise ValueError("not a valid chain id (a positive decimal without leading zeros)")
    return int(text)


def _parse_time(text: str) -> datetime:
    if not _TIME.fullmatch(text):
        raise ValueError("not an RFC 3339 date-time")
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("not a valid date-time") from None


def _format_time(value: datetime) -> str:
    """The RFC 3339 text of a time, in UTC with a Z; fractions only as precise as needed."""
    utc = value.astimezone(UTC)
    text = utc.replace(microsecond=0, tzinfo=None).isoformat()  # not strftime: "%Y" drops the
    # zeros of a year before 1000 on glibc, and RFC 3339 wants four digits
    if utc.microsecond % 1000 == 0 and utc.microsecond:
        text += f".{utc.microsecond // 1000:03d}"
    elif utc.microsecond:
        text += f".{utc.microsecond:06d}"
    return text + "Z"


# -- the message


@dataclass(frozen=True, slots=True)
class SignInMessage:
    """The fields of a sign-in message; ``text()`` gives the text to sign, ``parse`` reads one.

    With an Ethereum address as ``account`` it is an EIP-4361 message (``chain_id`` required);
    with a key account (``p256:...``, ``secp256k1:...``) it is the same layout with the header
    ``... wants you to sign in with your P-256 key:`` and no chain id.
    """

    domain: str
    account: str
    uri: str
    nonce: str
    issued_at: datetime
    chain_id: int | None = None
    statement: str | None = None
    expiration_time: datetime | None = None
    not_before: datetime | None = None
    request_id: str | None = None
    resources: tuple[str, ...] = ()
    scheme: str | None = None
    version: str = "1"

    def __post_init__(self) -> None:
        _check_domain(self.domain)
        _check_account(self.account)
        _check_uri(self.uri)
        _check_nonce(self.nonce)
        _check_time(self.issued_at)
        if self.version != "1":
            raise ValueError("the only version is 1")
        if self.kind == "siwe":
            if self.chain_id is None or self.chain_id <= 0:
                raise ValueError("a SIWE message needs a positive chain id")
        elif self.chain_id is not None:
            raise ValueError("a key sign-in message has no chain id")
        if self.statement is not None:
            _check_statement(self.statement)
        for time in (self.expiration_time, self.not_before):
            if time is not None:
                _check_time(time)
        if self.request_id is not None:
            _check_request_id(self.request_id)
        for resource in self.resources:
            _check_uri(resource)
        if self.scheme is not None:
            _check_scheme(self.scheme)

    @property
    def kind(self) -> ChallengeKind:
        """``siwe`` for an Ethereum account, ``ecdsa`` for a key account."""
        return _kind_of(self.account)

    def text(self) -> str:
        """The exact text to sign: EIP-4361 lines joined by LF, with no final LF."""
        head = f"{self.scheme}://{self.domain}" if self.scheme else self.domain
        if self.kind == "siwe":
            words = "Ethereum account"
        else:
            words = _CURVE_WORDS[self.account.partition(":")[0]]
        lines = [f"{head}{_HEADER_TAIL}{words}:", self.account, ""]
        lines += [self.statement, ""] if self.statement is not None else [""]
        lines += [f"URI: {self.uri}", f"Version: {self.version}"]
        if self.chain_id is not None:
            lines.append(f"Chain ID: {self.chain_id}")
        lines += [f"Nonce: {self.nonce}", f"Issued At: {_format_time(self.issued_at)}"]
        if self.expiration_time is not None:
            lines.append(f"Expiration Time: {_format_time(self.expiration_time)}")
        if self.not_before is not None:
            lines.append(f"Not Before: {_format_time(self.not_before)}")
        if self.request_id is not None:
            lines.append(f"Request ID: {self.request_id}")
        if self.resources:
            lines.append("Resources:")
            lines += [f"- {resource}" for resource in self.resources]
        return "\n".join(lines)

    @classmethod
    def parse(cls, text: str) -> SignInMessage:
        """The fields of a message, read strictly by the EIP-4361 grammar.

        LF line ends only, printable ASCII only, fields in the grammar's order, nothing before
        or after; SignatureError ``malformed_message`` otherwise, naming the line but not
        quoting it.
        """
        return _Parser(text).message()


class _Parser:
    """Reads a message line by line; every refusal names the line number."""

    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise SignatureError("malformed_message", "the message is not text")
        if len(text) > MAX_MESSAGE_CHARS:
            raise SignatureError(
                "malformed_message", f"the message is longer than {MAX_MESSAGE_CHARS} characters"
            )
        if not _PRINTABLE.fullmatch(text):
            raise SignatureError(
                "malformed_message",
                "the message holds characters other than printable ASCII and LF line ends",
            )
        self.lines = text.split("\n")
        self.at = 0

    def fail(self, why: str, line: int | None = None) -> SignatureError:
        number = (self.at if line is None else line) + 1
        return SignatureError("malformed_message", f"malformed message, line {number}: {why}")

    def next_line(self, expected: str) -> str:
        if self.at >= len(self.lines):
            raise self.fail(f"missing; expected {expected}")
        line = self.lines[self.at]
        self.at += 1
        return line

    def empty(self, after: str) -> None:
        if self.next_line(f"an empty line after {after}") != "":
            raise self.fail(f"expected an empty line after {after}", self.at - 1)

    def field(self, tag: str) -> str:
        value = self.optional(tag)
        if value is None:
            raise self.fail(f"expected {tag.strip()!r}")
        return value

    def optional(self, tag: str) -> str | None:
        if self.at >= len(self.lines) or not self.lines[self.at].startswith(tag):
            return None
        value = self.lines[self.at][len(tag) :]
        self.at += 1
        return value

    def check(self, check: Callable[[str], object], value: str) -> None:
        try:
            check(value)
        except ValueError as error:
            raise self.fail(str(error), self.at - 1) from None

    def message(self) -> SignInMessage:
        header = self.next_line("the header")
        match = _HEADER.fullmatch(header)
        if match is None:
            raise self.fail(
                "expected '<domain> wants you to sign in with your Ethereum account:' "
                "or '... your P-256 key:' or '... your secp256k1 key:'",
                0,
            )
        scheme, domain, words = match.groups()
        self.check(_check_domain, domain)
        account = self.next_line("the account")
        self.check(_check_account, account)
        if words == "Ethereum account":
            siwe = True
            if not _ADDRESS.fullmatch(account):
                raise self.fail("expected an Ethereum address", 1)
        else:
            siwe = False
            key = _KEY_ACCOUNT.fullmatch(account)
            if key is None or _CURVE_WORDS[key.group(1)] != words:
                raise self.fail("the account does not match the header's kind of key", 1)
        self.empty("the account")
        line = self.next_line("a statement or an empty line")
        statement: str | None = None
        if line.startswith("URI: "):
            raise self.fail(
                "expected an empty line: with no statement, two empty lines precede 'URI:'",
                self.at - 1,
            )
        if line != "":
            self.check(_check_statement, line)
            statement = line
            self.empty("the statement")

        uri = self.field("URI: ")
        self.check(_check_uri, uri)
        version = self.field("Version: ")
        if version != "1":
            raise self.fail("the only version is 1", self.at - 1)
        chain_id: int | None = None
        if siwe:
            chain_text = self.field("Chain ID: ")
            self.check(_parse_chain_id, chain_text)
            chain_id = int(chain_text)
        nonce = self.field("Nonce: ")
        self.check(_check_nonce, nonce)
        issued_at = self.time(self.field("Issued At: "))
        expiration_time = self.optional_time(self.optional("Expiration Time: "))
        not_before = self.optional_time(self.optional("Not Before: "))
        request_id = self.optional("Request ID: ")
        if request_id is not None:
            self.check(_check_request_id, request_id)
        resources: list[str] = []
        if self.at < len(self.lines) and self.lines[self.at] == "Resources:":
            self.at += 1
            while self.at < len(self.lines) and self.lines[self.at].startswith("- "):
                resources.append(self.lines[self.at][2:])
                self.at += 1
                self.check(_check_uri, resources[-1])
        if self.at < len(self.lines):
            raise self.fail("unexpected line after the last field")
        return SignInMessage(
            domain=domain,
            account=account,
            uri=uri,
            nonce=nonce,
            issued_at=issued_at,
            chain_id=chain_id,
            statement=statement,
            expiration_time=expiration_time,
            not_before=not_before,
            request_id=request_id,
            resources=tuple(resources),
            scheme=scheme,
        )

    def time(self, text: str) -> datetime:
        try:
            return _parse_time(text)
        except ValueError as error:
            raise self.fail(str(error), self.at - 1) from None

    def optional_time(self, text: str | None) -> datetime | None:
        return None if text is None else self.time(text)


# -- challenges and their store


@dataclass(frozen=True, slots=True)
class Challenge:
    """A sign-in challenge: the message to sign, its nonce and when it expires, and what the
    server bound it to (kind, account, domain, chain id)."""

    kind: ChallengeKind
    account: str
    nonce: str
    message: str
    domain: str
    chain_id: int | None
    issued_at: datetime
    expires_at: datetime


class ChallengeStore(Protocol):
    """Where issued challenges wait for their one verification attempt.

    ``take`` must be atomic: of concurrent callers naming one nonce, one gets the challenge and
    the others None (in SQL, ``DELETE ... WHERE nonce = :nonce RETURNING ...``).
    """

    def add(self, challenge: Challenge) -> None:
        """Keep a new challenge until it is taken; ValueError if its nonce is held already,
        TooManyChallenges if the store is full."""
        ...

    def take(self, nonce: str) -> Challenge | None:
        """Remove and give the challenge with this nonce, expired or not; None if the store
        does not hold it (never issued, taken already, or purged)."""
        ...

    def purge(self, now: datetime) -> int:
        """Drop the challenges expired by ``now``; give how many were dropped."""
        ...


class MemoryChallengeStore:
    """ChallengeStore in a dictionary, for one process. Expired challenges are dropped as new
    ones arrive; at ``max_pending`` live challenges, ``add`` refuses with TooManyChallenges
    (an unauthenticated client can ask for challenges, so memory is bounded)."""

    def __init__(self, max_pending: int = 100_000) -> None:
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        self._lock = threading.Lock()
        self._challenges: dict[str, Challenge] = {}  # in insertion order, oldest first
        self._max = max_pending

    def __len__(self) -> int:
        return len(self._challenges)

    def add(self, challenge: Challenge) -> None:
        with self._lock:
            if challenge.nonce in self._challenges:
                raise ValueError("a challenge with this nonce is held already")
            self._drop_expired_front(challenge.issued_at)
            if len(self._challenges) >= self._max:
                self._purge(challenge.issued_at)
                if len(self._challenges) >= self._max:
                    raise TooManyChallenges(
                        f"{self._max} sign-in challenges are pending; try again later"
                    )
            self._challenges[challenge.nonce] = challenge

    def take(self, nonce: str) -> Challenge | None:
        with self._lock:
            return self._challenges.pop(nonce, None)

    def purge(self, now: datetime) -> int:
        with self._lock:
            return self._purge(now)

    def _purge(self, now: datetime) -> int:
        expired = [n for n, c in self._challenges.items() if c.expires_at <= now]
        for nonce in expired:
            del self._challenges[nonce]
        return len(expired)

    def _drop_expired_front(self, now: datetime) -> None:
        # Challenges arrive roughly in expiry order, so the expired ones sit at the front:
        # dropping them there keeps each add O(1) amortised.
        while self._challenges:
            nonce, oldest = next(iter(self._challenges.items()))
            if oldest.expires_at > now:
                return
            del self._challenges[nonce]


# -- the login


def _now() -> datetime:
    return datetime.now(UTC)


def _signature_bytes(signature: bytes | str) -> bytes:
    if isinstance(signature, str):
        if len(signature) > 2 * _MAX_SIGNATURE_BYTES + 2:
            raise SignatureError("malformed_signature", "the signature is too long")
        match = _HEX.fullmatch(signature)
        if match is None:
            raise SignatureError(
                "malformed_signature", "a signature given as text must be hex (0x optional)"
            )
        return bytes.fromhex(match.group(1))
    if not isinstance(signature, bytes):
        raise SignatureError("malformed_signature", "the signature is not bytes or hex text")
    if len(signature) > _MAX_SIGNATURE_BYTES:
        raise SignatureError("malformed_signature", "the signature is too long")
    return signature


def _der_forms(signature: bytes) -> list[bytes]:
    """The DER encodings a signature may stand for: itself if it is canonical DER, and the
    encoding of ``r || s`` if it is 64 bytes (a raw signature can happen to parse as DER)."""
    forms: list[bytes] = []
    try:
        r, s = decode_dss_signature(signature)
    except ValueError:
        pass
    else:
        # Only the canonical encoding: BER variants (padding, long lengths) are refused.
        if r > 0 and s > 0 and encode_dss_signature(r, s) == signature:
            forms.append(signature)
    if len(signature) == 64:
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        if r > 0 and s > 0:
            forms.append(encode_dss_signature(r, s))
    return forms


class SignatureLogin:
    """Issues sign-in challenges and verifies their signatures, for one site.

    ``domain`` is the host (and port) users see, ``uri`` the URI messages name, ``chain_id`` the
    Ethereum chain SIWE messages must name. ``ttl`` is how long a challenge lives; ``leeway``
    how far in the future a client-built message's Issued At and Not Before may lie, for clock
    drift. ``clock`` gives the current time (timezone-aware).
    """

    def __init__(
        self,
        domain: str,
        uri: str,
        chain_id: int,
        store: ChallengeStore,
        *,
        statement: str | None = "Sign in to FlowForge.",
        ttl: timedelta = timedelta(minutes=5),
        leeway: timedelta = timedelta(seconds=30),
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.domain = _check_domain(domain)
        self.uri = _check_uri(uri)
        if isinstance(chain_id, bool) or not isinstance(chain_id, int) or chain_id <= 0:
            raise ValueError("chain_id must be a positive integer")
        self.chain_id = chain_id
        self.store = store
        self.statement = None if statement is None else _check_statement(statement)
        if ttl <= timedelta(0):
            raise ValueError("ttl must be positive")
        if leeway < timedelta(0):
            raise ValueError("leeway must not be negative")
        self.ttl = ttl
        self.leeway = leeway
        self.clock = clock
        self._scheme = uri.partition(":")[0].lower()

    def issue(
        self, account: str | bytes | ec.EllipticCurvePublicKey, kind: ChallengeKind | None = None
    ) -> Challenge:
        """A new challenge for this account, kept in the store until verified or expired.

        ``kind`` follows from the account (an address signs in with SIWE, a key with ECDSA);
        naming the other kind is a ValueError, as is an account ``account_id`` refuses.
        """
        canonical = account_id(account)
        actual = _kind_of(canonical)
        if kind is not None and kind not in get_args(ChallengeKind):
            raise ValueError("kind must be 'siwe' or 'ecdsa'")
        if kind is not None and kind != actual:
            raise ValueError(f"this account signs in with {actual}, not {kind}")
        now = self.clock()
        _check_time(now)
        # Millisecond precision, so the times in the text are exactly the times kept.
        issued_at = now.astimezone(UTC).replace(microsecond=now.microsecond // 1000 * 1000)
        expires_at = issued_at + self.ttl
        nonce = secrets.token_hex(_NONCE_BYTES)
        message = SignInMessage(
            domain=self.domain,
            account=canonical,
            uri=self.uri,
            nonce=nonce,
            issued_at=issued_at,
            chain_id=self.chain_id if actual == "siwe" else None,
            statement=self.statement,
            expiration_time=expires_at,
        )
        challenge = Challenge(
            kind=actual,
            account=canonical,
            nonce=nonce,
            message=message.text(),
            domain=self.domain,
            chain_id=message.chain_id,
            issued_at=issued_at,
            expires_at=expires_at,
        )
        self.store.add(challenge)
        return challenge

    def verify(
        self,
        account: str | bytes | ec.EllipticCurvePublicKey,
        message: str,
        signature: bytes | str,
    ) -> str:
        """The canonical account id, once ``signature`` proves its key signed ``message``.

        ``account`` is the registered address or key of the user signing in. The message's
        nonce is taken out of the store first, so it cannot be tried twice. Raises
        SignatureError otherwise, with ``reason`` saying why.
        """
        fields = SignInMessage.parse(message)
        challenge = self.store.take(fields.nonce)
        if challenge is None:
            raise SignatureError("unknown_nonce", "unknown or already used sign-in challenge")
        try:
            expected = account_id(account)
        except ValueError as error:
            raise SignatureError("bad_account", f"the account is not usable: {error}") from None
        self._check_binding(challenge, fields, expected)
        self._check_times(challenge, fields)
        raw = _signature_bytes(signature)
        if challenge.kind == "siwe":
            self._verify_siwe(message, raw, expected)
        else:
            if not hmac.compare_digest(message.encode(), challenge.message.encode()):
                raise SignatureError(
                    "message_mismatch", "the message is not the one the challenge issued"
                )
            self._verify_ecdsa(message, raw, expected)
        return expected

    def _check_binding(self, challenge: Challenge, fields: SignInMessage, expected: str) -> None:
        if challenge.account != expected or fields.account != expected:
            raise SignatureError(
                "wrong_account", "the challenge or the message is for another account"
            )
        if challenge.kind != fields.kind:
            raise SignatureError("wrong_account", "the message is of another kind of account")
        if (
            challenge.domain.lower() != self.domain.lower()
            or fields.domain.lower() != self.domain.lower()
            or (fields.scheme is not None and fields.scheme.lower() != self._scheme)
        ):
            raise SignatureError(
                "wrong_domain",
                f"the message is for {_shown(fields.domain)}, this server is {self.domain!r}",
            )
        if fields.uri != self.uri:
            raise SignatureError(
                "wrong_uri", f"the message names {_shown(fields.uri)}, expected {self.uri!r}"
            )
        if challenge.kind == "siwe" and (
            fields.chain_id != self.chain_id or challenge.chain_id != self.chain_id
        ):
            raise SignatureError(
                "wrong_chain_id",
                f"the message is for chain {_shown(str(fields.chain_id), 20)}, "
                f"this server expects chain {self.chain_id}",
            )

    def _check_times(self, challenge: Challenge, fields: SignInMessage) -> None:
        now = self.clock()
        if now >= challenge.expires_at:
            raise SignatureError("expired", "the sign-in challenge has expired")
        if fields.expiration_time is not None and now >= fields.expiration_time:
            raise SignatureError("expired", "the message's expiration time has passed")
        horizon = now + self.leeway
        if fields.not_before is not None and fields.not_before > horizon:
            raise SignatureError("not_yet_valid", "the message is not valid yet (Not Before)")
        if fields.issued_at > horizon:
            raise SignatureError("not_yet_valid", "the message is issued in the future")

    def _verify_siwe(self, message: str, signature: bytes, expected: str) -> None:
        if len(signature) != 65:
            raise SignatureError("malformed_signature", "a SIWE signature is 65 bytes (r, s and v)")
        try:
            recovered = Account.recover_message(encode_defunct(text=message), signature=signature)
        except (BadSignature, EthValidationError, ValueError, TypeError):
            raise SignatureError("bad_signature", "the signature is not valid") from None
        if recovered != expected:
            raise SignatureError("bad_signature", "the signature was not made by this account")

    def _verify_ecdsa(self, message: str, signature: bytes, expected: str) -> None:
        forms = _der_forms(signature)
        if not forms:
            raise SignatureError(
                "malformed_signature",
                "an ECDSA signature is canonical DER or raw r || s (64 bytes)",
            )
        public = _public_key(expected)
        data = message.encode()
        for der in forms:
            try:
                public.verify(der, data, ec.ECDSA(hashes.SHA256()))
            except InvalidSignature:
                continue
            return
        raise SignatureError("bad_signature", "the signature was not made by this account's key")


def ethereum_signer(private_key: str) -> tuple[str, Callable[[str], str]]:
    """The address of an Ethereum private key (64 hex digits, 0x optional) and a function that
    signs a message with it as ``personal_sign`` does (hex), for a client signing in."""
    match = _HEX.fullmatch(private_key.strip())
    if match is None or len(match.group(1)) != 64:
        raise ValueError("an Ethereum private key is 64 hex digits")
    account = Account.from_key(bytes.fromhex(match.group(1)))

    def sign(message: str) -> str:
        signed = account.sign_message(encode_defunct(text=message))
        return "0x" + bytes(signed.signature).hex()

    return str(account.address), sign
