"""The settings page (/settings, SPEC §4.15): every declared runtime setting, one tab at a time.

Admins edit every key; facilitators read every key and edit the Brainstorming ones; participants are
sent to the dashboard. A save is validated as a whole and applies to the next request.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import runtime_settings
from ..errors import FormErrors
from ..models import User
from ..runtime_settings import BY_KEY, TABS, keys_of_tab
from ..web import NOTICES, current_user, form_data, redirect, render, see_other, services

NOT_SETTINGS = ("csrf_token", "tab")  # the form's own fields, not settings


def readers(request: Request) -> User | None:
    """The signed-in facilitator or admin; None for a participant (who goes to the dashboard)."""
    user = current_user(request)
    return user if user.is_facilitator else None


def _tab(value: str | None) -> str:
    return value if value in {tab for tab, _, _ in TABS} else TABS[0][0]


def page(
    request: Request,
    user: User,
    tab: str,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: str = "",
    notice_kind: str = "success",
    status: int = 200,
) -> Response:
    """The settings page on ``tab``; ``form`` keeps what was typed (never secrets) beside ``errors``."""
    settings = services(request).settings
    shown = {k.key: settings.shown(k.key) for k in runtime_settings.KEYS}
    values: dict[str, Any] = {
        "tabs": TABS,
        "tab": tab,
        "keys": keys_of_tab(tab),
        "is_admin": user.is_admin,
        "shown": {**shown, **{k: v for k, v in (form or {}).items() if k in BY_KEY and not BY_KEY[k].secret}},
        "overridden": {k.key for k in runtime_settings.KEYS if settings.is_overridden(k.key)},
        "errors": errors or {},
        "notice": notice or NOTICES.get(request.query_params.get("message", ""), ""),
        "notice_kind": notice_kind,
        "defaults": {k.key: k.as_text(k.default) for k in runtime_settings.KEYS},
    }
    return render(request, "settings.html", values, status=status)


async def settings_get(request: Request) -> Response:
    user = readers(request)
    if user is None:
        return see_other("/dashboard")
    return page(request, user, _tab(request.query_params.get("tab")))


async def settings_post(request: Request) -> Response:
    """Save the submitted keys together: unknown key 400, an admin key from a facilitator 403,
    a bad value 422 with every message beside its field and nothing saved."""
    user = readers(request)
    if user is None:
        return see_other("/dashboard")
    form = await form_data(request)
    submitted = {k: v for k, v in form.items() if k not in NOT_SETTINGS}
    tab = _tab(form.get("tab"))
    try:
        changed = await services(request).settings.save_many(submitted, user.id, user.is_admin)
    except FormErrors as exc:
        return page(request, user, tab, form=submitted, errors=exc.errors, status=422)
    message = "settings_saved" if changed else "settings_unchanged"
    return redirect(request, f"/settings?tab={tab}&message={message}")


async def setting_reset_post(request: Request) -> Response:
    user = readers(request)
    if user is None:
        return see_other("/dashboard")
    key = request.path_params["key"]
    await services(request).settings.reset(key, user.is_admin)
    return redirect(request, f"/settings?tab={BY_KEY[key].tab}&message=setting_reset")


routes = [
    Route("/settings", settings_get, methods=["GET"]),
    Route("/settings", settings_post, methods=["POST"]),
    Route("/settings/{key}/reset", setting_reset_post, methods=["POST"]),
]
