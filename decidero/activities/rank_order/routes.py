"""Rank-order voting's own routes: submit and reset a ranking. The ballot page, the answer after a
submission and the results are shared with dot voting (``ballots.routes``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...platform.errors import Refused
from ...platform.web import current_user, form_data, services
from ..ballots import rules as voting
from ..ballots.routes import refused, saved
from ..ballots.routes import routes as ballot_routes
from . import rankings


async def ranking_post(request: Request) -> Response:
    """A complete ranking, the voter's own or (facilitators) that of someone in the room (``for``)."""
    user = current_user(request)
    form = await form_data(request)
    meeting_id, activity_id = request.path_params["mid"], request.path_params["aid"]
    for_user = form.get("for", "")
    try:
        event = await services(request).db.write(
            lambda: rankings.submit_ranking(meeting_id, activity_id, user, form, for_user)
        )
    except Refused as exc:
        return await refused(request, exc, form)
    return await saved(request, event, "ranking", voting.RANKING_SAVED, for_user)


async def ranking_reset_post(request: Request) -> Response:
    user = current_user(request)
    form = await form_data(request)
    meeting_id, activity_id = request.path_params["mid"], request.path_params["aid"]
    for_user = form.get("for", "")
    try:
        event = await services(request).db.write(lambda: rankings.reset_ranking(meeting_id, activity_id, user, for_user))
    except Refused as exc:
        return await refused(request, exc, form)
    return await saved(request, event, "reset", "", for_user)


routes = [
    *ballot_routes,
    Route("/meeting/{mid}/activities/{aid}/ranking", ranking_post, methods=["POST"]),
    Route("/meeting/{mid}/activities/{aid}/ranking/reset", ranking_reset_post, methods=["POST"]),
]
