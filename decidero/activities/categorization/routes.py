"""Categorization routes: the board's changes (facilitators), the "being moved" signal, and the
results page and CSV.

Every change is a plain form (303 back to the board, at the changed element) that htmx upgrades:
the answer is the board as the actor now sees it, out of band. Everyone else gets the change from
the live stream (``events``). A refused change tells why in the flash area and shows the board as
it is now, so a move that lost a race never leaves a stale board on screen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from ...meetings import event_log, live, provenance, rounds
from ...meetings.access import require_member
from ...meetings.csv_export import csv_response, csv_text
from ...meetings.results_block import load_or_withhold
from ...platform.errors import Forbidden, Refused
from ...platform.forms import whole_number
from ...platform.models import User
from ...platform.web import (
    current_user,
    error_response,
    form_data,
    is_htmx,
    render,
    render_fragment,
    see_other,
    services,
    wants_fragment,
)
from . import changes
from .board import board_view, dom
from .type import board_values

NOT_PUBLISHED = "Results for this activity are not published yet."
BOARD = "activities/categorization/_board.html"


def _ids(request: Request) -> tuple[str, str]:
    return request.path_params["mid"], request.path_params["aid"]


async def _board_html(request: Request, meeting_id: str, activity_id: str) -> str:
    """The board as a facilitator sees it now, out of band (read path)."""
    env = services(request).templates

    def load() -> str:
        activity = changes.categorization_activity(meeting_id, activity_id)
        values = {**board_values(activity, True), "activity": activity, "meeting": activity.meeting, "board_oob": True}
        return render_fragment(env, BOARD, values)

    return await services(request).db.read(load)


def change(run: Callable[[str, str, User, dict[str, str]], changes.Change]) -> Callable[[Request], Any]:
    """A route for one board change: ``run(meeting, activity, user, form)`` on the write path."""

    async def handler(request: Request) -> Response:
        user = current_user(request)
        meeting_id, activity_id = _ids(request)
        form = await form_data(request)
        try:
            done = await services(request).db.write(lambda: run(meeting_id, activity_id, user, form))
        except Refused as exc:
            if not is_htmx(request) or exc.status == 403:
                raise
            refusal = error_response(request, exc.status, exc.message, exc.headers)
            board = await _board_html(request, meeting_id, activity_id)
            return HTMLResponse(bytes(refusal.body).decode() + board, status_code=exc.status, headers=dict(refusal.headers))
        await live.announce(services(request), done.event)
        if not is_htmx(request):
            anchor = f"#{'item' if ':item-' in done.focus else 'bucket'}-{dom(done.focus)}" if done.focus else ""
            return see_other(f"/meeting/{meeting_id}?activity={activity_id}{anchor}")
        return HTMLResponse(await _board_html(request, meeting_id, activity_id))

    return handler


def _revision(form: dict[str, str]) -> int | None:
    return whole_number(form.get("rev")) if form.get("rev", "").strip() else None


def _reorder(meeting_id: str, activity_id: str, user: User, form: dict[str, str]) -> changes.Change:
    direction = form.get("direction", "")
    if form.get("item"):
        return changes.reorder_item(meeting_id, activity_id, user, form["item"], direction, _revision(form))
    return changes.reorder_bucket(meeting_id, activity_id, user, form.get("bucket", ""), direction)


def _move(meeting_id: str, activity_id: str, user: User, form: dict[str, str]) -> changes.Change:
    position = whole_number(form.get("position")) if form.get("position", "").strip() else None
    return changes.move_item(
        meeting_id, activity_id, user, form.get("item", ""), form.get("bucket", ""), form.get("from", ""), _revision(form), position
    )


async def holding_post(request: Request) -> Response:
    """A facilitator picked up an item (focused its Move select, started a drag) or put it down:
    the other facilitators see "Being moved by <name>" on it until then."""
    user = current_user(request)
    meeting_id, activity_id = _ids(request)
    form = await form_data(request)
    access, item = await services(request).db.read(lambda: changes.holder_check(meeting_id, activity_id, user, form.get("item", "")))
    name = access.user.display_name if form.get("holding") == "1" else ""
    html = render_fragment(services(request).templates, "activities/categorization/_holding.html", {"dom": dom(item.id), "name": name})
    live.signal(services(request), meeting_id, "board_holding", html, user.id)
    return Response(status_code=204)


# -- results -------------------------------------------------------------------------------------------


def _results(meeting_id: str, activity_id: str, user: User) -> dict[str, Any]:
    """Facilitators always; other members once published (read path)."""
    access = require_member(meeting_id, user)
    activity = changes.categorization_activity(meeting_id, activity_id)
    if not access.is_facilitator and not activity.results_published:
        raise Forbidden(NOT_PUBLISHED)
    facilitator = access.is_facilitator
    view = board_view(activity, facilitator)
    chains = {i.id: provenance.chain(activity.id, i.id) for b in view.buckets for i in b.items} if facilitator else {}
    return {
        "meeting": access.meeting,
        "activity": activity,
        "board": view,
        "chains": chains,
        "facilitator": facilitator,
        "rounds": rounds.comparison(activity, facilitator),
        "since": event_log.latest_id(meeting_id),
    }


async def results_get(request: Request) -> Response:
    """The results page, or its block re-fetching itself after a live event (``meetings.results_block``)."""
    user = current_user(request)
    meeting_id, activity_id = _ids(request)
    fragment = wants_fragment(request)
    values = await services(request).db.read(lambda: load_or_withhold(lambda: _results(meeting_id, activity_id, user), fragment))
    return render(request, "activities/categorization/results.html", values, block="results", status=values.get("status", 200))


CSV_COLUMNS = ["bucket_order", "bucket", "item_order", "item"]


def results_csv(meeting_id: str, activity_id: str, user: User) -> str:
    """SPEC §4.13: buckets in order (Unsorted first), each item in order; an empty bucket is one
    row with no item."""
    board = _results(meeting_id, activity_id, user)["board"]
    rows: list[Sequence[object]] = [CSV_COLUMNS]
    for number, bucket in enumerate(board.buckets, start=1):
        rows += [[number, bucket.title, position, item.text] for position, item in enumerate(bucket.items, start=1)]
        if not bucket.items:
            rows.append([number, bucket.title, "", ""])
    return csv_text(rows)


async def results_csv_get(request: Request) -> Response:
    user = current_user(request)
    meeting_id, activity_id = _ids(request)
    return csv_response(activity_id, await services(request).db.read(lambda: results_csv(meeting_id, activity_id, user)))


BASE = "/meeting/{mid}/activities/{aid}/board"
routes = [
    Route(f"{BASE}/buckets", change(lambda m, a, u, f: changes.add_bucket(m, a, u, f.get("title", ""), f.get("description", ""))), methods=["POST"]),
    Route(
        f"{BASE}/buckets/edit",
        change(lambda m, a, u, f: changes.edit_bucket(m, a, u, f.get("bucket", ""), f.get("title"), f.get("description"))),
        methods=["POST"],
    ),
    Route(f"{BASE}/buckets/delete", change(lambda m, a, u, f: changes.delete_bucket(m, a, u, f.get("bucket", ""))), methods=["POST"]),
    Route(f"{BASE}/items", change(lambda m, a, u, f: changes.add_item(m, a, u, f.get("text", ""))), methods=["POST"]),
    Route(f"{BASE}/items/edit", change(lambda m, a, u, f: changes.edit_item(m, a, u, f.get("item", ""), f.get("text", ""))), methods=["POST"]),
    Route(f"{BASE}/items/delete", change(lambda m, a, u, f: changes.delete_item(m, a, u, f.get("item", ""))), methods=["POST"]),
    Route(f"{BASE}/move", change(_move), methods=["POST"]),
    Route(f"{BASE}/reorder", change(_reorder), methods=["POST"]),
    Route(f"{BASE}/lock", change(lambda m, a, u, f: changes.set_locked(m, a, u, f.get("locked") == "1")), methods=["POST"]),
    Route(f"{BASE}/holding", holding_post, methods=["POST"]),
]
