"""Meetings: dashboard, create, settings, archive/restore/delete, roster, co-facilitators, joining,
invite panel and QR code (SPEC §4.4, §4.5). Rules live in ``lifecycle`` and ``roster``."""

from __future__ import annotations

import asyncio
import io
import re
import secrets
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import Any
from urllib.parse import quote, unquote, urlencode

import segno
from itsdangerous import BadSignature, URLSafeSerializer
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...platform import accounts
from ...platform.db import Database
from ...platform.errors import Forbidden, FormErrors, NotFound, Refused
from ...platform.forms import submission_key, whole_number
from ...platform.models import User
from ...platform.passwords import hash_password
from ...platform.ratelimit import TOO_MANY_GUESTS
from ...platform.sessions import create_session
from ...platform.web import (
    DescribeNext,
    client_ip,
    current_user,
    form_data,
    has_route,
    local_path,
    login_url,
    optional_user,
    redirect,
    render,
    see_other,
    services,
    set_session_cookie,
    wants_fragment,
)
from .. import agenda, drafts, live, roster
from .. import lifecycle as meetings
from ..access import Access, access_for
from ..activity_types import TYPES, default_type
from ..models import MeetingEvent
from ..write_order import meeting_order

# -- plumbing -----------------------------------------------------------------------------------


def _flash_signer(request: Request) -> URLSafeSerializer:
    signing = services(request).signing
    return URLSafeSerializer(signing.secret, salt=f"{signing.issuer}.flash")


def with_flash(request: Request, url: str, *lines: str) -> str:
    """``url`` carrying notices for the next page; signed, so nobody can put words in our mouth."""
    kept = [line for line in lines if line]
    if not kept:
        return url
    separator = "&" if "?" in url else "?"
    return url + separator + urlencode({"flash": _flash_signer(request).dumps(kept)})


def read_flash(request: Request) -> list[str]:
    raw = request.query_params.get("flash")
    if not raw:
        return []
    try:
        lines = _flash_signer(request).loads(raw)
    except BadSignature:
        return []
    return [str(line) for line in lines] if isinstance(lines, list) else []


async def _access(request: Request) -> Access:
    user = current_user(request)
    meeting_id = request.path_params["mid"]
    return await services(request).db.read(lambda: access_for(meeting_id, user))


async def _facilitator(request: Request) -> Access:
    access = await _access(request)
    meetings.check_facilitator(access)
    return access


async def _announce(request: Request, events: list[MeetingEvent | None]) -> None:
    for event in events:
        await live.announce(services(request), event)


async def _revoke(request: Request, meeting_id: str, user_ids: list[str], message: str) -> None:
    for user_id in dict.fromkeys(user_ids):
        await live.revoke_access(services(request), meeting_id, user_id, message)


def _capacity(request: Request) -> int:
    return int(services(request).settings.get("meetings.max_participants"))


def _return_to(form: dict[str, str], default: str) -> str:
    return local_path(form.get("return_to")) or default


# -- dashboard ----------------------------------------------------------------------------------


def _choice(value: str | None, allowed: tuple[str, ...], default: str) -> str:
    return value if value in allowed else default


async def _dashboard(request: Request, block: str | None) -> Response:
    user = current_user(request)
    params = request.query_params
    scope = "all" if params.get("scope") == "all" and user.is_admin else "mine"
    filters = {
        "scope": scope,
        "tab": _choice(params.get("tab"), meetings.TABS, "active"),
        "status": _choice(params.get("status"), meetings.STATUSES, ""),
        "sort": _choice(params.get("sort"), meetings.SORTS, "date"),
    }
    rows = await services(request).db.read(lambda: meetings.list_meetings(user, **filters))
    archived_exist = not rows and filters["tab"] == "active" and await services(request).db.read(lambda: meetings.has_archived(user))
    settings = services(request).settings
    values = {
        "me": user,
        "rows": rows,
        "filters": filters,
        "query": urlencode(filters),
        "statuses": meetings.STATUSES,
        "flash": read_flash(request),
        "ai_configured": settings.ai_configured(),
        "archived_exist": archived_exist,
        "can_export": has_route(request, "/meeting/{mid}/export"),
        "can_report": has_route(request, "/meeting/{mid}/report"),
    }
    return render(request, "dashboard.html", values, block=block)


async def dashboard_get(request: Request) -> Response:
    user = current_user(request)
    if user.is_guest:  # a guest's whole Decidero is their meeting
        home = await services(request).db.read(lambda: roster.guest_home(user))
        if home is None:
            raise Forbidden(accounts.GUEST_CONFINED)
        return see_other(f"/meeting/{home}")
    return await _dashboard(request, None)


async def dashboard_meetings_get(request: Request) -> Response:
    """The MY MEETINGS fragment (tabs, filter, sort), re-fetched every 20 s."""
    return await _dashboard(request, "meetings")


# -- create -------------------------------------------------------------------------------------


@dataclass
class CreateForm:
    """The create form's state, carried through no-JS round trips (add row, search, add →)."""

    fields: dict[str, str]
    rows: list[dict[str, str]]
    participants: list[str] = field(default_factory=list)
    cofacilitators: list[str] = field(default_factory=list)
    page: int = 1

    @classmethod
    def blank(cls) -> CreateForm:
        fields = {"duration_minutes": "60", "form_token": submission_key()}
        return cls(fields, [_blank_row()])

    @classmethod
    def from_draft(cls, draft: drafts.Draft) -> CreateForm:
        """Pre-filled from a server-side draft; each row remembers the planned activity it came from."""
        fields = {
            "title": draft.title,
            "description": draft.description,
            "duration_minutes": str(draft.duration_minutes),
            "form_token": submission_key(),
            "draft": draft.id,
        }
        rows = [
            {"type": a.type, "title": a.title, "instructions": a.instructions, "draft": str(number)}
            for number, a in enumerate(draft.activities, start=1)
        ]
        return cls(fields, rows or [_blank_row()])

    @classmethod
    def parse(cls, simple: dict[str, str], form: FormData) -> CreateForm:
        columns = (form.getlist(f"activity_{k}") for k in ("type", "title", "instructions", "draft"))
        rows = [
            {"type": str(kind), "title": str(title), "instructions": str(note), "draft": str(ref)}
            for kind, title, note, ref in zip_longest(*columns, fillvalue="")
        ]
        return cls(
            fields={k: v for k, v in simple.items() if k != "csrf_token"},
            rows=rows or [_blank_row()],
            participants=list(dict.fromkeys(str(v) for v in form.getlist("participant"))),
            cofacilitators=[str(v) for v in form.getlist("cofacilitator")],
        )

    def apply(self, action: str, form: FormData) -> None:
        """A no-JS form operation: rows ↑/↓/✖/+, directory paging, Add → and ← Remove."""
        verb, _, arg = action.partition(":")
        index = (whole_number(arg) or 0) - 1
        if verb == "add_row" and len(self.rows) < agenda.MAX_ACTIVITIES:
            self.rows.append(_blank_row())
        elif verb in ("up", "down") and 0 <= index < len(self.rows):
            other = index - 1 if verb == "up" else index + 1
            if 0 <= other < len(self.rows):
                self.rows[index], self.rows[other] = self.rows[other], self.rows[index]
        elif verb == "remove_row" and 0 <= index < len(self.rows):
            del self.rows[index]
            self.rows = self.rows or [_blank_row()]
        elif verb == "page" and whole_number(arg) is not None:
            self.page = whole_number(arg) or 0
        elif verb in ("add_selected", "add_page"):
            chosen = form.getlist("pick" if verb == "add_selected" else "result")
            self.participants = list(dict.fromkeys([*self.participants, *(str(v) for v in chosen)]))
        elif verb == "remove_selected":
            dropped = {str(v) for v in form.getlist("unpick")}
            self.participants = [p for p in self.participants if p not in dropped]


def _blank_row() -> dict[str, str]:
    return {"type": default_type(), "title": "", "instructions": "", "draft": ""}


async def _create_page(
    request: Request, user: User, form: CreateForm, errors: dict[str, str] | None = None, status: int = 200
) -> Response:
    query = form.fields.get("q", "")

    def load() -> dict[str, Any]:
        exclude = [user.id, *form.participants]
        return {
            "selected": roster.users_by_id(form.participants),
            "directory": roster.search_directory(query, form.page, exclude),
            "candidates": roster.facilitator_candidates([user.id]),
        }

    values = await services(request).db.read(load)
    values.update(form=form, errors=errors or {}, me=user)
    return render(request, "meeting_create.html", values, status=status)


async def _draft(request: Request, user: User, draft_id: str) -> drafts.Draft | None:
    """The user's draft named by the form or the URL; 404 for an unknown or someone else's."""
    if not draft_id:
        return None
    draft = await services(request).db.read(lambda: drafts.load_draft(user, draft_id))
    if draft is None:
        raise NotFound()
    return draft


async def meeting_create_get(request: Request) -> Response:
    user = current_user(request)
    meetings.check_creator(user)
    draft = await _draft(request, user, request.query_params.get("draft", ""))
    return await _create_page(request, user, CreateForm.from_draft(draft) if draft else CreateForm.blank())


async def meeting_create_directory_get(request: Request) -> Response:
    """Directory results for the create form's participant picker (an htmx fragment)."""
    user = current_user(request)
    meetings.check_creator(user)
    params = request.query_params
    exclude = [user.id, *params.getlist("participant")]
    page = whole_number(params.get("page")) or 1
    found = await services(request).db.read(lambda: roster.search_directory(params.get("q", ""), page, exclude))
    return render(request, "_partials/directory.html", {"directory": found, "paging": "submit"})


async def meeting_create_post(request: Request) -> Response:
    user = current_user(request)
    meetings.check_creator(user)
    raw = await request.form()
    form = CreateForm.parse(await form_data(request), raw)
    action = form.fields.get("action", "create") or "create"
    if action != "create":
        form.apply(action, raw)
        return await _create_page(request, user, form)
    errors: dict[str, str] = {}
    try:
        details = meetings.validate_details(form.fields)
    except FormErrors as exc:
        errors.update(exc.errors)
    draft = await _draft(request, user, form.fields.get("draft", ""))
    try:
        plan = meetings.validate_agenda(
            form.rows, services(request).settings, lambda row: draft.row_plan(row["draft"], row["type"]) if draft else None
        )
    except FormErrors as exc:
        errors.update(exc.errors)
    if errors:
        return await _create_page(request, user, form, errors, 422)
    typed = roster.split_identifiers(form.fields.get("participant_logins", ""))
    capacity, token = _capacity(request), form.fields.get("form_token") or None
    try:
        roster.check_count(typed, form.participants, "participant_logins")
        found = await services(request).db.read(lambda: roster.resolve(typed, form.participants))
        if found.missing:
            raise FormErrors({"participant_logins": f"Not found: {roster.few(found.missing)}."})
        ids = [u.id for u in found.users]
        await services(request).db.write(
            lambda: meetings.create_meeting(user, details, plan, ids, form.cofacilitators, token=token, capacity=capacity)
        )
    except FormErrors as exc:
        return await _create_page(request, user, form, exc.errors, 422)
    return redirect(request, with_flash(request, "/dashboard", meetings.CREATED))


# -- settings -----------------------------------------------------------------------------------


def _details_form(access: Access) -> dict[str, str]:
    meeting = access.meeting
    start = meeting.scheduled_start
    return {
        "title": meeting.title,
        "description": meeting.description,
        "scheduled_start": start.strftime("%Y-%m-%d %H:%M") if start else "",
        "duration_minutes": str(meeting.duration_minutes),
    }


async def _settings_page(
    request: Request, access: Access, form: dict[str, str], errors: dict[str, str], status: int = 200
) -> Response:
    meeting_id = access.meeting.id
    activities = await services(request).db.read(lambda: agenda.ordered(meeting_id))
    values = {
        "meeting": access.meeting,
        "access": access,
        "activities": activities,
        "form": form,
        "errors": errors,
        "flash": read_flash(request),
        "types": TYPES,
    }
    return render(request, "meeting_settings.html", values, status=status)


async def meeting_settings_get(request: Request) -> Response:
    """The settings page; ``?activity=<aid>`` opens just that activity's form (SPEC §4.4), whose
    save returns to the meeting with it selected."""
    access = await _facilitator(request)
    activity_id = request.query_params.get("activity", "")
    if activity_id:
        return see_other(f"/meeting/{access.meeting.id}/activities/{quote(activity_id, safe='')}/edit")
    return await _settings_page(request, access, _details_form(access), {})


async def meeting_settings_post(request: Request) -> Response:
    access = await _facilitator(request)
    form = await form_data(request)
    if access.meeting.archived:
        raise Refused(meetings.ARCHIVED, 403)
    try:
        details = meetings.validate_details(form)
    except FormErrors as exc:
        return await _settings_page(request, access, form, exc.errors, 422)
    event = await services(request).db.write(lambda: meetings.update_details(access, details))
    await _announce(request, [event])
    meeting_id = access.meeting.id
    if form.get("action") == "enter":
        return redirect(request, f"/meeting/{meeting_id}")
    return redirect(request, with_flash(request, f"/meeting/{meeting_id}/settings", "Meeting details saved."))


# -- archive, restore, delete -------------------------------------------------------------------


def _confirm_page(request: Request, access: Access, action: str) -> Response:
    values = {"meeting": access.meeting, "action": action, "return_to": request.query_params.get("return_to", "")}
    return render(request, "meeting_confirm.html", values)


async def meeting_archive_get(request: Request) -> Response:
    """The no-JS confirmation ("Archive Meeting?"); htmx confirms in the browser instead."""
    access = await _facilitator(request)
    return _confirm_page(request, access, "archive")


async def meeting_archive_post(request: Request) -> Response:
    access = await _access(request)
    form = await form_data(request)
    meetings.check_facilitator(access)
    if form.get("confirmed") != "1":
        return see_other(f"/meeting/{access.meeting.id}/archive")
    event = await services(request).db.write(lambda: meetings.archive(access))
    await _announce(request, [event])
    return redirect(request, with_flash(request, _return_to(form, "/dashboard"), "Meeting archived."))


async def meeting_restore_post(request: Request) -> Response:
    access = await _access(request)
    form = await form_data(request)
    event = await services(request).db.write(lambda: meetings.restore(access))
    await _announce(request, [event])
    return redirect(request, with_flash(request, _return_to(form, "/dashboard?tab=archived"), "Meeting restored."))


async def meeting_delete_get(request: Request) -> Response:
    access = await _access(request)
    meetings.check_owner_or_admin(access, meetings.DELETE_ONLY)
    return _confirm_page(request, access, "delete")


async def meeting_delete_post(request: Request) -> Response:
    access = await _access(request)
    form = await form_data(request)
    meetings.check_owner_or_admin(access, meetings.DELETE_ONLY)
    meeting_id = access.meeting.id
    if form.get("confirmed") != "1":
        return see_other(f"/meeting/{meeting_id}/delete")
    members = await services(request).db.write(lambda: meetings.delete_meeting(access))
    viewers = [v.user_id for v in live.engine(services(request)).broker.viewers(meeting_id)]
    await _revoke(request, meeting_id, [*members, *viewers], meetings.DELETED)
    return redirect(request, with_flash(request, "/dashboard", f"Meeting “{access.meeting.title}” deleted."))


# -- roster and co-facilitators -----------------------------------------------------------------


async def _roster_page(
    request: Request,
    access: Access,
    error: str = "",
    status: int = 200,
    block: str | None = None,
    errors: dict[str, str] | None = None,
    identifiers: str = "",
) -> Response:
    """The roster page; ``errors`` sit beside their fields, with the typed ``identifiers`` kept."""
    params = request.query_params
    query = params.get("q", "")
    page = whole_number(params.get("page")) or 1
    meeting_id = access.meeting.id

    def load() -> dict[str, Any]:
        view = roster.roster_view(meeting_id)
        taken = [view.owner.id, *(u.id for u in view.cofacilitators)]
        return {
            "view": view,
            "directory": roster.search_directory(query, page, view.member_ids),
            "candidates": roster.facilitator_candidates(taken),
        }

    values = await services(request).db.read(load)
    values.update(
        meeting=values["view"].meeting,
        access=access,
        capacity=_capacity(request),
        flash=read_flash(request),
        error=error,
        errors=errors or {},
        identifiers=identifiers,
        paging="link",
    )
    return render(request, "roster.html", values, status=status, block=block)


async def roster_get(request: Request) -> Response:
    access = await _facilitator(request)
    searching = wants_fragment(request) and "q" in request.query_params
    return await _roster_page(request, access, block="directory" if searching else None)


async def _roster_change(request: Request, change_of: Any) -> Response:
    """Run one roster write; report it on the roster page, announce its events, and have every open
    stream of the people it concerns judged again (a removed participant's ends)."""
    access = await _access(request)
    form = await form_data(request)
    submitted = await request.form()
    chosen = [str(v) for v in submitted.getlist("result" if form.get("all") == "1" else "user")]
    typed = roster.split_identifiers(form.get("identifiers", ""))
    try:
        roster.check_count(typed, chosen, "identifiers")
    except FormErrors as exc:
        return await _roster_page(request, access, status=422, errors=exc.errors, identifiers=form.get("identifiers", ""))
    found = await services(request).db.read(lambda: roster.resolve(typed, chosen))
    try:
        change: roster.RosterChange = await services(request).db.write(lambda: change_of(access, found))
    except Refused as exc:
        if exc.status == 403:
            raise
        return await _roster_page(request, access, exc.message, exc.status)
    await _announce(request, list(change.events))
    await live.engine(services(request)).recheck(change.affected, access.meeting.id)
    url = with_flash(request, f"/meeting/{access.meeting.id}/roster", change.summary(), *change.notices)
    return redirect(request, url)


async def roster_add_post(request: Request) -> Response:
    capacity = _capacity(request)
    return await _roster_change(request, lambda a, found: roster.add_participants(a, found, capacity))


async def roster_remove_post(request: Request) -> Response:
    return await _roster_change(request, roster.remove_participants)


async def facilitators_add_post(request: Request) -> Response:
    return await _roster_change(request, roster.add_cofacilitators)


async def facilitators_remove_post(request: Request) -> Response:
    return await _roster_change(request, roster.remove_cofacilitators)


async def meeting_owner_post(request: Request) -> Response:
    access = await _access(request)
    form = await form_data(request)
    new_owner = form.get("user", "")
    event = await services(request).db.write(lambda: meetings.transfer_ownership(access, new_owner))
    await _announce(request, [event])
    await live.engine(services(request)).recheck([access.meeting.owner_id, new_owner], access.meeting.id)
    return redirect(request, with_flash(request, f"/meeting/{access.meeting.id}/roster", "Ownership transferred."))


# -- joining, invite panel, QR ------------------------------------------------------------------


async def _join_turn(db: Database, code: str) -> AbstractContextManager[None]:
    """The turn of the meeting a join by ``code`` writes to (Postgres; SQLite's single writer
    orders every write already, so the lookup is skipped there)."""
    return meeting_order(await db.read(lambda: roster.meeting_id_for(code)) if db.backend == "postgres" else None)


async def _join(request: Request, user: User, code: str) -> str | Response:
    """The meeting id joined, or the join page with the refusal."""
    capacity, db = _capacity(request), services(request).db
    try:
        with await _join_turn(db, code):
            meeting_id, event = await db.write(lambda: roster.join(code, user, capacity))
    except Refused as exc:
        return _join_page(request, code, error=exc.message, status=exc.status)
    await _announce(request, [event])
    return meeting_id


def _guest_visitor(request: Request) -> bool:
    """Signed out while guest join is on: the join pages offer the guest form (else: sign in)."""
    return optional_user(request) is None and bool(services(request).settings.get("meetings.allow_guest_join"))


def _join_page(
    request: Request, code: str, *, fixed: bool = False, guest: dict[str, str] | None = None,
    errors: dict[str, str] | None = None, error: str = "", status: int = 200, headers: dict[str, str] | None = None,
) -> Response:
    """The join page; signed out (with guest join on) it is the guest form, ``fixed`` to the invite
    link's meeting or asking for the code too."""
    values = {
        "code": code,
        "fixed": fixed,
        "guest": guest or {},
        "errors": errors or {},
        "error": error,
        "action": f"/join/{code}" if fixed else "/join",
        "sign_in": login_url(f"/join/{code}" if fixed else "/join", "login_required"),
    }
    return render(request, "join.html", values, status=status, headers=headers)


async def _join_as_guest(request: Request, code: str, fixed: bool) -> Response:
    """Create a guest account, sign it in and join it, in one write transaction: a refusal (no such
    meeting, closed, full) leaves no account behind (SPEC §4.1 guest join)."""
    form = await form_data(request)
    kept = {"name": form.get("name", ""), "email": form.get("email", "")}
    try:
        details = accounts.validate_guest(form)
    except FormErrors as exc:
        return _join_page(request, code, fixed=fixed, guest=kept, errors=exc.errors, status=422)
    svc = services(request)
    wait = await svc.guest_limiter.acquire(client_ip(request))
    if wait:
        return _join_page(request, code, fixed=fixed, guest=kept, error=TOO_MANY_GUESTS, status=429, headers={"Retry-After": str(wait)})
    password_hash = await asyncio.to_thread(hash_password, secrets.token_urlsafe(32))
    capacity, ip, agent = _capacity(request), client_ip(request), request.headers.get("user-agent", "")

    def write() -> tuple[str, str, MeetingEvent | None]:
        guest = accounts.create_guest(details, password_hash)
        meeting_id, event = roster.join(code, guest, capacity)
        return meeting_id, create_session(guest, ip, agent), event

    try:
        with await _join_turn(svc.db, code):
            meeting_id, raw_id, event = await svc.db.write(write)
    except FormErrors as exc:
        return _join_page(request, code, fixed=fixed, guest=kept, errors=exc.errors, status=422)
    except Refused as exc:
        return _join_page(request, code, fixed=fixed, guest=kept, error=exc.message, status=exc.status)
    await _announce(request, [event])
    return set_session_cookie(request, see_other(f"/meeting/{meeting_id}"), raw_id)


async def join_get(request: Request) -> Response:
    if not _guest_visitor(request):
        current_user(request)
    return _join_page(request, request.query_params.get("code", ""))


async def join_post(request: Request) -> Response:
    if _guest_visitor(request):
        return await _join_as_guest(request, (await form_data(request)).get("code", ""), fixed=False)
    user = current_user(request)
    form = await form_data(request)
    outcome = await _join(request, user, form.get("code", ""))
    return outcome if isinstance(outcome, Response) else redirect(request, f"/meeting/{outcome}")


async def join_link_get(request: Request) -> Response:
    """The invite link: signed-out visitors sign in first (or join as guests, when that is on) and
    come back here, then land in the meeting."""
    code = request.path_params["mid"]
    if _guest_visitor(request):
        return _join_page(request, code, fixed=True)
    user = current_user(request)
    outcome = await _join(request, user, code)
    return outcome if isinstance(outcome, Response) else see_other(f"/meeting/{outcome}")


async def join_link_post(request: Request) -> Response:
    """The invite link's guest form; a signed-in browser posting it simply joins."""
    code = request.path_params["mid"]
    if _guest_visitor(request):
        return await _join_as_guest(request, code, fixed=True)
    user = current_user(request)
    outcome = await _join(request, user, code)
    return outcome if isinstance(outcome, Response) else redirect(request, f"/meeting/{outcome}")


JOIN_PATH = re.compile(r"^/join/([^/?#]+)$")


def describe_next(db: Database) -> DescribeNext:
    """The sign-in and register pages' line for an invite link: which meeting the visitor is joining."""

    async def describe(next_path: str) -> str | None:
        found = JOIN_PATH.match(next_path)
        if not found:
            return None
        code = unquote(found.group(1))
        meeting = await db.read(lambda: roster.find_by_code(code))
        if meeting is None or meeting.archived:
            return None
        return f"You are joining “{meeting.title}”. Sign in, or register first, and you will land in the meeting."

    return describe


def invite_url(request: Request, meeting_id: str) -> str:
    """Absolute, from the request's scheme and host (uvicorn applies X-Forwarded-Proto behind Caddy)."""
    return str(request.base_url).rstrip("/") + f"/join/{meeting_id}"


async def invite_get(request: Request) -> Response:
    access = await _facilitator(request)
    values = {
        "meeting": access.meeting,
        "access": access,
        "invite_url": invite_url(request, access.meeting.id),
        "join_url": str(request.base_url).rstrip("/") + "/join",
        "flash": read_flash(request),
    }
    template = "invite_present.html" if request.query_params.get("present") == "1" else "invite.html"
    return render(request, template, values)


def qr_svg(text: str, title: str) -> bytes:
    """A QR code of ``text`` as SVG, drawn by segno (pure Python, no external service)."""
    buffer = io.BytesIO()
    segno.make(text, error="m").save(buffer, kind="svg", scale=8, border=2, title=title, svgclass="qr")
    return buffer.getvalue()


async def qr_get(request: Request) -> Response:
    access = await _facilitator(request)
    svg = qr_svg(invite_url(request, access.meeting.id), f"Invite to {access.meeting.id}")
    return Response(svg, media_type="image/svg+xml")


async def join_code_post(request: Request) -> Response:
    """Regenerate the short join code (meeting facilitators)."""
    access = await _access(request)
    form = await form_data(request)
    event = await services(request).db.write(lambda: meetings.regenerate_join_code(access))
    await _announce(request, [event])
    default = f"/meeting/{access.meeting.id}/invite"
    return redirect(request, with_flash(request, _return_to(form, default), "A new join code was made; the old one no longer works."))


async def open_join_post(request: Request) -> Response:
    access = await _access(request)
    form = await form_data(request)
    wanted = form.get("open_join") == "1"
    event = await services(request).db.write(lambda: roster.set_open_join(access, wanted))
    await _announce(request, [event])
    state = "on" if wanted else "off"
    default = f"/meeting/{access.meeting.id}/invite"
    return redirect(request, with_flash(request, _return_to(form, default), f"Open join is {state}."))


routes = [
    Route("/dashboard", dashboard_get, methods=["GET"]),
    Route("/dashboard/meetings", dashboard_meetings_get, methods=["GET"]),
    Route("/meeting/create", meeting_create_get, methods=["GET"]),
    Route("/meeting/create", meeting_create_post, methods=["POST"]),
    Route("/meeting/create/directory", meeting_create_directory_get, methods=["GET"]),
    Route("/meeting/{mid}/settings", meeting_settings_get, methods=["GET"]),
    Route("/meeting/{mid}/settings", meeting_settings_post, methods=["POST"]),
    Route("/meeting/{mid}/archive", meeting_archive_get, methods=["GET"]),
    Route("/meeting/{mid}/archive", meeting_archive_post, methods=["POST"]),
    Route("/meeting/{mid}/restore", meeting_restore_post, methods=["POST"]),
    Route("/meeting/{mid}/delete", meeting_delete_get, methods=["GET"]),
    Route("/meeting/{mid}/delete", meeting_delete_post, methods=["POST"]),
    Route("/meeting/{mid}/roster", roster_get, methods=["GET"]),
    Route("/meeting/{mid}/roster/add", roster_add_post, methods=["POST"]),
    Route("/meeting/{mid}/roster/remove", roster_remove_post, methods=["POST"]),
    Route("/meeting/{mid}/facilitators/add", facilitators_add_post, methods=["POST"]),
    Route("/meeting/{mid}/facilitators/remove", facilitators_remove_post, methods=["POST"]),
    Route("/meeting/{mid}/owner", meeting_owner_post, methods=["POST"]),
    Route("/meeting/{mid}/open-join", open_join_post, methods=["POST"]),
    Route("/meeting/{mid}/join-code", join_code_post, methods=["POST"]),
    Route("/meeting/{mid}/invite", invite_get, methods=["GET"]),
    Route("/meeting/{mid}/qr.svg", qr_get, methods=["GET"]),
    Route("/join", join_get, methods=["GET"]),
    Route("/join", join_post, methods=["POST"]),
    Route("/join/{mid}", join_link_get, methods=["GET"]),
    Route("/join/{mid}", join_link_post, methods=["POST"]),
]
