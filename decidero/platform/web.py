"""Request plumbing shared by every route: services, the signed-in user, rendering, redirects."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from .bus import Bus
from .config import Config
from .db import Database
from .errors import PasswordChangeRequired, Refused, SignInRequired
from .grab import annotate as grab_annotate
from .metrics import Metrics
from .models import User, UserSession
from .passwords import Hasher
from .profile import avatar_ink
from .ratelimit import (
    GUEST_WINDOW_SECONDS,
    GUESTS_PER_ADDRESS,
    CreationLimiter,
    LoginLimiter,
    SharedCreationLimiter,
    SharedLoginLimiter,
)
from .runtime_settings import RuntimeSettings
from .sessions import SESSION_COOKIE, Signing

# Set by the middleware: the JSON fields whose value is a list, object, number or null.
NON_TEXT_FIELDS = "decidero.non_text_fields"
# Codes carried in ?message= so a redirect can show a notice without a cookie.
NOTICES = {
    "registered": "User registered successfully. Please log in.",
    "login_required": "Please sign in to continue.",
    "session_expired": "Your session expired. Please sign in again.",
    "logged_out": "You have been signed out.",
    "password_changed": "Password changed.",
    "must_change_password": "You must choose a new password before continuing.",
    "settings_saved": "Settings saved. They apply from the next request.",
    "settings_unchanged": "Nothing changed.",
    "setting_reset": "The setting is back to its default.",
}


# Told, after the commit, that sessions of a user were revoked: (user id, only this session key,
# every session but this one). The live engine subscribes at app start to end their streams.
SessionsRevoked = Callable[[str, str | None, str | None], None]
# Awaited, after the commit, when a user's global role changed: what they may see anywhere may have
# changed, so the live engine judges their open streams again before the request answers.
RoleChanged = Callable[[str], Awaitable[None]]
# Asked by the sign-in and register pages what a ``next=`` path leads to, for a line such as
# "You are joining “Q3 Planning”." (None when the path is not theirs to describe).
DescribeNext = Callable[[str], Awaitable[str | None]]


@dataclass
class Services:
    """Everything a route needs, built once per app by ``create_app``."""

    config: Config
    db: Database
    settings: RuntimeSettings
    signing: Signing
    templates: Environment
    limiter: LoginLimiter | SharedLoginLimiter = field(default_factory=LoginLimiter)
    guest_limiter: CreationLimiter | SharedCreationLimiter = field(default_factory=lambda: CreationLimiter(GUESTS_PER_ADDRESS, GUEST_WINDOW_SECONDS))
    hasher: Hasher = field(default_factory=Hasher)
    bus: Bus = field(default_factory=Bus)
    metrics: Metrics = field(default_factory=Metrics)
    extras: dict[str, Any] = field(default_factory=dict)
    on_sessions_revoked: list[SessionsRevoked] = field(default_factory=list)
    on_role_changed: list[RoleChanged] = field(default_factory=list)
    describe_next: list[DescribeNext] = field(default_factory=list)

    def sessions_revoked(self, user_id: str, *, only: str | None = None, keep: str | None = None) -> None:
        """Sign-out (``only`` that session), password change (all but ``keep``), deactivation (all)."""
        for listener in self.on_sessions_revoked:
            listener(user_id, only, keep)

    async def role_changed(self, user_id: str) -> None:
        for listener in self.on_role_changed:
            await listener(user_id)

    async def next_note(self, next_path: str) -> str:
        for describe in self.describe_next:
            note = await describe(next_path)
            if note:
                return note
        return ""


@dataclass
class RequestContext:
    """Filled by the auth middleware for every HTTP request."""

    request_id: str
    user: User | None = None
    session: UserSession | None = None
    session_expired: bool = False
    csrf_binding: str | None = None
    new_presession_cookie: str | None = None


def services(request: Request) -> Services:
    return request.app.state.services


def context(request: Request) -> RequestContext:
    return request.scope["decidero"]


def current_user(request: Request, allow_password_change_pending: bool = False) -> User:
    """The signed-in user, or SignInRequired (answered as a redirect to /login or 401 for htmx)."""
    ctx = context(request)
    if ctx.user is None:
        raise SignInRequired(expired=ctx.session_expired)
    if ctx.user.must_change_password and not allow_password_change_pending:
        raise PasswordChangeRequired()
    return ctx.user


def optional_user(request: Request) -> User | None:
    return context(request).user


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def set_session_cookie(request: Request, response: Response, raw_id: str) -> Response:
    """Sign the browser in with a session just created (login, guest join)."""
    svc = services(request)
    response.set_cookie(
        SESSION_COOKIE,
        svc.signing.sign_session(raw_id),
        max_age=int(svc.settings.get("auth.session_lifetime_minutes")) * 60,
        httponly=True,
        samesite="lax",
        secure=svc.config.secure_cookies,
    )
    return response


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def wants_fragment(request: Request) -> bool:
    """The one place deciding fragment versus full page (boosted requests want the page)."""
    return is_htmx(request) and request.headers.get("HX-Boosted") != "true"


def local_path(candidate: str | None) -> str | None:
    """``next=`` targets: only same-site absolute paths, never ``//host`` or schemes.

    Browsers drop tabs and newlines from URLs ("/<tab>/evil.example" becomes "//evil.example"), so
    any control character disqualifies a target too.
    """
    if not candidate or not candidate.startswith("/") or candidate.startswith("//") or "\\" in candidate:
        return None
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in candidate):
        return None
    return candidate


def login_url(path: str, message: str) -> str:
    return "/login?" + urlencode({"next": path, "message": message}, quote_via=quote)


def password_change_url(next_path: str) -> str:
    return "/profile/password?" + urlencode({"next": next_path}, quote_via=quote)


def return_path(request: Request) -> str:
    """Where to come back after signing in: this page, or for a POST the page it was sent from."""
    if request.method in ("GET", "HEAD"):
        return request.url.path + (f"?{request.url.query}" if request.url.query else "")
    for header in ("hx-current-url", "referer"):
        url = urlsplit(request.headers.get(header, ""))
        if url.netloc == request.url.netloc and local_path(url.path):
            return url.path + (f"?{url.query}" if url.query else "")
    return "/dashboard"


def sign_in_response(request: Request, expired: bool) -> Response:
    """Signed out: a page gets a 303 to the login page, htmx a 401 with HX-Redirect (SPEC §4.0)."""
    target = login_url(return_path(request), "session_expired" if expired else "login_required")
    if is_htmx(request):
        return Response(status_code=401, headers={"HX-Redirect": target})
    return see_other(target)


def has_route(request: Request, path: str, method: str = "GET") -> bool:
    """Whether the app serves the route ``path`` (as declared, e.g. ``/meeting/{mid}/export``): pages
    link to a feature only once it is built (no dead ends). Compared as declared, not matched, since
    ``/meeting/{mid}`` would also match ``/meeting/import``."""
    return any(isinstance(r, Route) and r.path == path and method in (r.methods or ()) for r in request.app.routes)


def see_other(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


def redirect(request: Request, url: str) -> Response:
    """After a successful POST: 303 for plain forms, HX-Redirect for htmx (a full navigation)."""
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return see_other(url)


def make_templates(config: Config) -> Environment:
    env = Environment(
        loader=FileSystemLoader(config.templates_dir),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=not config.production,  # a stat() per template use is measurable under load
        # A plain dict, not Jinja's LRU: its lock made every get_template (one per include) a convoy
        # between the render threads, 25 % of a crowd's samples. The templates are a fixed set of files.
        cache_size=-1,
    )
    env.globals["notices"] = NOTICES
    env.filters["avatar_ink"] = avatar_ink
    if config.grab_enabled:  # SPEC §3.8: markers only when asked for; otherwise the environment is untouched
        grab_annotate(env)
    return env


def render(
    request: Request,
    template: str,
    values: dict[str, Any] | None = None,
    *,
    status: int = 200,
    block: str | None = None,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render a page, or only ``block`` of it when htmx asks for a fragment."""
    tmpl = services(request).templates.get_template(template)
    data = _template_data(request, values)
    if block and wants_fragment(request):
        html = "".join(tmpl.blocks[block](tmpl.new_context(data)))
    else:
        html = tmpl.render(data)
    return HTMLResponse(html, status_code=status, headers=headers)


async def render_off_loop(request: Request, template: str, values: dict[str, Any], *, status: int = 200) -> HTMLResponse:
    """``render`` on a worker thread, for the pages whose size a crowd multiplies (the meeting room,
    its catch-up, a board): on the event loop a render holds every stream and submit for its whole
    length; on a thread the loop takes the interpreter back at each switch interval (5 ms)."""
    tmpl = services(request).templates.get_template(template)
    html = await asyncio.to_thread(tmpl.render, _template_data(request, values))
    return HTMLResponse(html, status_code=status)


def _template_data(request: Request, values: dict[str, Any] | None) -> dict[str, Any]:
    """What every template may use, then the route's own values."""
    ctx = context(request)
    return {
        "request": request,
        "user": ctx.user,
        "csrf_token": services(request).signing.csrf_token(ctx.csrf_binding or "", signed_in=ctx.session is not None),
        "config": services(request).config,
        "settings": services(request).settings,
        "has_route": lambda path, method="GET": has_route(request, path, method),
        **(values or {}),
    }


def render_fragment(env: Environment, template: str, values: dict[str, Any]) -> str:
    """Render a partial outside a request (SSE fan-out renders once per audience)."""
    return env.get_template(template).render(values)


async def form_data(request: Request) -> dict[str, str]:
    """The submitted text fields (form or JSON), as parsed once by the middleware's CSRF check.

    A JSON field that is not a string is refused rather than stored as its Python repr.
    """
    non_text = request.scope.get(NON_TEXT_FIELDS)
    if non_text:
        raise Refused(f"The field “{non_text[0]}” must be text.", 400)
    return dict(request.scope.get("decidero.fields", {}))


def error_response(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """A 4xx/5xx answer with the reason: the error page, or for htmx a notice in the page's #flash."""
    if wants_fragment(request):
        # Wherever the request meant to swap, a refusal shows as a notice (SPEC §4.0: no silent errors).
        flash = {"HX-Retarget": "#flash", "HX-Reswap": "innerHTML", **(headers or {})}
        return render(request, "_partials/flash.html", {"message": message, "status": status}, status=status, headers=flash)
    return render(request, "error.html", {"status": status, "message": message}, status=status, headers=headers)
