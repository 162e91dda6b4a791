"""What both ballot types serve alike: the ballot page (a voter's ballot with progress and results),
the answer to a submission, and the results page and CSV. Each type's own submission route is in its
package (``dot_voting.routes``, ``rank_order.routes``) and answers through ``refused`` and ``saved``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from markupsafe import escape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from ...meetings import event_log, live, provenance, rounds
from ...meetings.access import Access, require_member
from ...meetings.activity_types import get_type
from ...meetings.csv_export import csv_response
from ...meetings.models import Activity, MeetingEvent
from ...meetings.results_block import load_or_withhold
from ...meetings.room import STATE_LABELS
from ...platform.errors import Refused
from ...platform.models import User
from ...platform.web import current_user, is_htmx, redirect, render, services, wants_fragment
from . import rules as voting
from .type import ballot_type


def ballot_page_values(access: Access, activity: Activity, voter: User, notice: str = "") -> dict[str, Any]:
    """The ballot of ``voter`` as ``access.user`` sees it, with the progress and results beside it (read path)."""
    facilitator = access.is_facilitator
    actor = access.user if voter.id != access.user.id else None
    ballot = ballot_type(activity).ballot_values(activity, voter, facilitator, actor, notice)
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


async def refused(request: Request, exc: Refused, form: dict[str, str]) -> Response:
    """htmx: the message inside the ballot, which keeps the voter's choices. Plain forms: the ballot
    page again, with the submitted choices kept, the message beside them and the way back to the
    meeting; the error page only when there is no ballot to show (not a member, not assigned)."""
    activity_id = request.path_params["aid"]
    if is_htmx(request):
        headers = {"HX-Retarget": f"#ballot-msg-{activity_id}", "HX-Reswap": "innerHTML", **exc.headers}
        return HTMLResponse(f'<p class="error" role="alert">{escape(exc.message)}</p>', status_code=exc.status, headers=headers)
    user = current_user(request)
    meeting_id = request.path_params["mid"]

    def load() -> dict[str, Any]:
        access = require_member(meeting_id, user)
        activity = voting.voting_activity(meeting_id, activity_id)
        values = ballot_page_values(access, activity, voting.voter_for(access, activity, form.get("for", "")))
        values["b"] = {**ballot_type(activity).keep_choices(values["b"], form), "error": exc.message}
        return values

    try:
        values = await services(request).db.read(load)
    except Refused:
        raise exc from None
    return render(request, "activities/ballots/ballot.html", values, status=exc.status, headers=exc.headers)


async def saved(request: Request, event: MeetingEvent | None, saved: str, notice: str, for_user: str = "") -> Response:
    await live.announce(services(request), event)
    if not is_htmx(request):
        query = {"saved": saved, **({"for": for_user} if for_user else {})}
        url = f"/meeting/{request.path_params['mid']}/activities/{request.path_params['aid']}/ballot?{urlencode(query)}"
        return redirect(request, url)
    return await _ballot(request, for_user, notice)


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
        access, activity = voting.require_results(meeting_id, activity_id, user)
        facilitator = access.is_facilitator
        res = voting.results_values(activity, True, facilitator)
        if facilitator:  # where each option came from, hop by hop (SPEC §4.12 provenance)
            chains = {o.id: provenance.chain(activity.id, o.id) for o in voting.options_of(activity)}
            res["chains"] = {option: hops for option, hops in chains.items() if hops}
        return {
            "meeting": access.meeting,
            "activity": activity,
            "res": res,
            "rounds": rounds.comparison(activity, facilitator),
            "type_label": get_type(activity.type).label,
            "state_label": STATE_LABELS[activity.state],
            "on_results_page": True,
            "since": event_log.latest_id(meeting_id),
        }

    values = await services(request).db.read(lambda: load_or_withhold(load, fragment))
    return render(request, "activities/ballots/results.html", values, block="results", status=values.get("status", 200))


async def results_csv_get(request: Request) -> Response:
    user = current_user(request)
    meeting_id, activity_id = request.path_params["mid"], request.path_params["aid"]

    def load() -> str:
        _, activity = voting.require_results(meeting_id, activity_id, user)
        return voting.results_csv(activity)

    return csv_response(activity_id, await services(request).db.read(load))


# Shared by both ballot types: each registers it among its own routes (the registry lists it once).
routes = [Route("/meeting/{mid}/activities/{aid}/ballot", ballot_get, methods=["GET"])]
