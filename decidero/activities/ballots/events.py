"""Live ``votes_changed`` and ``rankings_changed`` events (SPEC §4.9–4.10, §4.14): the progress
counter for everyone in scope, totals only for the audiences allowed to see them."""

from __future__ import annotations

from collections.abc import Hashable

from jinja2 import Environment

from ...meetings.activity_types import EventBuilder
from ...meetings.broker import personal
from ...meetings.models import MeetingEvent
from ...meetings.room import FACILITATOR_AUDIENCE, RoomState
from . import rules as voting


def builder(kind: str) -> EventBuilder:
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
