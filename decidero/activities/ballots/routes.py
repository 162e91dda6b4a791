"""Dot voting and rank-order voting: ballots, submissions, results page and CSV, and their live events."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment
from markupsafe import escape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from ...meetings import event_log, live
from ...meetings.access import Access, require_member
from ...meetings.broker import personal
from ...meetings.models import Activity, MeetingEvent
from ...meetings.room import FACILITATOR_AUDIENCE, STATE_LABELS, RoomState
from ...platform import idempotency
from ...platform.errors import Refused
from ...platform.models import User
from ...platform.web import current_user, form_data, is_htmx, redirect, render, services, wants_fragment
from ..dot_voting import type as dot_voting
from ..rank_order import type as rank_order
from . import rules as voting


def ballot_page_values(access: Access, activity: Activity, voter: User, notice: str = "") -> dict[str, Any]:
    """The ballot of ``voter`` as ``access.user`` sees it, with the progress and results beside it (read path)."""
    facilitator = access.is_facilitator
    actor = access.user if voter.id != access.user.id else None
    if activity.type == voting.VOTING:
        ballot = dot_voting.ballot_values(activity, voter, facilitator, actor, notice)
    else:
        ballot = rank_order.ballot_values(activity, voter, facilitator, actor, notice)
    can_see = voting.may_see(activity, access.user.id, facilitator)
    return {"meeting": access.meeting, "activity": activity, "b": ballot, "res": voting.results_values(activity, can_see, facilitator)}


async def _ballot(request: Request, for_user: str = "", notice: str = "") -> Response:
    user = current_user(request)
    meeting_id, activity_id = request.path_params["mid"], request.path_params["aid"]

    def load() -> dict[str, Any]:
        access = require_member(meeting_id, user)
        activity = voting.voting_activity(meeting_id, activity_id)
        return ballot_page_values(access, activity, voting.voter_for(access, activity, for_user), notice)

    values = await services(request).db.read(load)
    values["swap_oob"] = wants_fragment(request)
    return render(request, "activities/ballots/ballot.html", values, block="ballot")


async def ballot_get(request: Request) -> Response:
    """The viewer's own ballot (or, for facilitators, someone's in the room): a fragment or a page."""
    params = request.query_params
    saved = params.get("saved", "")
    notice = voting.VOTES_SAVED if saved == "votes" else voting.RANKING_SAVED if saved == "ranking" else ""
    return await _ballot(request, params.get("for", ""), notice)


def _refused(request: Request, exc: Refused) -> Response:
    """htmx: the message inside the ballot, which keeps the voter's choices; plain forms: the error page."""
    if not is_htmx(request):
        raise exc
    activity_id = request.path_params["aid"]
    headers = {"HX-Retarget": f"#ballot-msg-{activity_id}", "HX-Reswap": "innerHTML", **exc.headers}
    return HTMLResponse(f'<p class="error" role="alert">{escape(exc.message)}</p>', status_code=exc.status, headers=headers)


async def _saved(request: Request, event: MeetingEvent | None, saved: str, notice: str, for_user: str = "") -> Response:
    await live.announce(services(request), event)
    if not is_htmx(request):
        query = {"saved": saved, **({"for": for_user} if for_user else {})}
        url = f"/meeting/{request.path_params['mid']}/activities/{request.path_params['aid']}/ballot?{urlencode(query)}"
        return redirect(request, url)
    return await _ballot(request, for_user, notice)


async def votes_post(request: Request) -> Response:
    """The whole allocation {option → dots} in one atomic, idempotent request (SPEC §4.9)."""
    user = current_user(request)
    form = await form_data(request)
    meeting_id, activity_id = request.path_params["mid"], request.path_params["aid"]
    key = idempotency.check_key(form.get("key"))
    requested = voting.requested_counts(form, activity_id)
    for_user = form.get("for", "")
    try:
        _, event = await services(request).db.write(
            lambda: voting.submit_allocation(meeting_id, activity_id, user, for_user, requested, key)
        )
    except Refused as exc:
        return _refused(request, exc)
    return await _saved(request, event, "votes", voting.VOTES_SAVED, for_user)


async def ranking_post(request: Request) -> Response:
    """A complete ranking, the voter's own or (facilitators) that of someone in the room (``for``)."""
    user = current_user(request)
    form = await form_data(request)
    meeting_id, activity_id = request.path_params["mid"], request.path_params["aid"]
    for_user = form.get("for", "")
    try:
        event = await services(request).db.write(
            lambda: voting.submit_ranking(meeting_id, activity_id, user, form, for_user)
        )
    except Refused as exc:
        return _refused(request, exc)
    return await _saved(request, event, "ranking", voting.RANKING_SAVED, for_user)


async def ranking_reset_post(request: Request) -> Response:
    user = current_user(request)
    form = await form_data(request)
    meeting_id, activity_id = request.path_params["mid"], request.path_params["aid"]
    for_user = form.get("for", "")
    try:
        event = await services(request).db.write(lambda: voting.reset_ranking(meeting_id, activity_id, user, for_user))
    except Refused as exc:
        return _refused(request, exc)
    return await _saved(request, event, "reset", "", for_user)


async def results_get(request: Request) -> Response:
    """Facilitators always; participants per the visibility policy or once published after stop.

    The page follows the meeting's stream: new totals arrive as the ``votes_changed`` /
    ``rankings_changed`` fragments rendered once per audience, and run-state, publishing, agenda and
    roster events make the results block re-fetch itself here, where the policy is checked again. A
    re-fetch that is refused replaces the block with the reason, so withdrawn totals leave the page.
    """
    user = current_user(request)
    meeting_id, activity_id = request.path_params["mid"], request.path_params["aid"]
    fragment = wants_fragment(request)

    def load() -> dict[str, Any]:
        try:
            access, activity = voting.require_results(meeting_id, activity_id, user)
        except Refused as exc:
            if not fragment:
                raise
            return {"withheld": exc.message, "status": exc.status}
        return {
            "meeting": access.meeting,
            "activity": activity,
            "res": voting.results_values(activity, True, access.is_facilitator),
            "type_label": dot_voting.DotVoting.label if activity.type == voting.VOTING else rank_order.RankOrderVoting.label,
            "state_label": STATE_LABELS[activity.state],
            "on_results_page": True,
            "since": event_log.latest_id(meeting_id),
        }

    values = await services(request).db.read(load)
    return render(request, "activities/ballots/results.html", values, block="results", status=values.get("status", 200))


async def results_csv_get(request: Request) -> Response:
    user = current_user(request)
    meeting_id, activity_id = request.path_params["mid"], request.path_params["aid"]

    def load() -> str:
        _, activity = voting.require_results(meeting_id, activity_id, user)
        return voting.results_csv(activity)

    text = await services(request).db.read(load)
    disposition = f'attachment; filename="{activity_id}_results.csv"'
    return Response(text.encode("utf-8"), media_type="text/csv; charset=utf-8", headers={"Content-Disposition": disposition})


# -- live events ----------------------------------------------------------------------------------


def _builder(kind: str) -> live.Builder:
    """``votes_changed`` / ``rankings_changed``: the counter for everyone in scope, totals only for
    audiences allowed to see them, and personal variants for voters who may see them after submitting."""

    def build(state: RoomState, event: MeetingEvent, audiences: set[Hashable], env: Environment) -> dict[Hashable, str]:
        activity = state.activity(event.activity_id or "")
        if activity is None or activity.type != kind:
            return {}
        newest: dict[str, int] = state.__dict__.setdefault(f"_newest_{kind}", {})
        if activity.id not in newest:
            newest[activity.id] = voting.latest_event_id(event.meeting_id, event.type, activity.id)
        if event.id < newest[activity.id]:
            return {}  # the state is read once, so only the newest such event needs to carry it
        values = {"meeting": state.meeting, "activity": activity, "swap_oob": True}
        progress = env.get_template("activities/ballots/_vote_progress.html")
        results = env.get_template("activities/ballots/_vote_results.html")
        counted = voting.progress(activity)  # one count for every view rendered below
        cache: dict[bool, str] = {}

        def totals(facilitator: bool) -> str:
            if facilitator not in cache:
                res = voting.results_values(activity, True, facilitator, counted)
                cache[facilitator] = results.render({**values, "res": res})
            return cache[facilitator]

        counter = progress.render({**values, "res": voting.results_values(activity, False, False, counted)})
        shared = voting.shared_visible(activity)
        out: dict[Hashable, str] = {}
        for audience in audiences:
            if audience == FACILITATOR_AUDIENCE:
                out[audience] = counter + totals(True)
            elif isinstance(audience, frozenset) and activity.id in audience:
                out[audience] = counter + (totals(False) if shared else "")
        if not shared and voting.visible_after_submit(activity):
            done = voting.submitter_ids(activity)
            for user in state.participants:
                if user.id in done and not user.is_admin and state.scope_of(user.id) in audiences:
                    if activity.id in state.scope_of(user.id):
                        out[personal(user.id)] = totals(False)  # appended to the user's shared variant
        return out

    return build


live.BUILDERS["votes_changed"] = _builder(voting.VOTING)
live.BUILDERS["rankings_changed"] = _builder(voting.RANKING)

routes = [
    Route("/meeting/{mid}/activities/{aid}/ballot", ballot_get, methods=["GET"]),
    Route("/meeting/{mid}/activities/{aid}/votes", votes_post, methods=["POST"]),
    Route("/meeting/{mid}/activities/{aid}/ranking", ranking_post, methods=["POST"]),
    Route("/meeting/{mid}/activities/{aid}/ranking/reset", ranking_reset_post, methods=["POST"]),
    Route("/meeting/{mid}/activities/{aid}/results", results_get, methods=["GET"]),
    Route("/meeting/{mid}/activities/{aid}/results.csv", results_csv_get, methods=["GET"]),
]
