"""The meeting room: page, event stream, activity log, agenda operations, run control, sub-rosters."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

import anyio
from sse_starlette import EventSourceResponse
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from ...platform.errors import FormErrors
from ...platform.forms import whole_number
from ...platform.models import User
from ...platform.web import (
    context,
    current_user,
    form_data,
    is_htmx,
    redirect,
    render,
    render_fragment,
    render_off_loop,
    services,
    wants_fragment,
)
from .. import agenda, event_log, live, rounds, run_control
from ..access import Access, require_facilitator, require_member, require_writable
from ..activity_types import TYPES, default_type, get_type, type_scripts
from ..broker import Viewer
from ..models import Activity, MeetingEvent
from ..room import load_room, page_region_values, panel_values, region_values
from ..run_control import REVERTED
from .meetings import read_flash, with_flash

log = logging.getLogger("decidero.live")
# The event id a re-fetch of the live regions reflects, so the page knows where it stands.
SINCE_HEADER = "X-Decidero-Since"


async def _member(request: Request) -> Access:
    user = current_user(request)
    meeting_id = request.path_params["mid"]
    return await services(request).db.read(lambda: require_member(meeting_id, user))


async def _facilitator(request: Request, writable: bool = True) -> Access:
    user = current_user(request)
    meeting_id = request.path_params["mid"]
    access = await services(request).db.read(lambda: require_facilitator(meeting_id, user))
    if writable:
        require_writable(access)
    return access


async def _room_values(
    request: Request, access: Access, panels: set[str] | None = None, params: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The room as the viewer sees it; the panels of only the ``panels`` activities when given;
    ``params``, the page's query, may choose a view of a panel (a page of a long board)."""
    svc = services(request)
    # The viewer counts as present on their own page: its stream opens as it loads, and listing them
    # only once their presence event arrives showed "Present (0)" to the first person in a room.
    present = await live.engine(svc).presence.present(access.meeting.id) | {access.user.id}
    meeting_id = access.meeting.id

    def load() -> dict[str, Any]:
        state = load_room(meeting_id, present)
        audience = state.audience_key(access.user.id, access.is_facilitator)
        values = page_region_values(state, audience)
        shown = [a for a in state.activities if panels is None or a.id in panels]
        values["panels"] = [panel_values(state, a, audience, access.user.id, params or {}) for a in shown]
        values["since"] = event_log.latest_id(meeting_id)
        return values

    values = await svc.db.read(load, room=True)
    values.update(access=access, types=TYPES)
    return values


async def _after_change(
    request: Request, access: Access, events: list[MeetingEvent | None], url: str = "", notice: str = ""
) -> Response:
    """Announce committed events; answer htmx with the actor's refreshed regions (and ``notice`` in
    the flash region), forms with a 303 (carrying ``notice`` to the page)."""
    svc = services(request)
    for event in events:
        await live.announce(svc, event)
    if not is_htmx(request) or url:
        return redirect(request, with_flash(request, url or f"/meeting/{access.meeting.id}", notice))
    regions, panels = _changed_regions(events)
    values = await _room_values(request, access, panels)
    response = render(request, "_partials/room_regions.html", {**values, "oob": True, "regions": regions})
    if not notice:
        return response
    flash = {"message": notice, "status": 200, "kind": "success", "oob": True}
    return HTMLResponse(bytes(response.body).decode() + render_fragment(svc.templates, "_partials/flash.html", flash))


def _changed_regions(events: list[MeetingEvent | None]) -> tuple[set[str] | None, set[str] | None]:
    """The regions ``events`` change and the activities whose panel they change, as the actor's
    stream would get them: a board of thousands of ideas is costly to render for nothing.
    (None, None) means every region: nothing changed, so the answer refreshes the whole room."""
    regions: set[str] = set()
    panels: set[str] = set()
    for event in filter(None, events):
        for region in live.regions_of(event):
            if region not in ("panel", "panel_head"):
                regions.add(region)
            elif event.activity_id:
                panels.add(event.activity_id)
    if not regions and not panels:
        return None, None
    return regions, None if "panels" in regions else panels


# -- page, stream, log --------------------------------------------------------------------------


async def meeting_get(request: Request) -> Response:
    access = await _member(request)
    # htmx restoring history after a cache miss wants the whole page back.
    if wants_fragment(request) and not request.headers.get("HX-History-Restore-Request"):
        return await _regions(request, access)
    values = await _room_values(request, access, params=request.query_params)
    values["selected"] = request.query_params.get("activity", "")
    values["flash"] = read_flash(request)
    values["type_scripts"] = type_scripts()
    return await render_off_loop(request, "meeting.html", values)


async def _regions(request: Request, access: Access) -> Response:
    """Every live region as this viewer sees it, out of band: how a page catches up after a resync
    or while its stream is down. With ``?since=N`` (what the page already shows), 204 when the log
    has nothing newer, so a page polling through an outage costs almost nothing."""
    known = whole_number(request.query_params.get("since"))
    if known is not None:
        meeting_id = access.meeting.id
        latest = await services(request).db.read(lambda: event_log.latest_id(meeting_id))
        if latest <= known:
            return Response(status_code=204, headers={SINCE_HEADER: str(latest)})
    values = await _room_values(request, access)
    response = await render_off_loop(request, "_partials/room_regions.html", {**values, "oob": True, "regions": None})
    response.headers[SINCE_HEADER] = str(values["since"])
    return response


class _EventStream(EventSourceResponse):
    """An event stream that ends quietly when its client stops reading (``live.StalledSends``)."""

    def __init__(self, stream: AsyncIterator[Any], stalled: live.StalledSends, **options: Any) -> None:
        super().__init__(stream, **options)
        self.stalled = stalled

    async def _send_with_timeout(self, send: Send, message: Message) -> None:
        # The library arms a cancel scope around every send even without a timeout; stalls are
        # the sweep's job here, and at thousands of streams that scope was a tenth of a publish.
        await send(message)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with anyio.CancelScope() as stream:
            await super().__call__(scope, receive, self.stalled.guard(send, stream))
        if stream.cancelled_caught:
            log.info("Ended an event stream whose client stopped reading")


async def events_get(request: Request) -> Response:
    ctx = context(request)
    if ctx.user is None or ctx.session is None:
        return Response("Sign in required", status_code=401, media_type="text/plain")
    access = await _member(request)
    last = request.headers.get("last-event-id") or request.query_params.get("since") or "0"
    last_id = whole_number(last) or 0
    viewer = Viewer(ctx.user.id, ctx.session.id, access.is_facilitator)
    engine = live.engine(services(request))
    stream = engine.stream(access.meeting.id, viewer, last_id)
    headers = {"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"}
    return _EventStream(stream, engine.stalled, headers=headers, ping=live.PING_SECONDS)


async def log_get(request: Request) -> Response:
    access = await _facilitator(request, writable=False)
    before = request.query_params.get("before", "")
    kind = request.query_params.get("kind", "")
    kind = kind if kind in (*event_log.KINDS, "all") else ""
    kinds = None if kind == "all" else (kind,) if kind else event_log.DEFAULT_KINDS
    rows = await services(request).db.read(
        lambda: event_log.page(access.meeting.id, whole_number(before), kinds=kinds)
    )
    since = rows[0].id if rows else 0
    values = {"meeting": access.meeting, "rows": rows, "since": since, "kind": kind, "kind_of": event_log.kind_of}
    return render(request, "meeting_log.html", values)


# -- agenda -------------------------------------------------------------------------------------


def _activity_form_values(form: dict[str, str], type_name: str, activity: Activity | None) -> tuple[dict, dict]:
    errors: dict[str, str] = {}
    common: dict[str, Any] = {}
    config: dict[str, Any] = {}
    try:
        common = agenda.validate_common(form, partial=activity is not None)
    except FormErrors as exc:
        errors.update(exc.errors)
    try:
        config = get_type(type_name).validate_config(form, activity)
    except FormErrors as exc:
        errors.update(exc.errors)
    if errors:
        raise FormErrors(errors)
    return common, config


async def activity_add_post(request: Request) -> Response:
    access = await _facilitator(request)
    form = await form_data(request)
    type_name = form.get("type", "")
    get_type(type_name)
    try:
        common, config = _activity_form_values(form, type_name, None)
    except FormErrors as exc:
        return await _activity_form(request, access, None, form, exc.errors, 422)
    if not config:
        config = get_type(type_name).default_config(services(request).settings)
    position = whole_number(str(form.get("position", "")))
    user_id = access.user.id
    _, event = await services(request).db.write(
        lambda: agenda.add_activity(access.meeting, type_name, common, config, user_id, position)
    )
    return await _after_change(request, access, [event], form.get("return_to", "") if form.get("return_to", "").startswith("/meeting/") else "")


async def _activity_form(
    request: Request, access: Access, activity: Activity | None, form: dict[str, str], errors: dict[str, str], status: int = 200
) -> Response:
    type_name = activity.type if activity else form.get("type", default_type())
    lock = await services(request).db.read(lambda: get_type(type_name).config_lock(activity)) if activity else None
    values = {
        "lock": lock,
        "meeting": access.meeting,
        "activity": activity,
        "activity_type": get_type(type_name),
        "types": TYPES,
        "form": form,
        "errors": errors,
    }
    return render(request, "activity_form.html", values, status=status)


async def activity_edit_get(request: Request) -> Response:
    access = await _facilitator(request, writable=False)
    activity = await services(request).db.read(lambda: agenda.get_activity(access.meeting.id, request.path_params["aid"]))
    form = {
        "type": activity.type,
        "title": activity.title,
        "instructions": activity.instructions,
        "time_limit_minutes": str(activity.time_limit_minutes or ""),
        "auto_stop": "on" if activity.auto_stop else "",
        **{k: v for k, v in activity.config.items()},
    }
    return await _activity_form(request, access, activity, form, {})


async def activity_edit_post(request: Request) -> Response:
    access = await _facilitator(request)
    form = await form_data(request)
    activity_id = request.path_params["aid"]
    activity = await services(request).db.read(lambda: agenda.get_activity(access.meeting.id, activity_id))
    type_name = form.get("type") or activity.type
    try:
        common, config = _activity_form_values(form, activity.type, activity)
    except FormErrors as exc:
        return await _activity_form(request, access, activity, form, exc.errors, 422)
    user_id = access.user.id

    def write() -> MeetingEvent:
        current = agenda.get_activity(access.meeting.id, activity_id)
        return agenda.edit_activity(current, type_name, common, config, user_id)

    event = await services(request).db.write(write)
    return await _after_change(request, access, [event], f"/meeting/{access.meeting.id}?activity={activity_id}")


async def activity_delete_post(request: Request) -> Response:
    access = await _facilitator(request)
    form = await form_data(request)
    activity_id = request.path_params["aid"]
    stop_first = form.get("stop_first") == "1"
    actor = access.user

    def write() -> list[MeetingEvent]:
        activity = agenda.get_activity(access.meeting.id, activity_id)
        events = []
        if stop_first and activity.state in agenda.ACTIVE_STATES:
            events.append(run_control.control(activity, "stop", actor, exclusivity=False))
        events.append(agenda.delete_activity(activity, actor.id))
        return events

    events = await services(request).db.write(write)
    return await _after_change(request, access, list(events))


async def activity_move_post(request: Request) -> Response:
    access = await _facilitator(request)
    form = await form_data(request)
    activity_id, direction = request.path_params["aid"], form.get("direction", "")
    user_id = access.user.id
    event = await services(request).db.write(
        lambda: agenda.move(agenda.get_activity(access.meeting.id, activity_id), direction, user_id)
    )
    return await _after_change(request, access, [event])


async def reorder_post(request: Request) -> Response:
    access = await _facilitator(request)
    form = await form_data(request)
    order = [part for part in form.get("order", "").replace(",", " ").split() if part]
    user_id = access.user.id
    event = await services(request).db.write(lambda: agenda.reorder(access.meeting.id, order, user_id))
    return await _after_change(request, access, [event])


# -- run control and sub-rosters ----------------------------------------------------------------


def _exclusivity(request: Request) -> bool:
    return bool(services(request).settings.get("meetings.activity_participant_exclusivity"))


async def control_post(request: Request) -> Response:
    access = await _facilitator(request)
    form = await form_data(request)
    activity_id, action = request.path_params["aid"], form.get("action", "")
    minutes = whole_number(str(form.get("minutes", ""))) or 1
    actor, exclusive = access.user, _exclusivity(request)
    try:
        event = await services(request).db.write(
            lambda: run_control.control(agenda.get_activity(access.meeting.id, activity_id), action, actor, exclusive, minutes)
        )
    except run_control.CollisionRefused as exc:
        return _collision(request, access, exc)
    return await _after_change(request, access, [event], notice=run_control.MESSAGES[action])


def _collision(request: Request, access: Access, exc: run_control.CollisionRefused) -> Response:
    """409 with the clashing participants: into #flash for htmx, as a page for a plain form."""
    # Without JavaScript the refusal is a page of its own: its Cancel goes back to the meeting.
    cancel_url = None if is_htmx(request) else f"/meeting/{access.meeting.id}"
    values = {"clashes": exc.clashes, "meeting": access.meeting, "cancel_url": cancel_url}
    return render(request, "collision.html", values, status=409, block="collision", headers=_flash_target(request))


def _flash_target(request: Request) -> dict[str, str]:
    return {"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"} if is_htmx(request) else {}


async def roster_get(request: Request, reverted: bool = False) -> Response:
    """The Edit Roster page; ``reverted`` (or ``?reverted=1`` after a plain form) shows the notice
    that an emptied custom list now means all participants."""
    access = await _facilitator(request, writable=False)
    activity_id = request.path_params["aid"]

    def load() -> dict[str, Any]:
        state = load_room(access.meeting.id)
        activity = agenda.get_activity(access.meeting.id, activity_id)
        selected = [u for u in state.participants if state.in_scope(activity, u.id)]
        available = [u for u in state.participants if not state.in_scope(activity, u.id)]
        return {"activity": activity, "selected": selected, "available": available, "state": state}

    values = await services(request).db.read(load)
    values["meeting"] = access.meeting
    reverted = reverted or request.query_params.get("reverted") == "1"
    if reverted and values["activity"].roster_mode == "all":
        values["notice"] = REVERTED.format(title=values["activity"].title)
    return render(request, "activity_roster.html", values, block="roster")


async def roster_post(request: Request) -> Response:
    """Every move commits: add/remove users to the selected column, or select all."""
    access = await _facilitator(request)
    # Checkbox columns submit repeated `user` fields, which the single-value form_data would collapse.
    form = await request.form()
    activity_id, op = request.path_params["aid"], str(form.get("op", ""))
    submitted = [str(v) for v in form.getlist("user")]
    actor, exclusive = access.user, _exclusivity(request)

    def write() -> tuple[MeetingEvent, bool]:
        state = load_room(access.meeting.id)
        activity = agenda.get_activity(access.meeting.id, activity_id)
        current = {u.id for u in state.participants if state.in_scope(activity, u.id)}
        if op == "all":
            chosen: set[str] = set()
        elif op == "add":
            chosen = current | set(submitted)
        elif op == "remove":
            chosen = current - set(submitted)
        else:
            chosen = set(submitted)
        event = run_control.set_sub_roster(activity, sorted(chosen), actor, exclusive)
        return event, bool(current) and not chosen and op != "all"

    try:
        event, reverted = await services(request).db.write(write)
    except run_control.CollisionRefused as exc:
        return _collision(request, access, exc)
    await live.announce(services(request), event)
    url = f"/meeting/{access.meeting.id}/activities/{activity_id}/roster" + ("?reverted=1" if reverted else "")
    if is_htmx(request):
        return await roster_get(request, reverted)
    return redirect(request, url)


async def publish_post(request: Request) -> Response:
    access = await _facilitator(request)
    form = await form_data(request)
    activity_id, publish = request.path_params["aid"], form.get("publish") == "1"
    actor: User = access.user
    event = await services(request).db.write(
        lambda: run_control.publish(agenda.get_activity(access.meeting.id, activity_id), publish, actor)
    )
    return await _after_change(request, access, [event])


async def round_post(request: Request) -> Response:
    """"Run again as round N": a fresh activity right after this stopped one (``meetings.rounds``)."""
    access = await _facilitator(request)
    activity_id = request.path_params["aid"]
    fresh, event = await services(request).db.write(lambda: rounds.run_again(access, activity_id))
    return await _after_change(request, access, [event], notice=f"“{fresh.title}” is ready to start.")


async def panel_get(request: Request) -> Response:
    """One activity's panel (members; participants only for activities in their scope)."""
    access = await _member(request)
    activity_id = request.path_params["aid"]

    def load() -> dict[str, Any]:
        state = load_room(access.meeting.id)
        activity = agenda.get_activity(access.meeting.id, activity_id)
        audience = state.audience_key(access.user.id, access.is_facilitator)
        return {**region_values(state, audience), "p": panel_values(state, activity, audience, access.user.id)}

    values = await services(request).db.read(load)
    return await render_off_loop(request, "_partials/panel.html", values)


routes = [
    Route("/meeting/{mid}", meeting_get, methods=["GET"]),
    Route("/meeting/{mid}/events", events_get, methods=["GET"]),
    Route("/meeting/{mid}/log", log_get, methods=["GET"]),
    Route("/meeting/{mid}/activities", activity_add_post, methods=["POST"]),
    Route("/meeting/{mid}/activities/reorder", reorder_post, methods=["POST"]),
    Route("/meeting/{mid}/activities/{aid}", panel_get, methods=["GET"]),
    Route("/meeting/{mid}/activities/{aid}/edit", activity_edit_get, methods=["GET"]),
    Route("/meeting/{mid}/activities/{aid}/edit", activity_edit_post, methods=["POST"]),
    Route("/meeting/{mid}/activities/{aid}/delete", activity_delete_post, methods=["POST"]),
    Route("/meeting/{mid}/activities/{aid}/move", activity_move_post, methods=["POST"]),
    Route("/meeting/{mid}/activities/{aid}/control", control_post, methods=["POST"]),
    Route("/meeting/{mid}/activities/{aid}/roster", roster_get, methods=["GET"]),
    Route("/meeting/{mid}/activities/{aid}/roster", roster_post, methods=["POST"]),
    Route("/meeting/{mid}/activities/{aid}/publish", publish_post, methods=["POST"]),
    Route("/meeting/{mid}/activities/{aid}/round", round_post, methods=["POST"]),
]
