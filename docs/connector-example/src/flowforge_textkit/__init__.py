"""textkit: a FlowForge connector, written as docs/connectors.md explains."""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata

from pydantic import BaseModel, ConfigDict, Field

from flowforge.connectors import ActionError, Connector, Context

__all__ = ["connector"]


class SigningKey(BaseModel):
    """The credential textkit.sign needs: kept in FlowForge, given to the step just in time."""

    secret: str = Field(min_length=16, description="The shared secret")


connector = Connector(
    "textkit",
    name="Text kit",
    description="Count words, make URL slugs, sign text.",
    category="Text",
    icon="type",
    version="1.0.0",
    docs_url="https://example.org/flowforge-textkit",
    credential=SigningKey,
)


class TextIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=1_000_000, description="The text")


class Stats(BaseModel):
    characters: int
    words: int
    lines: int


@connector.action("stats", input=TextIn, output=Stats)
def stats(params: TextIn, ctx: Context) -> Stats:
    """Count the characters, words and lines of a text."""
    text = params.text
    return Stats(characters=len(text), words=len(text.split()), lines=len(text.splitlines()))


class Slug(BaseModel):
    slug: str


@connector.action("slugify", input=TextIn, output=Slug)
def slugify(params: TextIn, ctx: Context) -> Slug:
    """Turn a title into a URL slug: ASCII, lower case, words joined by hyphens."""
    ascii_text = unicodedata.normalize("NFKD", params.text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if not slug:
        raise ActionError("text: nothing left to make a slug of", retryable=False)
    return Slug(slug=slug[:200])


class Signature(BaseModel):
    signature: str = Field(description="HMAC-SHA256 of the text, hex")


@connector.action("sign", input=TextIn, output=Signature)
def sign(params: TextIn, ctx: Context) -> Signature:
    """Sign a text with the credential's secret (HMAC-SHA256)."""
    if not isinstance(ctx.credential, SigningKey):
        raise ActionError("textkit.sign needs a credential", retryable=False)
    key = ctx.credential.secret.encode()
    return Signature(signature=hmac.new(key, params.text.encode(), hashlib.sha256).hexdigest())
