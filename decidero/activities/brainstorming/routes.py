"""Brainstorming routes: submit ideas and comments, edit and delete own, moderate, results and CSV.

Every action is a plain form (303 back to the meeting) that htmx upgrades: the composer re-renders
itself, and other actions answer with the changed rows as out-of-band fragments. Everyone else
gets the change from the live stream (``events``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from ...meetings import event_log, live
from ...meetings.access import NOT_ASSIGNED, in_scope, require_member
from ...meetings.csv_export import csv_response, csv_text
from ...meetings.models import Activity
from ...meetings.results_block import load_or_withhold
from ...meetings.run_control import NOT_OPEN
from ...platform import idempotency
from ...platform.errors import Forbidden, FormErrors, NotFound, Refused
from ...platform.middleware import UNATTRIBUTED
from ...platform.models import User
from ...platform.prepared import one
from ...platform.web import (
    current_user,
    form_data,
    is_htmx,
    render,
    render_off_loop,
    see_other,
    services,
    wants_fragment,
)
from . import ideas
from .board import (
    LIVE_STATES,
    NEWEST,
    OLDEST,
    board,
    board_values,
    find,
    order_of,
    row_values,
    rules_of,
    set_order,
    view_from,
)
from .events import idea_fragment
from .models import Idea

NOT_PUBLISHED = "Results for this activity are not published yet."


def _ids(request: Request) -> tuple[str, str]:
    return request.path_params["mid"], request.path_params["aid"]


def _room_url(meeting_id: str, activity_id: str) -> str:
    return f"/meeting/{meeting_id}?activity={activity_id}"


async def _write(request: Request, fn: Callable[[], ideas.Outcome]) -> ideas.Outcome:
    """Commit, then announce; refusals propagate (htmx shows them in the page's flash area)."""
    _, activity_id = _ids(request)

    def run() -> ideas.Outcome:
        # The access log must not tie a user to an idea in an anonymous round, refusals included
        # ("only your own ideas"). The outcome says whether the round is anonymous; only a refusal
        # costs a lookup, and a failed write is logged without its user whatever the round.
        try:
            outcome = fn()
        except (Refused, FormErrors):
            activity = one(Activity, id=activity_id)
            if activity is not None and activity.type == "brainstorming" and rules_of(activity).anonymous:
                request.scope[UNATTRIBUTED] = True
            raise
        except Exception:
            request.scope[UNATTRIBUTED] = True
            raise
        if outcome.anonymous:
            request.scope[UNATTRIBUTED] = True
        return outcome

    outcome = await services(request).db.write(run)
    await live.announce(services(request), outcome.event)
    return outcome


def _row_html(env: Environment, meeting_id: str, activity_id: str, user: User, outcome: ideas.Outcome, payload: dict[str, Any]) -> str:
    """The changed idea as the actor sees it now (their own controls included); read path."""
    activity = ideas.activity_of(meeting_id, activity_id)
    idea = Idea.get_or_none(Idea.id == outcome.idea_id) if outcome.idea_id else None
    if idea is not None:
        data = {"idea": idea.id, "parent": idea.parent_id}
    elif payload:
        data = payload  # a deletion: the row to remove
    else:
        return ""  # replayed key whose idea is gone since
    return idea_fragment(env, activity, rules_of(activity), idea, data, outcome.facilitator, user.id)


def _form_values_now(meeting_id: str, activity_id: str, user: User) -> dict[str, Any]:
    activity = ideas.activity_of(meeting_id, activity_id)
    access = require_member(meeting_id, user)
    return row_values(activity, rules_of(activity), access.is_facilitator)


async def _rows(request: Request, meeting_id: str, activity_id: str, user: User, outcome: ideas.Outcome, payload: dict[str, Any]) -> str:
    env = services(request).templates
    return await services(request).db.read(lambda: _row_html(env, meeting_id, activity_id, user, outcome, payload))


async def _form_values(request: Request, meeting_id: str, activity_id: str, user: User) -> dict[str, Any]:
    return await services(request).db.read(lambda: _form_values_now(meeting_id, activity_id, user))


def _composer(values: dict[str, Any], parent: str) -> dict[str, Any]:
    activity_id = values["activity"].id
    form_id = f"reply-form-{activity_id}" if parent else f"idea-form-{activity_id}"  # one reply form per board
    return {**values, "form_id": form_id, "parent": parent}


# -- reading the board a page at a time ------------------------------------------------------------

VIEW_PARAMS = ("before", "after", "q")


def _board_now(meeting_id: str, activity_id: str, user: User, params: Mapping[str, str]) -> dict[str, Any]:
    """The board as this viewer reads it, at the page ``params`` ask for (read path). Participants
    read a board only while it is live and they are in its scope, as its panel shows it."""
    access = require_member(meeting_id, user)
    activity = ideas.activity_of(meeting_id, activity_id)
    if not access.is_facilitator:
        if not in_scope(activity, user.id):
            raise Forbidden(NOT_ASSIGNED)
        if activity.state not in LIVE_STATES:
            raise Refused(NOT_OPEN, 409)
    view = view_from(params, order_of(meeting_id, user.id))
    return board_values(activity, access.is_facilitator, user.id, view)


async def ideas_get(request: Request) -> Response:
    """One page of the board as a fragment: the next page ("Show N earlier ideas", appended by the
    link's hx-select), a search, or the viewer's own view. A plain GET goes to the meeting page,
    which shows the same view."""
    user = current_user(request)
    meeting_id, activity_id = _ids(request)
    params = {k: request.query_params[k] for k in VIEW_PARAMS if request.query_params.get(k)}
    if not is_htmx(request):
        return see_other(f"/meeting/{meeting_id}?" + urlencode({"activity": activity_id, **params}))
    values = await services(request).db.read(lambda: _board_now(meeting_id, activity_id, user, params))
    return await render_off_loop(request, "activities/brainstorming/_board.html", values)


async def order_post(request: Request) -> Response:
    """Newest or oldest ideas first: remembered for this user in this meeting (a "set to")."""
    user = current_user(request)
    meeting_id, activity_id = _ids(request)
    order = (await form_data(request)).get("order", "")
    if order not in (NEWEST, OLDEST):
        raise Refused("Choose newest or oldest first.", 400)

    def write() -> None:
        require_member(meeting_id, user)
        ideas.activity_of(meeting_id, activity_id)
        set_order(meeting_id, user.id, order)

    await services(request).db.write(write)
    if not is_htmx(request):
        return see_other(_room_url(meeting_id, activity_id))
    values = await services(request).db.read(lambda: _board_now(meeting_id, activity_id, user, {}))
    return await render_off_loop(request, "activities/brainstorming/_board.html", values)


# -- submit, edit, delete, moderation ------------------------------------------------------------


async def ideas_post(request: Request) -> Response:
    """Submit an idea, or a comment when ``parent`` names an idea (SPEC §4.8 rules, idempotent)."""
    user = current_user(request)
    meeting_id, activity_id = _ids(request)
    form = await form_data(request)
    key = idempotency.check_key(request.headers.get("x-idempotency-key") or form.get("client_token"))
    content, parent = form.get("content", ""), form.get("parent", "").strip()
    try:
        outcome = await _write(request, lambda: ideas.submit(meeting_id, activity_id, user, content, parent, key))
    except FormErrors as exc:
        values = _composer(await _form_values(request, meeting_id, activity_id, user), parent)
        values.update(content=content, error=exc.errors.get("content", ""))
        return _refused_form(request, values, "activities/brainstorming/_idea_form.html")
    if not is_htmx(request):
        return see_other(_room_url(meeting_id, activity_id))
    env = services(request).templates
    if outcome.created is not None and outcome.rules is not None:
        # The busiest write route answers from the row it committed: no second trip to the database.
        activity, idea, rules = outcome.created.activity, outcome.created, outcome.rules
        values = row_values(activity, rules, outcome.facilitator)
        rows = idea_fragment(env, activity, rules, idea, {}, outcome.facilitator, user.id, [] if idea.sub == 0 else None)
    else:  # a retried submission: the idea as it is now
        values, rows = await services(request).db.read(
            lambda: (
                _form_values_now(meeting_id, activity_id, user),
                _row_html(env, meeting_id, activity_id, user, outcome, {}),
            )
        )
    values = {**_composer(values, parent), "content": "", "error": ""}
    composer = render(request, "activities/brainstorming/_idea_form.html", values)
    return HTMLResponse(bytes(composer.body).decode() + rows)


def _refused_form(request: Request, values: dict[str, Any], template: str, headers: dict[str, str] | None = None) -> Response:
    """422: the form again with the text kept and the reason beside it (a page without htmx)."""
    if is_htmx(request):
        return render(request, template, values, status=422, headers=headers)
    page = {**values, "form_template": template}
    return render(request, "activities/brainstorming/form.html", page, status=422)


async def idea_edit_post(request: Request) -> Response:
    user = current_user(request)
    meeting_id, activity_id = _ids(request)
    label = request.path_params["n"]
    content = (await form_data(request)).get("content", "")
    try:
        outcome = await _write(request, lambda: ideas.edit(meeting_id, activity_id, user, label, content))
    except FormErrors as exc:
        values = await _form_values(request, meeting_id, activity_id, user)
        idea = await services(request).db.read(lambda: find(values["activity"], label))
        if idea is None:
            raise NotFound(ideas.NOT_FOUND) from None
        values.update(i=idea, content=content, error=exc.errors.get("content", ""))
        target = {"HX-Retarget": f"#edit-form-{idea.id}", "HX-Reswap": "outerHTML"}
        return _refused_form(request, values, "activities/brainstorming/_idea_edit_form.html", target)
    return await _changed(request, user, outcome, {})


async def _changed(request: Request, user: User, outcome: ideas.Outcome, payload: dict[str, Any]) -> Response:
    meeting_id, activity_id = _ids(request)
    if not is_htmx(request):
        return see_other(_room_url(meeting_id, activity_id))
    return HTMLResponse(await _rows(request, meeting_id, activity_id, user, outcome, payload))


async def idea_delete_post(request: Request) -> Response:
    user = current_user(request)
    meeting_id, activity_id = _ids(request)
    label = request.path_params["n"]
    outcome = await _write(request, lambda: ideas.delete(meeting_id, activity_id, user, label))
    payload = outcome.event.payload if outcome.event is not None else {}
    return await _changed(request, user, outcome, payload)


def _moderate(hidden: bool) -> Callable[[Request], Any]:
    async def handler(request: Request) -> Response:
        user = current_user(request)
        meeting_id, activity_id = _ids(request)
        label = request.path_params["n"]
        outcome = await _write(request, lambda: ideas.set_hidden(meeting_id, activity_id, user, label, hidden))
        return await _changed(request, user, outcome, {})

    return handler


# -- results ---------------------------------------------------------------------------------------


def _results(meeting_id: str, activity_id: str, user: User) -> dict[str, Any]:
    """Facilitators always; other members once published. Hidden ideas are left out (read path)."""
    access = require_member(meeting_id, user)
    activity = ideas.activity_of(meeting_id, activity_id)
    if not access.is_facilitator and not activity.results_published:
        raise Forbidden(NOT_PUBLISHED)
    rules = rules_of(activity)
    groups = sorted(board(activity, rules, False, None), key=lambda g: g.idea.number)
    return {"meeting": access.meeting, "activity": activity, "rules": rules, "groups": groups, "access": access}


async def results_get(request: Request) -> Response:
    """The results page (reached through the engine's results route, which dispatches by type), or
    its results block when it re-fetches itself after a live event (``meetings.results_block``)."""
    user = current_user(request)
    meeting_id, activity_id = _ids(request)

    def load() -> dict[str, Any]:
        return {**_results(meeting_id, activity_id, user), "since": event_log.latest_id(meeting_id)}

    values = await services(request).db.read(lambda: load_or_withhold(load, wants_fragment(request)))
    return render(request, "activities/brainstorming/results.html", values, block="results", status=values.get("status", 200))


CSV_COLUMNS = ["number", "parent_number", "content", "author", "created_at", "edited"]


def results_csv(meeting_id: str, activity_id: str, user: User) -> str:
    """SPEC §4.13: visible ideas and comments in number order; facilitators also get hidden ones."""
    values = _results(meeting_id, activity_id, user)
    facilitator = values["access"].is_facilitator
    activity, rules = values["activity"], values["rules"]
    groups = sorted(board(activity, rules, facilitator, None), key=lambda g: g.idea.number)
    rows: list[Sequence[object]] = [CSV_COLUMNS + (["hidden"] if facilitator else [])]
    for group in groups:
        for i in [group.idea, *group.comments]:
            row = [i.label, str(i.number) if i.sub else "", i.content, i.author,
                   i.created_at.isoformat(timespec="seconds") + "Z", "true" if i.edited else "false"]
            rows.append(row + (["true" if i.hidden else "false"] if facilitator else []))
    return csv_text(rows)


async def results_csv_get(request: Request) -> Response:
    user = current_user(request)
    meeting_id, activity_id = _ids(request)
    return csv_response(activity_id, await services(request).db.read(lambda: results_csv(meeting_id, activity_id, user)))


routes = [
    Route("/meeting/{mid}/activities/{aid}/ideas", ideas_get, methods=["GET"]),
    Route("/meeting/{mid}/activities/{aid}/ideas", ideas_post, methods=["POST"]),
    Route("/meeting/{mid}/activities/{aid}/ideas/order", order_post, methods=["POST"]),
    Route("/meeting/{mid}/activities/{aid}/ideas/{n}/edit", idea_edit_post, methods=["POST"]),
    Route("/meeting/{mid}/activities/{aid}/ideas/{n}/delete", idea_delete_post, methods=["POST"]),
    Route("/meeting/{mid}/activities/{aid}/ideas/{n}/hide", _moderate(True), methods=["POST"]),
    Route("/meeting/{mid}/activities/{aid}/ideas/{n}/unhide", _moderate(False), methods=["POST"]),
]
