"""The application factory: configuration, logging, database, routes, error pages."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from . import activities  # noqa: F401 - importing it registers every activity type
from .designer import routes as designer
from .exchange import routes as exchange
from .meetings import event_log
from .meetings.activity_types import TYPES, default_type, type_routes
from .meetings.broker import InProcessBroker
from .meetings.live import LiveEngine, Presence
from .meetings.routes import meetings, results, room, transfer
from .meetings.shared_presence import SharedPresence
from .meetings.write_order import MeetingWriteOrder
from .platform.bus import Bus
from .platform.bus import connect as connect_redis
from .platform.config import DEV_SECRET_WARNING, Config, ConfigError, load_config, redacted
from .platform.db import Busy, Database, connect
from .platform.errors import FormErrors, PasswordChangeRequired, Refused, SignInRequired
from .platform.logs import configure_logging
from .platform.metrics import RequestTimer
from .platform.middleware import BUSY_MESSAGE, DecideroMiddleware
from .platform.passwords import HASH_NICENESS, Hasher
from .platform.ratelimit import (
    GUEST_WINDOW_SECONDS,
    GUESTS_PER_ADDRESS,
    LoginLimiter,
    SharedCreationLimiter,
    SharedLoginLimiter,
)
from .platform.routes import admin_users, auth, grab, health, metrics, pages, profile, settings
from .platform.runtime_settings import RuntimeSettings
from .platform.sessions import Signing
from .platform.web import (
    Services,
    context,
    error_response,
    is_htmx,
    make_templates,
    password_change_url,
    see_other,
    sign_in_response,
)
from .reports import routes as reports
from .schema import migrate

log = logging.getLogger("decidero")

HTTP_MESSAGES = {404: "Not found", 405: "Method not allowed"}


def open_database(config: Config) -> Database:
    """Open the database and apply pending migrations, or fail with the operator-facing message."""
    try:
        if config.database_path is not None:
            config.database_path.parent.mkdir(parents=True, exist_ok=True)
        database = connect(config.database_url, config.database_path)
        database.ping()
        migrate(database)
    except Exception as exc:
        raise ConfigError(f"Cannot open database {redacted(config.database_url)}: {exc}") from exc
    return database


async def _sign_in_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    return sign_in_response(request, exc.expired)


async def _password_change_required(request: Request, exc: Exception) -> Response:
    target = password_change_url(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    if is_htmx(request):
        return Response(status_code=401, headers={"HX-Redirect": target})
    return see_other(target)


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    return error_response(request, exc.status, exc.message, exc.headers)


async def _form_errors(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FormErrors)
    return error_response(request, 422, " ".join(exc.errors.values()))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(request, exc.status_code, HTTP_MESSAGES.get(exc.status_code, exc.detail))


async def _busy(request: Request, exc: Exception) -> Response:
    return error_response(request, 503, BUSY_MESSAGE, {"Retry-After": "5"})


async def _unexpected(request: Request, exc: Exception) -> Response:
    request_id = context(request).request_id if "decidero" in request.scope else "-"
    log.error("Unhandled error (error id %s) on %s %s", request_id, request.method, request.url.path, exc_info=exc)
    message = f"Something went wrong. The error has been logged. Error id: {request_id}"
    return error_response(request, 500, message)


def create_app(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Starlette:
    """Build an app from ``env`` (default: the process environment); raises ConfigError."""
    config = load_config(env, cwd)
    configure_logging(config)
    if config.secret_generated:
        log.warning(DEV_SECRET_WARNING)
    database = open_database(config)
    # With Redis, several workers share events, presence, login limits and cache invalidation.
    redis = connect_redis(config.redis_url) if config.redis_url else None
    bus = Bus(redis)
    runtime = RuntimeSettings(database, config.secret_key, bus)
    runtime.load()
    services = Services(
        config=config,
        db=database,
        settings=runtime,
        signing=Signing(config.secret_key, config.issuer),
        templates=make_templates(config),
        limiter=SharedLoginLimiter(redis, lambda: bus.connected) if redis is not None else LoginLimiter(),
        hasher=Hasher(niceness=HASH_NICENESS if database.backend == "sqlite" else 0),
        bus=bus,
    )
    if redis is not None:
        services.guest_limiter = SharedCreationLimiter(
            redis, "guests", GUESTS_PER_ADDRESS, GUEST_WINDOW_SECONDS, lambda: bus.connected
        )
    services.templates.globals["types"] = TYPES  # the activity type menus (the platform knows no types)
    services.templates.globals["default_type"] = default_type()

    dropped = services.metrics.streams_dropped
    broker = InProcessBroker(on_drop=dropped.labels("queue_full").inc)
    presence = Presence(SharedPresence(redis, bus.worker_id, lambda: bus.connected) if redis is not None else None)
    live_engine = LiveEngine(services, broker, presence, floor=database.read_sync(event_log.newest_id))
    live_engine.listen(bus)
    bus.on_connect(presence.refresh)  # Redis may have restarted empty
    services.extras["live"] = live_engine
    services.metrics.open_streams.set_function(live_engine.open_streams)
    services.metrics.write_queue.set_function(database.pending_writes)
    services.metrics.write_conflicts.set_function(lambda: database.conflicts)
    services.metrics.redis_connected.set_function(lambda: 1 if bus.connected or not bus.shared else 0)
    services.on_sessions_revoked.append(live_engine.expire_sessions)  # their streams end
    services.on_role_changed.append(lambda user_id: live_engine.recheck([user_id]))  # judged again
    services.describe_next.append(meetings.describe_next(database))  # "You are joining …" on sign-in

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        log.info(
            "Decidero started (database %s%s)",
            config.database_path or redacted(config.database_url),
            ", Redis" if redis is not None else "",
        )
        bus.start()
        tasks = [
            asyncio.create_task(live_engine.tick_forever()),
            asyncio.create_task(live_engine.stalled.sweep_forever(dropped.labels("stalled").inc)),
        ]
        if redis is not None:
            tasks.append(asyncio.create_task(presence.heartbeat_forever()))
        yield
        for task in tasks:
            task.cancel()
        live_engine.stop_publishing()
        broker.close_all()
        await bus.stop()
        services.hasher.close()
        database.close()
        log.info("Decidero stopped; database closed")

    routes = [
        *pages.routes,
        *health.routes,
        *metrics.routes,
        *auth.routes,
        *profile.routes,
        *admin_users.routes,
        *settings.routes,
        *designer.routes,
        *exchange.routes,
        *meetings.routes,  # before the room: /meeting/create must not match /meeting/{mid}
        *room.routes,
        *transfer.routes,
        *reports.routes,
        *(grab.routes if config.grab_enabled else []),
        *results.routes,  # dispatched to the activity's type
        *type_routes(),  # each activity type's own (ideas, ballots, …)
        Mount("/static", StaticFiles(directory=config.static_dir), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(RequestTimer, metrics=services.metrics, routes=routes),
            Middleware(DecideroMiddleware),
            Middleware(MeetingWriteOrder),
        ],
        exception_handlers={
            SignInRequired: _sign_in_required,
            PasswordChangeRequired: _password_change_required,
            Refused: _refused,
            FormErrors: _form_errors,
            HTTPException: _http_error,
            Busy: _busy,
            Exception: _unexpected,
        },
        lifespan=lifespan,
    )
    app.state.services = services
    return app
