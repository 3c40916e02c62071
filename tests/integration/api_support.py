"""A real server (engine, database, background loops) behind an in-process HTTP client, and
an HTTP server on loopback that stands for a third-party API."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


@dataclass
class Echo:
    """An HTTP server on loopback that answers every GET with the Authorization header it
    received (``{"authorization": ...}``) and keeps each one in ``received``."""

    url: str  # ends with /
    received: list[str | None]


@contextmanager
def echo_server() -> Iterator[Echo]:
    received: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            authorization = self.headers.get("authorization")
            received.append(authorization)
            body = json.dumps({"authorization": authorization}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Echo(f"http://127.0.0.1:{server.server_address[1]}/", received)
    finally:
        server.shutdown()
        server.server_close()
