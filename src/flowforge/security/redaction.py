"""Redaction: secret values replaced by a marker wherever FlowForge writes data down.

A run knows its secrets (the decrypted values of its nodes' credentials). Frames, log records,
error messages and API responses pass through a :class:`Redactor` built from them, which
replaces every occurrence of a secret with ``[REDACTED]``: in plain text, and in every string,
key and number of a JSON-like value (dicts, lists, tuples, sets, nested, bytes too).

What it finds, for each secret (and for the secret with surrounding whitespace stripped, since
values pasted from files often end in a newline):

- the secret itself, as a node echoing it would print it;
- its escaped forms inside a serialized string: JSON (``ensure_ascii`` on and off, once and
  twice, for a document serialized inside another's string) and Python ``repr``/``ascii``,
  as exception messages and pydantic errors print values;
- percent-encoding (``quote`` with and without ``/`` safe, ``quote_plus``, JavaScript's
  ``encodeURIComponent`` set; upper- and lower-case hex digits);
- hex of its UTF-8 bytes, lower and upper case;
- base64, standard and URL-safe, padded and unpadded, standing alone or inside a longer base64
  text. Inside a longer text the characters depend on where the secret falls in the 3-byte
  groups, so each of the three alignments is searched for: the characters that only the
  secret's bits determine. The escaped forms above are encoded too, so base64 or hex of a JSON
  document holding the secret is caught.

The rule on short values: a secret whose text, stripped of whitespace, is shorter than
``MIN_SECRET_LENGTH`` (6) characters is ignored. Redacting ``true``, ``admin`` or ``8080``
everywhere would mangle ordinary output, and a credential that short protects nothing anyway.

Limits, honestly: only contiguous occurrences of those forms are found. Not found: a secret
split across separate strings or values; cut short (error messages that truncate long values);
line-wrapped base64 (MIME's 76 columns); encodings stacked other than escaping-then-encoding
(base64 of base64, hex of base64, percent-encoding of base64); other character sets than UTF-8
(UTF-16, Latin-1 bytes); HTML entities; case changes, reversal, compression, encryption or
hashing. In a longer base64 text the one character on each side shared with neighbouring bytes
stays, carrying at most four bits of the secret each. A dict whose keys become equal once
redacted keeps the last of them.

The search is one Aho-Corasick automaton over every form of every secret (``ahocorasick-rs``,
bindings to the Rust ``aho-corasick`` crate, typed and maintained): one pass over the text
whatever the number of patterns: about 160 MB/s on a 10 MB JSON text with 10 secrets and 120 MB/s
with 1,000 (some 9,000 patterns; ``bench/redaction.py``), where a compiled regular-expression
alternation of 10,000 escaped literals, longest first, scans about 30 KB/s (CPython's ``re``
tries each alternative in turn at each position). ``pyahocorasick`` was the other candidate:
two to three times slower here and without type information. All overlapping matches are taken and merged, so
secrets that overlap each other in the text are covered completely, not just the first.

Logs: :class:`RedactingFilter` redacts records with the redactor of the current context, which
the engine sets for a run with :func:`redacting` (a ContextVar, so concurrent runs each see
their own secrets).
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from enum import Enum
from operator import itemgetter
from typing import Any, Literal, get_origin
from urllib.parse import quote, quote_plus

import ahocorasick_rs
from pydantic import BaseModel, RootModel, SecretStr

__all__ = [
    "MARKER",
    "MIN_SECRET_LENGTH",
    "RedactingFilter",
    "Redactor",
    "collect_secrets",
    "current_redactor",
    "redact_record",
    "redacting",
]

MARKER = "[REDACTED]"
MIN_SECRET_LENGTH = 6

# Text is searched in slices of this many characters (plus the longest pattern's length, so no
# match is cut): overlapping matches of a periodic secret in a hostile text come one per
# character, and a slice bounds the memory one search call returns them in.
_CHUNK = 1 << 18
# A contiguous NFA builds in time linear in the patterns; the DFA the library would pick for a
# few patterns scans 10-20% faster but takes seconds to build for one secret of 5,000 characters
# (a PEM key), and tens of seconds past that.
_IMPLEMENTATION = ahocorasick_rs.Implementation.ContiguousNFA
_SURROGATE = re.compile("[\ud800-\udfff]")
_PERCENT_ESCAPE = re.compile("%[0-9A-F]{2}")
# The characters str() and repr() of an int or a float are made of ("-1.5e+20", "inf", "nan").
_NUMBER_CHARACTERS = frozenset("0123456789+-.eEinfa")
_NUMBER_TYPES = (int, float)
_JS_URI_COMPONENT_SAFE = "-_.!~*'()"


def _escaped_forms(secret: str) -> set[str]:
    """The ways ``secret`` reads inside a serialized string: itself, JSON-escaped once and twice
    (ASCII-only or not), and the inside of its Python repr and ascii."""
    forms = {secret, repr(secret)[1:-1], ascii(secret)[1:-1]}
    level = {secret}
    for _ in range(2):
        level = {
            json.dumps(form, ensure_ascii=ascii_only)[1:-1]
            for form in level
            for ascii_only in (True, False)
        }
        forms |= level
    return forms


def _percent_forms(text: str) -> set[str]:
    """``text`` percent-encoded the ways URL and form encoders do it."""
    options = {"encoding": "utf-8", "errors": "surrogatepass"}
    forms = {
        quote(text, safe="", **options),
        quote(text, safe="/", **options),
        quote(text, safe=_JS_URI_COMPONENT_SAFE, **options),
        quote_plus(text, safe="", **options),
    }
    return forms | {_PERCENT_ESCAPE.sub(lambda m: m.group(0).lower(), form) for form in forms}


def _base64_forms(data: bytes) -> set[str]:
    """``data`` in base64 (standard and URL-safe): whole, padded and not, and the characters
    only its bits determine when it sits inside longer data at each of the three alignments."""
    forms: set[str] = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        whole = encode(data).decode("ascii")
        forms |= {whole, whole.rstrip("=")}
        for shift in range(3):
            encoded = encode(bytes(shift) + data).decode("ascii").rstrip("=")
            first = -(-8 * shift // 6)  # the first character past the `shift` leading bytes
            stop = 8 * (shift + len(data)) // 6  # the last whole character of the data
            forms.add(encoded[first:stop])
    return forms


def _forms(secret: str) -> set[str]:
    """Every form of ``secret`` the redactor searches for."""
    forms: set[str] = set()
    for text in _escaped_forms(secret):
        data = text.encode("utf-8", "surrogatepass")
        forms |= {text, data.hex(), data.hex().upper()}
        forms |= _percent_forms(text)
        forms |= _base64_forms(data)
    return forms


def _searchable(text: str) -> str:
    """``text`` with lone surrogates (which UTF-8 cannot carry) as U+FFFD, same length."""
    return _SURROGATE.sub("\ufffd", text)


class Redactor:
    """Replaces the secrets of a run, in every form listed in the module's docs, by a marker.

    ``secrets`` are the values to hide; those shorter than ``min_length`` characters once
    stripped of whitespace are ignored (see the module's docs). Building one costs about a
    millisecond per ten secrets; the instance is immutable and safe to share between threads.
    """

    __slots__ = (
        "_automaton",
        "_longest",
        "_marker",
        "_min_length",
        "_numeric",
        "_secrets",
        "_shortest",
    )

    def __init__(
        self,
        secrets: Iterable[str],
        *,
        marker: str = MARKER,
        min_length: int = MIN_SECRET_LENGTH,
    ) -> None:
        kept: set[str] = set()
        for secret in secrets:
            if not isinstance(secret, str):
                raise TypeError(f"a secret must be a str, not {type(secret).__name__}")
            stripped = secret.strip()
            if len(stripped) >= min_length:
                kept |= {secret, stripped}
        self._secrets = frozenset(kept)
        self._marker = marker
        self._min_length = min_length
        patterns = sorted({_searchable(form) for secret in kept for form in _forms(secret)})
        self._automaton = (
            ahocorasick_rs.AhoCorasick(
                patterns, store_patterns=False, implementation=_IMPLEMENTATION
            )
            if patterns
            else None
        )
        self._shortest = min((len(p) for p in patterns), default=0)
        self._longest = max((len(p) for p in patterns), default=0)
        self._numeric = any(_NUMBER_CHARACTERS.issuperset(p) for p in patterns)

    def __bool__(self) -> bool:
        """Whether there is any secret to redact."""
        return self._automaton is not None

    def __repr__(self) -> str:
        # Never the values: a redactor can end up in a log or a traceback itself.
        return f"<Redactor of {len(self._secrets)} secret values, marker {self._marker!r}>"

    def with_secrets(self, secrets: Iterable[str] | Redactor) -> Redactor:
        """Gives a redactor for these secrets and this one's, with this one's marker and rule."""
        more = secrets._secrets if isinstance(secrets, Redactor) else secrets
        return Redactor([*self._secrets, *more], marker=self._marker, min_length=self._min_length)

    def redact_text(self, text: str) -> str:
        """Gives ``text`` with every occurrence of a secret replaced by the marker; overlapping
        or touching occurrences become one marker."""
        if self._automaton is None or len(text) < self._shortest:
            return text
        try:
            spans = self._spans(text)
        except UnicodeEncodeError:
            spans = self._spans(_searchable(text))
        if not spans:
            return text
        pieces: list[str] = []
        position = 0
        for start, end in spans:
            pieces += (text[position:start], self._marker)
            position = end
        pieces.append(text[position:])
        return "".join(pieces)

    def _spans(self, text: str) -> list[list[int]]:
        """The merged ``[start, end)`` spans of every match in ``text``, in order."""
        assert self._automaton is not None
        merged: list[list[int]] = []
        size = max(_CHUNK, 4 * self._longest)
        overlap = self._longest - 1
        for offset in range(0, len(text), size):
            piece = text[offset : offset + size + overlap] if len(text) > size else text
            found = self._automaton.find_matches_as_indexes(piece, overlapping=True)
            for _, start, end in sorted(found, key=itemgetter(1)):
                if start >= size:  # the next slice finds it again, with all that follows
                    break
                start += offset
                end += offset
                if merged and start <= merged[-1][1]:
                    merged[-1][1] = max(merged[-1][1], end)
                else:
                    merged.append([start, end])
        return merged

    def redact(self, value: Any) -> Any:
        """Gives a redacted copy of a JSON-like ``value``; ``value`` itself is never changed.

        Strings, dict keys, and bytes (read as UTF-8) are redacted; an int or float whose text
        holds a secret becomes the redacted text. Containers come back as new dicts, lists,
        tuples, sets and frozensets; any other object comes back as it is (serialize it first,
        e.g. with pydantic's ``model_dump(mode="json")``). A value that contains itself raises
        ValueError, as ``json.dumps`` does.
        """
        return self._redact(value, set())

    def _redact(self, value: Any, open_containers: set[int]) -> Any:
        kind = type(value)
        # The exact JSON types first: a parsed document is millions of them.
        if kind is str:
            return self.redact_text(value)
        if kind is dict or kind is list:
            if id(value) in open_containers:
                raise ValueError("cannot redact a value that contains itself")
            open_containers.add(id(value))
            redact = self._redact
            try:
                if kind is dict:
                    return {
                        redact(k, open_containers): redact(v, open_containers)
                        for k, v in value.items()
                    }
                return [redact(item, open_containers) for item in value]
            finally:
                open_containers.discard(id(value))
        if value is None or kind is bool or (kind in _NUMBER_TYPES and not self._numeric):
            return value
        return self._redact_other(value, open_containers)

    def _redact_other(self, value: Any, open_containers: set[int]) -> Any:
        if isinstance(value, str):
            return self.redact_text(value)
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float):
            if not self._numeric:
                return value
            text = int.__repr__(value) if isinstance(value, int) else float.__repr__(value)
            redacted = self.redact_text(text)
            return value if redacted == text else redacted
        if isinstance(value, bytes | bytearray | memoryview):
            decoded = bytes(value).decode("utf-8", "surrogateescape")
            data = self.redact_text(decoded).encode("utf-8", "surrogateescape")
            return bytearray(data) if isinstance(value, bytearray) else data
        if not isinstance(value, Mapping | list | tuple | set | frozenset):
            return value
        if id(value) in open_containers:
            raise ValueError("cannot redact a value that contains itself")
        open_containers.add(id(value))
        try:
            if isinstance(value, Mapping):
                return {
                    self._redact(k, open_containers): self._redact(v, open_containers)
                    for k, v in value.items()
                }
            items = [self._redact(item, open_containers) for item in value]
        finally:
            open_containers.discard(id(value))
        if isinstance(value, list):
            return items
        if isinstance(value, tuple):
            return tuple(items)
        return frozenset(items) if isinstance(value, frozenset) else set(items)


def collect_secrets(credential: Any) -> set[str]:
    """Gives the secret strings inside a decrypted credential: every string and number among
    its values (not its keys, which are field names), however nested. For a credential
    validated by its connector's model, the values of ``Literal`` and enum fields (a ``type``
    discriminator such as "bearer") are choices from the schema, not secrets, and are left
    out; ``SecretStr`` fields are read."""
    found: set[str] = set()
    pending = [credential]
    while pending:
        value = pending.pop()
        if isinstance(value, RootModel):
            pending.append(value.root)
        elif isinstance(value, BaseModel):
            for name, info in type(value).model_fields.items():
                field = getattr(value, name)
                if get_origin(info.annotation) is not Literal and not isinstance(field, Enum):
                    pending.append(field)
        elif isinstance(value, SecretStr):
            found.add(value.get_secret_value())
        elif isinstance(value, str):
            found.add(value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            found.add(str(value))
        elif isinstance(value, Mapping):
            pending.extend(value.values())
        elif isinstance(value, list | tuple | set | frozenset):
            pending.extend(value)
    return found


# -- the redactor of the current run

_NO_SECRETS = Redactor(())
_current: ContextVar[Redactor] = ContextVar("flowforge_redactor", default=_NO_SECRETS)


def current_redactor() -> Redactor:
    """Gives the redactor of the current context (one without secrets outside any run)."""
    return _current.get()


@contextmanager
def redacting(secrets: Iterable[str] | Redactor) -> Iterator[Redactor]:
    """Makes the current context redact ``secrets`` too, for the ``with`` block, and gives the
    redactor in force. Nested blocks add to the outer block's secrets, never replace them;
    asyncio tasks started inside inherit it, and tasks elsewhere never see it."""
    outer = _current.get()
    if outer:
        redactor = outer.with_secrets(secrets)
    else:
        redactor = secrets if isinstance(secrets, Redactor) else Redactor(secrets)
    token = _current.set(redactor)
    try:
        yield redactor
    finally:
        _current.reset(token)


# -- log records

_FORMATTER = logging.Formatter()
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


class RedactingFilter(logging.Filter):
    """A logging filter that redacts each record it passes with the current context's redactor
    (or ``redactor``, when given): the message with its %-style args, the exception and stack
    text, and the ``extra`` fields. It never drops a record.

    Attach it to handlers (``handler.addFilter``): a filter on a logger sees only the records
    logged on that very logger, not those its children propagate. The exception is rendered to
    text here and ``exc_info`` cleared, so no formatter or handler can render the live exception
    (and the secrets in its arguments) again.
    """

    def __init__(self, name: str = "", *, redactor: Redactor | None = None) -> None:
        super().__init__(name)
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        """Redacts ``record`` in place and lets it through."""
        if not super().filter(record):
            return False
        redactor = self._redactor if self._redactor is not None else _current.get()
        if redactor:
            redact_record(redactor, record)
        return True


def redact_record(redactor: Redactor, record: logging.LogRecord) -> None:
    """Redacts a log record in place (what :class:`RedactingFilter` does to each record)."""
    try:
        message = record.getMessage()
    except Exception:  # args that do not fit: logging reports them, so they must be clean too
        record.msg = redactor.redact_text(str(record.msg))
        record.args = redactor.redact(record.args)
    else:
        # Joined first, so a secret split between the format string and an argument is found.
        record.msg = redactor.redact_text(message)
        record.args = None
    if record.exc_info:
        if not record.exc_text:
            record.exc_text = _FORMATTER.formatException(record.exc_info)
        record.exc_info = None
    if record.exc_text:
        record.exc_text = redactor.redact_text(record.exc_text)
    if record.stack_info:
        record.stack_info = redactor.redact_text(record.stack_info)
    fields = vars(record)
    if isinstance(fields.get("message"), str):
        fields["message"] = redactor.redact_text(fields["message"])
    for name, value in list(fields.items()):
        if name not in _RECORD_ATTRIBUTES:
            fields[name] = redactor.redact(value)
