"""Hashes, HMACs, secure random values and the base64 and hex encodings."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable
from typing import Any, Literal, TypeAlias

from pydantic import Field, SecretStr

from flowforge.connectors.crypto._common import (
    CHUNK,
    MAX_ENCODED,
    MAX_RANDOM,
    MAX_SECRET,
    MAX_TEXT,
    Encoding,
    KeyEncoding,
    SignatureEncoding,
    VerifyOutput,
    _Data,
    _decode,
    _encode,
    _Params,
    _read,
    _secret_bytes,
    _text_of,
)
from flowforge.connectors.sdk import ActionError, Blob, Context

HashAlgorithm: TypeAlias = Literal[
    "sha256", "sha512", "sha3_256", "sha3_512", "blake2b", "blake2s", "md5"
]
HmacAlgorithm: TypeAlias = Literal["sha256", "sha512"]

_HASHES: dict[str, Callable[[], Any]] = {
    "sha256": hashlib.sha256,
    "sha512": hashlib.sha512,
    "sha3_256": hashlib.sha3_256,
    "sha3_512": hashlib.sha3_512,
    "blake2b": hashlib.blake2b,
    "blake2s": hashlib.blake2s,
    "md5": lambda: hashlib.md5(usedforsecurity=False),
}
_LEGACY = frozenset({"md5"})


# -- hash


class HashParams(_Data):
    algorithm: HashAlgorithm = Field(
        "sha256",
        description="The hash function; md5 is legacy (broken for security, for old checksums)",
    )
    include_base64: bool = Field(False, description="Also give the digest as base64")


class HashOutput(_Params):
    algorithm: str = Field(description="The hash function used")
    hex: str = Field(description="The digest as lower-case hex")
    base64: str | None = Field(None, description="The digest as base64, when asked for")
    size: int = Field(description="Bytes hashed")
    legacy: bool = Field(description="True for md5: fine for checksums, never for security")


def hash_(params: HashParams, ctx: Context) -> HashOutput:
    """Hash text or a blob with SHA-2, SHA-3, BLAKE2 or (legacy) MD5.

    Blobs are hashed in chunks, so a large one reports progress and stops when the run is
    cancelled.
    """
    digest = _HASHES[params.algorithm]()
    data = _read(params, ctx)
    view = memoryview(data)
    for start in range(0, len(view), CHUNK):
        ctx.raise_if_cancelled()
        digest.update(view[start : start + CHUNK])
        if params.blob is not None:
            ctx.progress(min(start + CHUNK, len(view)), len(view), "hashing")
    raw: bytes = digest.digest()
    return HashOutput(
        algorithm=params.algorithm,
        hex=raw.hex(),
        base64=base64.b64encode(raw).decode("ascii") if params.include_base64 else None,
        size=len(data),
        legacy=params.algorithm in _LEGACY,
    )


# -- HMAC


class HmacParams(_Data):
    algorithm: HmacAlgorithm = Field("sha256", description="The hash function of the HMAC")
    key: SecretStr = Field(max_length=MAX_SECRET, description="The shared secret")
    key_encoding: KeyEncoding = Field(
        "text", description="How the key is written: text (its UTF-8 bytes), base64 or hex"
    )
    encoding: SignatureEncoding = Field("hex", description="How the signature is written")


class HmacSignOutput(_Params):
    signature: str = Field(description="The HMAC, in the chosen encoding")
    algorithm: str = Field(description="The hash function used")


class HmacVerifyParams(HmacParams):
    signature: str = Field(
        min_length=1,
        max_length=1024,
        description="The signature to check; a leading 'sha256=' or 'sha512=' is ignored",
    )


def _hmac(params: HmacParams, ctx: Context) -> bytes:
    key = _secret_bytes(params.key, params.key_encoding, "key")
    mac = hmac.new(key, digestmod=params.algorithm)
    view = memoryview(_read(params, ctx))
    for start in range(0, len(view), CHUNK):
        ctx.raise_if_cancelled()
        mac.update(view[start : start + CHUNK])
    return mac.digest()


def hmac_sign(params: HmacParams, ctx: Context) -> HmacSignOutput:
    """Compute the HMAC-SHA256 or HMAC-SHA512 of text or a blob with a shared secret."""
    return HmacSignOutput(
        signature=_encode(_hmac(params, ctx), params.encoding), algorithm=params.algorithm
    )


def hmac_verify(params: HmacVerifyParams, ctx: Context) -> VerifyOutput:
    """Check an HMAC signature in constant time; a malformed signature is simply not valid."""
    expected = _hmac(params, ctx)
    given = params.signature.strip()
    given = given.removeprefix(f"{params.algorithm}=")
    try:
        candidate = _decode(given, params.encoding, "signature")
    except ActionError:
        candidate = b""
    return VerifyOutput(
        valid=hmac.compare_digest(expected, candidate), algorithm=f"HMAC-{params.algorithm}"
    )


# -- random values and encodings


class RandomParams(_Params):
    format: Literal["hex", "base64", "base64url", "token", "uuid"] = Field(
        "hex", description="hex, base64 or base64url bytes; a URL-safe token; or a UUID 4"
    )
    size: int = Field(
        32, ge=1, le=MAX_RANDOM, description="Bytes of randomness (not used for uuid)"
    )


class RandomOutput(_Params):
    value: str = Field(description="The random value")
    format: str = Field(description="Its format")


def random(params: RandomParams, ctx: Context) -> RandomOutput:
    """Give cryptographically secure random bytes as text, a URL-safe token or a UUID."""
    if params.format == "uuid":
        value = str(uuid.uuid4())
    elif params.format == "token":
        value = secrets.token_urlsafe(params.size)
    else:
        value = _encode(secrets.token_bytes(params.size), params.format)
    return RandomOutput(value=value, format=params.format)


class EncodeParams(_Data):
    encoding: Encoding = Field("base64", description="The encoding to write")
    padding: bool = Field(True, description="base64 and base64url: end with '=' padding")


class EncodeOutput(_Params):
    value: str = Field(description="The encoded text")
    encoding: str = Field(description="The encoding used")


def encode(params: EncodeParams, ctx: Context) -> EncodeOutput:
    """Encode text (its UTF-8 bytes) or a blob as base64, base64url or hex."""
    data = _read(params, ctx, limit=MAX_TEXT)
    return EncodeOutput(
        value=_encode(data, params.encoding, pad=params.padding), encoding=params.encoding
    )


class DecodeParams(_Params):
    data: str = Field(max_length=MAX_ENCODED, description="The encoded text")
    encoding: Encoding = Field("base64", description="The encoding to read")
    output: Literal["text", "blob"] = Field(
        "text", description="Give the bytes as UTF-8 text or as a blob"
    )
    media_type: str = Field(
        "application/octet-stream", max_length=200, description="The output blob's media type"
    )


class DecodeOutput(_Params):
    text: str | None = Field(None, description="The decoded text, when output is 'text'")
    blob: Blob | None = Field(None, description="The decoded bytes, when output is 'blob'")
    size: int = Field(description="Bytes decoded")


def decode(params: DecodeParams, ctx: Context) -> DecodeOutput:
    """Decode base64, base64url or hex into text or a blob."""
    data = _decode(params.data, params.encoding, "data")
    if params.output == "blob":
        return DecodeOutput(blob=ctx.put_blob(data, params.media_type), size=len(data))
    return DecodeOutput(text=_text_of(data, "data"), size=len(data))
