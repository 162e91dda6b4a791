"""Prometheus metrics of one worker process, served on ``/metrics`` (``routes/metrics``).

Each app has its own registry (tests build many apps in one process). Several workers run as separate
instances, each scraped on its own port, so no multi-process aggregation is needed (deploy/HOSTING.md).
Gauges and counters whose value lives elsewhere (open streams, the writer queue, write conflicts,
Redis) are read at scrape time:
``create_app`` hands them their source.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from starlette.routing import BaseRoute, Mount, Route

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)
UNMATCHED = "unmatched"  # 404s: one label, not one per path a scanner tries


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)  # CPU, RSS, open files of this worker
        PlatformCollector(registry=self.registry)
        self.requests = Histogram(
            "decidero_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template, method and status (event streams excluded).",
            ("route", "method", "status"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.open_streams = Gauge("decidero_open_streams", "Event streams open on this worker.", registry=self.registry)
        self.publish_lag = Histogram(
            "decidero_publish_lag_seconds",
            "From an event's commit to its fan-out onto this worker's streams.",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self.events_published = Counter(
            "decidero_events_published", "Logged meeting events fanned out to this worker's streams.", registry=self.registry
        )
        self.streams_dropped = Counter(
            "decidero_streams_dropped",
            "Streams ended by the server because the client fell behind (queue full) or stopped reading (stalled).",
            ("reason",),
            registry=self.registry,
        )
        self.write_queue = Gauge("decidero_db_write_queue", "Write jobs waiting for the database writer.", registry=self.registry)
        self.write_conflicts = CountedElsewhere(
            "decidero_db_write_conflicts",
            "Write transactions run again after a serialization failure or a deadlock (Postgres; 0 on SQLite).",
            self.registry,
        )
        self.redis_connected = Gauge(
            "decidero_redis_connected", "1 while subscribed to Redis (always 1 without Redis), 0 while away.", registry=self.registry
        )
        for reason in ("queue_full", "stalled"):
            self.streams_dropped.labels(reason)


class CountedElsewhere:
    """A counter whose value another object keeps, read at scrape time (a ``Counter`` cannot be
    pointed at one, and a ``Gauge`` would tell Prometheus it may go down)."""

    def __init__(self, name: str, documentation: str, registry: CollectorRegistry) -> None:
        self.name, self.documentation = name, documentation
        self.read: Callable[[], float] = lambda: 0.0
        registry.register(self)

    def set_function(self, read: Callable[[], float]) -> None:
        self.read = read

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(self.name, self.documentation, value=self.read())


class RequestTimer:
    """ASGI middleware timing every HTTP request except event streams, labelled by the route that
    answered (the router records its endpoint in the shared scope)."""

    def __init__(self, app: ASGIApp, metrics: Metrics, routes: list[BaseRoute]) -> None:
        self.app = app
        self.metrics = metrics
        self.label = route_labeller(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500
        streaming = False

        async def watch(message: Message) -> None:
            nonlocal status, streaming
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = message.get("headers", ())
                streaming = any(k == b"content-type" and v.startswith(b"text/event-stream") for k, v in headers)
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            if not streaming:
                elapsed = time.perf_counter() - began
                self.metrics.requests.labels(self.label(scope), scope["method"], str(status)).observe(elapsed)


def route_labeller(routes: list[BaseRoute]) -> Callable[[Scope], str]:
    """The route template (``/meeting/{mid}``) of a routed request, from the endpoint the router set."""
    by_endpoint: dict[Any, list[Route]] = {}
    mounts: list[Mount] = []
    for route in routes:
        if isinstance(route, Route):
            by_endpoint.setdefault(route.endpoint, []).append(route)
        elif isinstance(route, Mount):
            mounts.append(route)

    def label(scope: Scope) -> str:
        candidates = by_endpoint.get(scope.get("endpoint"), [])
        if len(candidates) == 1:
            return candidates[0].path
        for route in candidates:  # one endpoint behind several paths: the one that matches
            if route.path_regex.match(scope["path"]):
                return route.path
        for mount in mounts:
            if scope["path"].startswith(mount.path + "/"):
                return mount.path + "/{path}"
        return UNMATCHED

    return label
