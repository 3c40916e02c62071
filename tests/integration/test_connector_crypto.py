"""The crypto connector: every action called directly, its refusals of bad keys, tampered data
and hostile tokens, and crypto nodes run through the local engine on a MemoryStore."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from connector_support import action_callers, chain
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from flowforge.connectors import Context, Registry
from flowforge.connectors import crypto as crypto_module
from flowforge.connectors import flow as flow_connector
from flowforge.connectors.crypto import connector
from flowforge.connectors.sdk import MAX_BLOB_BYTES, Blob
from flowforge.engine.local import LocalEngine
from flowforge.errors import DefinitionError
from flowforge.store import MemoryStore

AES_KEY = base64.b64encode(bytes(range(32))).decode()
HS_SECRET = "s" * 64


def make_ctx(store: MemoryStore | None = None) -> Context:
    return Context.standalone("crypto.test", blobs=store if store is not None else MemoryStore())


@pytest.fixture
def ctx() -> Context:
    return make_ctx()


call, refused = action_callers(connector)


def invalid(action: str, params: dict[str, Any]) -> str:
    """Parameters that validation must refuse; give the error text."""
    with pytest.raises(ValidationError) as info:
        connector.actions[action].input_model.model_validate(params)
    return str(info.value)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged_token(header: dict[str, Any], payload: dict[str, Any], key: bytes | None) -> str:
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    signature = b"" if key is None else hmac.new(key, signing_input.encode(), "sha256").digest()
    return f"{signing_input}.{b64url(signature)}"


def test_every_action_is_described_and_every_parameter_documented() -> None:
    assert set(connector.actions) == {
        "hash", "hmac_sign", "hmac_verify", "aes_encrypt", "aes_decrypt", "generate_key",
        "sign", "verify", "jwt_encode", "jwt_decode", "random", "encode", "decode",
    }  # fmt: skip
    assert connector.category == "Security"
    for action in connector.actions.values():
        assert action.description and action.output_model is not None, action.type
        schema = action.input_model.model_json_schema()
        for name, field in schema["properties"].items():
            assert field.get("description"), f"{action.type}.{name}"
        assert action.input_model.model_config.get("extra") == "forbid"
    secret = connector.actions["aes_encrypt"].input_model.model_validate(
        {"key": AES_KEY, "text": "x"}
    )
    assert AES_KEY not in repr(secret) and AES_KEY not in str(secret.model_dump())


# -- hash


@pytest.mark.parametrize(
    "algorithm", ["sha256", "sha512", "sha3_256", "sha3_512", "blake2b", "blake2s", "md5"]
)
def test_hash_every_algorithm_matches_hashlib(algorithm: str, ctx: Context) -> None:
    out = call("hash", {"algorithm": algorithm, "text": "héllo", "include_base64": True}, ctx)
    expected = hashlib.new(algorithm, "héllo".encode()).digest()
    assert out["hex"] == expected.hex()
    assert base64.b64decode(out["base64"]) == expected
    assert out["size"] == len("héllo".encode())
    assert out["legacy"] is (algorithm == "md5")


def test_md5_is_described_as_legacy() -> None:
    schema = connector.actions["hash"].input_model.model_json_schema()
    assert "legacy" in schema["properties"]["algorithm"]["description"]
    assert "legacy" in connector.actions["hash"].description.lower()


def test_hash_of_a_large_blob_goes_in_chunks_and_reports_progress() -> None:
    store = MemoryStore()
    ctx = make_ctx(store)
    seen: list[tuple[float, float | None]] = []
    ctx.on_progress = lambda done, total, message: seen.append((done, total))
    data = bytes(range(256)) * (crypto_module.CHUNK * 2 // 256) + b"tail"
    blob = store.put_blob(data, "application/octet-stream", "big.bin")
    out = call("hash", {"blob": blob.model_dump(), "algorithm": "sha512"}, ctx)
    assert out["hex"] == hashlib.sha512(data).hexdigest()
    assert out["base64"] is None and out["size"] == len(data)
    assert len(seen) == 3 and seen[-1] == (len(data), len(data))


def test_hash_stops_when_the_run_is_cancelled() -> None:
    store = MemoryStore()
    ctx = make_ctx(store)
    blob = store.put_blob(b"x" * 100)
    ctx.cancel_event.set()
    refused("hash", {"blob": blob.model_dump()}, ctx, "Cancelled")


def test_hash_refuses_unknown_algorithms_listing_the_allowed_ones() -> None:
    message = invalid("hash", {"algorithm": "sha1", "text": "x"})
    assert "algorithm" in message
    assert (
        "Input should be 'sha256', 'sha512', 'sha3_256', 'sha3_512', 'blake2b', 'blake2s' or 'md5'"
        in message
    )


def test_inputs_need_exactly_one_of_text_and_blob(ctx: Context) -> None:
    blob = ctx.put_blob(b"abc")
    assert "exactly one of 'text' and 'blob'" in invalid("hash", {})
    assert "exactly one of 'text' and 'blob'" in invalid(
        "hash", {"text": "abc", "blob": blob.model_dump()}
    )
    assert "extra" in invalid("hash", {"text": "abc", "colour": "red"}).lower()


def test_oversized_input_is_refused(ctx: Context) -> None:
    message = invalid("hash", {"text": "x" * (crypto_module.MAX_TEXT + 1)})
    assert "text" in message and "at most" in message
    # a blob whose size is over the limit is refused before its bytes are read
    huge = Blob(blob="0" * 64, size=MAX_BLOB_BYTES + 1)
    assert "blob:" in refused("hash", {"blob": huge.model_dump()}, ctx, "TooLarge")
    big = ctx.put_blob(b"\0" * (crypto_module.MAX_TEXT + 1))
    assert "limit" in refused("encode", {"blob": big.model_dump()}, ctx, "TooLarge")
    assert "size" in invalid("random", {"size": crypto_module.MAX_RANDOM + 1})
    assert "token" in invalid("jwt_decode", {"token": "a" * 70_000, "key": "k", "algorithms": []})
    assert "audience" in invalid(
        "jwt_decode", {"token": "t", "key": "k", "algorithms": ["HS256"], "audience": ["a"] * 101}
    )
    assert "private_key_pem" in invalid("sign", {"private_key_pem": "k" * 9000, "text": "x"})
    # inline text whose UTF-8 is past the limit: encrypt it as a blob instead
    wide = {"key": AES_KEY, "text": "é" * (crypto_module.MAX_TEXT // 2 + 1)}
    assert refused("aes_encrypt", wide, ctx, "TooLarge").startswith("text:")
    long_pem = {"algorithm": "RS256", "key": "k" * 9000}
    assert refused("jwt_encode", long_pem, ctx, "TooLarge").startswith("key:")


def test_a_missing_blob_is_a_clear_error(ctx: Context) -> None:
    ghost = Blob(blob="a" * 64, size=3)
    assert refused("hash", {"blob": ghost.model_dump()}, ctx, "BlobNotFound").startswith("blob:")


# -- HMAC


def test_hmac_sign_and_verify(ctx: Context) -> None:
    out = call("hmac_sign", {"text": "payload", "key": "secret"}, ctx)
    expected = hmac.new(b"secret", b"payload", "sha256").hexdigest()
    assert out == {"signature": expected, "algorithm": "sha256"}
    base = {"text": "payload", "key": "secret"}
    assert call("hmac_verify", {**base, "signature": expected}, ctx)["valid"] is True
    assert call("hmac_verify", {**base, "signature": f"sha256={expected}"}, ctx)["valid"] is True
    wrong_key = {**base, "key": "other", "signature": expected}
    assert call("hmac_verify", wrong_key, ctx)["valid"] is False
    tampered = {**base, "text": "payload!", "signature": expected}
    assert call("hmac_verify", tampered, ctx)["valid"] is False
    assert call("hmac_verify", {**base, "signature": "zz-not-hex"}, ctx)["valid"] is False


def test_hmac_sha512_base64_with_a_base64_key_over_a_blob(ctx: Context) -> None:
    key = bytes(range(40))
    blob = ctx.put_blob(b"\x00\xff" * 1000)
    params = {
        "blob": blob.model_dump(),
        "key": base64.b64encode(key).decode(),
        "key_encoding": "base64",
        "algorithm": "sha512",
        "encoding": "base64",
    }
    signature = call("hmac_sign", params, ctx)["signature"]
    assert base64.b64decode(signature) == hmac.new(key, b"\x00\xff" * 1000, "sha512").digest()
    assert call("hmac_verify", {**params, "signature": signature}, ctx)["valid"] is True
    assert "Input should be 'sha256' or 'sha512'" in invalid(
        "hmac_sign", {**params, "algorithm": "md5"}
    )
    bad_key = {**params, "key": "not base64!"}
    assert refused("hmac_sign", bad_key, ctx, "InvalidEncoding").startswith("key:")
    assert "empty" in refused("hmac_sign", {"text": "x", "key": ""}, ctx, "InvalidKey")


# -- AES-256-GCM


def test_aes_round_trip_of_text_with_associated_data(ctx: Context) -> None:
    params = {"key": AES_KEY, "text": "attack at dawn", "associated_data": "order 42"}
    first = call("aes_encrypt", params, ctx)
    second = call("aes_encrypt", params, ctx)
    assert first["algorithm"] == "AES-256-GCM" and first["blob"] is None
    assert first["ciphertext"] != second["ciphertext"]  # a fresh nonce each time
    assert len(base64.b64decode(first["ciphertext"])) == 12 + len("attack at dawn") + 16
    back = call(
        "aes_decrypt",
        {"key": AES_KEY, "ciphertext": first["ciphertext"], "associated_data": "order 42"},
        ctx,
    )
    assert back == {"text": "attack at dawn", "blob": None}


def test_aes_round_trip_of_a_blob(ctx: Context) -> None:
    data = bytes(range(256)) * 100
    blob = ctx.put_blob(data, name="data.bin")
    sealed = call("aes_encrypt", {"key": AES_KEY, "blob": blob.model_dump()}, ctx)["blob"]
    assert sealed["name"] == "data.bin.enc" and sealed["size"] == len(data) + 28
    out = call("aes_decrypt", {"key": AES_KEY, "blob": sealed, "output": "blob"}, ctx)
    assert ctx.read_blob(Blob.model_validate(out["blob"])) == data
    # bytes that are not UTF-8 cannot come out as text
    assert "output" in refused(
        "aes_decrypt", {"key": AES_KEY, "blob": sealed}, ctx, "EncodingError"
    )


def test_aes_refuses_a_wrong_key_and_tampered_data(ctx: Context) -> None:
    sealed = call("aes_encrypt", {"key": AES_KEY, "text": "secret", "associated_data": "a"}, ctx)
    raw = bytearray(base64.b64decode(sealed["ciphertext"]))
    other_key = base64.b64encode(b"\x01" * 32).decode()
    base = {"key": AES_KEY, "ciphertext": sealed["ciphertext"], "associated_data": "a"}
    message = refused("aes_decrypt", {**base, "key": other_key}, ctx, "DecryptionError")
    assert "key is wrong" in message
    for position in (0, 14, len(raw) - 1):  # nonce, ciphertext, tag
        tampered = bytearray(raw)
        tampered[position] ^= 1
        changed = {**base, "ciphertext": base64.b64encode(tampered).decode()}
        refused("aes_decrypt", changed, ctx, "DecryptionError")
    refused("aes_decrypt", {**base, "associated_data": "b"}, ctx, "DecryptionError")
    refused("aes_decrypt", {**base, "associated_data": None}, ctx, "DecryptionError")
    short = {**base, "ciphertext": base64.b64encode(raw[:20]).decode()}
    assert "too short" in refused("aes_decrypt", short, ctx, "DecryptionError")
    garbage = {**base, "ciphertext": "@@@ not base64"}
    assert "ciphertext" in refused("aes_decrypt", garbage, ctx, "DecryptionError")


def test_aes_refuses_keys_that_are_not_256_bits(ctx: Context) -> None:
    short_key = base64.b64encode(b"k" * 16).decode()
    message = refused("aes_encrypt", {"key": short_key, "text": "x"}, ctx, "InvalidKey")
    assert message.startswith("key:") and "32 bytes" in message and "16" in message
    assert "base64" in refused("aes_encrypt", {"key": "%%%", "text": "x"}, ctx, "InvalidKey")
    assert "exactly one of 'ciphertext' and 'blob'" in invalid("aes_decrypt", {"key": AES_KEY})


# -- keys and signatures


def test_generate_aes_key(ctx: Context) -> None:
    out = call("generate_key", {"kind": "aes256"}, ctx)
    assert len(base64.b64decode(out["key"])) == 32 and out["private_key_pem"] is None
    assert out["key"] != call("generate_key", {"kind": "aes256"}, ctx)["key"]


def test_generate_key_refuses_unknown_kinds_and_sizes() -> None:
    assert "Input should be 'aes256', 'rsa', 'ed25519', 'ecdsa_p256' or 'secp256k1'" in invalid(
        "generate_key", {"kind": "dsa"}
    )
    assert "Input should be 2048, 3072 or 4096" in invalid(
        "generate_key", {"kind": "rsa", "rsa_bits": 1024}
    )


KEY_KINDS = {
    "rsa": "RSA-PSS-SHA256",
    "ed25519": "Ed25519",
    "ecdsa_p256": "ECDSA-P256-SHA256",
    "secp256k1": "ECDSA-secp256k1-SHA256",
}


@pytest.mark.parametrize("kind", list(KEY_KINDS))
def test_sign_and_verify_with_each_key_kind(kind: str, ctx: Context) -> None:
    pair = call("generate_key", {"kind": kind, "rsa_bits": 2048}, ctx)
    assert pair["private_key_pem"].startswith("-----BEGIN PRIVATE KEY-----")
    assert pair["public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----")
    signed = call("sign", {"private_key_pem": pair["private_key_pem"], "text": "msg"}, ctx)
    assert signed["algorithm"] == KEY_KINDS[kind]
    check = {"public_key_pem": pair["public_key_pem"], "text": "msg"}
    assert call("verify", {**check, "signature": signed["signature"]}, ctx) == {
        "valid": True,
        "algorithm": KEY_KINDS[kind],
    }
    tampered = {**check, "text": "msg!", "signature": signed["signature"]}
    assert call("verify", tampered, ctx)["valid"] is False
    other = call("generate_key", {"kind": kind, "rsa_bits": 2048}, ctx)
    wrong_key = {**check, "public_key_pem": other["public_key_pem"]}
    assert call("verify", {**wrong_key, "signature": signed["signature"]}, ctx)["valid"] is False
    assert call("verify", {**check, "signature": "AAAA"}, ctx)["valid"] is False
    assert call("verify", {**check, "signature": "***"}, ctx)["valid"] is False


def test_sign_a_blob_in_hex_and_verify_against_a_certificate(ctx: Context) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "flowforge test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(private, hashes.SHA256())
    )
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    blob = ctx.put_blob(b"document" * 1000).model_dump()
    signed = call("sign", {"private_key_pem": pem, "blob": blob, "encoding": "hex"}, ctx)
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    check = {"public_key_pem": cert_pem, "blob": blob, "encoding": "hex"}
    assert call("verify", {**check, "signature": signed["signature"]}, ctx)["valid"] is True


def test_encrypted_private_keys_need_their_passphrase(ctx: Context) -> None:
    pair = call("generate_key", {"kind": "ed25519", "passphrase": "correct horse"}, ctx)
    assert "ENCRYPTED PRIVATE KEY" in pair["private_key_pem"]
    base = {"private_key_pem": pair["private_key_pem"], "text": "m"}
    assert "private_key_pem" in refused("sign", base, ctx, "InvalidKey")
    wrong = {**base, "passphrase": "wrong"}
    assert "passphrase is wrong" in refused("sign", wrong, ctx, "InvalidKey")
    signed = call("sign", {**base, "passphrase": "correct horse"}, ctx)
    check = {"public_key_pem": pair["public_key_pem"], "text": "m"}
    assert call("verify", {**check, "signature": signed["signature"]}, ctx)["valid"] is True


def test_bad_and_unsupported_keys_are_refused_by_name(ctx: Context) -> None:
    pair = call("generate_key", {"kind": "ed25519"}, ctx)
    garbage = {"private_key_pem": "-----BEGIN PRIVATE KEY-----\nAAAA\n", "text": "m"}
    assert "private_key_pem: not a PEM private key" in refused("sign", garbage, ctx, "InvalidKey")
    private_as_public = {"public_key_pem": pair["private_key_pem"], "text": "m", "signature": "AA"}
    assert "give the public key" in refused("verify", private_as_public, ctx, "InvalidKey")
    p384 = ec.generate_private_key(ec.SECP384R1())
    p384_pem = p384.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    message = refused("sign", {"private_key_pem": p384_pem, "text": "m"}, ctx, "InvalidKey")
    assert "secp384r1" in message and "Ed25519" in message


# -- JWT


def hs_decode(token: str, **extra: Any) -> dict[str, Any]:
    return {"token": token, "key": HS_SECRET, "algorithms": ["HS256"], **extra}


def test_jwt_round_trip_checks_exp_aud_and_iss(ctx: Context) -> None:
    encoded = call(
        "jwt_encode",
        {
            "algorithm": "HS256",
            "key": HS_SECRET,
            "claims": {"sub": "ada", "aud": "api", "iss": "flowforge"},
            "expires_in_s": 60,
            "kid": "k1",
        },
        ctx,
    )
    assert encoded["expires_at"] >= int(time.time()) + 59
    out = call(
        "jwt_decode",
        hs_decode(encoded["token"], audience="api", issuer=["flowforge"], require=["exp"]),
        ctx,
    )
    assert out["claims"]["sub"] == "ada" and out["claims"]["exp"] == encoded["expires_at"]
    assert out["header"] == {"alg": "HS256", "typ": "JWT", "kid": "k1"}
    wrong_aud = hs_decode(encoded["token"], audience="other", issuer="flowforge")
    assert "audience" in refused("jwt_decode", wrong_aud, ctx, "InvalidClaim")
    wrong_iss = hs_decode(encoded["token"], audience="api", issuer="evil")
    assert "issuer" in refused("jwt_decode", wrong_iss, ctx, "InvalidClaim")
    no_aud = hs_decode(encoded["token"])
    assert "give 'audience'" in refused("jwt_decode", no_aud, ctx, "InvalidClaim")


@pytest.mark.parametrize(
    ("algorithm", "kind"),
    [
        ("HS384", None),
        ("HS512", None),
        ("RS256", "rsa"),
        ("ES256", "ecdsa_p256"),
        ("EdDSA", "ed25519"),
    ],
)
def test_jwt_every_algorithm(algorithm: str, kind: str | None, ctx: Context) -> None:
    if kind is None:
        sign_key = verify_key = "k" * 64
    else:
        pair = call("generate_key", {"kind": kind, "rsa_bits": 2048}, ctx)
        sign_key, verify_key = pair["private_key_pem"], pair["public_key_pem"]
    token = call("jwt_encode", {"algorithm": algorithm, "key": sign_key, "claims": {"n": 1}}, ctx)[
        "token"
    ]
    out = call("jwt_decode", {"token": token, "key": verify_key, "algorithms": [algorithm]}, ctx)
    assert out["claims"] == {"n": 1} and out["algorithm"] == algorithm


def test_jwt_expired_and_not_yet_valid_tokens_are_refused(ctx: Context) -> None:
    now = int(time.time())
    expired = call(
        "jwt_encode", {"algorithm": "HS256", "key": HS_SECRET, "claims": {"exp": now - 100}}, ctx
    )["token"]
    assert "expired" in refused("jwt_decode", hs_decode(expired), ctx, "TokenExpired")
    assert call("jwt_decode", hs_decode(expired, leeway_s=300), ctx)["claims"]["exp"] == now - 100
    early = call(
        "jwt_encode", {"algorithm": "HS256", "key": HS_SECRET, "claims": {"nbf": now + 3600}}, ctx
    )["token"]
    assert "not valid yet" in refused("jwt_decode", hs_decode(early), ctx, "TokenNotYetValid")
    bare = call("jwt_encode", {"algorithm": "HS256", "key": HS_SECRET}, ctx)["token"]
    missing = hs_decode(bare, require=["exp"])
    assert "'exp'" in refused("jwt_decode", missing, ctx, "InvalidClaim")


def test_jwt_tampered_tokens_and_wrong_secrets_are_refused(ctx: Context) -> None:
    token = call(
        "jwt_encode", {"algorithm": "HS256", "key": HS_SECRET, "claims": {"role": "user"}}, ctx
    )["token"]
    header, _, signature = token.split(".")
    forged_payload = b64url(json.dumps({"role": "admin"}).encode())
    tampered = f"{header}.{forged_payload}.{signature}"
    assert "signature" in refused("jwt_decode", hs_decode(tampered), ctx, "InvalidSignature")
    other_secret = {**hs_decode(token), "key": "t" * 64}
    refused("jwt_decode", other_secret, ctx, "InvalidSignature")
    assert "malformed" in refused("jwt_decode", hs_decode("not-a-token"), ctx, "InvalidToken")
    short = {"algorithm": "HS256", "key": "short"}
    assert "at least 32 bytes" in refused("jwt_encode", short, ctx, "InvalidKey")


def test_jwt_alg_none_is_refused(ctx: Context) -> None:
    token = forged_token({"alg": "none", "typ": "JWT"}, {"role": "admin"}, None)
    message = refused("jwt_decode", hs_decode(token), ctx, "InvalidAlgorithm")
    assert "'none'" in message and "HS256" in message
    listing = invalid("jwt_decode", {"token": token, "key": "k", "algorithms": ["none"]})
    assert "algorithms.0" in listing
    assert "Input should be 'HS256', 'HS384', 'HS512', 'RS256', 'ES256' or 'EdDSA'" in listing
    assert "algorithms" in invalid("jwt_decode", {"token": token, "key": "k"})
    assert "algorithms" in invalid("jwt_decode", {"token": token, "key": "k", "algorithms": []})


def test_hs256_token_verified_with_an_rsa_public_key_fails(ctx: Context) -> None:
    pair = call("generate_key", {"kind": "rsa", "rsa_bits": 2048}, ctx)
    public_pem = pair["public_key_pem"]
    # the classic confusion: an HS256 token whose HMAC secret is the public key's PEM
    token = forged_token({"alg": "HS256", "typ": "JWT"}, {"role": "admin"}, public_pem.encode())
    as_rs256 = {"token": token, "key": public_pem, "algorithms": ["RS256"]}
    assert "HS256" in refused("jwt_decode", as_rs256, ctx, "InvalidAlgorithm")
    as_hs256 = {"token": token, "key": public_pem, "algorithms": ["HS256"]}
    assert "shared secret" in refused("jwt_decode", as_hs256, ctx, "InvalidKey")
    mixed = {"token": token, "key": public_pem, "algorithms": ["RS256", "HS256"]}
    assert "do not mix" in invalid("jwt_decode", mixed)


def test_jwt_keys_must_fit_the_algorithm(ctx: Context) -> None:
    ec_pair = call("generate_key", {"kind": "ecdsa_p256"}, ctx)
    wrong = {"algorithm": "RS256", "key": ec_pair["private_key_pem"]}
    assert "RSA private key" in refused("jwt_encode", wrong, ctx, "InvalidKey")
    token = call("jwt_encode", {"algorithm": "ES256", "key": ec_pair["private_key_pem"]}, ctx)[
        "token"
    ]
    rsa_pair = call("generate_key", {"kind": "rsa", "rsa_bits": 2048}, ctx)
    mismatch = {"token": token, "key": rsa_pair["public_key_pem"], "algorithms": ["ES256", "RS256"]}
    assert "ECDSA P-256 public key" in refused("jwt_decode", mismatch, ctx, "InvalidKey")


# -- random and encodings


def test_random_formats(ctx: Context) -> None:
    hex_value = call("random", {"size": 16}, ctx)["value"]
    assert len(bytes.fromhex(hex_value)) == 16
    assert hex_value != call("random", {"size": 16}, ctx)["value"]
    b64 = call("random", {"format": "base64", "size": 24}, ctx)["value"]
    assert len(base64.b64decode(b64)) == 24
    url = call("random", {"format": "base64url", "size": 30}, ctx)["value"]
    assert len(base64.urlsafe_b64decode(url)) == 30
    token = call("random", {"format": "token"}, ctx)["value"]
    assert len(token) >= 43 and set(token) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )
    assert uuid.UUID(call("random", {"format": "uuid"}, ctx)["value"]).version == 4
    big = call("random", {"size": crypto_module.MAX_RANDOM, "format": "base64"}, ctx)["value"]
    assert len(base64.b64decode(big)) == crypto_module.MAX_RANDOM
    assert "size" in invalid("random", {"size": 0})


@pytest.mark.parametrize("encoding", ["base64", "base64url", "hex"])
def test_encode_decode_round_trip(encoding: str, ctx: Context) -> None:
    text = "héllo wörld ~~ ??>>"
    encoded = call("encode", {"text": text, "encoding": encoding}, ctx)["value"]
    assert call("decode", {"data": encoded, "encoding": encoding}, ctx)["text"] == text
    if encoding == "base64url":
        assert "+" not in encoded and "/" not in encoded
        bare = call("encode", {"text": text, "encoding": encoding, "padding": False}, ctx)
        assert "=" not in bare["value"]
        assert call("decode", {"data": bare["value"], "encoding": encoding}, ctx)["text"] == text


def test_encode_a_blob_and_decode_to_a_blob(ctx: Context) -> None:
    data = bytes(range(256))
    blob = ctx.put_blob(data).model_dump()
    encoded = call("encode", {"blob": blob}, ctx)["value"]
    assert encoded == base64.b64encode(data).decode()
    wrapped = "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
    out = call("decode", {"data": wrapped, "output": "blob", "media_type": "image/x-test"}, ctx)
    assert out["size"] == 256 and out["blob"]["media_type"] == "image/x-test"
    assert ctx.read_blob(Blob.model_validate(out["blob"])) == data
    assert "set output to 'blob'" in refused("decode", {"data": encoded}, ctx, "EncodingError")


def test_decode_refuses_malformed_input_by_field(ctx: Context) -> None:
    for encoding, data in [("base64", "ab$d"), ("base64", "abcde"), ("hex", "abc"), ("hex", "zz")]:
        message = refused("decode", {"data": data, "encoding": encoding}, ctx, "InvalidEncoding")
        assert message == f"data: not valid {encoding}"
    assert "Input should be 'base64', 'base64url' or 'hex'" in invalid(
        "decode", {"data": "x", "encoding": "base32"}
    )


# -- through the engine


workflow = functools.partial(chain, "crypto")


async def test_hash_runs_as_a_workflow_node() -> None:
    store = MemoryStore()
    registry = Registry([flow_connector.connector, connector])
    async with LocalEngine(store, registry) as engine:
        w = workflow(
            [
                {"id": "start", "type": "flow.start"},
                {
                    "id": "bytes",
                    "type": "crypto.decode",
                    "params": {"data": "{{ trigger.data }}", "encoding": "hex", "output": "blob"},
                },
                {
                    "id": "digest",
                    "type": "crypto.hash",
                    "params": {"blob": "{{ nodes.bytes.output.blob }}", "algorithm": "sha3_256"},
                },
            ],
            output="{{ nodes.digest.output.hex }}",
        )
        result = await engine.run(w, {"data": "00ff10"})
        assert result.ok, result.error
        assert result.result == hashlib.sha3_256(b"\x00\xff\x10").hexdigest()

        text = workflow(
            [
                {"id": "start", "type": "flow.start"},
                {"id": "h", "type": "crypto.hash", "params": {"text": "{{ trigger.name }}"}},
            ]
        )
        result = await engine.run(text, {"name": "ada"})
        assert result.ok, result.error
        assert result.result["h"]["hex"] == hashlib.sha256(b"ada").hexdigest()

        bad = workflow(
            [
                {"id": "start", "type": "flow.start"},
                {"id": "h", "type": "crypto.hash", "params": {"text": "x", "algorithm": "sha1"}},
            ]
        )
        with pytest.raises(DefinitionError) as info:  # a literal is checked before the run
            await engine.run(bad)
        assert "nodes[1].params.algorithm" in str(info.value)
        assert "Input should be 'sha256', 'sha512'" in str(info.value)
        late = workflow(
            [
                {"id": "start", "type": "flow.start"},
                {
                    "id": "h",
                    "type": "crypto.hash",
                    "params": {"text": "x", "algorithm": "{{ trigger.alg }}"},
                },
            ]
        )
        result = await engine.run(late, {"alg": "sha1"})
        assert not result.ok and result.error is not None
        error = json.dumps(result.error)
        assert "params.algorithm" in error and "'sha256', 'sha512'" in error
        assert "ValidationError" in error


async def test_a_decryption_failure_in_a_workflow_is_a_clear_node_error() -> None:
    store = MemoryStore()
    async with LocalEngine(store, Registry([flow_connector.connector, connector])) as engine:
        w = workflow(
            [
                {"id": "start", "type": "flow.start"},
                {
                    "id": "open",
                    "type": "crypto.aes_decrypt",
                    "params": {"key": AES_KEY, "ciphertext": base64.b64encode(b"x" * 40).decode()},
                },
            ]
        )
        result = await engine.run(w)
        assert not result.ok
        error = json.dumps(result.error)
        assert "DecryptionError" in error and "Traceback" not in error
