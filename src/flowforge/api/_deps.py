"""Dependencies the routes share."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from flowforge.server import Server

__all__ = ["ServerDep"]


async def _server(request: Request) -> Server:
    # async: FastAPI runs a plain function dependency in a worker thread
    server: Server = request.app.state.server
    return server


ServerDep = Annotated[Server, Depends(_server)]
