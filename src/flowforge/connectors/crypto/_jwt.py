"""Signing and verifying JSON Web Tokens."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any, Literal, TypeAlias

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from pydantic import Field, SecretStr, field_validator

from flowforge.connectors.crypto._common import (
    MAX_SECRET,
    MAX_TOKEN,
    KeyEncoding,
    _Params,
    _secret_bytes,
)
from flowforge.connectors.crypto._keys import PrivateKey, PublicKey, _load_private, _load_public
from flowforge.connectors.sdk import ActionError, Context

JwtAlgorithm: TypeAlias = Literal["HS256", "HS384", "HS512", "RS256", "ES256", "EdDSA"]
_HMAC_MIN_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}  # RFC 7518 section 3.2
_JWT = jwt.PyJWT(options={"enforce_minimum_key_length": True})


def _is_hmac(algorithm: str) -> bool:
    return algorithm.startswith("HS")


_KEY_TYPES: dict[str, tuple[type, ...]] = {
    "RS256": (rsa.RSAPrivateKey, rsa.RSAPublicKey),
    "ES256": (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey),
    "EdDSA": (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey),
}

_KEY_KINDS = {"RS256": "an RSA", "ES256": "an ECDSA P-256", "EdDSA": "an Ed25519"}


def _fits(key: object, algorithm: str) -> bool:
    if not isinstance(key, _KEY_TYPES[algorithm]):
        return False
    return not isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) or (
        key.curve.name == "secp256r1"
    )


def _hmac_key(key: SecretStr, encoding: str, algorithm: str) -> bytes:
    secret = _secret_bytes(key, encoding, "key")
    if b"-----BEGIN" in secret or secret.startswith((b"ssh-", b"ecdsa-")):
        raise ActionError(
            f"key: this looks like a public or private key; {algorithm} needs the shared secret",
            retryable=False,
            type="InvalidKey",
        )
    if len(secret) < _HMAC_MIN_BYTES[algorithm]:
        raise ActionError(
            f"key: {algorithm} needs a secret of at least {_HMAC_MIN_BYTES[algorithm]} bytes "
            f"(RFC 7518); this one is {len(secret)}",
            retryable=False,
            type="InvalidKey",
        )
    return secret


class JwtEncodeParams(_Params):
    algorithm: JwtAlgorithm = Field(description="The signing algorithm")
    key: SecretStr = Field(
        max_length=MAX_SECRET,
        description="HS256/384/512: the shared secret; RS256, ES256, EdDSA: the private key PEM",
    )
    key_encoding: KeyEncoding = Field(
        "text", description="HS algorithms: how the secret is written (text, base64 or hex)"
    )
    passphrase: SecretStr | None = Field(
        None, max_length=1024, description="The passphrase of an encrypted private key"
    )
    claims: dict[str, Any] = Field(
        default_factory=dict, max_length=1000, description="The token's claims (payload)"
    )
    expires_in_s: int | None = Field(
        None, ge=1, le=10 * 366 * 86_400, description="Set exp this many seconds from now"
    )
    kid: str | None = Field(None, max_length=200, description="A key id for the header")


class JwtEncodeOutput(_Params):
    token: str = Field(description="The signed token")
    algorithm: str = Field(description="The algorithm used")
    expires_at: int | None = Field(None, description="The exp claim (Unix seconds), if any")


def jwt_encode(params: JwtEncodeParams, ctx: Context) -> JwtEncodeOutput:
    """Sign a JSON Web Token with HS256/384/512, RS256, ES256 or EdDSA."""
    key: bytes | PrivateKey
    if _is_hmac(params.algorithm):
        key = _hmac_key(params.key, params.key_encoding, params.algorithm)
    else:
        key = _load_private(params.key, params.passphrase, "key")
        if not _fits(key, params.algorithm):
            raise ActionError(
                f"key: {params.algorithm} needs {_KEY_KINDS[params.algorithm]} private key",
                retryable=False,
                type="InvalidKey",
            )
    claims = dict(params.claims)
    if params.expires_in_s is not None:
        claims["exp"] = int(time.time()) + params.expires_in_s
    try:
        if len(json.dumps(claims)) > MAX_TOKEN // 2:
            raise ActionError(
                f"claims: larger than {MAX_TOKEN // 2:,} bytes as JSON",
                retryable=False,
                type="TooLarge",
            )
        headers = {"kid": params.kid} if params.kid else None
        token = _JWT.encode(claims, key, algorithm=params.algorithm, headers=headers)
    except (TypeError, ValueError) as exc:
        raise ActionError(f"claims: {exc}", retryable=False, type="InvalidClaim") from None
    exp = claims.get("exp")
    return JwtEncodeOutput(
        token=token, algorithm=params.algorithm, expires_at=exp if isinstance(exp, int) else None
    )


RequiredClaim: TypeAlias = Literal["exp", "nbf", "iat", "iss", "aud", "sub", "jti"]
_Name = Annotated[str, Field(min_length=1, max_length=1000)]
_Names = Annotated[list[_Name], Field(min_length=1, max_length=100)]


class JwtDecodeParams(_Params):
    token: str = Field(min_length=1, max_length=MAX_TOKEN, description="The token to check")
    key: SecretStr = Field(
        max_length=MAX_SECRET,
        description="HS algorithms: the shared secret; RS256, ES256, EdDSA: the public key PEM "
        "or certificate",
    )
    key_encoding: KeyEncoding = Field(
        "text", description="HS algorithms: how the secret is written (text, base64 or hex)"
    )
    algorithms: list[JwtAlgorithm] = Field(
        min_length=1,
        max_length=6,
        description="The algorithms accepted; required, never 'none', and shared-secret (HS) "
        "and public-key ones are not mixed",
    )
    audience: _Name | _Names | None = Field(
        None, description="Accept only tokens whose aud names this (or one of these)"
    )
    issuer: _Name | _Names | None = Field(
        None, description="Accept only tokens whose iss is this (or one of these)"
    )
    require: list[RequiredClaim] = Field(
        default_factory=list, description="Claims the token must have (exp, nbf, iat, ...)"
    )
    leeway_s: float = Field(0, ge=0, le=300, description="Clock skew allowed for exp and nbf")

    @field_validator("algorithms")
    @classmethod
    def _one_family(cls, value: list[str]) -> list[str]:
        if len({_is_hmac(a) for a in value}) > 1:
            raise ValueError(
                "do not mix shared-secret (HS) and public-key algorithms: a key is one or the other"
            )
        return list(dict.fromkeys(value))


class JwtDecodeOutput(_Params):
    claims: dict[str, Any] = Field(description="The verified claims (payload)")
    header: dict[str, Any] = Field(description="The token's header")
    algorithm: str = Field(description="The algorithm the token was signed with")


_JWT_ERRORS: list[tuple[type[Exception], str, str]] = [
    (jwt.ExpiredSignatureError, "token: expired (its exp time has passed)", "TokenExpired"),
    (
        jwt.ImmatureSignatureError,
        "token: not valid yet (its nbf or iat time is ahead)",
        "TokenNotYetValid",
    ),
    (jwt.InvalidSignatureError, "token: the signature does not match the key", "InvalidSignature"),
    (jwt.InvalidAudienceError, "token: wrong audience (aud)", "InvalidClaim"),
    (jwt.InvalidIssuerError, "token: wrong issuer (iss)", "InvalidClaim"),
    (jwt.InvalidAlgorithmError, "token: its algorithm is not allowed", "InvalidAlgorithm"),
    (jwt.InvalidKeyError, "key: not usable with this algorithm", "InvalidKey"),
]


def jwt_decode(params: JwtDecodeParams, ctx: Context) -> JwtDecodeOutput:
    """Verify a JSON Web Token's signature and its exp, nbf, aud and iss, and give its claims."""
    try:
        header = jwt.get_unverified_header(params.token)
    except jwt.DecodeError as exc:
        raise ActionError(
            f"token: malformed ({exc})", retryable=False, type="InvalidToken"
        ) from None
    alg = header.get("alg")
    if alg not in params.algorithms:
        shown = repr(alg)[:40] if isinstance(alg, str) else "no algorithm"
        raise ActionError(
            f"token: signed with {shown}, which is not allowed here "
            f"(algorithms: {', '.join(params.algorithms)})",
            retryable=False,
            type="InvalidAlgorithm",
        )
    key: bytes | PublicKey
    if _is_hmac(alg):
        key = _hmac_key(params.key, params.key_encoding, alg)
    else:
        key = _load_public(params.key.get_secret_value(), "key")
        if not _fits(key, alg):
            raise ActionError(
                f"key: the token is signed with {alg}, which needs {_KEY_KINDS[alg]} public key",
                retryable=False,
                type="InvalidKey",
            )
    try:
        decoded = _JWT.decode_complete(
            params.token,
            key,
            algorithms=[alg],
            audience=params.audience,
            issuer=params.issuer,
            leeway=params.leeway_s,
            options={"require": list(params.require)},
        )
    except jwt.MissingRequiredClaimError as exc:
        raise ActionError(
            f"token: has no {exc.claim!r} claim", retryable=False, type="InvalidClaim"
        ) from None
    except jwt.InvalidTokenError as exc:
        for kind, message, error_type in _JWT_ERRORS:
            if isinstance(exc, kind):
                if kind is jwt.InvalidAudienceError and params.audience is None:
                    message = "token: it names an audience (aud); give 'audience' to accept it"
                raise ActionError(message, retryable=False, type=error_type) from None
        raise ActionError(f"token: {exc}", retryable=False, type="InvalidToken") from None
    payload = decoded["payload"]
    if not isinstance(payload, dict):
        raise ActionError("token: the payload is not a JSON object", type="InvalidToken")
    return JwtDecodeOutput(claims=payload, header=decoded["header"], algorithm=alg)
