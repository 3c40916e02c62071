"""Redaction: secrets hidden in every form the redactor promises (echoed, JSON-escaped, base64 at
every alignment, hex, percent-encoded), with hostile secrets (regex metacharacters, overlapping,
many, huge texts), in JSON-like values without touching them, and in log records."""

from __future__ import annotations

import asyncio
import base64
import copy
import enum
import io
import json
import logging
import random
import re
import string
from typing import Any, Literal
from urllib.parse import quote, quote_plus, unquote, unquote_plus, urlencode

import pytest
from pydantic import BaseModel, RootModel, SecretStr

from flowforge.security.redaction import (
    MARKER,
    MIN_SECRET_LENGTH,
    RedactingFilter,
    Redactor,
    collect_secrets,
    current_redactor,
    redacting,
)

SECRET = "sk_live_4f9Xq2LmZ8"
# Quotes, backslashes, non-ASCII, URL and base64 specials, regex metacharacters.
NASTY = 'pa"ss\\wörd/+?&=%.*[x]'


def _b64_decodes_to(text: str, needle: bytes) -> bool:
    """Whether any piece of ``text`` between markers, read as base64 at any offset, holds
    ``needle``."""
    for piece in text.split(MARKER):
        for skip in range(4):
            chunk = piece[skip:]
            chunk = chunk[: len(chunk) - len(chunk) % 4]
            for decode in (base64.b64decode, base64.urlsafe_b64decode):
                try:
                    if needle in decode(chunk):
                        return True
                except ValueError:
                    pass
    return False


# -- plain text


def test_an_echoed_secret_is_replaced_everywhere() -> None:
    redactor = Redactor([SECRET])
    text = f"{SECRET} token={SECRET}; again:{SECRET}{SECRET}"
    out = redactor.redact_text(text)
    assert SECRET not in out
    assert out.startswith(f"{MARKER} token={MARKER}; again:")
    assert redactor.redact_text("nothing to see") == "nothing to see"


def test_regex_metacharacters_are_literal() -> None:
    secret = r".*+?[](){}|^$\d"
    redactor = Redactor([secret])
    assert redactor.redact_text("aaaa bbbb 1234") == "aaaa bbbb 1234"
    assert redactor.redact_text(f"x{secret}y") == f"x{MARKER}y"


def test_short_values_are_ignored_and_whitespace_is_stripped() -> None:
    assert not Redactor(["abc", "12345", "  ab  ", "", "\n\t      \n"])
    assert Redactor(["abcdef"])
    assert MIN_SECRET_LENGTH == 6
    assert Redactor(["admin"]).redact_text("admin user") == "admin user"
    # A value read from a file with its newline is found with and without it.
    redactor = Redactor([f"{SECRET}\n"])
    assert redactor.redact_text(f"key: {SECRET}.") == f"key: {MARKER}."
    assert redactor.redact_text(f"[{SECRET}\n]") == f"[{MARKER}]"
    assert Redactor(["abc"], min_length=3).redact_text("xabcx") == f"x{MARKER}x"


def test_secrets_must_be_strings() -> None:
    with pytest.raises(TypeError, match="int"):
        Redactor([12345678])  # type: ignore[list-item]


def test_the_repr_never_shows_a_secret() -> None:
    redactor = Redactor([SECRET])
    assert SECRET not in repr(redactor)
    assert SECRET not in str(redactor)


def test_a_custom_marker() -> None:
    assert Redactor([SECRET], marker="***").redact_text(f"a {SECRET} b") == "a *** b"


def test_the_empty_redactor_changes_nothing() -> None:
    redactor = Redactor([])
    assert not redactor
    assert redactor.redact_text(SECRET) == SECRET
    assert redactor.redact({"k": [SECRET]}) == {"k": [SECRET]}


# -- overlapping secrets


def test_a_secret_that_is_a_prefix_of_another() -> None:
    redactor = Redactor(["abcdefgh", "abcdefghijkl"])
    assert redactor.redact_text("xx abcdefghijkl yy") == f"xx {MARKER} yy"
    assert redactor.redact_text("xx abcdefgh yy") == f"xx {MARKER} yy"


def test_secrets_overlapping_in_the_text_are_covered_completely() -> None:
    redactor = Redactor(["11abcdef", "abcdef22"])
    assert redactor.redact_text("<11abcdef22>") == f"<{MARKER}>"
    inner = Redactor(["0123456789", "345678"])
    assert inner.redact_text("a0123456789b") == f"a{MARKER}b"


def test_a_periodic_secret_in_a_long_run_of_itself() -> None:
    redactor = Redactor(["aaaaaaaa"])
    assert redactor.redact_text("b" + "a" * 1_000_000 + "b") == f"b{MARKER}b"


# -- JSON


@pytest.mark.parametrize("ensure_ascii", [True, False])
@pytest.mark.parametrize("secret", [SECRET, NASTY, 'say "hi"\n', "C:\\temp\\key", "clé€😀secret"])
def test_json_embedding(secret: str, ensure_ascii: bool) -> None:
    redactor = Redactor([secret])
    document = json.dumps({"k": secret, "list": [f"Bearer {secret}"]}, ensure_ascii=ensure_ascii)
    out = redactor.redact_text(document)
    assert json.loads(out) == {"k": MARKER, "list": [f"Bearer {MARKER}"]}
    # A document serialized inside another's string: escaped twice.
    nested = json.dumps({"body": document}, ensure_ascii=ensure_ascii)
    redacted = json.loads(json.loads(redactor.redact_text(nested))["body"])
    assert redacted == {"k": MARKER, "list": [f"Bearer {MARKER}"]}


def test_repr_forms_as_exception_messages_print_them() -> None:
    redactor = Redactor([NASTY])
    message = str(KeyError(NASTY)) + " " + repr({"password": NASTY}) + " " + ascii([NASTY])
    out = redactor.redact_text(message)
    assert "wörd" not in out
    assert "w\\xf6rd" not in out
    assert out.count(MARKER) == 3


# -- base64


@pytest.mark.parametrize("secret", [SECRET, NASTY, "abcdef", "é" * 7])
def test_base64_inside_longer_data_at_every_alignment(secret: str) -> None:
    redactor = Redactor([secret])
    data = secret.encode()
    for before in range(6):
        for after in range(6):
            payload = b"\x00\xff-=!"[:before] + data + b"Z\x01~?\xfe"[:after]
            for encode in (base64.b64encode, base64.urlsafe_b64encode):
                encoded = encode(payload).decode()
                for text in (encoded, encoded.rstrip("=")):
                    out = redactor.redact_text(f"data:{text};")
                    assert MARKER in out, (before, after, text)
                    assert not _b64_decodes_to(out, data)
                    # At most the one shared character on each side survives.
                    kept = len(out) - len(MARKER) - len("data:;")
                    assert kept <= len(text) - 4 * len(data) // 3 + 2


@pytest.mark.parametrize("secret", [SECRET, NASTY, "abcdefg", "abcdefgh"])
def test_base64_of_the_secret_alone_is_replaced_whole(secret: str) -> None:
    redactor = Redactor([secret])
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encode(secret.encode()).decode()
        assert redactor.redact_text(encoded) == MARKER
        assert redactor.redact_text(encoded.rstrip("=")) == MARKER
        assert redactor.redact_text(f'{{"auth": "Basic {encoded}"}}') == (
            f'{{"auth": "Basic {MARKER}"}}'
        )


def test_base64_of_a_json_document_holding_the_secret() -> None:
    redactor = Redactor([NASTY])
    for prefix in ("", "x", "xy"):
        document = json.dumps({"pad": prefix, "password": NASTY}).encode()
        out = redactor.redact_text(base64.b64encode(document).decode())
        assert MARKER in out
        assert not _b64_decodes_to(out, NASTY.encode())
        assert not _b64_decodes_to(out, json.dumps(NASTY)[1:-1].encode())


def test_basic_auth_header_with_user_and_password() -> None:
    redactor = Redactor(["hunter22-password"])
    header = base64.b64encode(b"alice:hunter22-password").decode()
    out = redactor.redact_text(f"Authorization: Basic {header}")
    assert MARKER in out
    assert not _b64_decodes_to(out, b"hunter22-password")


# -- hex and percent-encoding


@pytest.mark.parametrize("secret", [SECRET, NASTY])
def test_hex_in_both_cases_inside_longer_hex(secret: str) -> None:
    redactor = Redactor([secret])
    raw = secret.encode().hex()
    for text in (f"deadbeef{raw}00ff", f"DEADBEEF{raw.upper()}00FF", raw):
        out = redactor.redact_text(text)
        assert MARKER in out
        assert raw not in out.lower()


@pytest.mark.parametrize("secret", [SECRET, NASTY, "a b/c+d&e=f~g'h(i)*!", "Ω≈ç√∫ tésting"])
def test_percent_encoding_every_way(secret: str) -> None:
    redactor = Redactor([secret])
    encodings = [
        urlencode({"token": secret, "next": "/home"}),
        quote(secret),
        quote(secret, safe=""),
        quote_plus(secret),
        quote(secret, safe="-_.!~*'()"),  # JavaScript's encodeURIComponent
    ]
    for text in encodings:
        out = redactor.redact_text(f"https://example.org/cb?{text}")
        assert MARKER in out
        assert secret not in unquote(out)
        assert secret not in unquote_plus(out)
    lower_hex = re.sub("%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(secret, safe=""))
    assert redactor.redact_text(f"?q={lower_hex}") == f"?q={MARKER}"


# -- many secrets, huge values


def _random_secret(rng: random.Random) -> str:
    alphabet = string.ascii_letters + string.digits + "+/=-_!$"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(8, 40)))


def test_a_thousand_secrets() -> None:
    rng = random.Random(5)
    secrets = [_random_secret(rng) for _ in range(1000)]
    redactor = Redactor(secrets)
    used = rng.sample(secrets, 50)
    filler = [" ".join(rng.choice(string.ascii_lowercase) * 3 for _ in range(5)) for _ in used]
    text = "|".join(
        f"{f} {s} {base64.b64encode(s.encode()).decode()}"
        for f, s in zip(filler, used, strict=True)
    )
    out = redactor.redact_text(text)
    for secret in used:
        assert secret not in out
    assert out.count(MARKER) == 100
    for f in filler:
        assert f in out


def test_a_ten_megabyte_string() -> None:
    redactor = Redactor([SECRET, NASTY])
    block = "lorem ipsum dolor sit amet " * 1000
    copies = 10_000_000 // len(block) + 2
    text = SECRET + block * (copies // 2) + json.dumps(NASTY) + block * (copies // 2) + SECRET
    assert len(text) > 10_000_000
    out = redactor.redact_text(text)
    assert SECRET not in out
    assert "wörd" not in out and "w\\u00f6rd" not in out
    assert out.count(MARKER) == 3
    assert len(out) == len(text) - 2 * len(SECRET) - len(json.dumps(NASTY)) + 2 + 3 * len(MARKER)
    assert redactor.redact_text(block * copies) == block * copies


def test_secrets_across_the_search_slices_of_a_long_text() -> None:
    redactor = Redactor([SECRET])
    for position in (2**18 - 5, 2**18 - len(SECRET), 2**18, 2 * 2**18 - 1):
        text = "x" * position + SECRET + "y" * 1000
        assert redactor.redact_text(text) == "x" * position + MARKER + "y" * 1000


def test_a_huge_secret() -> None:
    secret = "".join(random.Random(1).choice(string.ascii_letters) for _ in range(300_000))
    redactor = Redactor([secret])
    text = "a" * 500_000 + secret + base64.b64encode(secret.encode()).decode() + "z"
    assert redactor.redact_text(text) == "a" * 500_000 + MARKER + "z"


def test_lone_surrogates_in_text_and_secret() -> None:
    redactor = Redactor([SECRET, "bad\udc80secret"])
    data = b"\xff\xfe" + SECRET.encode()
    text = data.decode("utf-8", "surrogateescape")
    assert redactor.redact_text(text) == "\udcff\udcfe" + MARKER
    assert redactor.redact_text("x bad\udc80secret y") == f"x {MARKER} y"


# -- JSON-like values


def test_redact_reaches_keys_values_and_every_container() -> None:
    redactor = Redactor([SECRET])
    value = {
        SECRET: {"nested": [SECRET, (f"Bearer {SECRET}", 1)], "n": None, "ok": True},
        "bytes": SECRET.encode(),
        "bytearray": bytearray(b"x" + SECRET.encode()),
        "set": {SECRET},
        "frozen": frozenset({SECRET}),
        "float": 1.5,
    }
    out = redactor.redact(value)
    assert out == {
        MARKER: {"nested": [MARKER, (f"Bearer {MARKER}", 1)], "n": None, "ok": True},
        "bytes": MARKER.encode(),
        "bytearray": bytearray(b"x" + MARKER.encode()),
        "set": {MARKER},
        "frozen": frozenset({MARKER}),
        "float": 1.5,
    }
    assert isinstance(out["bytearray"], bytearray)
    assert SECRET not in json.dumps(redactor.redact(json.loads(json.dumps({SECRET: [SECRET]}))))


def test_redact_never_mutates_its_input() -> None:
    redactor = Redactor([SECRET])
    value: dict[str, Any] = {
        "a": [SECRET, {"b": SECRET}],
        SECRET: {SECRET},
        "c": bytearray(SECRET.encode()),
    }
    before = copy.deepcopy(value)
    out = redactor.redact(value)
    assert value == before
    assert out is not value
    assert out["a"] is not value["a"]
    assert out["a"][1] is not value["a"][1]
    # Even without secrets, a new structure comes back.
    empty = Redactor([]).redact(value)
    assert empty == value
    assert empty is not value
    assert empty["a"] is not value["a"]


def test_numbers_holding_a_numeric_secret() -> None:
    redactor = Redactor(["12345678"])
    assert redactor.redact({"pin": 12345678, "other": 42, "flag": True, "f": 9123456789.5}) == {
        "pin": MARKER,
        "other": 42,
        "flag": True,
        "f": f"9{MARKER}9.5",
    }


def test_other_objects_come_back_unchanged() -> None:
    class Opaque:
        pass

    thing = Opaque()
    assert Redactor([SECRET]).redact([thing])[0] is thing


def test_a_value_that_contains_itself() -> None:
    looped: list[object] = [SECRET]
    looped.append(looped)
    with pytest.raises(ValueError, match="contains itself"):
        Redactor([SECRET]).redact(looped)
    shared = [SECRET]
    assert Redactor([SECRET]).redact([shared, shared]) == [[MARKER], [MARKER]]


def test_collect_secrets_from_a_credential() -> None:
    credential = {"api_key": SECRET, "oauth": {"tokens": ["tok-1234567", 99887766]}, "on": True}
    assert collect_secrets(credential) == {SECRET, "tok-1234567", "99887766"}
    assert "api_key" not in collect_secrets(credential)


# -- the current context and log records


@pytest.fixture
def log() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter())
    # A logger outside the registry: nothing else (pytest's capture included) sees its records.
    logger = logging.Logger("flowforge.test.redaction", logging.DEBUG)
    logger.addHandler(handler)
    return logger, stream


def test_context_sets_and_restores_the_redactor() -> None:
    assert not current_redactor()
    with redacting([SECRET]) as outer:
        assert current_redactor() is outer
        with redacting(["another-secret"]) as inner:
            assert inner.redact_text(f"{SECRET} another-secret") == f"{MARKER} {MARKER}"
        assert current_redactor() is outer
        assert outer.redact_text("another-secret") == "another-secret"
    assert not current_redactor()


def test_the_filter_redacts_percent_args(log: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = log
    with redacting([SECRET]):
        logger.info("token %s used by %r", SECRET, {"key": SECRET})
        logger.info("split %s%s", SECRET[:6], SECRET[6:])
        logger.info("%(who)s has %(key)s", {"who": "alice", "key": SECRET})
    logger.info("outside %s", SECRET)
    lines = stream.getvalue().splitlines()
    assert lines[0] == f"INFO token {MARKER} used by {{'key': '{MARKER}'}}"
    assert lines[1] == f"INFO split {MARKER}"
    assert lines[2] == f"INFO alice has {MARKER}"
    assert lines[3] == f"INFO outside {SECRET}"  # no run, no secrets


def test_the_filter_redacts_exceptions_and_stack(log: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = log
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keeper = Keep()
    keeper.addFilter(RedactingFilter())
    logger.addHandler(keeper)
    try:
        with redacting([NASTY]):
            try:
                raise ValueError(f"login failed for {NASTY!r}")
            except ValueError:
                logger.exception("while calling %s", base64.b64encode(NASTY.encode()).decode())
            logger.warning("here", stack_info=True, extra={"body": {"password": NASTY}})
    finally:
        logger.removeHandler(keeper)
    out = stream.getvalue()
    assert "ValueError: login failed for" in out
    assert "wörd" not in out
    assert "w\\xf6rd" not in out
    assert out.count(MARKER) >= 2
    assert records[0].exc_info is None
    assert records[0].exc_text is not None and MARKER in records[0].exc_text
    assert records[1].body == {"password": MARKER}  # type: ignore[attr-defined]
    assert records[1].stack_info is not None


def test_the_filter_redacts_args_that_do_not_fit(
    log: tuple[logging.Logger, io.StringIO], capsys: pytest.CaptureFixture[str]
) -> None:
    logger, _ = log
    with redacting([SECRET]):
        logger.info("two %s %s", SECRET)  # logging reports the bad call on stderr
    err = capsys.readouterr().err
    assert "--- Logging error ---" in err
    assert SECRET not in err
    assert MARKER in err


def test_a_filter_with_its_own_redactor() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "k=%s", (SECRET,), None)
    assert RedactingFilter(redactor=Redactor([SECRET])).filter(record)
    assert record.getMessage() == f"k={MARKER}"


async def test_concurrent_tasks_see_their_own_secrets() -> None:
    async def run(mine: str, theirs: str) -> str:
        with redacting([mine]):
            await asyncio.sleep(0.01)
            return current_redactor().redact_text(f"{mine} {theirs}")

    one, two = await asyncio.gather(
        run("first-secret", "second-secret"), run("second-secret", "first-secret")
    )
    assert one == f"{MARKER} second-secret"
    assert two == f"{MARKER} first-secret"
    assert not current_redactor()


def test_a_validated_credential_gives_its_values_but_not_its_choices() -> None:
    class Kind(enum.Enum):
        HEADER = "header-mode"

    class ApiKey(BaseModel):
        type: Literal["api_key_type"] = "api_key_type"
        kind: Kind = Kind.HEADER
        header: str
        value: SecretStr
        extra: dict[str, Any] = {}

    class Credential(RootModel[ApiKey]):
        pass

    credential = Credential(
        ApiKey(header="X-Api-Key", value=SecretStr("s3cr3t-value"), extra={"pin": 123456})
    )
    assert collect_secrets(credential) == {"X-Api-Key", "s3cr3t-value", "123456"}
