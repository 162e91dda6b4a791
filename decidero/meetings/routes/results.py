"""Results pages and CSV exports (SPEC §4.13), dispatched through the registry to the activity's type.

A type with results hands over both endpoints when it registers. For any other activity, or none,
members get 404, and a results block re-fetching itself gets the reason in its place.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...platform.errors import NotFound, Refused
from ...platform.models import User
from ...platform.web import current_user, render, services, wants_fragment
from ..access import require_member
from ..activity_types import TYPES, ActivityType
from ..models import Activity


async def _type_of(request: Request) -> ActivityType | None:
    meeting_id, activity_id = request.path_params["mid"], request.path_params["aid"]

    def load() -> str:
        activity = Activity.get_or_none(Activity.id == activity_id, Activity.meeting == meeting_id)
        return activity.type if activity is not None else ""

    return TYPES.get(await services(request).db.read(load))


def _refusal(meeting_id: str, user: User) -> Refused:
    """Why there are no results to show: no access for non-members, else not found (read path)."""
    try:
        require_member(meeting_id, user)
    except Refused as exc:
        return exc
    return NotFound()


async def _results(request: Request, csv: bool) -> Response:
    activity_type = await _type_of(request)
    endpoint = None if activity_type is None else activity_type.results_csv if csv else activity_type.results_page
    if endpoint is not None:
        return await endpoint(request)
    user = current_user(request)
    meeting_id = request.path_params["mid"]
    refusal = await services(request).db.read(lambda: _refusal(meeting_id, user))
    if csv or not wants_fragment(request):
        raise refusal
    return render(request, "_partials/results_withheld.html", {"withheld": refusal.message}, status=refusal.status)


async def results_get(request: Request) -> Response:
    return await _results(request, csv=False)


async def results_csv_get(request: Request) -> Response:
    return await _results(request, csv=True)


routes = [
    Route("/meeting/{mid}/activities/{aid}/results", results_get, methods=["GET"]),
    Route("/meeting/{mid}/activities/{aid}/results.csv", results_csv_get, methods=["GET"]),
]
