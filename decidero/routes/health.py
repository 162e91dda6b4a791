"""GET/HEAD /health for the operator's checks and Caddy (SPEC §3.5)."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..web import services

TIMEOUT_SECONDS = 2.0
# Reading the schema takes a shared lock, so a database that cannot be read really answers 503.
PROBE = "SELECT 1 FROM sqlite_master LIMIT 1"


async def health(request: Request) -> Response:
    db = services(request).db
    try:
        await asyncio.wait_for(db.read(lambda: db.peewee.execute_sql(PROBE).fetchone()), TIMEOUT_SECONDS)
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy, with the reason
        detail = str(exc) or type(exc).__name__
        return JSONResponse(
            {"status": "unhealthy", "database": "unreachable", "detail": detail},
            status_code=503,
            headers={"Retry-After": "5"},
        )
    return JSONResponse({"status": "healthy", "database": "connected"})


routes = [Route("/health", health, methods=["GET", "HEAD"])]
