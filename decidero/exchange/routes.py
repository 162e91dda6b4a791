"""``/meeting/{id}/export`` (meeting facilitators) and ``/meeting/import`` (facilitator and above),
SPEC §4.13 and §4.17. The work happens off the event loop: the export reads in one read transaction
on a reader thread and zips on a worker; an import reads and checks the zip on a worker, then
creates the meeting in one write transaction."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..meetings import lifecycle
from ..meetings.access import access_for
from ..meetings.routes.meetings import with_flash
from ..platform.forms import submission_key
from ..platform.middleware import IMPORT_BODY_LIMIT
from ..platform.models import User, utcnow
from ..platform.web import current_user, form_data, redirect, render, services
from . import bundle, export
from . import import_ as importing

FILE_FIELD = "bundle"
# What the browser lets through before sending: the body cap, less room for the form's other fields.
MAX_FILE_BYTES = IMPORT_BODY_LIMIT - 64 * 1024


async def export_get(request: Request) -> Response:
    user = current_user(request)
    meeting_id = request.path_params["mid"]
    db = services(request).db
    access = await db.read(lambda: access_for(meeting_id, user))
    lifecycle.check_facilitator(access)
    now = utcnow()
    data = await db.read(lambda: export.snapshot(access.meeting.id, now))
    body = await asyncio.to_thread(bundle.write_zip, data)
    name = export.file_name(access.meeting.id, now)
    return Response(body, media_type="application/zip", headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _page(request: Request, user: User, *, error: str = "", detail: str = "", status: int = 200) -> Response:
    values: dict[str, Any] = {
        "me": user, "form_token": submission_key(), "error": error, "detail": detail, "today": utcnow().strftime("%Y-%m-%d"),
        "max_bytes": MAX_FILE_BYTES,
    }
    return render(request, "meeting_import.html", values, status=status)


def _checked(raw: bytes) -> tuple[dict[str, Any], str]:
    """The upload's checked ``meeting.json`` and its digest (the retry key's payload); CPU work for a
    worker thread, never the event loop or the writer."""
    data = bundle.read_bundle(raw)
    importing.check(data)
    return data, importing.digest(raw)


async def import_get(request: Request) -> Response:
    user = current_user(request)
    lifecycle.check_creator(user)
    return _page(request, user)


async def import_post(request: Request) -> Response:
    user = current_user(request)
    lifecycle.check_creator(user)
    fields = await form_data(request)
    async with request.form() as form:  # closes the spooled upload when done
        upload = form.get(FILE_FIELD)
        raw = await upload.read() if isinstance(upload, UploadFile) else b""
    capacity = int(services(request).settings.get("meetings.max_participants"))
    token = fields.get("form_token") or None
    try:
        data, digest = await asyncio.to_thread(_checked, raw)
        meeting = await services(request).db.write(
            lambda: importing.import_meeting(user, data, token=token, upload_digest=digest, capacity=capacity)
        )
    except bundle.BundleError as exc:
        return _page(request, user, error=exc.message, detail=exc.detail, status=exc.status)
    return redirect(request, with_flash(request, "/dashboard", importing.IMPORTED.format(title=meeting.title)))


routes = [
    Route("/meeting/import", import_get, methods=["GET"]),
    Route("/meeting/import", import_post, methods=["POST"]),
    Route("/meeting/{mid}/export", export_get, methods=["GET"]),
]
