"""The reveal (issue 15): when a facilitator publishes results, every in-scope participant's room
shows them at once, with "Results are in", without a reload; unpublishing hides them again.

What a room shows is a function of the meeting's state, so a live update and a fresh load agree
(SPEC §4.14): the most recently published results among the stopped, published activities (the
newest ``results_published`` event decides). A participant with an activity open sees the notice
and a link, one with nothing open also a preview of the results. Facilitators published them
themselves and see no reveal. The preview is the type's report results, the same for everyone, so
the room renders it once per audience.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from .activity_types import ReportResults, get_type
from .models import Activity, MeetingEvent

PREVIEW_ITEMS = 10  # items a reveal and the presenter view show before "and N more"


@dataclass(frozen=True)
class Reveal:
    activity: Activity
    results: ReportResults


def latest_published(meeting_id: str, activities: Sequence[Activity]) -> Activity | None:
    """The stopped activity with published results whose publishing is the newest (read path)."""
    candidates = {
        a.id: a for a in activities
        if a.state == "stopped" and a.results_published and get_type(a.type).results_page is not None
    }
    if not candidates:
        return None
    newest = (
        MeetingEvent.select(MeetingEvent.activity_id)
        .where(MeetingEvent.meeting_id == meeting_id, MeetingEvent.type == "results_published",
               MeetingEvent.activity_id.in_(list(candidates)))
        .order_by(MeetingEvent.id.desc())
        .first()
    )
    if newest is not None and newest.activity_id in candidates:
        return candidates[newest.activity_id]
    return max(candidates.values(), key=lambda a: a.position)  # published without a logged event (seeded data)


def reveal_of(meeting_id: str, activities: Sequence[Activity]) -> Reveal | None:
    activity = latest_published(meeting_id, activities)
    if activity is None:
        return None
    results = get_type(activity.type).report_results(activity, PREVIEW_ITEMS)
    return None if results is None else Reveal(activity, results)


def reveal_for(reveal: Reveal | None, audience: Hashable, facilitator: bool) -> Reveal | None:
    """The reveal a participant audience (its scope, a frozenset of activity ids) gets, if any."""
    if reveal is None or facilitator or not isinstance(audience, frozenset):
        return None
    return reveal if reveal.activity.id in audience else None
