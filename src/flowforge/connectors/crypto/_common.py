"""What the crypto actions share: the parameter bases, the size limits and the helpers that read
inputs and read and write base64 and hex."""

from __future__ import annotations

import base64
import binascii
from typing import Literal, Self, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from flowforge.connectors.sdk import MAX_BLOB_BYTES, ActionError, Blob, Context

MAX_TEXT = 8 * 1024 * 1024  # characters of text taken inline (parameters are journaled)
MAX_ENCODED = 2 * MAX_TEXT + 1024 * 1024  # hex of MAX_TEXT bytes, or base64 with line breaks
MAX_RANDOM = 1024 * 1024
MAX_PEM = 64 * 1024  # room for a certificate chain's first certificate
MAX_PRIVATE_PEM = 8 * 1024  # RSA 8192 is ~6.4 KB; a larger key would be slow to validate
MAX_SECRET = 64 * 1024
MAX_TOKEN = 64 * 1024
CHUNK = 8 * 1024 * 1024  # large blobs are hashed piecewise so a cancel or a progress fits in

Encoding: TypeAlias = Literal["base64", "base64url", "hex"]
SignatureEncoding: TypeAlias = Literal["base64", "hex"]
KeyEncoding: TypeAlias = Literal["text", "base64", "hex"]


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Data(_Params):
    """An input that is text or a blob, exactly one of them."""

    text: str | None = Field(
        None, max_length=MAX_TEXT, description="The data as text (its UTF-8 bytes are used)"
    )
    blob: Blob | None = Field(None, description="The data as a stored blob")

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.text is None) == (self.blob is None):
            raise ValueError("give exactly one of 'text' and 'blob'")
        return self


# -- shared helpers


def _read(params: _Data, ctx: Context, limit: int = MAX_BLOB_BYTES) -> bytes:
    """The bytes of a text-or-blob input, refused past ``limit``."""
    if params.text is not None:
        data = params.text.encode()
        field = "text"
    else:
        assert params.blob is not None
        field = "blob"
        if params.blob.size > limit:
            raise _too_large(field, params.blob.size, limit)
        try:
            data = ctx.read_blob(params.blob)
        except ActionError as exc:  # BlobNotFound: say which parameter named it
            raise ActionError(f"blob: {exc}", retryable=exc.retryable, type=exc.type) from None
    if len(data) > limit:
        raise _too_large(field, len(data), limit)
    return data


def _too_large(field: str, size: int, limit: int) -> ActionError:
    return ActionError(
        f"{field}: {size:,} bytes; the limit is {limit:,}", retryable=False, type="TooLarge"
    )


def _b64decode(text: str, *, urlsafe: bool = False) -> bytes:
    """Strict base64: line breaks and missing padding are forgiven, stray characters are not."""
    compact = "".join(text.split())
    if urlsafe:
        compact = compact.replace("-", "+").replace("_", "/")
    compact += "=" * (-len(compact) % 4)
    return base64.b64decode(compact, validate=True)


def _decode(text: str, encoding: str, field: str) -> bytes:
    """Bytes from base64, base64url or hex text; an ActionError naming ``field`` otherwise."""
    try:
        if encoding == "hex":
            return bytes.fromhex(text)
        return _b64decode(text, urlsafe=encoding == "base64url")
    except (ValueError, binascii.Error):
        raise ActionError(
            f"{field}: not valid {encoding}", retryable=False, type="InvalidEncoding"
        ) from None


def _encode(data: bytes, encoding: str, *, pad: bool = True) -> str:
    if encoding == "hex":
        return data.hex()
    text = (base64.urlsafe_b64encode if encoding == "base64url" else base64.b64encode)(data)
    return (text if pad else text.rstrip(b"=")).decode("ascii")


def _secret_bytes(secret: SecretStr, encoding: str, field: str) -> bytes:
    value = secret.get_secret_value()
    key = value.encode() if encoding == "text" else _decode(value, encoding, field)
    if not key:
        raise ActionError(f"{field}: must not be empty", retryable=False, type="InvalidKey")
    return key


def _text_of(data: bytes, field: str) -> str:
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise ActionError(
            f"{field}: the result is not UTF-8 text; set output to 'blob' to keep the bytes",
            retryable=False,
            type="EncodingError",
        ) from None


class VerifyOutput(_Params):
    valid: bool = Field(description="Whether the signature matches")
    algorithm: str = Field(description="The algorithm checked")
