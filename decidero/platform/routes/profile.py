"""/profile and /profile/password."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import profile
from ..errors import FormErrors
from ..web import context, current_user, form_data, local_path, redirect, render, services


async def profile_get(request: Request) -> Response:
    user = current_user(request)
    form = {"display_name": user.display_name, "organisation": user.organisation, "about": user.about}
    notice = request.query_params.get("message", "")
    values = {"form": form, "errors": {}, "notice": notice, "emoji_catalog": profile.EMOJI_CATALOG}
    return render(request, "profile.html", values)


async def profile_post(request: Request) -> Response:
    user = current_user(request)
    form = await form_data(request)
    try:
        values = profile.validate_profile(form)
    except FormErrors as exc:
        page = {"form": form, "errors": exc.errors, "emoji_catalog": profile.EMOJI_CATALOG}
        return render(request, "profile.html", page, status=422)
    await services(request).db.write(lambda: profile.save_profile(user.id, values))
    return redirect(request, "/profile?message=saved")


async def avatar_regenerate_post(request: Request) -> Response:
    user = current_user(request)
    key = (await form_data(request)).get("key", "").strip()
    await services(request).db.write(lambda: profile.regenerate_avatar(user.id, key))
    return redirect(request, "/profile#avatar")


async def avatar_initials_post(request: Request) -> Response:
    user = current_user(request)
    await services(request).db.write(lambda: profile.use_initials(user.id))
    return redirect(request, "/profile#avatar")


async def avatar_color_post(request: Request) -> Response:
    user = current_user(request)
    await services(request).db.write(lambda: profile.new_color(user.id))
    return redirect(request, "/profile#avatar")


async def password_get(request: Request) -> Response:
    user = current_user(request, allow_password_change_pending=True)
    next_path = local_path(request.query_params.get("next")) or ""
    return render(
        request, "profile_password.html", {"errors": {}, "next": next_path, "must_change": user.must_change_password}
    )


async def password_post(request: Request) -> Response:
    user = current_user(request, allow_password_change_pending=True)
    form = await form_data(request)
    next_path = local_path(form.get("next"))
    current = form.get("current_password", "")
    new = form.get("new_password", "")
    current_ok, same = await asyncio.gather(
        services(request).hasher.verify(current, user.password_hash),
        services(request).hasher.verify(new, user.password_hash),
    )
    try:
        password = profile.validate_new_password(form, current_ok, same)
    except FormErrors as exc:
        values = {"errors": exc.errors, "next": next_path or "", "must_change": user.must_change_password}
        return render(request, "profile_password.html", values, status=422)
    password_hash = await services(request).hasher.hash(password)
    session = context(request).session
    keep = session.id if session is not None else ""
    await services(request).db.write(lambda: profile.change_password(user.id, password_hash, keep))
    services(request).sessions_revoked(user.id, keep=keep)
    return redirect(request, next_path or "/profile?message=password_changed")


routes = [
    Route("/profile", profile_get, methods=["GET"]),
    Route("/profile", profile_post, methods=["POST"]),
    Route("/profile/avatar/regenerate", avatar_regenerate_post, methods=["POST"]),
    Route("/profile/avatar/initials", avatar_initials_post, methods=["POST"]),
    Route("/profile/avatar/color", avatar_color_post, methods=["POST"]),
    Route("/profile/password", password_get, methods=["GET"]),
    Route("/profile/password", password_post, methods=["POST"]),
]
