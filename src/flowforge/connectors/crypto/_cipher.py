"""AES-256-GCM encryption and decryption."""

from __future__ import annotations

import base64
import binascii
import secrets
from typing import Literal, Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import Field, SecretStr, model_validator

from flowforge.connectors.crypto._common import (
    MAX_ENCODED,
    MAX_TEXT,
    _b64decode,
    _Data,
    _Params,
    _read,
    _text_of,
)
from flowforge.connectors.sdk import MAX_BLOB_BYTES, ActionError, Blob, Context

NONCE_BYTES = 12
TAG_BYTES = 16


# -- AES-256-GCM


class _AesKey(_Params):
    key: SecretStr = Field(
        max_length=200, description="The AES-256 key: 32 bytes as base64 (see generate_key)"
    )
    associated_data: str | None = Field(
        None,
        max_length=64 * 1024,
        description="Text that is authenticated but not encrypted; decrypting needs the same",
    )

    def cipher(self) -> AESGCM:
        value = self.key.get_secret_value()
        try:
            key = _b64decode(value, urlsafe="-" in value or "_" in value)
        except (ValueError, binascii.Error):
            raise ActionError("key: not valid base64", retryable=False, type="InvalidKey") from None
        if len(key) != 32:
            raise ActionError(
                f"key: an AES-256 key is 32 bytes; this one is {len(key)}",
                retryable=False,
                type="InvalidKey",
            )
        return AESGCM(key)

    def aad(self) -> bytes | None:
        return None if self.associated_data is None else self.associated_data.encode()


class AesEncryptParams(_AesKey, _Data):
    pass


class AesEncryptOutput(_Params):
    ciphertext: str | None = Field(
        None, description="For text input: base64 of nonce (12 bytes), ciphertext and tag"
    )
    blob: Blob | None = Field(None, description="For blob input: nonce, ciphertext and tag")
    algorithm: str = Field("AES-256-GCM", description="The cipher used")


def aes_encrypt(params: AesEncryptParams, ctx: Context) -> AesEncryptOutput:
    """Encrypt and authenticate text or a blob with AES-256-GCM and a fresh random nonce."""
    cipher = params.cipher()
    nonce = secrets.token_bytes(NONCE_BYTES)
    # text in, base64 out: inline text is capped so that the ciphertext can come back in
    data = _read(params, ctx, MAX_TEXT if params.text is not None else MAX_BLOB_BYTES)
    sealed = nonce + cipher.encrypt(nonce, data, params.aad())
    if params.blob is not None:
        name = f"{params.blob.name}.enc" if params.blob.name else None
        return AesEncryptOutput(blob=ctx.put_blob(sealed, "application/octet-stream", name))
    return AesEncryptOutput(ciphertext=base64.b64encode(sealed).decode("ascii"))


class AesDecryptParams(_AesKey):
    ciphertext: str | None = Field(
        None, max_length=MAX_ENCODED, description="base64 of nonce, ciphertext and tag"
    )
    blob: Blob | None = Field(None, description="A blob made by aes_encrypt")
    output: Literal["text", "blob"] = Field(
        "text", description="Give the plaintext as UTF-8 text or as a blob"
    )
    media_type: str = Field(
        "application/octet-stream", max_length=200, description="The output blob's media type"
    )

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.ciphertext is None) == (self.blob is None):
            raise ValueError("give exactly one of 'ciphertext' and 'blob'")
        return self


class AesDecryptOutput(_Params):
    text: str | None = Field(None, description="The plaintext, when output is 'text'")
    blob: Blob | None = Field(None, description="The plaintext, when output is 'blob'")


def aes_decrypt(params: AesDecryptParams, ctx: Context) -> AesDecryptOutput:
    """Decrypt AES-256-GCM data made by aes_encrypt, refusing any that was changed."""
    cipher = params.cipher()
    if params.ciphertext is not None:
        field = "ciphertext"
        try:
            sealed = _b64decode(params.ciphertext)
        except (ValueError, binascii.Error):
            raise ActionError(
                "ciphertext: not valid base64", retryable=False, type="DecryptionError"
            ) from None
    else:
        field = "blob"
        sealed = _read(_Data(blob=params.blob), ctx)
    if len(sealed) < NONCE_BYTES + TAG_BYTES:
        raise ActionError(
            f"{field}: too short to be AES-GCM output ({len(sealed)} bytes)",
            retryable=False,
            type="DecryptionError",
        )
    try:
        plain = cipher.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], params.aad())
    except InvalidTag:
        raise ActionError(
            "decryption failed: the key is wrong, or the ciphertext or the associated data "
            "was changed",
            retryable=False,
            type="DecryptionError",
        ) from None
    if params.output == "blob":
        return AesDecryptOutput(blob=ctx.put_blob(plain, params.media_type))
    return AesDecryptOutput(text=_text_of(plain, "ciphertext"))
