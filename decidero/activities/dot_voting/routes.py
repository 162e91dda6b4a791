"""Dot voting's own route: the whole allocation in one request. The ballot page, the answer after
a submission and the results are shared with rank-order voting (``ballots.routes``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...platform import idempotency
from ...platform.errors import Refused
from ...platform.web import current_user, form_data, services
from ..ballots import rules as voting
from ..ballots.routes import refused, saved
from ..ballots.routes import routes as ballot_routes
from . import votes


async def votes_post(request: Request) -> Response:
    """The whole allocation {option → dots} in one atomic, idempotent request (SPEC §4.9)."""
    user = current_user(request)
    form = await form_data(request)
    meeting_id, activity_id = request.path_params["mid"], request.path_params["aid"]
    key = idempotency.check_key(form.get("key"))
    requested = votes.requested_counts(form, activity_id)
    for_user = form.get("for", "")
    try:
        _, event = await services(request).db.write(
            lambda: votes.submit_allocation(meeting_id, activity_id, user, for_user, requested, key)
        )
    except Refused as exc:
        return await refused(request, exc, form)
    return await saved(request, event, "votes", voting.VOTES_SAVED, for_user)


routes = [
    *ballot_routes,
    Route("/meeting/{mid}/activities/{aid}/votes", votes_post, methods=["POST"]),
]
