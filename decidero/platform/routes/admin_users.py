"""Manage Users (/admin/users), for admins and the super admin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import user_admin
from ..errors import Forbidden, FormErrors, Refused
from ..models import User
from ..passwords import password_problems
from ..web import current_user, form_data, redirect, render, services, wants_fragment


def _admin(request: Request) -> User:
    user = current_user(request)
    if not user.is_admin:
        raise Forbidden("Only administrators can manage users.")
    return user


async def _page(request: Request, status: int = 200, **values: Any) -> Response:
    query = request.query_params.get("q", "")
    sort = request.query_params.get("sort", "")
    sort = sort if sort in user_admin.SORT_COLUMNS else ""
    descending = bool(sort) and request.query_params.get("dir") == "desc"
    users = await services(request).db.read(lambda: user_admin.list_users(query, sort, descending))
    values.setdefault("pattern_form", {"prefix": "user_", "start": "1", "end": "5", "role": "participant"})
    values.setdefault("email_form", {"role": "participant"})
    data = {
        "users": users,
        "q": query,
        "sort": sort,
        "descending": descending,
        "default_password": services(request).settings.get("users.default_password"),
        "errors": {},
        **values,
    }
    block = "user_rows" if wants_fragment(request) and request.method == "GET" else None
    return render(request, "admin_users.html", data, status=status, block=block)


async def users_get(request: Request) -> Response:
    _admin(request)
    return await _page(request)


async def _act(
    request: Request,
    action: Callable[[User, str, dict[str, str]], Any],
    ends_sessions: bool = False,
    changes_access: bool = False,
) -> Response:
    """Run one row action; end the user's sessions and streams, or have their streams judged again
    (``changes_access``: a role decides what every meeting shows them)."""
    actor = _admin(request)
    form = await form_data(request)
    user_id = request.path_params["uid"]
    try:
        outcome = await services(request).db.write(lambda: action(actor, user_id, form))
    except Refused as exc:
        # The table again, showing what is stored (a refused role change reverts its select), with
        # the reason in place of "Saved.", for htmx and plain forms alike.
        return await _page(request, exc.status, notice=exc.message, notice_kind="warning")
    if ends_sessions:
        services(request).sessions_revoked(user_id)
    if changes_access:
        await services(request).role_changed(user_id)
    notice = outcome if isinstance(outcome, str) else "Saved."
    if not wants_fragment(request):
        return redirect(request, "/admin/users")
    return await _page(request, notice=notice, notice_kind="success")


async def role_post(request: Request) -> Response:
    return await _act(
        request, lambda actor, uid, form: user_admin.change_role(actor, uid, form.get("role", "")), changes_access=True
    )


async def reset_password_post(request: Request) -> Response:
    _admin(request)
    form = await form_data(request)
    password = form.get("password", "").strip() or str(services(request).settings.get("users.default_password"))
    problems = password_problems(password)
    if problems:
        raise FormErrors({"password": " ".join(problems)})
    password_hash = await services(request).hasher.hash(password)
    return await _act(request, lambda actor, uid, _: user_admin.reset_password(actor, uid, password_hash), True)


async def activate_post(request: Request) -> Response:
    return await _act(request, lambda actor, uid, _: user_admin.set_active(actor, uid, True))


async def deactivate_post(request: Request) -> Response:
    return await _act(request, lambda actor, uid, _: user_admin.set_active(actor, uid, False), True)


async def delete_post(request: Request) -> Response:
    return await _act(request, lambda actor, uid, _: user_admin.delete_user(actor, uid), True)


async def guests_remove_post(request: Request) -> Response:
    actor = _admin(request)
    form = await form_data(request)
    try:
        days = user_admin.guest_age(form.get("days", ""))
    except FormErrors as exc:
        return await _page(request, 422, errors=exc.errors, guest_days=form.get("days", ""))
    notice, removed = await services(request).db.write(lambda: user_admin.remove_guests(actor, days))
    for user_id in removed:
        services(request).sessions_revoked(user_id)
    return await _page(request, notice=notice)


async def batch_pattern_post(request: Request) -> Response:
    _admin(request)
    form = await form_data(request)
    try:
        batch = user_admin.validate_pattern_batch(form)
    except FormErrors as exc:
        kept = {k: v for k, v in form.items() if k != "password"}
        return await _page(request, 422, errors=exc.errors, pattern_form=kept)
    # Everyone in a batch shares the announced default password, so one hash serves them all.
    password_hash = await services(request).hasher.hash(batch.password)
    result = await services(request).db.write(lambda: user_admin.create_pattern_batch(batch, password_hash))
    return await _page(request, batch_result=result.summary())


async def batch_emails_post(request: Request) -> Response:
    _admin(request)
    form = await form_data(request)
    try:
        entries, password, role = user_admin.validate_email_batch(form)
    except FormErrors as exc:
        kept = {k: v for k, v in form.items() if k != "password"}
        return await _page(request, 422, errors=exc.errors, email_form=kept)
    password_hash = await services(request).hasher.hash(password)
    result = await services(request).db.write(lambda: user_admin.create_email_batch(entries, role, password_hash))
    return await _page(request, batch_result=result.summary())


routes = [
    Route("/admin/users", users_get, methods=["GET"]),
    Route("/admin/users/batch/pattern", batch_pattern_post, methods=["POST"]),
    Route("/admin/users/batch/emails", batch_emails_post, methods=["POST"]),
    Route("/admin/users/guests/remove", guests_remove_post, methods=["POST"]),
    Route("/admin/users/{uid}/role", role_post, methods=["POST"]),
    Route("/admin/users/{uid}/reset-password", reset_password_post, methods=["POST"]),
    Route("/admin/users/{uid}/activate", activate_post, methods=["POST"]),
    Route("/admin/users/{uid}/deactivate", deactivate_post, methods=["POST"]),
    Route("/admin/users/{uid}/delete", delete_post, methods=["POST"]),
]
