"""One error shape for every failure, with the request id:
``{"error": {"code", "message", "details": [{"field", "message"}], "requestId"}}``."""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from flowforge.errors import DefinitionError, FlowForgeError, StateConflict
from flowforge.logs import request_id
from flowforge.model import format_location
from flowforge.security.auth import Unauthenticated
from flowforge.security.passwords import AccountLocked, PasswordRejected
from flowforge.security.rbac import Forbidden
from flowforge.security.signatures import SignatureError, TooManyChallenges
from flowforge.store import Conflict, NotFound

__all__ = ["ApiError", "error_response", "install_error_handlers"]

log = logging.getLogger("flowforge.api")

_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    503: "UNAVAILABLE",
}


class ApiError(Exception):
    """An error answer: status, code, message, and the fields at fault."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        details: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or _CODES.get(status, HTTPStatus(status).phrase.upper().replace(" ", "_"))
        self.message = message
        self.details = details or []
        self.headers = headers


def error_body(
    code: str, message: str, details: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "details": details or [],
            "requestId": request_id.get(),
        }
    }


def error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(
        error_body(error.code, error.message, error.details),
        status_code=error.status,
        headers=error.headers,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Map every exception the routes raise to the error shape. (Unhandled exceptions are
    answered by the request middleware, which also sees errors raised outside the routes.)"""

    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc)

    async def validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        details = []
        for err in exc.errors():
            message = str(err.get("msg", "invalid"))
            field = format_location(tuple(err.get("loc", ())))
            if err.get("type") == "json_invalid":
                position = err.get("loc", ("body", "?"))[-1]
                reason = err.get("ctx", {}).get("error", message)
                message, field = f"malformed JSON at character {position}: {reason}", "body"
            details.append({"field": field, "message": message})
        first = details[0] if details else {"field": "", "message": "invalid request"}
        summary = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
        more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
        return error_response(ApiError(422, f"invalid request: {summary}{more}", details=details))

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        message = str(exc.detail) if exc.detail else HTTPStatus(exc.status_code).phrase
        if exc.status_code == 404 and exc.detail == "Not Found":
            message = f"no route {request.method} {request.url.path}"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        headers = dict(exc.headers) if exc.headers else None
        return error_response(ApiError(exc.status_code, message, headers=headers))

    async def definition(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DefinitionError)
        errors = [p for p in exc.problems if p.severity == "error"]
        details = [
            {"field": p.path, "message": p.message, **({"node": p.node} if p.node else {})}
            for p in errors
        ]
        return error_response(
            ApiError(422, f"invalid workflow: {len(errors)} problem(s)", details=details)
        )

    async def not_found(request: Request, exc: Exception) -> JSONResponse:
        return error_response(ApiError(404, str(exc)))

    async def conflict(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Conflict)
        details = [{"field": exc.field, "message": str(exc)}]
        return error_response(ApiError(409, str(exc), details=details))

    async def state(request: Request, exc: Exception) -> JSONResponse:
        return error_response(ApiError(409, str(exc)))

    async def unauthenticated(request: Request, exc: Exception) -> JSONResponse:
        challenge = 'Bearer realm="flowforge"'
        if request.headers.get("authorization") or request.headers.get("x-api-key"):
            challenge += ', error="invalid_token"'
        return error_response(ApiError(401, str(exc), headers={"WWW-Authenticate": challenge}))

    async def forbidden(request: Request, exc: Exception) -> JSONResponse:
        return error_response(ApiError(403, str(exc)))

    async def locked(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AccountLocked)
        wait = max(1, math.ceil((exc.retry_after - datetime.now(UTC)).total_seconds()))
        return error_response(
            ApiError(429, str(exc), code="ACCOUNT_LOCKED", headers={"Retry-After": str(wait)})
        )

    async def signature(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, SignatureError)
        details = [{"field": "body", "message": exc.reason}]
        return error_response(ApiError(401, str(exc), code="INVALID_SIGNATURE", details=details))

    async def busy(request: Request, exc: Exception) -> JSONResponse:
        return error_response(ApiError(503, str(exc), headers={"Retry-After": "60"}))

    async def password(request: Request, exc: Exception) -> JSONResponse:
        details = [{"field": "body.password", "message": str(exc)}]
        return error_response(ApiError(422, str(exc), details=details))

    async def flowforge(request: Request, exc: Exception) -> JSONResponse:
        message = str(exc)
        field, _, reason = message.partition(": ")
        details = [{"field": field, "message": reason}] if reason and " " not in field else []
        return error_response(ApiError(400, message, details=details))

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(DefinitionError, definition)
    app.add_exception_handler(NotFound, not_found)
    app.add_exception_handler(Conflict, conflict)
    app.add_exception_handler(StateConflict, state)
    app.add_exception_handler(Unauthenticated, unauthenticated)
    app.add_exception_handler(Forbidden, forbidden)
    app.add_exception_handler(AccountLocked, locked)
    app.add_exception_handler(SignatureError, signature)
    app.add_exception_handler(TooManyChallenges, busy)
    app.add_exception_handler(PasswordRejected, password)
    app.add_exception_handler(FlowForgeError, flowforge)
