"""The ASGI layer every request passes: who is signing in, CSRF, body cap, headers, access and audit logs."""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

from peewee import OperationalError
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request

from .accounts import GUEST_CONFINED
from .db import Busy
from .errors import BUSY_MESSAGE
from .grab import GRAB_PATH
from .logs import QUIET_PATHS, redact
from .models import utcnow
from .sessions import (
    PRESESSION_COOKIE,
    SESSION_COOKIE,
    find_session,
    from_signed_in_page,
    needs_touch,
    new_raw_id,
    touch,
)
from .web import NON_TEXT_FIELDS, RequestContext, error_response, services, sign_in_response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

access_log = logging.getLogger("decidero.access")
audit_log = logging.getLogger("audit")
log = logging.getLogger("decidero")

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
UNATTRIBUTED = "decidero.unattributed"  # scope flag: log this request without its user
BODY_LIMIT = 1024 * 1024
IMPORT_BODY_LIMIT = 20 * 1024 * 1024
CSRF_MESSAGE = "Your form expired. Please reload the page and try again."
TOO_LARGE_MESSAGE = "The upload is too large."
BAD_FORM_MESSAGE = "The form could not be read. Please reload the page and try again."
BAD_JSON_MESSAGE = "The request body is not valid JSON."
# Guests take part in the meeting they joined and nothing else (SPEC §4.1): the meeting's pages judge
# membership themselves, and the dashboard sends a guest into their meeting.
GUEST_PAGES = ("/", "/dashboard", "/join", "/logout", "/about")
GUEST_PREFIXES = ("/meeting/", "/join/")
SECURITY_HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "content-security-policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
}


class TooLarge(Exception):
    pass


class BadBody(Exception):
    """A body that cannot be read as fields at all: answered 400 before anything else looks at it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _cookies(scope: Scope) -> dict[str, str]:
    raw = "; ".join(v.decode("latin-1") for k, v in scope["headers"] if k == b"cookie")
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:  # noqa: BLE001 - a malformed cookie header is treated as no cookies
        return {}
    return {k: m.value for k, m in jar.items()}


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise TooLarge()
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _declared_length(scope: Scope) -> int:
    """The request's Content-Length, or 0 when absent or unreadable (then the read itself counts)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _submitted_fields(scope: Scope, body: bytes, receive: Receive) -> dict[str, str]:
    """The body's text fields; BadBody when it cannot be parsed (a hostile or broken client).

    Parsing happens here, outside the app's exception handlers, so nothing may escape as a 500.
    """
    content_type = Request(scope).headers.get("content-type", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
    if content_type.startswith("multipart/form-data"):
        try:
            form = await Request(scope, _replay(body, receive)).form()
        except (HTTPException, MultiPartException):  # no boundary, broken parts, over 1,000 fields
            raise BadBody(BAD_FORM_MESSAGE) from None
        return {k: v for k, v in form.items() if isinstance(v, str)}
    if content_type.startswith("application/json"):
        try:
            data = json.loads(body or b"{}")
        except (ValueError, RecursionError):  # RecursionError: "[[[[…" nested deeper than the parser goes
            raise BadBody(BAD_JSON_MESSAGE) from None
        if not isinstance(data, dict):
            return {}
        # Lists and objects are not form fields; ``web.form_data`` refuses a request that sends them.
        scope[NON_TEXT_FIELDS] = [_utf8(k) for k, v in data.items() if not isinstance(v, str)]
        return {_utf8(k): _utf8(v) for k, v in data.items() if isinstance(v, str)}
    return {}


def _utf8(value: str) -> str:
    """JSON may carry lone surrogates ("\\ud800"), which no page or database can store."""
    return value.encode("utf-8", "replace").decode("utf-8")


class DecideroMiddleware:
    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # Not a secret, and no system call: os.urandom lets go of the interpreter on the event loop,
        # and getting it back meant waiting for a busy reader thread (py-spy, viewers N = 5,000).
        ctx = RequestContext(request_id=f"{random.getrandbits(48):012x}")
        scope["decidero"] = ctx
        request = Request(scope, receive)
        status_holder = {"status": 500}
        send = self._wrap_send(scope, ctx, send, status_holder)
        try:
            await self._handle(scope, receive, send, ctx, request)
        finally:
            self._log(scope, ctx, status_holder["status"], started)

    async def _handle(self, scope: Scope, receive: Receive, send: Send, ctx: RequestContext, request: Request) -> None:
        path: str = scope["path"]
        if path == GRAB_PATH and not services(request).config.grab_enabled:
            # GRAB off: nothing of it is served, not even a CSRF refusal (SPEC §3.8).
            await error_response(request, 404, "Not found")(scope, receive, send)
            return
        if not path.startswith(QUIET_PATHS):
            try:
                await self._authenticate(request, ctx)
            except (OperationalError, Busy) as exc:
                log.error("Database unavailable during authentication: %s", exc)
                await error_response(request, 503, BUSY_MESSAGE, {"Retry-After": "5"})(scope, receive, send)
                return
            self._note_ended_session(ctx, request.headers.get("x-csrf-token"))
            if ctx.user is not None and ctx.user.is_guest and not (path in GUEST_PAGES or path.startswith(GUEST_PREFIXES)):
                await error_response(request, 403, GUEST_CONFINED)(scope, receive, send)
                return
        if scope["method"] in UNSAFE_METHODS:
            limit = IMPORT_BODY_LIMIT if path == "/meeting/import" else BODY_LIMIT
            try:
                if _declared_length(scope) > limit:
                    raise TooLarge()  # refused before a byte of it is read
                body = await _read_body(receive, limit)
            except TooLarge:
                await error_response(request, 413, TOO_LARGE_MESSAGE)(scope, receive, send)
                return
            try:
                fields = await _submitted_fields(scope, body, receive)
            except BadBody as exc:
                await error_response(request, 400, exc.message)(scope, receive, send)
                return
            scope["decidero.fields"] = fields
            self._note_ended_session(ctx, fields.get("csrf_token"))
            # Either one may be current: a form's own field outlives a stale header, and vice versa.
            tokens = (request.headers.get("x-csrf-token"), fields.get("csrf_token"))
            if not any(services(request).signing.csrf_valid(ctx.csrf_binding, token) for token in tokens):
                # A form from a page whose session has since ended: say so, rather than "form expired".
                refusal = sign_in_response(request, True) if ctx.session_expired else None
                await (refusal or error_response(request, 403, CSRF_MESSAGE))(scope, receive, send)
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send)

    async def _authenticate(self, request: Request, ctx: RequestContext) -> None:
        svc = services(request)
        cookies = _cookies(request.scope)
        signed = cookies.get(SESSION_COOKIE)
        key = svc.signing.unsign_session(signed) if signed else None
        if key:
            lifetime = int(svc.settings.get("auth.session_lifetime_minutes"))
            found = await svc.db.read(lambda: find_session(key, lifetime))
            if found:
                ctx.session, ctx.user = found
                ctx.csrf_binding = key
                if needs_touch(ctx.session, utcnow()):
                    svc.db.submit_write(lambda: touch(key))
                return
        ctx.session_expired = signed is not None
        presession = cookies.get(PRESESSION_COOKIE)
        ctx.csrf_binding = svc.signing.unsign_presession(presession) if presession else None
        if ctx.csrf_binding is None:
            ctx.csrf_binding = new_raw_id()
            ctx.new_presession_cookie = svc.signing.sign_presession(ctx.csrf_binding)

    @staticmethod
    def _note_ended_session(ctx: RequestContext, token: str | None) -> None:
        """Signed out, but sent from a signed-in page (even with the cookie gone): the session ended."""
        if ctx.user is None and from_signed_in_page(token):
            ctx.session_expired = True

    def _wrap_send(self, scope: Scope, ctx: RequestContext, send: Send, status_holder: dict[str, int]) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                headers.setdefault("x-request-id", ctx.request_id)
                if ctx.user is not None:
                    headers.setdefault("cache-control", "no-store")
                if ctx.new_presession_cookie:
                    secure = services(Request(scope)).config.secure_cookies
                    headers.append(
                        "set-cookie",
                        f"{PRESESSION_COOKIE}={ctx.new_presession_cookie}; Path=/; HttpOnly; SameSite=Lax"
                        + ("; Secure" if secure else ""),
                    )
            await send(message)

        return wrapped

    def _log(self, scope: Scope, ctx: RequestContext, status: int, started: float) -> None:
        path: str = scope["path"]
        if path.startswith(QUIET_PATHS):
            return
        # A request that touches an anonymous round's idea never names its user (SPEC §4.8).
        user = None if scope.get(UNATTRIBUTED) else ctx.user
        who = user.login if user is not None else "-"
        elapsed_ms = (time.perf_counter() - started) * 1000
        access_log.info("%s %s %s %.1fms user=%s id=%s", scope["method"], path, status, elapsed_ms, who, ctx.request_id)
        if scope["method"] in UNSAFE_METHODS and user is not None and user.is_facilitator:
            fields = redact(dict(scope.get("decidero.fields", {})))
            audit_log.info(
                "%s %s %s user=%s role=%s fields=%s", scope["method"], path, status, who, user.role, fields
            )
