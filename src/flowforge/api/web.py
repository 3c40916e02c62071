"""The web editor at ``/``: the single-page app built from ``ui/`` into ``web/dist``.

The editor is the application router's fallback: it sees only the requests that no route of
the API answered, so it can never shadow one. A GET (or HEAD) of a path outside the API's own
(``/api/``, ``/hooks/``, ``/docs``, ...) gets the file of that name in the build, or, for a path
without a file extension (an editor page such as ``/workflows/abc``), ``index.html``; the
editor's own router then shows the page. Everything else gets the API's 404.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.responses import FileResponse, Response
from starlette.staticfiles import NotModifiedResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from flowforge.api._errors import ApiError

__all__ = ["EDITOR_CSP", "RESERVED_PATHS", "Editor", "install"]

# The API's and the server's own paths: never the editor's, whether or not a route answers.
RESERVED_PATHS = (
    "/api",
    "/hooks",
    "/health",
    "/metrics",
    "/openapi.json",
    "/docs",
    "/redoc",
    "/.well-known",
)

# The editor's page may load its own scripts, styles and images and call its own server, and
# nothing else: no inline scripts, no plugins, no <base>, never framed. (React Flow sets inline
# styles, hence 'unsafe-inline' for styles alone.)
EDITOR_CSP = "; ".join(
    (
        "default-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data: blob:",
        "style-src 'self' 'unsafe-inline'",
        "script-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
_IMMUTABLE = "public, max-age=31536000, immutable"  # assets/ names carry a hash of the content
_REVALIDATE = "no-cache"
_NOT_BUILT = (
    "the web editor is not built: run `make ui` (it builds ui/ into src/flowforge/web/dist), "
    "or point FLOWFORGE_WEB_DIST at a build; the API works without it (see /docs)"
)


def install(app: FastAPI, dist: Path) -> None:
    """Serve the editor built in ``dist`` for the requests that no route of ``app`` answers."""
    app.router.default = Editor(dist, app.router.default)


class Editor:
    """An ASGI app answering GET and HEAD with the editor's files; ``not_found`` answers every
    other request (the router's own 404)."""

    def __init__(self, dist: Path, not_found: ASGIApp) -> None:
        self.dist = dist.resolve()
        self.not_found = not_found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or _reserved(path):
            await self.not_found(scope, receive, send)
            return
        response = await asyncio.to_thread(self.response, path, Headers(scope=scope))
        await response(scope, receive, send)

    def response(self, path: str, headers: Mapping[str, str]) -> Response:
        """The answer to a GET of ``path`` (blocking: it reads the file system)."""
        missing = ApiError(404, f"no file {path}")
        parts = path.split("/")[1:]
        if parts and parts[-1] == "":
            parts.pop()  # a trailing slash: /workflows/ is /workflows
        # No "..", ".", empty or odd segment gets near the file system, whatever it resolves to.
        if any(part in ("", ".", "..") or "\\" in part or "\0" in part for part in parts):
            raise missing
        if parts:
            target = self.dist.joinpath(*parts)
            try:
                real = target.resolve()
                inside = real.is_relative_to(self.dist)
                is_file = inside and real.is_file()
            except (OSError, ValueError):  # a name too long, say
                raise missing from None
            if not inside:  # a symbolic link that leads out
                raise missing
            if is_file and real != self.dist / "index.html":
                cache = _IMMUTABLE if parts[0] == "assets" and len(parts) > 1 else _REVALIDATE
                return _file(real, headers, {"Cache-Control": cache})
            if not is_file and PurePosixPath(parts[-1]).suffix:
                raise missing
        index = self.dist / "index.html"
        if not index.is_file():
            raise ApiError(503, _NOT_BUILT)
        return _file(
            index, headers, {"Cache-Control": _REVALIDATE, "Content-Security-Policy": EDITOR_CSP}
        )


def _reserved(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in RESERVED_PATHS)


def _file(path: Path, request: Mapping[str, str], headers: dict[str, str]) -> Response:
    """The file, or 304 when the client holds this version (its ETag)."""
    stat = os.stat(path)
    response = FileResponse(path, headers=headers, stat_result=stat)
    etag = response.headers.get("etag")
    given = request.get("if-none-match")
    if etag is not None and given is not None:
        tags = {tag.strip().removeprefix("W/") for tag in given.split(",")}
        if etag in tags or "*" in tags:
            # with its own headers: a browser applies a 304's Content-Security-Policy to the
            # page it holds, and without the editor's the API's would block its scripts
            not_modified = NotModifiedResponse(response.headers)
            not_modified.headers.update(headers)
            return not_modified
    return response
