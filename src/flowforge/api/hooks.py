"""``/hooks/{path}``: webhooks that start the active workflow listening on a path."""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.routing import Match, Route
from starlette.types import Scope

from flowforge.api._auth import limit
from flowforge.api._errors import ApiError
from flowforge.connectors.triggers import HTTP_METHODS
from flowforge.engine.frames import ExecutionStatus
from flowforge.security.ratelimit import WEBHOOKS, Plan
from flowforge.server import Server
from flowforge.store import Duplicate
from flowforge.triggers import SignatureError, request_input, verify_signature
from flowforge.triggers.webhooks import BodyError

__all__ = ["route", "router"]

router = APIRouter(tags=["webhooks"])


async def call_webhook(request: Request) -> Response:
    """Headers, query and body reach the run as its trigger input. A workflow whose webhook
    node sets ``secret_env`` accepts only requests signed as Standard Webhooks specifies
    (timestamp within 5 minutes); a repeated ``webhook-id`` starts nothing new and is answered
    with the first run's id."""
    server: Server = request.app.state.server
    path = str(request.path_params["path"]).strip("/")
    found = await server.webhook(path)
    if found is None:
        raise ApiError(
            404, f"no active workflow listens on /hooks/{path}", code="WEBHOOK_NOT_FOUND"
        )
    entry, spec = found
    # Called by other systems, not by a FlowForge identity: limited per path, whatever the plan
    await limit(request, server, f"hook:{path}", WEBHOOKS, Plan.FREE)
    config = spec.config
    if request.method not in config.get("methods", HTTP_METHODS):
        allowed = ", ".join(config["methods"])
        raise ApiError(
            405,
            f"/hooks/{path} accepts {allowed}, not {request.method}",
            headers={"Allow": allowed},
        )
    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    dedupe_key = None
    secret_env = config.get("secret_env")
    if secret_env:
        secret = os.environ.get(secret_env)
        if not secret:
            raise ApiError(
                503,
                f"the webhook's secret is not configured: set {secret_env} on the server",
                code="WEBHOOK_MISCONFIGURED",
            )
        try:
            webhook_id = verify_signature(secret, body, headers)
        except SignatureError as exc:
            raise ApiError(401, str(exc), code="INVALID_SIGNATURE") from None
        dedupe_key = f"webhook:{entry.id}:{spec.node_id}:{webhook_id}"
    try:
        data = request_input(request.method, path, headers, request.url.query, body)
    except BodyError as exc:
        raise ApiError(400, str(exc), details=[{"field": "body", "message": str(exc)}]) from None
    try:
        execution_id = await server.start_run(
            entry, data, trigger_node=spec.node_id, dedupe_key=dedupe_key
        )
    except Duplicate as exc:
        return JSONResponse({"executionId": exc.execution_id, "duplicate": True}, status_code=200)
    if config.get("respond") != "when_finished":
        return JSONResponse({"executionId": execution_id}, status_code=202)
    outcome = None
    with contextlib.suppress(TimeoutError):
        outcome = await asyncio.wait_for(
            asyncio.shield(server.engine.wait(execution_id)), float(config.get("timeout_s", 30))
        )
    headers_out = {"X-Execution-ID": execution_id}
    if outcome is None:
        return JSONResponse({"executionId": execution_id}, status_code=202, headers=headers_out)
    if outcome.status != ExecutionStatus.COMPLETED:
        message = (outcome.error or {}).get("message", outcome.status.value)
        raise ApiError(
            500,
            f"execution {execution_id} {outcome.status.value.lower()}: {message}",
            code="EXECUTION_FAILED",
            headers=headers_out,
        )
    return JSONResponse(outcome.result, status_code=200, headers=headers_out)


# Webhooks take the heaviest traffic, so a plain Starlette route placed first serves them:
# FastAPI's per-request parameter and dependency handling cost a tenth of a request here.
# The per-method FastAPI routes below describe the same endpoint in the OpenAPI document.
class _HookRoute(Route):
    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match != Match.NONE:
            child["route"] = self  # as FastAPI's routes do: metrics and logs name the template
        return match, child


route = _HookRoute("/hooks/{path:path}", call_webhook, methods=list(HTTP_METHODS))


async def _documented(path: str, request: Request) -> Any:
    return await call_webhook(request)


for _method in HTTP_METHODS:
    router.add_api_route(
        "/hooks/{path:path}",
        _documented,
        methods=[_method],
        operation_id=f"call_webhook_{_method.lower()}",
        summary=f"Call a webhook ({_method})",
        status_code=202,
        include_in_schema=_method != "HEAD",
        openapi_extra={"x-permission": "public"},
        responses={
            200: {"description": "respond=when_finished: the run's result"},
            202: {"description": "The run started: its execution id"},
            401: {"description": "Bad or stale Standard Webhooks signature"},
            404: {"description": "No active workflow listens on this path"},
            429: {"description": "The path's rate limit is reached: see Retry-After"},
        },
    )
