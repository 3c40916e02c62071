"""The web editor at ``/``: its page and files from the build folder, the editor's own routes,
the API's paths left alone, and nothing outside the build folder, ever."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from api_support import assert_error, running

import flowforge
from flowforge.api import create_app
from flowforge.api.web import EDITOR_CSP
from flowforge.config import Settings
from flowforge.server import Server

INDEX = "<!doctype html><title>FlowForge</title><script type=module src=/assets/app-3f2a.js>"
SCRIPT = "console.log('editor')"
SECRET = "s3cret-outside-the-build"


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    """A build: index.html, a hashed asset, a favicon; and a secret file next to it."""
    folder = tmp_path / "dist"
    (folder / "assets").mkdir(parents=True)
    (folder / "index.html").write_text(INDEX)
    (folder / "assets" / "app-3f2a.js").write_text(SCRIPT)
    (folder / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (tmp_path / "secret.txt").write_text(SECRET)
    return folder


def _is_index(response: Any) -> None:
    assert response.status_code == 200, response.text
    assert response.text == INDEX
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    # the page's own policy alone: the API's (default-src 'none') would block its scripts
    assert response.headers.get_list("content-security-policy") == [EDITOR_CSP]


async def test_the_page_is_served_at_the_root_and_on_every_editor_route(
    database_url: str, tmp_path: Path, dist: Path
) -> None:
    async with running(database_url, tmp_path, load_examples=False, web_dist=dist) as (client, _):
        for path in ("/", "/index.html", "/workflows/abc", "/executions/x/frames", "/settings/"):
            _is_index(await client.get(path))
        assert EDITOR_CSP == (
            "default-src 'self'; connect-src 'self'; img-src 'self' data: blob:; "
            "style-src 'self' 'unsafe-inline'; script-src 'self'; object-src 'none'; "
            "base-uri 'none'; frame-ancestors 'none'"
        )
        head = await client.head("/workflows/abc")
        assert head.status_code == 200 and head.content == b""

        # revalidation of the page costs a 304
        first = await client.get("/")
        again = await client.get("/", headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        # and keeps the page's policy: a browser applies the 304's to the page it holds
        assert again.headers.get_list("content-security-policy") == [EDITOR_CSP]


async def test_files_are_served_with_their_caching(
    database_url: str, tmp_path: Path, dist: Path
) -> None:
    async with running(database_url, tmp_path, load_examples=False, web_dist=dist) as (client, _):
        script = await client.get("/assets/app-3f2a.js")
        assert script.status_code == 200 and script.text == SCRIPT
        assert "javascript" in script.headers["content-type"]
        assert script.headers["cache-control"] == "public, max-age=31536000, immutable"
        icon = await client.get("/favicon.svg")
        assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
        assert icon.headers["cache-control"] == "no-cache"  # not content-hashed: revalidate

        for missing in ("/assets/gone.js", "/robots.txt", "/workflows/abc/logo.png"):
            error = assert_error(await client.get(missing), 404, "NOT_FOUND")
            assert missing in error["message"]


async def test_the_api_s_paths_are_never_the_editor_s(
    database_url: str, tmp_path: Path, dist: Path
) -> None:
    async with running(database_url, tmp_path, load_examples=False, web_dist=dist) as (client, _):
        assert (await client.get("/api/v1/workflows")).json()["items"] == []
        assert (await client.get("/health")).json()["status"] == "ok"
        assert (await client.get("/openapi.json")).json()["info"]["title"] == "FlowForge"
        for path in (
            "/api",
            "/api/v1/nope",
            "/api/v2/workflows",
            "/health/x",
            "/metrics/x",
            "/openapi.json/x",
            "/docs/x",
            "/redoc/x",
            "/.well-known/x",
        ):
            response = await client.get(path)
            assert_error(response, 404, "NOT_FOUND")
            assert INDEX not in response.text, path
        hook = await client.get("/hooks/nothing-here")
        assert_error(hook, 404, "WEBHOOK_NOT_FOUND")
        # other methods: the API's 404, not 405
        for method in ("POST", "PUT", "DELETE"):
            error = assert_error(await client.request(method, "/workflows/abc"), 404, "NOT_FOUND")
            assert error["message"] == f"no route {method} /workflows/abc"
            assert_error(await client.request(method, "/api/v1/nope"), 404, "NOT_FOUND")


async def test_no_path_leads_outside_the_build(
    database_url: str, tmp_path: Path, dist: Path
) -> None:
    (dist / "assets" / "link.txt").symlink_to(tmp_path / "secret.txt")
    (dist / "assets" / "up").symlink_to(tmp_path)
    async with running(database_url, tmp_path, load_examples=False, web_dist=dist) as (client, _):
        for path in (
            "/..%2fsecret.txt",
            "/..%2f..%2fsecret.txt",
            "/%2e%2e/secret.txt",
            "/assets/%2e%2e/%2e%2e/secret.txt",
            "/assets/..%2f..%2fsecret.txt",
            "/..%5csecret.txt",
            "/assets/..%5c..%5csecret.txt",
            "/%2e%2e%2fmaster.key",
            "/assets/link.txt",
            "/assets/up/secret.txt",
            "/assets/up/master.key",
            "/%00",
            "/x%00.js",
            "/" + "a" * 5000 + ".js",
        ):
            response = await client.get(path)
            assert_error(response, 404, "NOT_FOUND")
            assert SECRET not in response.text, path
        assert (tmp_path / "master.key").exists()  # what "/..%2fmaster.key" would have found

    # dot segments as sent on the wire (an HTTP client removes them before sending)
    settings = Settings(home=tmp_path / "raw", load_examples=False, web_dist=dist)
    app = create_app(settings, server=Server(settings, database_url=database_url))
    for path in (
        "/assets/../../secret.txt",
        "/../secret.txt",
        "/./index.html",
        "/a/../..",
        "//etc/passwd",
        "/assets//../../secret.txt",
    ):
        status, body = await _raw_get(app, path)
        assert status == 404, path
        assert SECRET.encode() not in body


async def _raw_get(app: Any, path: str) -> tuple[int, bytes]:
    """GET ``path`` exactly as given, through the ASGI app."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"flowforge")],
        "client": ("127.0.0.1", 50000),
        "server": ("flowforge", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body


async def test_without_a_build_the_page_says_how_to_make_one(
    database_url: str, tmp_path: Path
) -> None:
    empty = tmp_path / "no-build"
    async with running(database_url, tmp_path, load_examples=False, web_dist=empty) as (
        client,
        _,
    ):
        for path in ("/", "/workflows/abc"):
            error = assert_error(await client.get(path), 503, "UNAVAILABLE")
            assert "make ui" in error["message"]
            assert str(empty) not in error["message"]  # no file system path to strangers
        assert_error(await client.get("/assets/app.js"), 404, "NOT_FOUND")
        assert (await client.get("/api/v1/workflows")).status_code == 200


def test_the_build_in_the_package_is_the_default() -> None:
    package = Path(flowforge.__file__).parent
    assert Settings().web_dist == package / "web" / "dist"
