"""The presenter view's stage (issue 15): what the projector shows now, following the facilitators'
focus. Read-only: nothing on the page can change the meeting.

The focus is the open (running or paused) activity started most recently, as participants' rooms
follow it (SPEC §4.6): its title and prompt in large type, its live count ("42 ideas", "12 of 18
voted"), and its results while everyone may see them (a vote with live results, a board). With
nothing open, the newest published results (``meetings.reveal``); with none, the join code and QR.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..meetings.activity_types import ReportResults, get_type
from ..meetings.models import Activity, Meeting
from ..meetings.reveal import PREVIEW_ITEMS, reveal_of
from ..meetings.run_control import ACTIVE_STATES
from ..platform.prepared import every


@dataclass(frozen=True)
class Stage:
    meeting: Meeting
    kind: str  # "activity", "results" or "join"
    activity: Activity | None = None
    type_label: str = ""
    prompt: str = ""
    figure: str = ""
    results: ReportResults | None = None


def focus(activities: list[Activity]) -> Activity | None:
    """The open activity the facilitators started (or resumed) last."""
    open_ = [a for a in activities if a.state in ACTIVE_STATES]
    return max(open_, key=lambda a: (a.segment_started_at or a.started_at or a.created_at, a.position), default=None)


def stage(meeting: Meeting) -> Stage:
    """Read path; the caller has checked the viewer is a facilitator."""
    meeting_id = meeting.id
    activities = every(Activity, "position", meeting=meeting_id)
    current = focus(activities)
    if current is not None:
        activity_type = get_type(current.type)
        results = activity_type.report_results(current, PREVIEW_ITEMS) if activity_type.public_while_running(current) else None
        return Stage(meeting, "activity", current, activity_type.label, activity_type.presenter_prompt(current),
                     activity_type.live_figure(current), results)
    shown = reveal_of(meeting_id, activities)
    if shown is not None:
        return Stage(meeting, "results", shown.activity, get_type(shown.activity.type).label, results=shown.results,
                     figure=shown.results.participation)
    return Stage(meeting, "join")
