"""HTTP: call any HTTP API, with the credential it needs, behind the SSRF guard."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email.message
import email.utils
import hashlib
import json
import random
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

import httpx
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    SecretStr,
    field_validator,
    model_validator,
)

from flowforge.connectors.sdk import MAX_BLOB_BYTES, ActionError, Blob, Connector, Context
from flowforge.errors import FlowForgeError
from flowforge.security.ssrf import SsrfRefused

__all__ = [
    "ApiKeyCredential",
    "BasicCredential",
    "BearerCredential",
    "HttpCredential",
    "OAuth2ClientCredentials",
    "RequestOutput",
    "RequestParams",
    "connector",
]

MAX_TIMEOUT_S = 600.0
MAX_RETRIES = 10
MAX_RETRY_WAIT_S = 300.0
DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024
MAX_TEXT_BODY = 16 * 1024 * 1024
MAX_REDIRECTS = 20
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_TOKEN_RESPONSE_LIMIT = 1024 * 1024
_TOKEN_CACHE_SIZE = 256
# RFC 9110 token characters: what a header name may hold
_HEADER_NAME = r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,256}$"
_BAD_HEADER_VALUE = re.compile(r"[\r\n\x00]")
_JSON_TYPE = re.compile(r"^application/([\w.+-]+\+)?json$")
_TEXT_TYPES = frozenset(
    {
        "application/xml",
        "application/javascript",
        "application/x-www-form-urlencoded",
        "application/graphql",
        "application/yaml",
    }
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- the credential


class BasicCredential(_Model):
    """HTTP Basic authentication."""

    type: Literal["basic"] = Field(description="HTTP Basic authentication")
    username: str = Field(max_length=1000, description="The user name")
    password: SecretStr = Field(max_length=10_000, description="The password")


class BearerCredential(_Model):
    """A bearer token sent as ``Authorization: Bearer <token>``."""

    type: Literal["bearer"] = Field(description="A bearer token")
    token: SecretStr = Field(min_length=1, max_length=100_000, description="The token")


class ApiKeyCredential(_Model):
    """An API key sent in a header of its own."""

    type: Literal["api_key"] = Field(description="An API key in a header")
    header: str = Field(
        "X-API-Key", pattern=_HEADER_NAME, description="The name of the header holding the key"
    )
    value: SecretStr = Field(min_length=1, max_length=100_000, description="The key")

    @field_validator("value")
    @classmethod
    def _one_line(cls, value: SecretStr) -> SecretStr:
        if _BAD_HEADER_VALUE.search(value.get_secret_value()):
            raise ValueError("a header value cannot hold line breaks or NUL")
        return value


class OAuth2ClientCredentials(_Model):
    """OAuth2 client credentials: a token fetched from ``token_url`` and reused until expiry."""

    type: Literal["oauth2_client_credentials"] = Field(
        description="OAuth2 client credentials grant"
    )
    token_url: str = Field(min_length=1, max_length=8192, description="The token endpoint")
    client_id: str = Field(min_length=1, max_length=1000, description="The client id")
    client_secret: SecretStr = Field(max_length=10_000, description="The client secret")
    scope: str | None = Field(None, max_length=10_000, description="Space-separated scopes")
    client_auth: Literal["basic", "body"] = Field(
        "basic",
        description="Send the client id and secret as HTTP Basic (basic) or in the form (body)",
    )

    @field_validator("token_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _check_http_url(value)


_AnyCredential = BasicCredential | BearerCredential | ApiKeyCredential | OAuth2ClientCredentials


class HttpCredential(RootModel[Annotated[_AnyCredential, Field(discriminator="type")]]):
    """The credential of the HTTP connector, told apart by ``type``: basic, bearer, api_key
    or oauth2_client_credentials."""


connector = Connector(
    "http",
    name="HTTP",
    description="Call any HTTP API: methods, JSON, form and file bodies, credentials, retries.",
    category="Core",
    icon="globe",
    credential=HttpCredential,
)


# -- the request action


def _check_http_url(value: str) -> str:
    if any(c.isspace() for c in value):
        raise ValueError("a URL cannot hold spaces or line breaks")
    try:
        parts = urlsplit(value)
    except ValueError as exc:
        raise ValueError(f"not a URL: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("use an http:// or https:// URL")
    if not parts.netloc:
        raise ValueError("the URL has no host")
    return value


Scalar = str | int | float | bool


class MultipartPart(_Model):
    """One part of a multipart/form-data body: a text field or a file."""

    name: str = Field(min_length=1, max_length=1000, description="The form field name")
    value: str | None = Field(None, max_length=MAX_TEXT_BODY, description="A text field's value")
    file: Blob | None = Field(None, description="A file to upload")
    filename: str | None = Field(
        None, max_length=500, description="The file name sent (default: the Blob's name)"
    )
    media_type: str | None = Field(
        None, max_length=200, description="The file's media type (default: the Blob's)"
    )

    @model_validator(mode="after")
    def _value_or_file(self) -> Self:
        if (self.value is None) == (self.file is None):
            raise ValueError("give exactly one of 'value' and 'file'")
        return self


class RequestParams(_Model):
    # "json" is the parameter's name, but a field called json would shadow BaseModel.json
    model_config = ConfigDict(
        extra="forbid", validate_by_alias=True, validate_by_name=True, serialize_by_alias=True
    )

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] = Field(
        "GET", description="The HTTP method"
    )
    url: str = Field(min_length=1, max_length=8192, description="An http:// or https:// URL")
    headers: dict[Annotated[str, Field(pattern=_HEADER_NAME)], str] = Field(
        default_factory=dict, max_length=100, description="Request headers"
    )
    query: dict[
        Annotated[str, Field(min_length=1, max_length=1000)],
        Scalar | Annotated[list[Scalar], Field(max_length=1000)],
    ] = Field(
        default_factory=dict,
        max_length=1000,
        description="Query parameters, added to those of the URL; a list repeats the parameter",
    )
    json_: Any = Field(None, alias="json", description="A JSON body")
    form: dict[Annotated[str, Field(max_length=1000)], str | list[str]] | None = Field(
        None, max_length=1000, description="A form body (urlencoded); a list repeats the field"
    )
    multipart: list[MultipartPart] | None = Field(
        None, max_length=100, description="A multipart/form-data body of fields and files"
    )
    text: str | None = Field(None, max_length=MAX_TEXT_BODY, description="A raw text body")
    blob: Blob | None = Field(None, description="A raw binary body: the bytes of this Blob")
    content_type: str | None = Field(
        None,
        max_length=200,
        pattern=r"^[^\r\n\x00]*$",
        description="The Content-Type of a text or blob body (default: text/plain or the Blob's)",
    )
    timeout_s: float = Field(
        30.0, gt=0, le=MAX_TIMEOUT_S, description="Seconds one attempt may take, body included"
    )
    retries: int = Field(
        2, ge=0, le=MAX_RETRIES, description="Further attempts after a 429 or 5xx answer"
    )
    retry_max_wait_s: float = Field(
        30.0,
        ge=0,
        le=MAX_RETRY_WAIT_S,
        description="Longest wait before a retry; a longer Retry-After ends the retries",
    )
    response_format: Literal["auto", "json", "text", "binary"] = Field(
        "auto",
        description="How to read the body: auto (by Content-Type), json, text, or binary (a Blob)",
    )
    max_response_bytes: int = Field(
        DEFAULT_MAX_RESPONSE_BYTES,
        ge=1,
        le=MAX_BLOB_BYTES,
        description="A larger response body fails the node",
    )
    follow_redirects: bool = Field(True, description="Follow redirects (each hop is checked)")
    max_redirects: int = Field(10, ge=0, le=MAX_REDIRECTS, description="Most redirects followed")
    fail_on_status: bool = Field(
        True, description="Fail the node when the final status is 4xx or 5xx"
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _check_http_url(value)

    @field_validator("headers")
    @classmethod
    def _header_values(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if len(value) > 16_384:
                raise ValueError(f"header {name!r}: longer than 16384 characters")
            if _BAD_HEADER_VALUE.search(value):
                raise ValueError(f"header {name!r}: a value cannot hold line breaks or NUL")
        return headers

    @model_validator(mode="after")
    def _one_body(self) -> Self:
        given = [
            name
            for name, present in (
                ("json", "json_" in self.model_fields_set),
                ("form", self.form is not None),
                ("multipart", self.multipart is not None),
                ("text", self.text is not None),
                ("blob", self.blob is not None),
            )
            if present
        ]
        if len(given) > 1:
            raise ValueError(f"give at most one body: {', '.join(given)} were given")
        if self.content_type is not None and given not in (["text"], ["blob"]):
            raise ValueError("content_type goes with a text or blob body")
        return self


class RequestOutput(_Model):
    status: int = Field(description="The HTTP status code of the final response")
    headers: dict[str, str] = Field(
        description="Response headers, names in lower case, repeated ones joined with ', '"
    )
    body: Any = Field(description="The body: JSON value, text, a Blob (binary), or null when empty")
    url: str = Field(description="The URL of the final response, after redirects")


@dataclass(slots=True)
class _Received:
    response: httpx.Response
    body: bytes


@connector.action("request", input=RequestParams, output=RequestOutput)
async def request(params: RequestParams, ctx: Context) -> RequestOutput:
    """Send an HTTP request and output the response's status, headers and body.

    Private, loopback and cloud metadata addresses are refused unless the server's HTTP
    allow-list trusts them; every redirect hop is checked again. 429 and 5xx answers are retried
    (Retry-After honoured); a 4xx or 5xx final answer fails the node unless fail_on_status is off.
    """
    credential = _credential(ctx)
    body = await _body(params, ctx)
    where = _safe_url(params.url)
    timeout = httpx.Timeout(params.timeout_s)
    try:
        async with ctx.http(timeout=timeout, follow_redirects=False) as client:
            received = await _with_retries(client, params, credential, body)
    except SsrfRefused as exc:
        raise ActionError(str(exc), retryable=False, type="SsrfRefused") from None
    except (TimeoutError, httpx.TimeoutException):
        raise ActionError(
            f"{params.method} {where} timed out after {params.timeout_s:g} s",
            type="TimeoutError",
        ) from None
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise ActionError(f"url: {exc}", retryable=False, type="InvalidURL") from None
    except httpx.TooManyRedirects as exc:
        raise ActionError(str(exc), retryable=False, type="TooManyRedirects") from None
    except httpx.ConnectError as exc:
        raise ActionError(
            f"cannot connect to {where}: {exc or 'connection failed'}", type="ConnectError"
        ) from None
    except httpx.HTTPError as exc:
        raise ActionError(
            f"{params.method} {where} failed: {type(exc).__name__}: {exc}", type="HttpError"
        ) from None
    response = received.response
    if params.fail_on_status and response.status_code >= 400:
        snippet = received.body[:300].decode("utf-8", "replace").strip()
        raise ActionError(
            f"{params.method} {where} answered {response.status_code} "
            f"{response.reason_phrase}" + (f": {snippet}" if snippet else ""),
            retryable=response.status_code in RETRY_STATUSES,
            type="HttpStatusError",
        )
    return RequestOutput(
        status=response.status_code,
        headers=_headers_out(response.headers),
        body=await _read_body(params, ctx, received),
        url=str(response.url),
    )


def _credential(ctx: Context) -> BaseModel | None:
    credential = ctx.credential
    if isinstance(credential, HttpCredential):
        return credential.root
    if credential is None or isinstance(credential, _AnyCredential):
        return credential
    raise ActionError(
        f"the credential is a {type(credential).__name__}, not an HTTP credential",
        retryable=False,
        type="CredentialError",
    )


async def _body(params: RequestParams, ctx: Context) -> dict[str, Any]:
    """The httpx keyword arguments for the body; blobs read once, so retries resend them."""
    if "json_" in params.model_fields_set:
        return {"json": params.json_}
    if params.form is not None:
        return {"data": params.form}
    given_type = params.content_type or httpx.Headers(params.headers).get("content-type")
    if params.text is not None:
        media = given_type or "text/plain; charset=utf-8"
        return {"content": params.text.encode(), "headers": {"Content-Type": media}}
    if params.blob is not None:
        data = await _read_blob(ctx, params.blob, "blob")
        media = given_type or params.blob.media_type
        return {"content": data, "headers": {"Content-Type": media}}
    if params.multipart is not None:
        fields: dict[str, list[str]] = {}
        files: list[tuple[str, tuple[str, bytes, str]]] = []
        for part in params.multipart:
            if part.file is None:
                fields.setdefault(part.name, []).append(part.value or "")
                continue
            data = await _read_blob(ctx, part.file, f"multipart part {part.name!r}")
            filename = part.filename or part.file.name or part.name
            files.append((part.name, (filename, data, part.media_type or part.file.media_type)))
        if not files:  # httpx sends a form without files as urlencoded: force multipart
            return {
                "files": [
                    (name, (None, value)) for name, values in fields.items() for value in values
                ]
            }
        return {"data": fields, "files": files}
    return {}


async def _read_blob(ctx: Context, blob: Blob, field: str) -> bytes:
    """The bytes of an input Blob; a missing one is an error that names the field."""
    try:
        return await asyncio.to_thread(ctx.read_blob, blob)
    except FlowForgeError as exc:  # BlobNotFound, or a store's NotFound
        if isinstance(exc, ActionError) and exc.type != "BlobNotFound":
            raise
        raise ActionError(f"{field}: {exc}", retryable=False, type="BlobNotFound") from None


async def _with_retries(
    client: httpx.AsyncClient,
    params: RequestParams,
    credential: BaseModel | None,
    body: Mapping[str, Any],
) -> _Received:
    """Send, retrying 429 and 5xx answers; a 401 with a cached OAuth2 token refreshes it once."""
    refreshed = False
    attempt = 0
    while True:
        attempt += 1
        auth = await _auth_headers(client, credential, params.timeout_s)
        async with asyncio.timeout(params.timeout_s):
            received = await _send(client, params, auth, body)
        status = received.response.status_code
        if status == 401 and isinstance(credential, OAuth2ClientCredentials) and not refreshed:
            _forget_token(credential)
            refreshed = True
            attempt -= 1
            continue
        if status not in RETRY_STATUSES or attempt > params.retries:
            return received
        wait = _retry_wait(received.response, attempt, params.retry_max_wait_s)
        if wait is None:
            return received
        await asyncio.sleep(wait)


async def _send(
    client: httpx.AsyncClient,
    params: RequestParams,
    auth: Mapping[str, str],
    body: Mapping[str, Any],
) -> _Received:
    """One attempt: the request and its redirects, each hop through the guard; credentials
    go only to the origin they were meant for."""
    headers = httpx.Headers(params.headers)
    headers.update(body.get("headers", {}))
    headers.update(auth)  # the credential wins over a header of the same name
    content = {k: v for k, v in body.items() if k != "headers"}
    if "files" in content:  # the multipart Content-Type must carry httpx's boundary
        headers.pop("content-type", None)
    url: str | httpx.URL = params.url
    if params.query:
        # added to the URL's own parameters (httpx's params= would replace them); a URL httpx
        # cannot read goes on as it is, for build_request or the guard to say why
        with contextlib.suppress(httpx.InvalidURL):
            url = httpx.URL(params.url).copy_merge_params(params.query)
    request = client.build_request(params.method, url, headers=headers, **content)
    origin = _origin(request.url)
    hops = 0
    while True:
        response = await client.send(request, stream=True, follow_redirects=False)
        following = params.follow_redirects and response.next_request is not None
        if not following:
            break
        await response.aclose()
        hops += 1
        if hops > params.max_redirects:
            raise httpx.TooManyRedirects(
                f"more than {params.max_redirects} redirects from {_safe_url(params.url)}",
                request=request,
            )
        assert response.next_request is not None
        request = response.next_request
        if _origin(request.url) != origin:
            for name in auth:
                request.headers.pop(name, None)
    try:
        data = await _read_limited(response, params.max_response_bytes)
    finally:
        await response.aclose()
    return _Received(response, data)


async def _read_limited(response: httpx.Response, limit: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(response, f"{int(declared):,} bytes (Content-Length)", limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise _too_large(response, f"more than {limit:,} bytes", limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(response: httpx.Response, size: str, limit: int) -> ActionError:
    return ActionError(
        f"the response from {_safe_url(str(response.url))} is {size}; "
        f"max_response_bytes is {limit:,}",
        retryable=False,
        type="TooLarge",
    )


def _retry_wait(response: httpx.Response, attempt: int, max_wait: float) -> float | None:
    """Seconds to wait before the next attempt: Retry-After when given (None when it asks for
    longer than ``max_wait``), else exponential backoff with jitter."""
    asked = _retry_after(response.headers.get("retry-after"))
    if asked is not None:
        return asked if asked <= max_wait else None
    return min(max_wait, 0.5 * 2.0 ** (attempt - 1)) * random.uniform(0.5, 1.0)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


# -- credentials on the wire


async def _auth_headers(
    client: httpx.AsyncClient, credential: BaseModel | None, timeout_s: float
) -> dict[str, str]:
    if isinstance(credential, BasicCredential):
        pair = f"{credential.username}:{credential.password.get_secret_value()}"
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
    if isinstance(credential, BearerCredential):
        return {"Authorization": f"Bearer {credential.token.get_secret_value()}"}
    if isinstance(credential, ApiKeyCredential):
        return {credential.header: credential.value.get_secret_value()}
    if isinstance(credential, OAuth2ClientCredentials):
        token = await _oauth2_token(client, credential, timeout_s)
        return {"Authorization": f"Bearer {token}"}
    return {}


_tokens: dict[tuple[str, ...], tuple[str, float]] = {}
_tokens_lock = threading.Lock()


def _token_key(credential: OAuth2ClientCredentials) -> tuple[str, ...]:
    secret = hashlib.sha256(credential.client_secret.get_secret_value().encode()).hexdigest()
    return (
        credential.token_url,
        credential.client_id,
        credential.scope or "",
        credential.client_auth,
        secret,
    )


def _forget_token(credential: OAuth2ClientCredentials) -> None:
    with _tokens_lock:
        _tokens.pop(_token_key(credential), None)


async def _oauth2_token(
    client: httpx.AsyncClient, credential: OAuth2ClientCredentials, timeout_s: float
) -> str:
    """An access token for the credential: the cached one until shortly before it expires."""
    key = _token_key(credential)
    with _tokens_lock:
        cached = _tokens.get(key)
    if cached is not None and cached[1] > time.monotonic():
        return cached[0]
    form = {"grant_type": "client_credentials"}
    if credential.scope:
        form["scope"] = credential.scope
    secret = credential.client_secret.get_secret_value()
    auth: httpx.BasicAuth | None = None
    if credential.client_auth == "basic":
        auth = httpx.BasicAuth(credential.client_id, secret)
    else:
        form.update(client_id=credential.client_id, client_secret=secret)
    where = _safe_url(credential.token_url)
    request = client.build_request(
        "POST", credential.token_url, data=form, headers={"Accept": "application/json"}
    )
    async with asyncio.timeout(timeout_s):
        response = await client.send(request, auth=auth, stream=True, follow_redirects=False)
        try:
            data = await _read_limited(response, _TOKEN_RESPONSE_LIMIT)
        finally:
            await response.aclose()
    try:
        answer = json.loads(data)
    except ValueError:
        answer = None
    if response.status_code != 200 or not isinstance(answer, dict):
        detail = ""
        if isinstance(answer, dict) and isinstance(answer.get("error"), str):
            description = answer.get("error_description")
            detail = f": {answer['error']}" + (
                f" ({description[:300]})" if isinstance(description, str) else ""
            )
        raise ActionError(
            f"the OAuth2 token endpoint {where} answered {response.status_code}{detail}",
            retryable=response.status_code in RETRY_STATUSES,
            type="CredentialError",
        )
    token = answer.get("access_token")
    if not isinstance(token, str) or not token or _BAD_HEADER_VALUE.search(token):
        raise ActionError(
            f"the OAuth2 token endpoint {where} gave no usable access_token",
            retryable=False,
            type="CredentialError",
        )
    expires_in = answer.get("expires_in", 300)
    try:
        lifetime = float(expires_in)
    except (TypeError, ValueError):
        lifetime = 300.0
    lifetime = max(lifetime - min(60.0, lifetime * 0.1), 0.0)
    with _tokens_lock:
        if len(_tokens) >= _TOKEN_CACHE_SIZE:
            _tokens.pop(next(iter(_tokens)))
        _tokens[key] = (token, time.monotonic() + lifetime)
    return token


# -- reading the answer


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


def _safe_url(url: str) -> str:
    """The URL without its userinfo, query or fragment, which may hold secrets."""
    try:
        parts = httpx.URL(url)
    except httpx.InvalidURL:
        return "the URL"
    port = f":{parts.port}" if parts.port is not None else ""
    return f"{parts.scheme}://{parts.host}{port}{parts.path}"[:300]


def _headers_out(headers: httpx.Headers) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers.multi_items():
        key = name.lower()
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


def _media_type(response: httpx.Response) -> str:
    content_type = str(response.headers.get("content-type", ""))
    return content_type.split(";", 1)[0].strip().lower()


def _file_name(response: httpx.Response) -> str | None:
    disposition = response.headers.get("content-disposition")
    if disposition:
        message = email.message.Message()
        message["content-disposition"] = disposition
        name = message.get_filename()
        if name:
            return name.replace("/", "_").replace("\\", "_")[:500]
    last = response.url.path.rsplit("/", 1)[-1]
    return last[:500] or None


async def _read_body(params: RequestParams, ctx: Context, received: _Received) -> Any:
    response, data = received.response, received.body
    if params.method == "HEAD":
        return None
    media = _media_type(response)
    form = params.response_format
    if form == "auto":
        if not data:
            return None
        if _JSON_TYPE.match(media):
            form = "json"
        elif media.startswith("text/") or media in _TEXT_TYPES or media.endswith("+xml"):
            form = "text"
        else:
            form = "binary"
    if form == "json":
        if not data:
            return None
        try:
            return json.loads(data)
        except ValueError as exc:
            raise ActionError(
                f"the response from {_safe_url(str(response.url))} is not JSON: {exc}",
                retryable=False,
                type="InvalidResponse",
            ) from None
    if form == "text":
        return data.decode(response.encoding or "utf-8", errors="replace")
    return await asyncio.to_thread(
        ctx.put_blob, data, media or "application/octet-stream", _file_name(response)
    )
