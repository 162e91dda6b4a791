"""Live ``board_changed`` (SPEC §4.14): the board re-rendered once per audience that can see it.

A run of board events is rendered once, as the board is now: every fragment replaces the whole
board by id, so replays and duplicates converge on what a fresh load shows. The facilitators also
get their agenda row's "Transfer Ideas (N)" count.
"""

from __future__ import annotations

from collections.abc import Hashable

from jinja2 import Environment

from ...meetings.models import MeetingEvent
from ...meetings.room import FACILITATOR_AUDIENCE, RoomState
from .board import LIVE_STATES, item_count
from .type import board_values

EVENTS = ("board_changed",)


def build(state: RoomState, event: MeetingEvent, audiences: set[Hashable], env: Environment) -> dict[Hashable, str]:
    activity = state.activity(event.activity_id or "")
    if activity is None or activity.type != "categorization":
        return {}
    built: set[str] = state.__dict__.setdefault("_boards_built", set())
    if activity.id in built:
        return {}
    built.add(activity.id)
    template = env.get_template("activities/categorization/_board.html")
    rendered: dict[bool, str] = {}

    def board(facilitator: bool) -> str:
        if facilitator not in rendered:
            values = {**board_values(activity, facilitator), "activity": activity, "meeting": state.meeting, "board_oob": True}
            rendered[facilitator] = template.render(values)
        return rendered[facilitator]

    out: dict[Hashable, str] = {}
    for audience in audiences:
        if audience == FACILITATOR_AUDIENCE:
            row = {"activity": activity, "transfer_count": item_count(activity)}
            button = env.get_template("_partials/transfer_button.html").render(r=row, button_oob=True, meeting=state.meeting)
            out[audience] = board(True) + button
        elif isinstance(audience, frozenset) and activity.id in audience and activity.state in LIVE_STATES:
            out[audience] = board(False)
    return out
