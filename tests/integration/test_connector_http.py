"""The http connector and the SSRF guard against a real HTTP server on 127.0.0.1.

The server is reachable only because the tests trust it (``allow=("127.0.0.1",)``); the same
requests without that allow-list are refused, which the tests show as well."""

from __future__ import annotations

import asyncio
import base64
import email.parser
import email.policy
import hashlib
import json
import ssl
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import trustme
from pydantic import BaseModel, ValidationError

from flowforge.connectors import ActionError, Context, Registry
from flowforge.connectors import flow as flow_connector
from flowforge.connectors import http as http_connector
from flowforge.connectors.http import HttpCredential, RequestOutput, RequestParams, request
from flowforge.connectors.sdk import Blob, EnvCredentials
from flowforge.engine.local import LocalEngine
from flowforge.model import Workflow
from flowforge.security import SsrfRefused, async_client, ssrf, sync_client
from flowforge.store import MemoryStore

CLIENT_ID, CLIENT_SECRET = "cid", "csecret"


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.hits: Counter[str] = Counter()
        self.tokens_issued = 0
        self.revoked: set[str] = set()

    def count(self, key: str) -> int:
        with self.lock:
            self.hits[key] += 1
            return self.hits[key]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.route()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def do_HEAD(self) -> None:
        self.send(200, b"", "text/plain", extra={"X-Head": "yes"})

    def send(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        *,
        extra: dict[str, str] | None = None,
        length: bool = True,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, value: Any, **kw: Any) -> None:
        self.send(status, json.dumps(value).encode(), **kw)

    def route(self) -> None:
        url = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        size = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(size) if size else b""
        state = self.server.state
        handler = getattr(self, "r_" + url.path.strip("/").replace("-", "_"), None)
        if handler is None:
            self.send_json(404, {"error": "no such path"})
            return
        handler(q, body, url, state)

    def r_echo(self, q: dict[str, str], body: bytes, url: Any, state: _State) -> None:
        self.send_json(
            200,
            {
                "method": self.command,
                "path": url.path,
                "query": parse_qs(url.query),
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode("utf-8", "replace"),
            },
            extra={"X-Multi": "a", "Set-Cookie": "s=1"},
        )

    def r_multipart(self, q: dict[str, str], body: bytes, url: Any, state: _State) -> None:
        head = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        parts = []
        for part in message.iter_parts():
            payload = part.get_payload(decode=True) or b""
            parts.append(
                {
                    "name": part.get_param("name", header="content-disposition"),
                    "filename": part.get_filename(),
                    "type": part.get_content_type() if part.get("content-type") else None,
                    "sha256": hashlib.sha256(payload).hexdigest(),
                    "text": payload.decode("utf-8", "replace") if len(payload) < 100 else None,
                }
            )
        self.send_json(200, {"content_type": self.headers["Content-Type"], "parts": parts})

    def r_status(self, q: dict[str, str], body: bytes, url: Any, state: _State) -> None:
        self.send(int(q["code"]), q.get("body", "").encode(), "text/plain")

    def r_flaky(self, q: dict[str, str], body: bytes, url: Any, state: _State) -> None:
        n = state.count("flaky:" + q["key"])
        if n <= int(q["fails"]):
            extra = {"Retry-After": q["retry_after"]} if "retry_after" in q else {}
            self.send(int(q.get("code", "503")), b"busy", "text/plain", extra=extra)
        else:
            self.send_json(200, {"attempts": n, "at": time.monotonic()})

    def r_bytes(self, q: dict[str, str], body: bytes, url: Any, state: _State) -> None:
        data = bytes(i % 251 for i in range(int(q["n"])))
        extra = {}
        if "filename" in q:
            extra["Content-Disposition"] = f'attachment; filename="{q["filename"]}"'
        self.send(
            200,
            data,
            q.get("type", "application/octet-stream"),
            extra=extra,
            length="unsized" not in q,
        )

    def r_redirect(self, q: dict[str, str], body: bytes, url: Any, state: _State) -> None:
        self.send(int(q.get("code", "302")), b"", "text/plain", extra={"Location": q["to"]})

    def r_slow(self, q: dict[str, str], body: bytes, url: Any, state: _State) -> None:
        time.sleep(float(q["s"]))
        self.send_json(200, {"slept": True})

    def r_drip(self, q: dict[str, str], body: bytes, url: Any, state: _State) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        try:
            for _ in range(40):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.1)
        except OSError:
            pass

    def r_text(self, q: dict[str, str], body: bytes, url: Any, state: _State) -> None:
        self.send(200, "café".encode("latin-1"), "text/html; charset=latin-1")

    def r_not_json(self, q: dict[str, str], body: bytes, url: Any, state: _State) -> None:
        self.send(200, b"{not json", "application/json")

    def r_token(self, q: dict[str, str], body: bytes, url: Any, state: _State) -> None:
        form = {k: v[-1] for k, v in parse_qs(body.decode()).items()}
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        else:
            cid, secret = form.get("client_id", ""), form.get("client_secret", "")
        if form.get("grant_type") != "client_credentials":
            self.send_json(400, {"error": "unsupported_grant_type"})
            return
        if (cid, secret) != (CLIENT_ID, CLIENT_SECRET):
            self.send_json(401, {"error": "invalid_client", "error_description": "bad secret"})
            return
        with state.lock:
            state.tokens_issued += 1
            token = f"tok{state.tokens_issued}-{form.get('scope', '')}"
        self.send_json(200, {"access_token": token, "token_type": "bearer", "expires_in": 3600})

    def r_protected(self, q: dict[str, str], body: bytes, url: Any, state: _State) -> None:
        auth = self.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ")
        if not auth.startswith("Bearer tok") or token in state.revoked:
            self.send_json(401, {"error": "invalid_token"})
            return
        self.send_json(200, {"token": token})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    state: _State

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients the tests cut off (timeouts, size limits) are expected


@pytest.fixture(scope="module")
def server() -> Iterator[_Server]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def base(server: _Server) -> str:
    server.state = _State()
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def state(server: _Server, base: str) -> _State:
    return server.state


ALLOW = ("127.0.0.1",)


def make_ctx(
    credential: dict[str, Any] | None = None,
    allow: tuple[str, ...] = ALLOW,
    blobs: MemoryStore | None = None,
) -> Context:
    return Context.standalone(
        "http.request",
        blobs=blobs if blobs is not None else MemoryStore(),
        credential=HttpCredential.model_validate(credential) if credential else None,
        http_allow=allow,
    )


async def call(ctx: Context | None = None, **params: Any) -> RequestOutput:
    return await request(RequestParams.model_validate(params), ctx or make_ctx())


async def fails(ctx: Context | None = None, **params: Any) -> ActionError:
    with pytest.raises(ActionError) as caught:
        await call(ctx, **params)
    return caught.value


# -- methods and bodies


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
async def test_methods(base: str, method: str) -> None:
    out = await call(method=method, url=f"{base}/echo")
    assert out.status == 200 and out.body["method"] == method
    assert out.url == f"{base}/echo"


async def test_head_has_headers_and_no_body(base: str) -> None:
    out = await call(method="HEAD", url=f"{base}/echo")
    assert out.status == 200 and out.body is None and out.headers["x-head"] == "yes"


async def test_query_headers_and_response_headers(base: str) -> None:
    out = await call(
        url=f"{base}/echo?a=1",
        query={"b": "two", "n": 3, "flag": True, "many": ["x", "y"]},
        headers={"X-Custom": "v", "Accept": "application/json"},
    )
    assert out.body["query"] == {
        "a": ["1"],
        "b": ["two"],
        "n": ["3"],
        "flag": ["true"],
        "many": ["x", "y"],
    }
    assert out.body["headers"]["x-custom"] == "v"
    assert out.headers["x-multi"] == "a" and out.headers["content-type"] == "application/json"


async def test_json_body(base: str) -> None:
    out = await call(method="POST", url=f"{base}/echo", json={"amount": 42, "items": [1, None]})
    assert json.loads(out.body["body"]) == {"amount": 42, "items": [1, None]}
    assert out.body["headers"]["content-type"] == "application/json"


async def test_form_body(base: str) -> None:
    out = await call(method="POST", url=f"{base}/echo", form={"a": "1 2", "b": ["x", "y"]})
    assert parse_qs(out.body["body"]) == {"a": ["1 2"], "b": ["x", "y"]}
    assert out.body["headers"]["content-type"] == "application/x-www-form-urlencoded"


async def test_text_body_with_its_content_type(base: str) -> None:
    out = await call(method="PUT", url=f"{base}/echo", text="<a>é</a>", content_type="text/xml")
    assert out.body["body"] == "<a>é</a>" and out.body["headers"]["content-type"] == "text/xml"
    out = await call(method="PUT", url=f"{base}/echo", text="plain")
    assert out.body["headers"]["content-type"] == "text/plain; charset=utf-8"
    out = await call(
        method="PUT", url=f"{base}/echo", text="{}", headers={"content-type": "application/x-y"}
    )
    assert out.body["headers"]["content-type"] == "application/x-y"


async def test_multipart_body_with_blob_files(base: str) -> None:
    store = MemoryStore()
    photo = store.put_blob(b"\x89PNG" + bytes(range(256)) * 40, "image/png", "photo.png")
    notes = store.put_blob(b"hello", "text/plain", None)
    out = await call(
        make_ctx(blobs=store),
        method="POST",
        url=f"{base}/multipart",
        multipart=[
            {"name": "title", "value": "Holiday"},
            {"name": "photo", "file": photo.model_dump()},
            {"name": "notes", "file": notes.model_dump(), "filename": "n.txt"},
        ],
    )
    assert out.body["content_type"].startswith("multipart/form-data; boundary=")
    parts = {p["name"]: p for p in out.body["parts"]}
    assert parts["title"]["text"] == "Holiday" and parts["title"]["filename"] is None
    assert parts["photo"]["filename"] == "photo.png" and parts["photo"]["type"] == "image/png"
    assert parts["photo"]["sha256"] == photo.blob
    assert parts["notes"]["filename"] == "n.txt" and parts["notes"]["text"] == "hello"


async def test_multipart_with_fields_only_is_still_multipart(base: str) -> None:
    out = await call(
        method="POST",
        url=f"{base}/multipart",
        multipart=[{"name": "a", "value": "1"}],
        headers={"Content-Type": "multipart/form-data"},  # no boundary: the connector's wins
    )
    assert out.body["content_type"].startswith("multipart/form-data")
    assert out.body["parts"][0]["text"] == "1"


async def test_raw_blob_body(base: str) -> None:
    store = MemoryStore()
    blob = store.put_blob(b"raw bytes", "application/x-thing", "f.bin")
    out = await call(
        make_ctx(blobs=store), method="PUT", url=f"{base}/echo", blob=blob.model_dump()
    )
    assert out.body["body"] == "raw bytes"
    assert out.body["headers"]["content-type"] == "application/x-thing"


async def test_a_missing_blob_is_a_clear_error(base: str) -> None:
    missing = Blob(blob="0" * 64, size=3).model_dump()
    error = await fails(method="PUT", url=f"{base}/echo", blob=missing)
    assert error.type == "BlobNotFound" and str(error).startswith("blob: no blob")
    error = await fails(
        method="POST", url=f"{base}/multipart", multipart=[{"name": "f", "file": missing}]
    )
    assert "multipart part 'f'" in str(error) and not error.retryable


# -- reading the answer


async def test_response_formats(base: str) -> None:
    out = await call(url=f"{base}/text")
    assert out.body == "café"  # auto: text, in the charset the server named
    out = await call(url=f"{base}/echo", response_format="text")
    assert isinstance(out.body, str) and json.loads(out.body)["method"] == "GET"
    out = await call(url=f"{base}/echo", response_format="json")
    assert out.body["method"] == "GET"
    error = await fails(url=f"{base}/text", response_format="json")
    assert error.type == "InvalidResponse"


async def test_json_that_is_not_json_fails_clearly(base: str) -> None:
    error = await fails(url=f"{base}/not-json")
    assert error.type == "InvalidResponse" and "is not JSON" in str(error)
    assert not error.retryable
    out = await call(url=f"{base}/not-json", response_format="text")
    assert out.body == "{not json"


async def test_binary_response_becomes_a_blob(base: str) -> None:
    store = MemoryStore()
    out = await call(
        make_ctx(blobs=store), url=f"{base}/bytes?n=5000&type=image/png&filename=a.png"
    )
    blob = out.body
    assert isinstance(blob, Blob)
    assert (blob.media_type, blob.size, blob.name) == ("image/png", 5000, "a.png")
    assert store.get_blob(blob.blob) == bytes(i % 251 for i in range(5000))
    out = await call(make_ctx(blobs=store), url=f"{base}/echo", response_format="binary")
    assert isinstance(out.body, Blob) and out.body.media_type == "application/json"
    dumped = out.model_dump(mode="json")
    assert dumped["body"]["blob"] == out.body.blob  # a reference in the output, not bytes


@pytest.mark.parametrize("unsized", [False, True])
async def test_response_size_limit(base: str, unsized: bool) -> None:
    url = f"{base}/bytes?n=20000" + ("&unsized=1" if unsized else "")
    error = await fails(url=url, max_response_bytes=10_000)
    assert error.type == "TooLarge" and "max_response_bytes is 10,000" in str(error)
    assert ("Content-Length" in str(error)) is not unsized
    out = await call(url=url, max_response_bytes=20_000)
    assert out.body.size == 20_000


async def test_error_status_fails_unless_told_not_to(base: str) -> None:
    error = await fails(url=f"{base}/status?code=404&body=nothing+here")
    assert error.type == "HttpStatusError" and not error.retryable
    assert "answered 404 Not Found: nothing here" in str(error)
    out = await call(url=f"{base}/status?code=404&body=x", fail_on_status=False)
    assert out.status == 404 and out.body == "x"


# -- retries


async def test_retry_on_503_honours_retry_after(base: str, state: _State) -> None:
    started = time.monotonic()
    out = await call(url=f"{base}/flaky?key=a&fails=2&retry_after=1", retries=3)
    assert out.status == 200 and out.body["attempts"] == 3
    assert time.monotonic() - started >= 2.0  # two waits of one second, as the server asked


async def test_retry_on_429_with_an_http_date(base: str, state: _State) -> None:
    when = "Thu, 01 Jan 1970 00:00:00 GMT"  # in the past: retry at once
    out = await call(
        url=f"{base}/flaky", query={"key": "b", "fails": 1, "code": 429, "retry_after": when}
    )
    assert out.body["attempts"] == 2


async def test_retries_are_bounded(base: str, state: _State) -> None:
    error = await fails(url=f"{base}/flaky?key=c&fails=10&retry_after=0", retries=2)
    assert error.type == "HttpStatusError" and error.retryable and "503" in str(error)
    assert state.hits["flaky:c"] == 3
    # a Retry-After longer than retry_max_wait_s ends the retries at once
    error = await fails(
        url=f"{base}/flaky?key=d&fails=10&retry_after=120", retries=5, retry_max_wait_s=1
    )
    assert state.hits["flaky:d"] == 1
    out = await call(url=f"{base}/flaky?key=e&fails=1", retries=0, fail_on_status=False)
    assert out.status == 503 and state.hits["flaky:e"] == 1


async def test_backoff_without_retry_after(base: str, state: _State) -> None:
    out = await call(url=f"{base}/flaky?key=f&fails=1&code=500", retry_max_wait_s=0.05)
    assert out.body["attempts"] == 2


# -- credentials


async def test_basic_auth(base: str) -> None:
    ctx = make_ctx({"type": "basic", "username": "ann", "password": "pä ss:1"})
    out = await call(ctx, url=f"{base}/echo")
    header = out.body["headers"]["authorization"]
    assert base64.b64decode(header.removeprefix("Basic ")).decode() == "ann:pä ss:1"


async def test_bearer_token(base: str) -> None:
    out = await call(make_ctx({"type": "bearer", "token": "t0k"}), url=f"{base}/echo")
    assert out.body["headers"]["authorization"] == "Bearer t0k"


async def test_api_key_header(base: str) -> None:
    ctx = make_ctx({"type": "api_key", "header": "X-Api-Token", "value": "k3y"})
    out = await call(ctx, url=f"{base}/echo")
    assert out.body["headers"]["x-api-token"] == "k3y"


@pytest.mark.parametrize("client_auth", ["basic", "body"])
async def test_oauth2_client_credentials_token_is_fetched_and_cached(
    base: str, state: _State, client_auth: str
) -> None:
    ctx = make_ctx(
        {
            "type": "oauth2_client_credentials",
            "token_url": f"{base}/token",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "scope": f"read-{client_auth}",
            "client_auth": client_auth,
        }
    )
    first = await call(ctx, url=f"{base}/protected")
    second = await call(ctx, url=f"{base}/protected")
    assert first.body["token"] == second.body["token"] == f"tok1-read-{client_auth}"
    assert state.tokens_issued == 1
    # a token the server no longer takes is fetched anew, once
    state.revoked.add(first.body["token"])
    third = await call(ctx, url=f"{base}/protected")
    assert third.body["token"] == f"tok2-read-{client_auth}" and state.tokens_issued == 2


async def test_oauth2_bad_secret_is_a_credential_error(base: str, state: _State) -> None:
    ctx = make_ctx(
        {
            "type": "oauth2_client_credentials",
            "token_url": f"{base}/token",
            "client_id": CLIENT_ID,
            "client_secret": "wrong-secret",
        }
    )
    error = await fails(ctx, url=f"{base}/protected")
    assert error.type == "CredentialError" and not error.retryable
    assert "answered 401: invalid_client (bad secret)" in str(error)
    assert "wrong-secret" not in str(error)


async def test_oauth2_token_url_goes_through_the_guard(base: str) -> None:
    ctx = make_ctx(
        {
            "type": "oauth2_client_credentials",
            "token_url": "http://169.254.169.254/token",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        }
    )
    error = await fails(ctx, url=f"{base}/protected")
    assert error.type == "SsrfRefused" and "cloud metadata" in str(error)


@pytest.mark.parametrize(
    "credential",
    [
        {"type": "nope"},
        {"type": "basic", "username": "a"},
        {"type": "api_key", "header": "Bad Header", "value": "v"},
        {"type": "api_key", "value": "line\r\nbreak"},
        {"type": "oauth2_client_credentials", "token_url": "file:///x", "client_id": "a"},
    ],
)
def test_bad_credentials_are_refused_by_validation(credential: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        HttpCredential.model_validate(credential)


async def test_credentials_do_not_follow_a_redirect_to_another_origin(
    base: str, server: _Server
) -> None:
    other = f"http://localhost:{server.server_address[1]}"  # same server, another origin
    ctx = make_ctx(
        {"type": "api_key", "header": "X-Key", "value": "secret"}, allow=(*ALLOW, "localhost")
    )
    out = await call(ctx, url=f"{base}/redirect?to={other}/echo")
    assert out.url == f"{other}/echo" and "x-key" not in out.body["headers"]
    out = await call(ctx, url=f"{base}/redirect?to=/echo")  # same origin: kept
    assert out.body["headers"]["x-key"] == "secret"


# -- redirects and the guard


async def test_redirects_are_followed_and_bounded(base: str) -> None:
    out = await call(url=f"{base}/redirect?to=/redirect%3Fto%3D/echo")
    assert out.status == 200 and out.url == f"{base}/echo"
    error = await fails(url=f"{base}/redirect?to=/redirect%3Fto%3D/echo", max_redirects=1)
    assert error.type == "TooManyRedirects" and not error.retryable
    out = await call(url=f"{base}/redirect?to=/echo", follow_redirects=False)
    assert out.status == 302 and out.headers["location"] == "/echo"


async def test_303_turns_a_post_into_a_get(base: str) -> None:
    out = await call(method="POST", url=f"{base}/redirect?code=303&to=/echo", json={"a": 1})
    assert out.body["method"] == "GET" and out.body["body"] == ""


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "the cloud metadata address"),
        ("http://[::ffff:169.254.169.254]/", "the cloud metadata address"),
        ("http://127.0.0.2/", "127.0.0.2 is a loopback address"),
        ("http://localhost:1/", "localhost resolves to"),
        ("http://10.0.0.1/", "a private address"),
        ("http://0x7f000001/", "a loopback address"),
        ("file:///etc/passwd", "not an http or https URL"),
    ],
)
async def test_a_redirect_to_a_refused_address_is_refused(
    base: str, server: _Server, target: str, reason: str
) -> None:
    allow = (f"127.0.0.1:{server.server_address[1]}",)  # this port only
    error = await fails(make_ctx(allow=allow), url=f"{base}/redirect?to={target}")
    assert error.type == "SsrfRefused" and not error.retryable
    assert reason in str(error)


async def test_a_redirect_to_another_loopback_port_is_refused(base: str, server: _Server) -> None:
    port = server.server_address[1]
    allow = (f"127.0.0.1:{port}",)
    error = await fails(make_ctx(allow=allow), url=f"{base}/redirect?to=http://127.0.0.1:1/")
    assert error.type == "SsrfRefused" and "127.0.0.1 is a loopback address" in str(error)


async def test_without_the_allow_list_the_local_server_is_refused(base: str) -> None:
    error = await fails(make_ctx(allow=()), url=f"{base}/echo")
    assert error.type == "SsrfRefused" and "127.0.0.1 is a loopback address" in str(error)
    port = base.rsplit(":", 1)[1]
    error = await fails(make_ctx(allow=()), url=f"http://localhost:{port}/echo")
    assert "localhost resolves to" in str(error) and "loopback" in str(error)


async def test_odd_spellings_of_the_server_are_refused_by_the_connector(base: str) -> None:
    port = base.rsplit(":", 1)[1]
    for host in ("0x7f000001", "2130706433", "0177.0.0.1", "127.1", "[::ffff:7f00:1]"):
        error = await fails(make_ctx(allow=()), url=f"http://{host}:{port}/echo")
        assert error.type == "SsrfRefused" and "loopback" in str(error), host


async def test_the_raw_guarded_clients_reach_the_server_only_when_allowed(base: str) -> None:
    async with async_client(allow=ALLOW, follow_redirects=True) as client:
        response = await client.get(f"{base}/redirect?to=/echo")
        assert response.json()["path"] == "/echo"
        with pytest.raises(SsrfRefused, match="cloud metadata"):
            await client.get(f"{base}/redirect?to=http://169.254.169.254/")
    with sync_client(allow=ALLOW, follow_redirects=True) as sync:
        assert sync.get(f"{base}/redirect?to=/echo").json()["path"] == "/echo"
        with pytest.raises(SsrfRefused, match="a private address"):
            sync.get(f"{base}/redirect?to=http://192.168.0.1/")
    with sync_client() as unallowed, pytest.raises(SsrfRefused):
        unallowed.get(f"{base}/echo")


async def test_the_checked_address_is_the_one_connected_to(
    base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the name first resolves to the trusted address, then to another. The
    guard resolves once per connection and connects to what it checked."""
    answers = iter([["127.0.0.1"], ["10.9.8.7"]])
    asked: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        asked.append(host)
        return next(answers)

    monkeypatch.setattr(ssrf, "_getaddrinfo", rebinding)
    port = base.rsplit(":", 1)[1]
    async with async_client(allow=("127.0.0.0/8",)) as client:
        response = await client.get(f"http://rebind.example:{port}/echo")
    assert response.json()["headers"]["host"] == f"rebind.example:{port}"
    assert asked == ["rebind.example"]
    # a second client (a new connection) sees the rebound answer and refuses it
    async with async_client(allow=("127.0.0.0/8",)) as client:
        with pytest.raises(SsrfRefused, match=r"rebind\.example resolves to 10\.9\.8\.7"):
            await client.get(f"http://rebind.example:{port}/echo")


# -- TLS keeps the host name


@pytest.fixture(scope="module")
def tls_server() -> Iterator[tuple[int, trustme.CA]]:
    ca = trustme.CA()
    cert = ca.issue_cert("svc.example")
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.state = _State()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1], ca
    httpd.shutdown()
    httpd.server_close()


async def test_tls_verifies_the_host_name_not_the_pinned_address(
    tls_server: tuple[int, trustme.CA], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, ca = tls_server
    monkeypatch.setattr(ssrf, "_getaddrinfo", lambda host, port: ["127.0.0.1"])
    verify = ssl.create_default_context()
    ca.configure_trust(verify)
    async with async_client(allow=("svc.example",), verify=verify) as client:
        response = await client.get(f"https://svc.example:{port}/echo")
    assert response.json()["headers"]["host"] == f"svc.example:{port}"
    # the same server by its address: the certificate does not name it, so TLS fails
    async with async_client(allow=ALLOW, verify=verify) as client:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.get(f"https://127.0.0.1:{port}/echo")


# -- timeouts and bad input


async def test_timeouts(base: str) -> None:
    started = time.monotonic()
    error = await fails(url=f"{base}/slow?s=3", timeout_s=0.3)
    assert error.type == "TimeoutError" and error.retryable
    assert "timed out after 0.3 s" in str(error) and "/slow" in str(error)
    # a server that keeps sending a byte at a time is cut off at the same bound
    error = await fails(url=f"{base}/drip", timeout_s=0.5)
    assert error.type == "TimeoutError"
    assert time.monotonic() - started < 3


async def test_a_closed_port_is_a_retryable_connect_error() -> None:
    error = await fails(url="http://127.0.0.1:1/", timeout_s=5)
    assert error.type == "ConnectError" and error.retryable


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"url": "ftp://example.com/"}, "url"),
        ({"url": "file:///etc/passwd"}, "url"),
        ({"url": "http://exa mple.com/"}, "url"),
        ({"url": "http://"}, "url"),
        ({"url": "https://x.example/", "method": "TRACE"}, "method"),
        ({"url": "https://x.example/", "timeout_s": 0}, "timeout_s"),
        ({"url": "https://x.example/", "timeout_s": 100000}, "timeout_s"),
        ({"url": "https://x.example/", "retries": 99}, "retries"),
        ({"url": "https://x.example/", "max_response_bytes": 0}, "max_response_bytes"),
        ({"url": "https://x.example/", "headers": {"Bad Name": "v"}}, "headers"),
        ({"url": "https://x.example/", "headers": {"X": "a\r\nInjected: 1"}}, "headers"),
        ({"url": "https://x.example/", "json": {}, "text": "a"}, "at most one body"),
        ({"url": "https://x.example/", "content_type": "text/plain"}, "content_type"),
        ({"url": "https://x.example/", "multipart": [{"name": "a"}]}, "multipart"),
        ({"url": "https://x.example/", "surprise": 1}, "surprise"),
        ({"url": "x" * 9000}, "url"),
    ],
)
def test_bad_input_is_refused_naming_the_field(params: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        RequestParams.model_validate(params)
    assert field in str(caught.value)


# -- as a workflow node


def _workflow(params: dict[str, Any], **node: Any) -> Workflow:
    return Workflow.model_validate(
        {
            "name": "http-test",
            "nodes": [
                {"id": "start", "type": "flow.start"},
                {"id": "call", "type": "http.request", "params": params, **node},
            ],
            "edges": [{"source": "start", "target": "call"}],
        }
    )


@pytest.fixture
async def engine() -> AsyncIterator[LocalEngine]:
    registry = Registry([flow_connector.connector, http_connector.connector])
    async with LocalEngine(MemoryStore(), registry) as e:
        yield e


async def test_a_refused_url_fails_the_run_clearly(engine: LocalEngine) -> None:
    w = _workflow(
        {"url": "http://169.254.169.254/latest/meta-data/iam/"},
        retry={"max_attempts": 3, "initial_s": 0},
    )
    result = await engine.run(w)
    assert not result.ok and result.error is not None
    assert result.error["type"] == "SsrfRefused"
    assert "169.254.169.254 is the cloud metadata address" in result.error["message"]
    assert result.error["attempts"] == 1  # refused for good: no retry


async def test_a_request_node_with_allow_list_and_credential(base: str) -> None:
    registry = Registry([flow_connector.connector, http_connector.connector])
    credentials = EnvCredentials(
        {"FLOWFORGE_CREDENTIAL_API": json.dumps({"type": "bearer", "token": "node-token"})}
    )
    store = MemoryStore()
    async with LocalEngine(store, registry, http_allow=ALLOW, credentials=credentials) as engine:
        w = _workflow(
            {
                "method": "POST",
                "url": f"{base}/echo",
                "json": {"amount": "{{ trigger.amount }}"},
            },
            credential="api",
        )
        result = await engine.run(w, {"amount": 7})
        assert result.ok, result.error
        out = result.result["call"]
        assert out["status"] == 200 and json.loads(out["body"]["body"]) == {"amount": 7}
        # the server echoed the real token; the run keeps only its redacted form
        assert out["body"]["headers"]["authorization"] == "Bearer [REDACTED]"
        assert "node-token" not in json.dumps(result.result)
        binary = _workflow({"url": f"{base}/bytes?n=300&type=image/gif"})
        result = await engine.run(binary)
        assert result.ok, result.error
        ref = Blob.model_validate(result.result["call"]["body"])
        assert ref.media_type == "image/gif" and len(store.get_blob(ref.blob)) == 300


def test_the_connector_declares_its_credential_and_action() -> None:
    c = http_connector.connector
    assert (c.id, c.name, c.category, c.credential) == ("http", "HTTP", "Core", HttpCredential)
    action = c.actions["request"]
    assert action.is_async and action.output_model is RequestOutput
    assert action.description.startswith("Send an HTTP request")
    schema = action.input_model.model_json_schema()
    assert "json" in schema["properties"] and "json_" not in schema["properties"]
    params = RequestParams.model_validate({"url": "https://x.example/", "json": {"a": 1}})
    assert params.model_dump(exclude_unset=True) == {"url": "https://x.example/", "json": {"a": 1}}
    assert RequestParams.model_validate(params.model_dump()) == params  # a round trip
    assert all("description" in p for p in schema["properties"].values())
    assert isinstance(HttpCredential.model_validate({"type": "bearer", "token": "t"}), BaseModel)


async def test_many_requests_at_once(base: str) -> None:
    outs = await asyncio.gather(*(call(url=f"{base}/echo?i={i}") for i in range(20)))
    assert sorted(int(o.body["query"]["i"][0]) for o in outs) == list(range(20))
