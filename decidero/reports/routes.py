"""The meeting report (``/meeting/{id}/report``, ``/report.md``; members, filtered) and the
presenter view (``/meeting/{id}/present``; meeting facilitators). Both read on a reader thread and
render off the event loop: a report of thousands of ideas never holds the writer or the streams."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..meetings import event_log
from ..meetings.access import require_facilitator
from ..meetings.routes.meetings import invite_url
from ..platform.web import current_user, render, render_off_loop, services, wants_fragment
from .as_markdown import report_markdown
from .presenter import stage
from .report import load_report


async def report_get(request: Request) -> Response:
    user = current_user(request)
    meeting_id = request.path_params["mid"]
    report = await services(request).db.read(lambda: load_report(meeting_id, user))
    return await render_off_loop(request, "report.html", {"report": report, "meeting": report.meeting})


async def report_md_get(request: Request) -> Response:
    user = current_user(request)
    meeting_id = request.path_params["mid"]
    text = await services(request).db.read(lambda: report_markdown(load_report(meeting_id, user)))
    disposition = f'attachment; filename="{meeting_id}_report.md"'
    return Response(text.encode("utf-8"), media_type="text/markdown; charset=utf-8", headers={"Content-Disposition": disposition})


async def present_get(request: Request) -> Response:
    """The projector page; its stage alone when it re-fetches itself after a live event."""
    user = current_user(request)
    meeting_id = request.path_params["mid"]

    def load() -> dict[str, object]:
        access = require_facilitator(meeting_id, user)
        return {"stage": stage(access.meeting), "since": event_log.latest_id(meeting_id)}

    values = await services(request).db.read(load)
    values["invite_url"] = invite_url(request, meeting_id)
    values["join_url"] = str(request.base_url).rstrip("/") + "/join"
    if wants_fragment(request):
        return render(request, "present.html", values, block="stage")
    return await render_off_loop(request, "present.html", values)


routes = [
    Route("/meeting/{mid}/report", report_get, methods=["GET"]),
    Route("/meeting/{mid}/report.md", report_md_get, methods=["GET"]),
    Route("/meeting/{mid}/present", present_get, methods=["GET"]),
]
