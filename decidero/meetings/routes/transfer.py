"""Transfer Ideas pages (SPEC §4.12): the draft editor, its saves, and the commit. Rules live in
``meetings.transfer``.

One form serves every case. Without JavaScript each button posts it and the page comes back (303);
with htmx the row buttons swap the editor in place, edits autosave 1.5 s after the last change
(answered with "Draft saved."), and a refused commit comes back with the offending rows marked.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from ...platform.errors import FormErrors
from ...platform.forms import submission_key
from ...platform.web import current_user, form_data, is_htmx, redirect, render, services
from .. import live, transfer
from ..access import Access, access_for
from ..activity_types import get_type
from ..agenda import ACTIVE_STATES
from .meetings import read_flash, with_flash

PAGE = "transfer.html"


async def _access(request: Request) -> Access:
    user = current_user(request)
    meeting_id = request.path_params["mid"]
    return await services(request).db.read(lambda: access_for(meeting_id, user))


def _page_values(access: Access, donor_id: str, draft: transfer.Draft | None) -> dict[str, Any]:
    """Everything the page shows besides the draft's own state (read path)."""
    donor, saved = transfer.donor_view(access, donor_id)
    shown = draft or saved
    donor_type = get_type(donor.type)
    eligible = transfer.eligible_targets(access.meeting.id, donor)
    return {
        "meeting": access.meeting,
        "donor": donor,
        "draft": shown,
        "transforms": donor_type.transforms,
        "transform_label": dict(donor_type.transforms).get(shown.transform, ""),
        "receiving": transfer.receiving_types(),
        "eligible": [(a, get_type(a.type).label) for a in eligible],
        "live": donor.state in ACTIVE_STATES,
        "has_comments": any(row.comments for row in shown.rows),
        "sources": {token: shown.source(token) for token in shown.sources},
    }


async def _page(
    request: Request,
    access: Access,
    donor_id: str,
    draft: transfer.Draft | None = None,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    problems: list[tuple[int, str]] | None = None,
    confirm_transform: str = "",
    focus: str = "",
) -> Response:
    values = await services(request).db.read(lambda: _page_values(access, donor_id, draft))
    values.update(
        errors=errors or {},
        problems=transfer.problems_by_row(problems or []),
        confirm_transform=confirm_transform,
        focus=focus,
        form_token=submission_key(),
        flash=read_flash(request),
        messages={"saved": transfer.SAVED, "switch": transfer.SWITCH_WARNING, "live": transfer.DONOR_LIVE, "unused": transfer.ONLY_UNUSED},
    )
    return render(request, PAGE, values, status=status, block="transfer")


def _donor_id(request: Request) -> str:
    return request.path_params["aid"]


async def transfer_get(request: Request) -> Response:
    access = await _access(request)
    return await _page(request, access, _donor_id(request))


def _focus_after(action: str, rows: int) -> str:
    """The element keyboard focus returns to after a row button (the editor is swapped whole)."""
    verb, _, arg = action.partition(":")
    number = int(arg.partition(".")[0]) if arg.partition(".")[0].isdigit() else 0
    if verb == "up" and number > 1:
        return f"up-{number - 1}"
    if verb == "down" and number < rows:
        return f"down-{number + 1}"
    if verb in ("up", "down", "remove") and rows:
        return f"item-{min(max(number, 1), rows)}"
    if verb == "add":
        return f"item-{rows}"
    return ""


async def transfer_draft_post(request: Request) -> Response:
    """Save the draft: autosave, Save Draft, a row button (↑ ↓ ✖, Add Idea), or a transform switch."""
    access = await _access(request)
    donor_id = _donor_id(request)
    form = await form_data(request)
    action = form.get("action", "save") or "save"
    saved = await services(request).db.read(lambda: transfer.draft_for(access, donor_id))
    draft, errors = transfer.parse_form(form, saved)
    if errors:
        return await _page(request, access, donor_id, draft, status=422, errors=errors)
    if action == "transform":  # without JavaScript: ask first, with the edits still on the page
        return await _page(request, access, donor_id, draft, confirm_transform=form.get("transform", ""))
    db = services(request).db
    if action == "transform-confirmed":
        wanted = form.get("transform", "")
        draft = await db.write(lambda: transfer.switch_transform(access, donor_id, wanted, draft))
    else:
        transfer.apply_action(draft, action)
        await db.write(lambda: transfer.save_draft(access, donor_id, draft))
    if not is_htmx(request):
        return redirect(request, with_flash(request, f"/meeting/{access.meeting.id}/activities/{donor_id}/transfer", transfer.SAVED))
    if action == "save":
        return HTMLResponse(f'<span class="saved">{transfer.SAVED}</span>')
    return await _page(request, access, donor_id, draft, focus=_focus_after(action, len(draft.rows)))


async def transfer_commit_post(request: Request) -> Response:
    """Create or fill the target (idempotent per form token), then go where SPEC §4.12 says."""
    access = await _access(request)
    donor_id = _donor_id(request)
    form = await form_data(request)
    saved = await services(request).db.read(lambda: transfer.draft_for(access, donor_id))
    draft, errors = transfer.parse_form(form, saved)
    if errors:
        return await _page(request, access, donor_id, draft, status=422, errors=errors)
    token = form.get("form_token") or None
    settings = services(request).settings
    try:
        done = await services(request).db.write(lambda: transfer.commit(access, donor_id, draft, token, settings))
    except transfer.TransferProblems as exc:
        return await _page(request, access, donor_id, draft, status=422, errors=exc.errors, problems=exc.problems)
    except FormErrors as exc:
        return await _page(request, access, donor_id, draft, status=422, errors=exc.errors)
    await live.announce(services(request), done.event)
    meeting_id = access.meeting.id
    if done.mode == "new":
        return redirect(request, f"/meeting/{meeting_id}/settings?activity={done.target_id}")
    return redirect(request, f"/meeting/{meeting_id}?activity={done.target_id}")


routes = [
    Route("/meeting/{mid}/activities/{aid}/transfer", transfer_get, methods=["GET"]),
    Route("/meeting/{mid}/activities/{aid}/transfer/draft", transfer_draft_post, methods=["POST"]),
    Route("/meeting/{mid}/activities/{aid}/transfer/commit", transfer_commit_post, methods=["POST"]),
]

