"""GET /metrics in Prometheus text format, for a scraper on the server itself or one holding the token.

Behind Caddy every request arrives from 127.0.0.1, so the peer address alone says nothing: a request
that carries a forwarding header came through a proxy and counts as remote whatever its address.
"""

from __future__ import annotations

import hmac
import ipaddress

from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from ..web import services

FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-real-ip")
REFUSED = "Metrics are served to loopback clients, or to others with DECIDERO_METRICS_TOKEN as a bearer token."


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def may_scrape(request: Request, token: str) -> bool:
    """Loopback without any forwarding header, or the configured bearer token."""
    if token:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return True
    proxied = any(name in request.headers for name in FORWARDING_HEADERS)
    return not proxied and request.client is not None and is_loopback(request.client.host)


async def metrics(request: Request) -> Response:
    svc = services(request)
    if not may_scrape(request, svc.config.metrics_token):
        return PlainTextResponse(REFUSED, status_code=403, headers={"WWW-Authenticate": "Bearer"})
    return Response(generate_latest(svc.metrics.registry), media_type=CONTENT_TYPE_PLAIN_0_0_4)


routes = [Route("/metrics", metrics, methods=["GET"])]
