"""Pure ASGI middleware: request ids, security and rate limit headers, access logs and
metrics, the last-resort 500, and the request body limit. Pure ASGI (not BaseHTTPMiddleware)
keeps streaming responses streaming and costs a few microseconds per request."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flowforge.api._auth import response_headers
from flowforge.api._errors import error_body
from flowforge.logs import request_id
from flowforge.metrics import Metrics

__all__ = ["BodyLimitMiddleware", "RequestContextMiddleware"]

log = logging.getLogger("flowforge.http")

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

# Every answer: no MIME sniffing, never framed, no Referer to other sites. The API serves JSON,
# so its pages may load nothing; the interactive docs load Swagger UI's script and style, and
# the web editor's page sends a policy of its own (api/web.py).
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
_API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
_DOCS = ("/docs", "/redoc")
_HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
_NO_STORE = (b"cache-control", b"no-store")


class RequestContextMiddleware:
    """Gives every request an id (``X-Request-ID`` when the client sent a sane one), echoes it,
    logs the request as one JSON line, counts it by route template, and answers any exception
    nothing else handled with a 500 in the error shape."""

    def __init__(self, app: ASGIApp, metrics: Metrics, *, https: bool = False) -> None:
        self.app = app
        self.metrics = metrics
        self.https = https  # the public URL is https: tell browsers to keep to it

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        rid = given if given and _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode()))
                headers.extend(self._security_headers(scope, headers))
                for name, value in response_headers(scope).items():
                    headers.append((name.lower().encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if not response_started:
                body = error_body("INTERNAL_ERROR", "internal server error; see the server log")
                await _send_json(send_with_id, 500, body)
        finally:
            seconds = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "(unmatched)"
            self.metrics.request(scope["method"], template, status, seconds)
            log.info(
                "%s %s %d",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": template,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                },
            )
            request_id.reset(token)

    def _security_headers(
        self, scope: Scope, given: list[tuple[bytes, bytes]]
    ) -> list[tuple[bytes, bytes]]:
        path: str = scope["path"]
        headers = list(_SECURITY_HEADERS)
        # A page with a policy of its own (the web editor's) keeps it alone: browsers enforce
        # every policy they get, and the API's would block the page's scripts.
        own_policy = any(name.lower() == _API_CSP[0] for name, _ in given)
        if not path.startswith(_DOCS) and not own_policy:
            headers.append(_API_CSP)
        if path.startswith("/api/v1/auth/"):
            headers.append(_NO_STORE)  # tokens
        if self.https or scope.get("scheme") == "https":
            headers.append(_HSTS)
        return headers


class BodyLimitMiddleware:
    """Refuses request bodies over ``max_bytes`` with 413: at once when Content-Length says
    so, or as soon as the bytes received pass the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            if not length.isdigit():
                body = error_body("BAD_REQUEST", "Content-Length is not a number")
                await _send_json(send, 400, body)
                return
            await _send_json(send, 413, self._too_large())
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # an HTTPException passes FastAPI's body parsing untouched
                    raise HTTPException(413, self._message())
            return message

        await self.app(scope, limited, send)

    def _message(self) -> str:
        return f"the request body is larger than the limit of {self.max_bytes} bytes"

    def _too_large(self) -> dict[str, Any]:
        return error_body("PAYLOAD_TOO_LARGE", self._message())


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
