"""The HTTP API: ``create_app`` builds the FastAPI application around a ``Server``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from flowforge import __version__
from flowforge.api import (
    audit,
    auth,
    connectors,
    credentials,
    executions,
    expressions,
    hooks,
    keys,
    orgs,
    shares,
    system,
    triggers,
    web,
    workflows,
)
from flowforge.api._errors import install_error_handlers
from flowforge.api._middleware import BodyLimitMiddleware, RequestContextMiddleware
from flowforge.api._schemas import ErrorEnvelope
from flowforge.config import Settings
from flowforge.server import Server

__all__ = ["create_app", "worker_app"]

# What a browser page of an allowed origin may send and read (bearer tokens, not cookies:
# credentials mode stays off).
CORS_REQUEST_HEADERS = (
    "authorization",
    "content-type",
    "idempotency-key",
    "if-match",
    "last-event-id",
    "x-api-key",
    "x-flowforge-credential",
    "x-flowforge-org",
    "x-request-id",
)
CORS_RESPONSE_HEADERS = (
    "etag",
    "location",
    "retry-after",
    "ratelimit-limit",
    "ratelimit-policy",
    "ratelimit-remaining",
    "ratelimit-reset",
    "x-execution-id",
    "x-request-id",
)

_DESCRIPTION = """
FlowForge runs workflows: graphs of typed nodes, started by hand, by the API, by webhooks,
by schedules, or by other runs' failures, on a durable engine that journals every step.

Every error has one shape: `{"error": {"code", "message", "details": [{"field", "message"}],
"requestId"}}`. Lists page with `cursor` (the `nextCursor` of the page before).

Sign in with an API key or a session's access token: `Authorization: Bearer <key or token>`.
Each operation names the permission it needs as `x-permission`; a workflow or run of another
organisation is 404 unless it is shared with you. `X-FlowForge-Org` picks which of your
organisations a session acts in. Answers carry `RateLimit-*` headers; 429 comes with
`Retry-After`.
"""


def create_app(
    settings: Settings | None = None,
    *,
    server: Server | None = None,
    database_url: str | None = None,
) -> FastAPI:
    """The application; its lifespan starts and stops the server (engine, schedules, ...)."""
    settings = settings or Settings()
    server = server or Server(settings, database_url=database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await server.start()
        try:
            yield
        finally:
            await server.stop()

    app = FastAPI(
        telemetry=None if settings.otel else {"tracing": False, "metrics": False, "logs": False},
        title="FlowForge",
        version=__version__,
        description=_DESCRIPTION,
        lifespan=lifespan,
        responses={
            400: {"model": ErrorEnvelope, "description": "Bad request"},
            401: {"model": ErrorEnvelope, "description": "Not signed in"},
            403: {"model": ErrorEnvelope, "description": "Not allowed"},
            404: {"model": ErrorEnvelope, "description": "Not found"},
            409: {"model": ErrorEnvelope, "description": "Conflict"},
            413: {"model": ErrorEnvelope, "description": "Body too large"},
            422: {"model": ErrorEnvelope, "description": "Invalid input"},
        },
    )
    app.state.server = server
    app.router.routes.insert(0, hooks.route)  # matched first: see hooks.route
    for module in (
        workflows,
        triggers,
        shares,
        executions,
        expressions,
        hooks,
        system,
        connectors,
        auth,
        keys,
        orgs,
        credentials,
        audit,
    ):
        app.include_router(module.router)
    app.include_router(auth.well_known)
    app.include_router(connectors.service_router(server.registry))
    web.install(app, settings.web_dist)  # the fallback: after every route, it shadows none
    _document_services(app, server)
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    origins = settings.cors_origin_list()
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(origins),
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=list(CORS_REQUEST_HEADERS),
            expose_headers=list(CORS_RESPONSE_HEADERS),
            max_age=600,
        )
    https = settings.base_url().startswith("https://")
    app.add_middleware(RequestContextMiddleware, metrics=server.metrics, https=https)  # outermost
    return app


def _document_services(app: FastAPI, server: Server) -> None:
    """Add the nested models of the services' inputs to the OpenAPI components."""
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = plain()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(connectors.service_schemas(server.registry))
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def worker_app() -> FastAPI:
    """The application of one ``flowforge serve --workers N`` process, configured from the
    environment that ``serve`` set up before starting the workers."""
    from flowforge.logs import configure_logging

    settings = Settings()
    configure_logging(settings.log_level, json_lines=settings.log_format == "json")
    return create_app(settings)
