"""The crypto connector: hashes, HMACs, AES-GCM, key pairs, signatures, JWTs, randomness and
base64/hex encodings, on the ``cryptography`` and ``PyJWT`` packages.

Keys and secrets are parameters of type ``SecretStr``: they are masked wherever a parameter model
is printed or dumped, and no error message repeats them.
"""

from __future__ import annotations

from flowforge.connectors.crypto._cipher import (
    NONCE_BYTES,
    TAG_BYTES,
    AesDecryptOutput,
    AesDecryptParams,
    AesEncryptOutput,
    AesEncryptParams,
    aes_decrypt,
    aes_encrypt,
)
from flowforge.connectors.crypto._common import (
    CHUNK,
    MAX_ENCODED,
    MAX_PEM,
    MAX_PRIVATE_PEM,
    MAX_RANDOM,
    MAX_SECRET,
    MAX_TEXT,
    MAX_TOKEN,
    Encoding,
    KeyEncoding,
    SignatureEncoding,
    VerifyOutput,
)
from flowforge.connectors.crypto._digest import (
    DecodeOutput,
    DecodeParams,
    EncodeOutput,
    EncodeParams,
    HashAlgorithm,
    HashOutput,
    HashParams,
    HmacAlgorithm,
    HmacParams,
    HmacSignOutput,
    HmacVerifyParams,
    RandomOutput,
    RandomParams,
    decode,
    encode,
    hash_,
    hmac_sign,
    hmac_verify,
    random,
)
from flowforge.connectors.crypto._jwt import (
    JwtAlgorithm,
    JwtDecodeOutput,
    JwtDecodeParams,
    JwtEncodeOutput,
    JwtEncodeParams,
    RequiredClaim,
    jwt_decode,
    jwt_encode,
)
from flowforge.connectors.crypto._keys import (
    GenerateKeyOutput,
    GenerateKeyParams,
    PrivateKey,
    PublicKey,
    SignOutput,
    SignParams,
    VerifyParams,
    generate_key,
    sign,
    verify,
)
from flowforge.connectors.sdk import Connector

__all__ = [
    "CHUNK",
    "MAX_ENCODED",
    "MAX_PEM",
    "MAX_PRIVATE_PEM",
    "MAX_RANDOM",
    "MAX_SECRET",
    "MAX_TEXT",
    "MAX_TOKEN",
    "NONCE_BYTES",
    "TAG_BYTES",
    "AesDecryptOutput",
    "AesDecryptParams",
    "AesEncryptOutput",
    "AesEncryptParams",
    "DecodeOutput",
    "DecodeParams",
    "EncodeOutput",
    "EncodeParams",
    "Encoding",
    "GenerateKeyOutput",
    "GenerateKeyParams",
    "HashAlgorithm",
    "HashOutput",
    "HashParams",
    "HmacAlgorithm",
    "HmacParams",
    "HmacSignOutput",
    "HmacVerifyParams",
    "JwtAlgorithm",
    "JwtDecodeOutput",
    "JwtDecodeParams",
    "JwtEncodeOutput",
    "JwtEncodeParams",
    "KeyEncoding",
    "PrivateKey",
    "PublicKey",
    "RandomOutput",
    "RandomParams",
    "RequiredClaim",
    "SignOutput",
    "SignParams",
    "SignatureEncoding",
    "VerifyOutput",
    "VerifyParams",
    "aes_decrypt",
    "aes_encrypt",
    "connector",
    "decode",
    "encode",
    "generate_key",
    "hash_",
    "hmac_sign",
    "hmac_verify",
    "jwt_decode",
    "jwt_encode",
    "random",
    "sign",
    "verify",
]

connector = Connector(
    "crypto",
    name="Crypto",
    description="Hash, sign, verify, encrypt and decrypt data; make keys, JWTs and secure "
    "random values.",
    category="Security",
    icon="lock",
)

# The handlers are plain functions in the private modules, registered here in one place so the
# actions keep one fixed order whatever order the modules are imported in.
connector.action("hash", input=HashParams, output=HashOutput)(hash_)
connector.action("hmac_sign", input=HmacParams, output=HmacSignOutput)(hmac_sign)
connector.action("hmac_verify", input=HmacVerifyParams, output=VerifyOutput)(hmac_verify)
connector.action("aes_encrypt", input=AesEncryptParams, output=AesEncryptOutput)(aes_encrypt)
connector.action("aes_decrypt", input=AesDecryptParams, output=AesDecryptOutput)(aes_decrypt)
connector.action("generate_key", input=GenerateKeyParams, output=GenerateKeyOutput)(generate_key)
connector.action("sign", input=SignParams, output=SignOutput)(sign)
connector.action("verify", input=VerifyParams, output=VerifyOutput)(verify)
connector.action("jwt_encode", input=JwtEncodeParams, output=JwtEncodeOutput)(jwt_encode)
connector.action("jwt_decode", input=JwtDecodeParams, output=JwtDecodeOutput)(jwt_decode)
connector.action("random", input=RandomParams, output=RandomOutput)(random)
connector.action("encode", input=EncodeParams, output=EncodeOutput)(encode)
connector.action("decode", input=DecodeParams, output=DecodeOutput)(decode)
