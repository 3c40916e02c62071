"""``/health`` and ``/metrics``."""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from flowforge.api._auth import guard
from flowforge.api._deps import ServerDep
from flowforge.api._schemas import Check, Health

__all__ = ["router"]

router = APIRouter(tags=["system"])


@router.get(
    "/health",
    summary="Is the server well",
    response_model=Health,
    responses={503: {"model": Health}},
    openapi_extra={"x-permission": "public"},
)
async def health(server: ServerDep) -> JSONResponse:
    """``ok`` with 200 when every dependency answers, ``degraded`` with 503 otherwise."""
    checks: dict[str, Check] = {}
    started = time.perf_counter()
    try:
        await asyncio.wait_for(asyncio.to_thread(server.store.count_executions), 5)
        checks["database"] = Check(
            status="ok", latency_ms=round((time.perf_counter() - started) * 1000, 3)
        )
    except Exception as exc:
        checks["database"] = Check(status="failing", detail=f"{type(exc).__name__}: {exc}")
    checks["scheduler"] = (
        Check(status="ok")
        if server.background_alive()
        else Check(status="failing", detail="stopped")
    )
    checks["engine"] = Check(status="ok", detail=f"{server.engine.running()} run(s) driven here")
    ok = all(c.status == "ok" for c in checks.values())
    body = Health(
        status="ok" if ok else "degraded",
        version=server.version,
        uptime_s=round(server.uptime_s(), 3),
        checks=checks,
    )
    return JSONResponse(
        body.model_dump(mode="json", by_alias=True, exclude_none=True),
        status_code=200 if ok else 503,
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    **guard("metrics:read", responses={200: {"content": {"text/plain; version=0.0.4": {}}}}),
)
async def metrics(server: ServerDep) -> Response:
    """HTTP requests by route and status with latency histograms, runs started, completed,
    failed and cancelled, step durations by node type, and runs pending, running and waiting."""
    body = await asyncio.to_thread(server.metrics.exposition)
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")
