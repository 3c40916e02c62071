"""A real server (engine, database, background loops) behind an in-process HTTP client."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from flowforge.api import create_app
from flowforge.config import Settings
from flowforge.connectors import Registry
from flowforge.engine.frames import DEFAULT_ORG
from flowforge.security.auth import SERVICE_SUBJECT
from flowforge.server import Server


@asynccontextmanager
async def running(
    database_url: str,
    home: Path,
    registry: Registry | None = None,
    *,
    signed_in: bool = True,
    **settings: Any,
) -> AsyncIterator[tuple[httpx.AsyncClient, Server]]:
    """Start the app's lifespan on the database and give a client and the server. The
    client sends an owner API key of the default organisation unless ``signed_in`` is
    False."""
    config = Settings(home=home, **settings)
    server = Server(config, database_url=database_url, registry=registry)
    app = create_app(config, server=server)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        headers = {}
        if signed_in:
            issued = server.auth.api_keys.create(
                subject=SERVICE_SUBJECT, scopes=["*"], org=DEFAULT_ORG, role="owner", name="tests"
            )
            headers["Authorization"] = f"Bearer {issued.key}"
        async with httpx.AsyncClient(
            transport=transport, base_url="http://flowforge", headers=headers
        ) as client:
            yield client, server


def workflow(
    name: str, *nodes: dict[str, Any], edges: list[tuple[str, str]] | None = None
) -> dict[str, Any]:
    """A definition from nodes, chained in order unless ``edges`` are given."""
    ids = [n["id"] for n in nodes]
    pairs = edges if edges is not None else list(itertools.pairwise(ids))
    return {
        "name": name,
        "nodes": list(nodes),
        "edges": [{"source": a, "target": b} for a, b in pairs],
    }


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is an error of this status and code, in the one error shape."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert error["code"] == code
    assert error["message"]
    assert isinstance(error["details"], list)
    assert error["requestId"] == response.headers["x-request-id"]
    return error
