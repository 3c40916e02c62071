"""Key generation, loading PEM keys and certificates, and signatures made and checked with them."""

from __future__ import annotations

import base64
from typing import Literal, TypeAlias

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import Field, SecretStr

from flowforge.connectors.crypto._common import (
    MAX_PEM,
    MAX_PRIVATE_PEM,
    SignatureEncoding,
    VerifyOutput,
    _Data,
    _decode,
    _encode,
    _Params,
    _read,
    _too_large,
)
from flowforge.connectors.sdk import ActionError, Context

# -- keys


class GenerateKeyParams(_Params):
    kind: Literal["aes256", "rsa", "ed25519", "ecdsa_p256", "secp256k1"] = Field(
        description="aes256: a symmetric key; the others: a key pair for sign and jwt_encode"
    )
    rsa_bits: Literal[2048, 3072, 4096] = Field(3072, description="RSA modulus size")
    passphrase: SecretStr | None = Field(
        None, min_length=1, max_length=1024, description="Encrypt the private key PEM with it"
    )


class GenerateKeyOutput(_Params):
    kind: str = Field(description="The kind of key made")
    key: str | None = Field(None, description="aes256: the key, 32 bytes as base64")
    private_key_pem: str | None = Field(None, description="The private key, PKCS#8 PEM")
    public_key_pem: str | None = Field(None, description="The public key, SubjectPublicKeyInfo PEM")


def generate_key(params: GenerateKeyParams, ctx: Context) -> GenerateKeyOutput:
    """Make a new AES-256 key or an RSA, Ed25519, ECDSA P-256 or secp256k1 key pair.

    The output holds the secret key: keep it as a credential, not in a workflow.
    """
    if params.kind == "aes256":
        key = base64.b64encode(AESGCM.generate_key(bit_length=256)).decode("ascii")
        return GenerateKeyOutput(kind=params.kind, key=key)
    private: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
    if params.kind == "rsa":
        private = rsa.generate_private_key(public_exponent=65537, key_size=params.rsa_bits)
    elif params.kind == "ed25519":
        private = ed25519.Ed25519PrivateKey.generate()
    else:
        curve = ec.SECP256R1() if params.kind == "ecdsa_p256" else ec.SECP256K1()
        private = ec.generate_private_key(curve)
    encryption: serialization.KeySerializationEncryption = serialization.NoEncryption()
    if params.passphrase is not None:
        password = params.passphrase.get_secret_value().encode()
        encryption = serialization.BestAvailableEncryption(password)
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return GenerateKeyOutput(
        kind=params.kind,
        private_key_pem=private_pem.decode("ascii"),
        public_key_pem=public_pem.decode("ascii"),
    )


PrivateKey: TypeAlias = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey: TypeAlias = rsa.RSAPublicKey | ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
_SUPPORTED = "RSA (2048 to 8192 bits), Ed25519, ECDSA P-256 or secp256k1"
_CURVES = {"secp256r1": "ECDSA-P256-SHA256", "secp256k1": "ECDSA-secp256k1-SHA256"}


def _algorithm_of(key: object, field: str) -> str:
    """The signature scheme a key is used with; InvalidKey for kinds this connector refuses."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        if not 2048 <= key.key_size <= 8192:
            raise ActionError(
                f"{field}: RSA keys must be 2048 to 8192 bits; this one is {key.key_size}",
                retryable=False,
                type="InvalidKey",
            )
        return "RSA-PSS-SHA256"
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        if key.curve.name in _CURVES:
            return _CURVES[key.curve.name]
        kind = f"an elliptic-curve {key.curve.name}"
    else:
        kind = f"a {type(key).__name__.removeprefix('_')}"
    raise ActionError(
        f"{field}: {kind} key is not supported; use {_SUPPORTED}",
        retryable=False,
        type="InvalidKey",
    )


def _load_private(pem: SecretStr, passphrase: SecretStr | None, field: str) -> PrivateKey:
    password = None if passphrase is None else passphrase.get_secret_value().encode()
    text = pem.get_secret_value().encode()
    if len(text) > MAX_PRIVATE_PEM:
        raise _too_large(field, len(text), MAX_PRIVATE_PEM)
    try:
        key = serialization.load_pem_private_key(text, password)
    except TypeError as exc:  # a passphrase missing, or given for a key that has none
        raise ActionError(f"{field}: {exc}", retryable=False, type="InvalidKey") from None
    except (ValueError, UnsupportedAlgorithm):
        hint = " or the passphrase is wrong" if password else ""
        raise ActionError(
            f"{field}: not a PEM private key{hint}", retryable=False, type="InvalidKey"
        ) from None
    _algorithm_of(key, field)
    assert isinstance(key, PrivateKey)
    return key


def _load_public(pem: str, field: str) -> PublicKey:
    if "PRIVATE KEY-----" in pem:
        raise ActionError(
            f"{field}: this is a private key; give the public key",
            retryable=False,
            type="InvalidKey",
        )
    try:
        if "-----BEGIN CERTIFICATE-----" in pem:
            key: object = x509.load_pem_x509_certificate(pem.encode()).public_key()
        else:
            key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, UnsupportedAlgorithm):
        raise ActionError(
            f"{field}: not a PEM public key or certificate", retryable=False, type="InvalidKey"
        ) from None
    _algorithm_of(key, field)
    assert isinstance(key, PublicKey)
    return key


# -- signatures


class SignParams(_Data):
    private_key_pem: SecretStr = Field(
        max_length=MAX_PRIVATE_PEM, description=f"The private key, PEM: {_SUPPORTED}"
    )
    passphrase: SecretStr | None = Field(
        None, max_length=1024, description="The passphrase of an encrypted private key"
    )
    encoding: SignatureEncoding = Field("base64", description="How the signature is written")


class SignOutput(_Params):
    signature: str = Field(description="The signature (DER for ECDSA), in the chosen encoding")
    algorithm: str = Field(
        description="RSA-PSS-SHA256, Ed25519, ECDSA-P256-SHA256 or ECDSA-secp256k1-SHA256"
    )


def sign(params: SignParams, ctx: Context) -> SignOutput:
    """Sign text or a blob with a private key (RSA-PSS SHA-256, Ed25519 or ECDSA SHA-256)."""
    key = _load_private(params.private_key_pem, params.passphrase, "private_key_pem")
    data = _read(params, ctx)
    if isinstance(key, rsa.RSAPrivateKey):
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
        signature = key.sign(data, pss, hashes.SHA256())
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        signature = key.sign(data)
    else:
        signature = key.sign(data, ec.ECDSA(hashes.SHA256()))
    return SignOutput(
        signature=_encode(signature, params.encoding),
        algorithm=_algorithm_of(key, "private_key_pem"),
    )


class VerifyParams(_Data):
    public_key_pem: str = Field(
        max_length=MAX_PEM, description="The public key or an X.509 certificate, PEM"
    )
    signature: str = Field(
        min_length=1, max_length=4096, description="The signature, in the given encoding"
    )
    encoding: SignatureEncoding = Field("base64", description="How the signature is written")


def verify(params: VerifyParams, ctx: Context) -> VerifyOutput:
    """Check a signature made by sign against the public key; a bad one gives valid: false."""
    key = _load_public(params.public_key_pem, "public_key_pem")
    algorithm = _algorithm_of(key, "public_key_pem")
    data = _read(params, ctx)
    try:
        signature = _decode(params.signature, params.encoding, "signature")
    except ActionError:
        return VerifyOutput(valid=False, algorithm=algorithm)
    try:
        if isinstance(key, rsa.RSAPublicKey):
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
            key.verify(signature, data, pss, hashes.SHA256())
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        else:
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return VerifyOutput(valid=False, algorithm=algorithm)
    return VerifyOutput(valid=True, algorithm=algorithm)
