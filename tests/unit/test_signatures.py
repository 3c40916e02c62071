"""Signature login: SIWE (EIP-4361) and plain ECDSA challenges, their strict parsing, and every
way a hostile client may try to get past them (replays, other domains, chains, keys and
accounts, stale or future messages, altered and malformed messages)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st

from flowforge.security.signatures import (
    MAX_MESSAGE_CHARS,
    Challenge,
    MemoryChallengeStore,
    SignatureError,
    SignatureLogin,
    SignInMessage,
    TooManyChallenges,
    account_id,
)

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

DOMAIN = "flowforge.example"
URI = "https://flowforge.example/login"
CHAIN = 1
START = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

# The example of EIP-4361 itself, byte for byte.
SPEC_EXAMPLE = (
    "service.org wants you to sign in with your Ethereum account:\n"
    "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2\n"
    "\n"
    "I accept the ServiceOrg Terms of Service: https://service.org/tos\n"
    "\n"
    "URI: https://service.org/login\n"
    "Version: 1\n"
    "Chain ID: 1\n"
    "Nonce: 32891757\n"
    "Issued At: 2021-09-30T16:25:24.000Z\n"
    "Resources:\n"
    "- ipfs://Qme7ss3ARVgxv6rXqVPiikMJ8u2NLgmgszg13pYrDKEoiu\n"
    "- https://example.com/my-web2-claim.json"
)


class Clock:
    """A settable clock."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store() -> MemoryChallengeStore:
    return MemoryChallengeStore()


@pytest.fixture
def login(store: MemoryChallengeStore, clock: Clock) -> SignatureLogin:
    return SignatureLogin(DOMAIN, URI, CHAIN, store, clock=clock)


@pytest.fixture
def wallet() -> LocalAccount:
    return new_wallet()


# eth-account is imported here only through the module under test, which keeps the
# interpreter's recursion limit as it was (see test_importing_keeps_the_recursion_limit).
def new_wallet() -> LocalAccount:
    """A fresh Ethereum key pair."""
    from eth_account import Account

    account: LocalAccount = Account.create()
    return account


def siwe_sign(wallet: LocalAccount, text: str) -> bytes:
    """The EIP-191 personal_sign signature of text, as a wallet makes it."""
    from eth_account import Account
    from eth_account.messages import encode_defunct

    return bytes(Account.sign_message(encode_defunct(text=text), wallet.key).signature)


def ecdsa_sign(key: ec.EllipticCurvePrivateKey, text: str) -> bytes:
    return key.sign(text.encode(), ec.ECDSA(hashes.SHA256()))


def raw(der: bytes) -> bytes:
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def refused(reason: str, login: SignatureLogin, account: object, text: str, sig: object) -> str:
    with pytest.raises(SignatureError) as caught:
        login.verify(account, text, sig)  # type: ignore[arg-type]
    assert caught.value.reason == reason, str(caught.value)
    return str(caught.value)


def client_message(challenge: Challenge, **changes: object) -> str:
    """The message a client would build around the challenge's nonce, with changes."""
    fields = SignInMessage.parse(challenge.message)
    return dataclasses.replace(fields, **changes).text()  # type: ignore[arg-type]


# -- SIWE


def test_siwe_login_with_the_issued_message(
    login: SignatureLogin, wallet: LocalAccount, store: MemoryChallengeStore
) -> None:
    challenge = login.issue(wallet.address)
    assert challenge.kind == "siwe"
    assert challenge.account == wallet.address
    assert challenge.chain_id == CHAIN
    assert challenge.expires_at - challenge.issued_at == timedelta(minutes=5)
    lines = challenge.message.split("\n")
    assert lines[0] == f"{DOMAIN} wants you to sign in with your Ethereum account:"
    assert lines[1] == wallet.address
    assert f"Nonce: {challenge.nonce}" in lines
    assert "Chain ID: 1" in lines
    assert "Issued At: 2026-05-01T12:00:00Z" in lines
    assert "Expiration Time: 2026-05-01T12:05:00Z" in lines
    assert len(store) == 1
    signature = siwe_sign(wallet, challenge.message)
    assert login.verify(wallet.address, challenge.message, signature) == wallet.address
    assert len(store) == 0


def test_siwe_signature_as_hex_and_lower_case_address(
    login: SignatureLogin, wallet: LocalAccount
) -> None:
    challenge = login.issue(wallet.address.lower())
    assert challenge.account == wallet.address  # checksummed
    signature = "0x" + siwe_sign(wallet, challenge.message).hex()
    assert login.verify(wallet.address.lower(), challenge.message, signature) == wallet.address


def test_siwe_client_built_message_around_the_nonce(
    login: SignatureLogin, wallet: LocalAccount
) -> None:
    challenge = login.issue(wallet.address)
    text = client_message(
        challenge,
        statement="Log me in please.",
        scheme="https",
        request_id="req-42",
        resources=("https://flowforge.example/api",),
        expiration_time=None,
    )
    assert text.startswith(f"https://{DOMAIN} wants you")
    assert login.verify(wallet.address, text, siwe_sign(wallet, text)) == wallet.address


def test_siwe_replay_is_refused(login: SignatureLogin, wallet: LocalAccount) -> None:
    challenge = login.issue(wallet.address)
    signature = siwe_sign(wallet, challenge.message)
    login.verify(wallet.address, challenge.message, signature)
    refused("unknown_nonce", login, wallet.address, challenge.message, signature)


def test_failed_attempt_consumes_the_nonce(login: SignatureLogin, wallet: LocalAccount) -> None:
    challenge = login.issue(wallet.address)
    other = new_wallet()
    refused(
        "bad_signature",
        login,
        wallet.address,
        challenge.message,
        siwe_sign(other, challenge.message),
    )
    # The right signature now comes too late: the attempt above used the challenge.
    good = siwe_sign(wallet, challenge.message)
    refused("unknown_nonce", login, wallet.address, challenge.message, good)


def test_nonce_never_issued(login: SignatureLogin, wallet: LocalAccount) -> None:
    challenge = login.issue(wallet.address)
    text = client_message(challenge, nonce="a" * 32)
    refused("unknown_nonce", login, wallet.address, text, siwe_sign(wallet, text))


def test_siwe_expired(login: SignatureLogin, wallet: LocalAccount, clock: Clock) -> None:
    challenge = login.issue(wallet.address)
    signature = siwe_sign(wallet, challenge.message)
    clock.advance(timedelta(minutes=5))
    refused("expired", login, wallet.address, challenge.message, signature)


def test_siwe_just_before_expiry(login: SignatureLogin, wallet: LocalAccount, clock: Clock) -> None:
    challenge = login.issue(wallet.address)
    clock.advance(timedelta(minutes=4, seconds=59))
    assert login.verify(wallet.address, challenge.message, siwe_sign(wallet, challenge.message))


def test_siwe_message_expiration_time_is_honoured(
    login: SignatureLogin, wallet: LocalAccount, clock: Clock
) -> None:
    challenge = login.issue(wallet.address)
    text = client_message(challenge, expiration_time=START + timedelta(seconds=10))
    clock.advance(timedelta(seconds=10))
    refused("expired", login, wallet.address, text, siwe_sign(wallet, text))


def test_siwe_not_before_in_the_future(login: SignatureLogin, wallet: LocalAccount) -> None:
    challenge = login.issue(wallet.address)
    text = client_message(challenge, not_before=START + timedelta(minutes=2))
    refused("not_yet_valid", login, wallet.address, text, siwe_sign(wallet, text))


def test_siwe_not_before_within_leeway_and_past(
    login: SignatureLogin, wallet: LocalAccount
) -> None:
    challenge = login.issue(wallet.address)
    text = client_message(challenge, not_before=START + timedelta(seconds=20))
    assert login.verify(wallet.address, text, siwe_sign(wallet, text)) == wallet.address
    challenge = login.issue(wallet.address)
    text = client_message(challenge, not_before=START - timedelta(minutes=1))
    assert login.verify(wallet.address, text, siwe_sign(wallet, text)) == wallet.address


def test_siwe_issued_in_the_future(login: SignatureLogin, wallet: LocalAccount) -> None:
    challenge = login.issue(wallet.address)
    text = client_message(challenge, issued_at=START + timedelta(minutes=3))
    refused("not_yet_valid", login, wallet.address, text, siwe_sign(wallet, text))


def test_siwe_wrong_domain(login: SignatureLogin, wallet: LocalAccount) -> None:
    # A phishing site relays the server's nonce in a message naming itself.
    challenge = login.issue(wallet.address)
    evil = "flowforge-example-" + "x" * 40 + ".evil.test"
    text = client_message(challenge, domain=evil)
    message = refused("wrong_domain", login, wallet.address, text, siwe_sign(wallet, text))
    assert evil[:20] in message
    assert evil not in message  # quoted only truncated


def test_siwe_wrong_scheme_is_wrong_domain(login: SignatureLogin, wallet: LocalAccount) -> None:
    challenge = login.issue(wallet.address)
    text = client_message(challenge, scheme="http")
    refused("wrong_domain", login, wallet.address, text, siwe_sign(wallet, text))


def test_siwe_domain_compares_without_case(login: SignatureLogin, wallet: LocalAccount) -> None:
    challenge = login.issue(wallet.address)
    text = client_message(challenge, domain="FlowForge.Example")
    assert login.verify(wallet.address, text, siwe_sign(wallet, text)) == wallet.address


def test_challenge_from_another_domain_sharing_the_store(
    store: MemoryChallengeStore, clock: Clock, wallet: LocalAccount
) -> None:
    other = SignatureLogin("other.example", "https://other.example/", CHAIN, store, clock=clock)
    ours = SignatureLogin(DOMAIN, URI, CHAIN, store, clock=clock)
    challenge = other.issue(wallet.address)
    text = client_message(challenge, domain=DOMAIN, uri=URI)
    refused("wrong_domain", ours, wallet.address, text, siwe_sign(wallet, text))


def test_siwe_wrong_uri(login: SignatureLogin, wallet: LocalAccount) -> None:
    challenge = login.issue(wallet.address)
    text = client_message(challenge, uri="https://evil.test/login")
    refused("wrong_uri", login, wallet.address, text, siwe_sign(wallet, text))


def test_siwe_wrong_chain_id(login: SignatureLogin, wallet: LocalAccount) -> None:
    challenge = login.issue(wallet.address)
    text = client_message(challenge, chain_id=137)
    message = refused("wrong_chain_id", login, wallet.address, text, siwe_sign(wallet, text))
    assert "137" in message and "1" in message


def test_challenge_issued_for_another_chain_sharing_the_store(
    store: MemoryChallengeStore, clock: Clock, wallet: LocalAccount
) -> None:
    polygon = SignatureLogin(DOMAIN, URI, 137, store, clock=clock)
    mainnet = SignatureLogin(DOMAIN, URI, 1, store, clock=clock)
    challenge = polygon.issue(wallet.address)
    text = client_message(challenge, chain_id=1)
    refused("wrong_chain_id", mainnet, wallet.address, text, siwe_sign(wallet, text))


def test_siwe_message_altered_after_signing(login: SignatureLogin, wallet: LocalAccount) -> None:
    challenge = login.issue(wallet.address)
    signature = siwe_sign(wallet, challenge.message)
    altered = challenge.message.replace("Sign in to FlowForge.", "Sign in to FlowForge!")
    assert altered != challenge.message
    refused("bad_signature", login, wallet.address, altered, signature)


def test_siwe_signature_from_another_key(login: SignatureLogin, wallet: LocalAccount) -> None:
    challenge = login.issue(wallet.address)
    thief = new_wallet()
    refused(
        "bad_signature",
        login,
        wallet.address,
        challenge.message,
        siwe_sign(thief, challenge.message),
    )


def test_siwe_message_naming_another_address(login: SignatureLogin, wallet: LocalAccount) -> None:
    # The attacker asks a challenge for the victim, puts their own address in and signs it.
    challenge = login.issue(wallet.address)
    thief = new_wallet()
    text = client_message(challenge, account=thief.address)
    refused("wrong_account", login, wallet.address, text, siwe_sign(thief, text))


def test_challenge_for_one_account_cannot_serve_another(login: SignatureLogin) -> None:
    victim, thief = new_wallet(), new_wallet()
    challenge = login.issue(victim.address)
    text = client_message(challenge, account=thief.address)
    refused("wrong_account", login, thief.address, text, siwe_sign(thief, text))


@pytest.mark.parametrize(
    "signature",
    [
        b"",
        b"\x00" * 65,
        b"\xff" * 65,
        b"\x01" * 64 + b"\x05",  # v out of range
        bytes(32) + (1).to_bytes(32, "big") + b"\x1b",  # r = 0
        (1).to_bytes(32, "big") + bytes(32) + b"\x1c",  # s = 0
        SECP256K1_N.to_bytes(32, "big") + (1).to_bytes(32, "big") + b"\x1b",  # r = n
        b"\x01" * 64,  # EIP-2098 compact: not accepted
        "0xzz",
        "12 34",
        "0x" + "ab" * 500,
        b"\x01" * 5000,
        12345,
    ],
)
def test_siwe_bad_signatures(
    login: SignatureLogin, wallet: LocalAccount, signature: object
) -> None:
    challenge = login.issue(wallet.address)
    with pytest.raises(SignatureError) as caught:
        login.verify(wallet.address, challenge.message, signature)  # type: ignore[arg-type]
    assert caught.value.reason in {"bad_signature", "malformed_signature"}
    assert len(str(caught.value)) < 120


def test_siwe_account_that_is_not_an_account(login: SignatureLogin, wallet: LocalAccount) -> None:
    challenge = login.issue(wallet.address)
    signature = siwe_sign(wallet, challenge.message)
    message = refused("bad_account", login, "x" * 10_000, challenge.message, signature)
    assert len(message) < 200


def test_concurrent_verifications_of_one_challenge_succeed_once(
    login: SignatureLogin, wallet: LocalAccount
) -> None:
    challenge = login.issue(wallet.address)
    signature = siwe_sign(wallet, challenge.message)
    outcomes: list[str] = []
    barrier = threading.Barrier(12)

    def attempt() -> None:
        barrier.wait()
        try:
            outcomes.append(login.verify(wallet.address, challenge.message, signature))
        except SignatureError as error:
            outcomes.append(error.reason)

    threads = [threading.Thread(target=attempt) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count(wallet.address) == 1
    assert outcomes.count("unknown_nonce") == 11


# -- strict parsing


def test_spec_example_parses_and_rebuilds_byte_for_byte() -> None:
    fields = SignInMessage.parse(SPEC_EXAMPLE)
    assert fields.domain == "service.org"
    assert fields.account == "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"
    assert fields.statement == "I accept the ServiceOrg Terms of Service: https://service.org/tos"
    assert fields.chain_id == 1
    assert fields.nonce == "32891757"
    assert fields.issued_at == datetime(2021, 9, 30, 16, 25, 24, tzinfo=UTC)
    assert fields.resources == (
        "ipfs://Qme7ss3ARVgxv6rXqVPiikMJ8u2NLgmgszg13pYrDKEoiu",
        "https://example.com/my-web2-claim.json",
    )
    assert fields.kind == "siwe"
    assert fields.text() == SPEC_EXAMPLE.replace("24.000Z", "24Z")


def test_message_without_statement_has_two_blank_lines() -> None:
    fields = dataclasses.replace(SignInMessage.parse(SPEC_EXAMPLE), statement=None)
    text = fields.text()
    assert "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2\n\n\nURI: " in text
    assert SignInMessage.parse(text) == fields


def test_all_optional_fields_round_trip() -> None:
    fields = dataclasses.replace(
        SignInMessage.parse(SPEC_EXAMPLE),
        scheme="https",
        expiration_time=datetime(2021, 10, 1, 0, 0, 0, 123456, tzinfo=UTC),
        not_before=datetime(2021, 9, 30, 18, 25, 24, tzinfo=UTC).astimezone(
            datetime.now().astimezone().tzinfo
        ),
        request_id="abc%20def",
    )
    assert SignInMessage.parse(fields.text()) == fields


def mutate(old: str, new: str) -> str:
    assert old in SPEC_EXAMPLE
    return SPEC_EXAMPLE.replace(old, new, 1)


MALFORMED = {
    "empty": "",
    "header only": SPEC_EXAMPLE.split("\n")[0],
    "no nonce line": mutate("Nonce: 32891757\n", ""),
    "no issued at": mutate("Issued At: 2021-09-30T16:25:24.000Z\n", ""),
    "no uri": mutate("URI: https://service.org/login\n", ""),
    "no version": mutate("Version: 1\n", ""),
    "no chain id": mutate("Chain ID: 1\n", ""),
    "version 2": mutate("Version: 1", "Version: 2"),
    "chain id with leading zero": mutate("Chain ID: 1", "Chain ID: 01"),
    "chain id zero": mutate("Chain ID: 1", "Chain ID: 0"),
    "chain id negative": mutate("Chain ID: 1", "Chain ID: -1"),
    "short nonce": mutate("Nonce: 32891757", "Nonce: 1234567"),
    "nonce with symbols": mutate("Nonce: 32891757", "Nonce: 3289-1757"),
    "fields out of order": mutate("Version: 1\nChain ID: 1", "Chain ID: 1\nVersion: 1"),
    "duplicate field": mutate("Nonce: 32891757\n", "Nonce: 32891757\nNonce: 32891758\n"),
    "crlf line ends": SPEC_EXAMPLE.replace("\n", "\r\n"),
    "trailing newline": SPEC_EXAMPLE + "\n",
    "trailing junk": SPEC_EXAMPLE + "\nBy the way: hello",
    "lower-case address": mutate(
        "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
    ),
    "bad checksum": mutate(
        "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756CC2"
    ),
    "short address": mutate("0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", "0xC02aaA39"),
    "missing blank line": mutate("Cc2\n\nI accept", "Cc2\nI accept"),
    "old no-statement layout": mutate(
        "\nI accept the ServiceOrg Terms of Service: https://service.org/tos\n", ""
    ),
    "statement with a tab": mutate("I accept", "I\taccept"),
    "statement with percent": mutate("I accept", "100% I accept"),
    "non-ascii statement": mutate("I accept", "I accépt"),
    "nul byte": mutate("I accept", "I\x00accept"),
    "userinfo in domain": mutate("service.org wants", "evil@service.org wants"),
    "space in domain": mutate("service.org wants", "service .org wants"),
    "bad header": mutate("wants you to sign in", "would like you to sign in"),
    "bad time": mutate("2021-09-30T16:25:24.000Z", "2021-09-30 16:25:24Z"),
    "impossible date": mutate("2021-09-30T16:25:24.000Z", "2021-02-30T16:25:24Z"),
    "time without zone": mutate("2021-09-30T16:25:24.000Z", "2021-09-30T16:25:24"),
    "unicode digits in time": mutate("2021-09-30", "٢٠٢١-09-30"),
    "resource not a uri": mutate("- https://example.com", "- not a uri"),
    "uri with space": mutate("URI: https://service.org/login", "URI: https://service.org/log in"),
    "empty uri": mutate("URI: https://service.org/login", "URI: "),
    "key header with address": mutate("Ethereum account", "P-256 key"),
}


@pytest.mark.parametrize("text", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_messages_are_refused(text: str) -> None:
    with pytest.raises(SignatureError) as caught:
        SignInMessage.parse(text)
    assert caught.value.reason == "malformed_message"
    assert len(str(caught.value)) < 200


def test_malformed_message_to_verify_does_not_touch_the_store(
    login: SignatureLogin, wallet: LocalAccount, store: MemoryChallengeStore
) -> None:
    challenge = login.issue(wallet.address)
    broken = challenge.message.replace("Version: 1", "Version: one")
    refused("malformed_message", login, wallet.address, broken, siwe_sign(wallet, broken))
    assert len(store) == 1


@pytest.mark.parametrize("size", [MAX_MESSAGE_CHARS + 1, 10_000_000])
def test_huge_messages_are_refused_without_echo(login: SignatureLogin, size: int) -> None:
    payload = ("<script>" * (size // 8 + 1))[:size]
    message = refused("malformed_message", login, "0x" + "ab" * 20, payload, b"\x00" * 65)
    assert "<script>" not in message
    assert len(message) < 120


def test_huge_statement_line_is_refused(wallet: LocalAccount) -> None:
    text = SPEC_EXAMPLE.replace("I accept", "I accept" * 2000)
    with pytest.raises(SignatureError) as caught:
        SignInMessage.parse(text)
    assert "I accept" not in str(caught.value)


def test_error_names_the_line() -> None:
    with pytest.raises(SignatureError, match="line 9"):
        SignInMessage.parse(mutate("Nonce: 32891757", "Nonce: x"))
    with pytest.raises(SignatureError, match=r"line 4: .*two empty lines precede 'URI:'"):
        SignInMessage.parse(MALFORMED["old no-statement layout"])


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=600))
def test_arbitrary_text_is_parsed_or_refused_cleanly(text: str) -> None:
    assert outcome(text) in {"parsed", "malformed_message"}


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=len(SPEC_EXAMPLE) - 1), st.characters())
def test_one_character_changed_is_parsed_or_refused_cleanly(at: int, char: str) -> None:
    text = SPEC_EXAMPLE[:at] + char + SPEC_EXAMPLE[at + 1 :]
    assert outcome(text) in {"parsed", "malformed_message"}


def outcome(text: str) -> str:
    """``parsed`` (and the text rebuilt from the fields parses alike), or the refusal reason."""
    try:
        fields = SignInMessage.parse(text)
    except SignatureError as error:
        return error.reason
    assert SignInMessage.parse(fields.text()) == fields
    return "parsed"


def test_building_invalid_messages_is_refused() -> None:
    good = SignInMessage.parse(SPEC_EXAMPLE)
    with pytest.raises(ValueError, match="chain id"):
        dataclasses.replace(good, chain_id=None)
    with pytest.raises(ValueError, match="statement"):
        dataclasses.replace(good, statement="two\nlines")
    with pytest.raises(ValueError, match="timezone"):
        dataclasses.replace(good, issued_at=datetime(2021, 1, 1))
    with pytest.raises(ValueError, match="checksummed"):
        dataclasses.replace(good, account=good.account.lower())


# -- plain ECDSA


CURVES = {"p256": ec.SECP256R1(), "secp256k1": ec.SECP256K1()}


@pytest.fixture(params=sorted(CURVES))
def key(request: pytest.FixtureRequest) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(CURVES[request.param])


@pytest.mark.parametrize("form", ["der", "raw", "der-hex", "raw-hex"])
def test_ecdsa_login(login: SignatureLogin, key: ec.EllipticCurvePrivateKey, form: str) -> None:
    public = key.public_key()
    challenge = login.issue(public)
    assert challenge.kind == "ecdsa"
    assert challenge.chain_id is None
    curve = challenge.account.partition(":")[0]
    words = "P-256 key" if curve == "p256" else "secp256k1 key"
    assert challenge.message.split("\n")[:2] == [
        f"{DOMAIN} wants you to sign in with your {words}:",
        challenge.account,
    ]
    assert "Chain ID" not in challenge.message
    der = ecdsa_sign(key, challenge.message)
    forms: dict[str, bytes | str] = {
        "der": der,
        "raw": raw(der),
        "der-hex": der.hex(),
        "raw-hex": "0x" + raw(der).hex(),
    }
    assert login.verify(public, challenge.message, forms[form]) == challenge.account


def test_ecdsa_accepts_every_spelling_of_the_key(
    login: SignatureLogin, key: ec.EllipticCurvePrivateKey
) -> None:
    public = key.public_key()
    canonical = account_id(public)
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    uncompressed = public.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    ).hex()
    prefix = canonical.partition(":")[0]
    for spelling in (pem, der, f"{prefix}:{uncompressed}", canonical):
        assert account_id(spelling) == canonical
        challenge = login.issue(spelling)
        signature = ecdsa_sign(key, challenge.message)
        assert login.verify(spelling, challenge.message, signature) == canonical


def test_ecdsa_replay(login: SignatureLogin, key: ec.EllipticCurvePrivateKey) -> None:
    public = key.public_key()
    challenge = login.issue(public)
    signature = ecdsa_sign(key, challenge.message)
    login.verify(public, challenge.message, signature)
    refused("unknown_nonce", login, public, challenge.message, signature)
    refused("unknown_nonce", login, public, challenge.message, raw(signature))


def test_ecdsa_signature_from_another_key(
    login: SignatureLogin, key: ec.EllipticCurvePrivateKey
) -> None:
    public = key.public_key()
    thief = ec.generate_private_key(key.curve)
    challenge = login.issue(public)
    refused("bad_signature", login, public, challenge.message, ecdsa_sign(thief, challenge.message))
    challenge = login.issue(public)
    refused(
        "bad_signature", login, public, challenge.message, raw(ecdsa_sign(thief, challenge.message))
    )


def test_ecdsa_signature_over_other_bytes(
    login: SignatureLogin, key: ec.EllipticCurvePrivateKey
) -> None:
    public = key.public_key()
    challenge = login.issue(public)
    prehashed = key.sign(challenge.message.encode(), ec.ECDSA(hashes.SHA384()))
    refused("bad_signature", login, public, challenge.message, prehashed)


def test_ecdsa_flipped_bit(login: SignatureLogin, key: ec.EllipticCurvePrivateKey) -> None:
    public = key.public_key()
    challenge = login.issue(public)
    signature = bytearray(raw(ecdsa_sign(key, challenge.message)))
    signature[40] ^= 0x01
    refused("bad_signature", login, public, challenge.message, bytes(signature))


def test_ecdsa_message_altered_after_signing(
    login: SignatureLogin, key: ec.EllipticCurvePrivateKey
) -> None:
    public = key.public_key()
    challenge = login.issue(public)
    signature = ecdsa_sign(key, challenge.message)
    altered = challenge.message.replace("Sign in to FlowForge.", "Sign in to FlowForge!")
    refused("message_mismatch", login, public, altered, signature)


def test_ecdsa_client_cannot_rewrite_the_message(
    login: SignatureLogin, key: ec.EllipticCurvePrivateKey
) -> None:
    # Even signed by the right key, only the issued text counts (here: a later expiry).
    public = key.public_key()
    challenge = login.issue(public)
    text = client_message(challenge, expiration_time=START + timedelta(days=365))
    refused("message_mismatch", login, public, text, ecdsa_sign(key, text))


def test_ecdsa_expired(
    login: SignatureLogin, key: ec.EllipticCurvePrivateKey, clock: Clock
) -> None:
    public = key.public_key()
    challenge = login.issue(public)
    signature = ecdsa_sign(key, challenge.message)
    clock.advance(timedelta(minutes=6))
    refused("expired", login, public, challenge.message, signature)


def test_ecdsa_challenge_for_another_key(
    login: SignatureLogin, key: ec.EllipticCurvePrivateKey
) -> None:
    victim = key.public_key()
    thief = ec.generate_private_key(key.curve)
    challenge = login.issue(victim)
    refused(
        "wrong_account", login, thief.public_key(), challenge.message,
        ecdsa_sign(thief, challenge.message),
    )  # fmt: skip


def test_ecdsa_wrong_domain_from_a_shared_store(
    store: MemoryChallengeStore, clock: Clock, key: ec.EllipticCurvePrivateKey
) -> None:
    other = SignatureLogin("other.example", URI, CHAIN, store, clock=clock)
    ours = SignatureLogin(DOMAIN, URI, CHAIN, store, clock=clock)
    public = key.public_key()
    challenge = other.issue(public)
    refused("wrong_domain", ours, public, challenge.message, ecdsa_sign(key, challenge.message))


def test_ecdsa_key_cannot_answer_a_siwe_challenge(
    login: SignatureLogin, wallet: LocalAccount
) -> None:
    key = ec.generate_private_key(ec.SECP256K1())
    challenge = login.issue(wallet.address)
    refused("wrong_account", login, key.public_key(), challenge.message, b"\x00" * 64)


@pytest.mark.parametrize(
    "signature",
    [
        b"",
        b"\x30\x00",
        b"\x00" * 64,  # r = s = 0
        b"\x30\x06\x02\x01\x00\x02\x01\x01",  # r = 0 in DER
        b"\x01" * 63,
        b"\x01" * 65,
        b"\x01" * 5000,
        "not hex",
    ],
)
def test_ecdsa_malformed_signatures(
    login: SignatureLogin, key: ec.EllipticCurvePrivateKey, signature: object
) -> None:
    public = key.public_key()
    challenge = login.issue(public)
    refused("malformed_signature", login, public, challenge.message, signature)


def test_ecdsa_non_canonical_der_is_refused(
    login: SignatureLogin, key: ec.EllipticCurvePrivateKey
) -> None:
    public = key.public_key()
    challenge = login.issue(public)
    r, s = decode_dss_signature(ecdsa_sign(key, challenge.message))
    # BER: r with a needless leading zero byte
    rb = b"\x00" + r.to_bytes((r.bit_length() + 8) // 8, "big")
    sb = s.to_bytes((s.bit_length() + 8) // 8, "big")
    body = b"\x02" + bytes([len(rb)]) + rb + b"\x02" + bytes([len(sb)]) + sb
    padded = b"\x30" + bytes([len(body)]) + body
    refused("malformed_signature", login, public, challenge.message, padded)


def test_ecdsa_high_s_twin_verifies(login: SignatureLogin) -> None:
    # ECDSA signatures come in (r, s) and (r, n - s) pairs; either proves the key, and the
    # single-use nonce is what stops replays, not the signature's form.
    key = ec.generate_private_key(ec.SECP256R1())
    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    challenge = login.issue(key.public_key())
    r, s = decode_dss_signature(ecdsa_sign(key, challenge.message))
    twin = r.to_bytes(32, "big") + (n - s).to_bytes(32, "big")
    assert login.verify(key.public_key(), challenge.message, twin)


# -- accounts


def test_account_id_forms(wallet: LocalAccount) -> None:
    assert account_id(wallet.address.lower()) == wallet.address
    assert account_id(wallet.address.upper().replace("0X", "0x")) == wallet.address
    assert account_id(f"  {wallet.address}  ") == wallet.address


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("", "not an account"),
        ("0x1234", "not an account"),
        ("0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756CC2", "checksum"),
        ("p256:02" + "00" * 31, "not a point"),  # too short
        ("p256:05" + "11" * 32, "not a point"),  # not a SEC1 prefix
        ("p256:04" + "01" * 64, "not a point"),  # not on the curve
        ("p384:02" + "11" * 32, "not an account"),
        ("p256:0x02" + "11" * 32, "not an account"),
        ("-----BEGIN PUBLIC KEY-----\nnonsense\n-----END PUBLIC KEY-----\n", "not a readable"),
        (b"\x30\x00", "not a readable"),
        ("a" * 100_000, "too long"),
    ],
)
def test_account_id_refuses(bad: str | bytes, why: str) -> None:
    with pytest.raises(ValueError, match=why) as caught:
        account_id(bad)
    assert len(str(caught.value)) < 200


def test_account_id_refuses_other_key_types() -> None:
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    with pytest.raises(ValueError, match="secp384r1"):
        account_id(p384)
    pem = p384.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    with pytest.raises(ValueError, match="not accepted"):
        account_id(pem)


def test_issue_refuses_the_wrong_kind(login: SignatureLogin, wallet: LocalAccount) -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(ValueError, match="siwe"):
        login.issue(wallet.address, "ecdsa")
    with pytest.raises(ValueError, match="ecdsa"):
        login.issue(key, "siwe")
    assert login.issue(key, "ecdsa").kind == "ecdsa"
    assert login.issue(wallet.address, "siwe").kind == "siwe"


def test_importing_keeps_the_recursion_limit() -> None:
    # eth-account's import of py_ecc raises the limit to 100000, with which deeply nested
    # input segfaults the process instead of raising RecursionError.
    code = (
        "import sys; before = sys.getrecursionlimit(); "
        "import flowforge.security.signatures; "
        "assert sys.getrecursionlimit() == before, sys.getrecursionlimit()"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# -- nonces and the store


def test_nonces_are_random_and_long(login: SignatureLogin, wallet: LocalAccount) -> None:
    nonces = {login.issue(wallet.address).nonce for _ in range(500)}
    assert len(nonces) == 500
    for nonce in nonces:
        assert len(nonce) * 4 >= 96
        assert nonce.isalnum() and nonce.isascii()


def test_store_is_bounded_and_drops_expired(
    clock: Clock, wallet: LocalAccount, store: MemoryChallengeStore
) -> None:
    small = MemoryChallengeStore(max_pending=3)
    login = SignatureLogin(DOMAIN, URI, CHAIN, small, clock=clock)
    for _ in range(3):
        login.issue(wallet.address)
    with pytest.raises(TooManyChallenges):
        login.issue(wallet.address)
    clock.advance(timedelta(minutes=5))
    login.issue(wallet.address)
    assert len(small) == 1


def test_store_purge_and_duplicates(
    login: SignatureLogin, wallet: LocalAccount, clock: Clock
) -> None:
    store = login.store
    assert isinstance(store, MemoryChallengeStore)
    first = login.issue(wallet.address)
    with pytest.raises(ValueError, match="held already"):
        store.add(first)
    clock.advance(timedelta(minutes=3))
    login.issue(wallet.address)
    assert store.purge(clock.now + timedelta(minutes=2, seconds=30)) == 1
    assert store.take(first.nonce) is None
    assert len(store) == 1


def test_constructor_validates() -> None:
    store = MemoryChallengeStore()
    with pytest.raises(ValueError, match="domain"):
        SignatureLogin("https://flowforge.example", URI, 1, store)
    with pytest.raises(ValueError, match="URI"):
        SignatureLogin(DOMAIN, "not a uri", 1, store)
    with pytest.raises(ValueError, match="chain_id"):
        SignatureLogin(DOMAIN, URI, 0, store)
    with pytest.raises(ValueError, match="ttl"):
        SignatureLogin(DOMAIN, URI, 1, store, ttl=timedelta(0))
    with pytest.raises(ValueError, match="max_pending"):
        MemoryChallengeStore(max_pending=0)
