"""Sign in, sign out, register."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import accounts
from ..errors import FormErrors, Refused
from ..passwords import DUMMY_HASH, RETRY_AFTER_SECONDS
from ..ratelimit import TOO_MANY, LimitPolicy, limit_key
from ..sessions import SESSION_COOKIE, create_session, revoke
from ..web import (
    client_ip,
    context,
    form_data,
    local_path,
    optional_user,
    password_change_url,
    redirect,
    render,
    see_other,
    services,
    set_session_cookie,
)

INCORRECT = "Incorrect username or password"
DEACTIVATED = "This account is deactivated. Contact an administrator."


def _policy(request: Request) -> LimitPolicy:
    get = services(request).settings.get
    return LimitPolicy(
        enabled=bool(get("security.login_rate_limit_enabled")),
        window_seconds=int(get("security.login_rate_limit_window_seconds")),
        max_per_username=int(get("security.login_rate_limit_max_failures_per_username")),
        max_per_ip=int(get("security.login_rate_limit_max_failures_per_ip")),
        lockout_seconds=int(get("security.login_rate_limit_lockout_seconds")),
    )


async def _login_page(request: Request, status: int = 200, **values: object) -> Response:
    svc = services(request)
    needs_setup = not await svc.db.read(accounts.admin_exists)
    headers = {"Retry-After": str(values.pop("retry_after"))} if "retry_after" in values else None
    next_path = str(values.pop("next", None) or local_path(request.query_params.get("next")) or "")
    page = {"needs_setup": needs_setup, "next": next_path, "joining": await svc.next_note(next_path), **values}
    return render(request, "login.html", page, status=status, headers=headers)


async def login_get(request: Request) -> Response:
    if optional_user(request) is not None:
        return see_other(local_path(request.query_params.get("next")) or "/dashboard")
    notice = request.query_params.get("message", "")
    return await _login_page(request, notice=notice)


async def login_post(request: Request) -> Response:
    svc = services(request)
    form = await form_data(request)
    identifier = accounts.clean_text(form.get("login"))[:254]
    password = form.get("password", "")
    next_path = local_path(form.get("next")) or "/dashboard"
    ip, policy = client_ip(request), _policy(request)
    page_values = {"login": identifier, "next": local_path(form.get("next")) or ""}
    user = await svc.db.read(lambda: accounts.find_by_login_or_email(identifier))
    key = limit_key(user.id if user is not None else None, identifier)
    wait = await svc.limiter.retry_after(key, ip, policy)
    if wait:
        return await _login_page(request, 429, error=TOO_MANY, retry_after=wait, **page_values)
    stored = user.password_hash if user is not None else DUMMY_HASH
    try:
        verified = await svc.hasher.verify(password, stored)
    except Refused as exc:  # every hashing thread busy and the queue full: the page retries by itself
        return await _login_page(request, exc.status, error=exc.message, retry_after=RETRY_AFTER_SECONDS, **page_values)
    if user is None or not verified:
        await svc.limiter.record_failure(key, ip, policy)
        return await _login_page(request, 401, error=INCORRECT, **page_values)
    if not user.is_active:
        return await _login_page(request, 403, error=DEACTIVATED, **page_values)
    await svc.limiter.record_success(key)
    raw_id = await svc.db.write(lambda: create_session(user, ip, request.headers.get("user-agent", "")))
    target = password_change_url(next_path) if user.must_change_password else next_path
    return set_session_cookie(request, see_other(target), raw_id)


async def logout_post(request: Request) -> Response:
    session = context(request).session
    if session is not None:
        key = session.id
        await services(request).db.write(lambda: revoke(key))
        services(request).sessions_revoked(session.user_id, only=key)
    response = redirect(request, "/login?message=logged_out")
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax", secure=services(request).config.secure_cookies)
    return response


async def _register_page(
    request: Request, form: dict[str, str], errors: dict[str, str], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """The register form; an invite's ``next`` is kept through it, and on to the sign-in page."""
    next_path = local_path(form.get("next") or request.query_params.get("next")) or ""
    joining = await services(request).next_note(next_path)
    values = {"form": form, "errors": errors, "next": next_path, "joining": joining}
    return render(request, "register.html", values, status=status, headers=headers)


async def register_get(request: Request) -> Response:
    return await _register_page(request, {}, {})


async def register_post(request: Request) -> Response:
    """The only self-registration handler, mounted at /register and /api/auth/register (SPEC §3.6)."""
    svc = services(request)
    wants_json = request.url.path.startswith("/api/") and "text/html" not in request.headers.get("accept", "")
    form: dict[str, str] = {}
    try:
        form = await form_data(request)
        reg = accounts.validate_registration(form)
        password_hash = await svc.hasher.hash(reg.password)
        allowed = bool(svc.settings.get("auth.allow_self_registration"))
        user = await svc.db.write(lambda: accounts.register(reg, password_hash, allowed))
    except FormErrors as exc:
        if wants_json:
            return JSONResponse({"errors": exc.errors}, status_code=422)
        kept = {k: v for k, v in form.items() if "password" not in k}
        return await _register_page(request, kept, exc.errors, 422)
    except Refused as exc:
        if wants_json:
            return JSONResponse({"error": exc.message}, status_code=exc.status, headers=exc.headers)
        if exc.status == 503:  # hashing is full: the form again, as typed (never retried by itself)
            kept = {k: v for k, v in form.items() if "password" not in k}
            return await _register_page(request, kept, {"password": exc.message}, 503, exc.headers)
        raise
    if wants_json:
        return JSONResponse({"id": user.id, "login": user.login, "role": user.role}, status_code=201)
    next_path = local_path(form.get("next"))
    return redirect(request, "/login?" + urlencode({"message": "registered", **({"next": next_path} if next_path else {})}))


routes = [
    Route("/login", login_get, methods=["GET"]),
    Route("/login", login_post, methods=["POST"]),
    Route("/logout", logout_post, methods=["POST"]),
    Route("/register", register_get, methods=["GET"]),
    Route("/register", register_post, methods=["POST"]),
    Route("/api/auth/register", register_post, methods=["POST"]),
]
