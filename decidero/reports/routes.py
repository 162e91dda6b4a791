"""The meeting report (``/meeting/{id}/report``, ``/report.md``; members, filtered) and the
presenter view (``/meeting/{id}/present``; meeting facilitators). Both read on a reader thread and
render off the event loop: a report of thousands of ideas never holds the writer or the streams."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
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


# services.extras: per meeting, the stage last rendered, with the event id and base URL it was for.
STAGES = "reports.stages"


async def present_get(request: Request) -> Response:
    """The projector page; its stage alone when it re-fetches itself after a live event. Every
    presenter screen of a meeting re-fetches on the same events: the stage is rendered once per
    state of the meeting's log and shared (its audience is the meeting's facilitators)."""
    user = current_user(request)
    meeting_id = request.path_params["mid"]
    base = str(request.base_url).rstrip("/")
    fragment = wants_fragment(request)
    cache: dict[str, tuple[int, str, str]] = services(request).extras.setdefault(STAGES, {})

    def load() -> dict[str, object]:
        access = require_facilitator(meeting_id, user)
        latest = event_log.latest_id(meeting_id)  # read first: the stage read after it is as new or newer
        cached = cache.get(meeting_id)
        if fragment and cached is not None and cached[:2] == (latest, base):
            return {"html": cached[2]}
        return {"stage": stage(access.meeting), "since": latest}

    values = await services(request).db.read(load)
    if "html" in values:
        return HTMLResponse(str(values["html"]))
    values.update(invite_url=invite_url(request, meeting_id), join_url=base + "/join")
    if not fragment:
        return await render_off_loop(request, "present.html", values)
    response = render(request, "present.html", values, block="stage")
    cache[meeting_id] = (int(str(values["since"])), base, bytes(response.body).decode())
    return response


routes = [
    Route("/meeting/{mid}/report", report_get, methods=["GET"]),
    Route("/meeting/{mid}/report.md", report_md_get, methods=["GET"]),
    Route("/meeting/{mid}/present", present_get, methods=["GET"]),
]
