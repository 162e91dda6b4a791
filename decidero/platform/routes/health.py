"""GET/HEAD /health for the operator's checks and Caddy (SPEC §3.5)."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..web import services

TIMEOUT_SECONDS = 2.0


async def health(request: Request) -> Response:
    db = services(request).db
    try:
        # A thread of its own: a probe stuck on a lock must not hold up the pool's readers.
        await asyncio.wait_for(asyncio.to_thread(db.probe, TIMEOUT_SECONDS), TIMEOUT_SECONDS)
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy, with the reason
        detail = str(exc) or type(exc).__name__
        return JSONResponse(
            {"status": "unhealthy", "database": "unreachable", "detail": detail},
            status_code=503,
            headers={"Retry-After": "5"},
        )
    body = {"status": "healthy", "database": "connected"}
    if services(request).bus.shared:
        # Still healthy while Redis is away: this worker serves its own streams and polls the log.
        body["redis"] = "connected" if services(request).bus.connected else "reconnecting"
    return JSONResponse(body)


routes = [Route("/health", health, methods=["GET", "HEAD"])]
