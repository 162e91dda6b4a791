"""The meeting report's contents (SPEC §4.13): the meeting's title, id, dates, facilitators and
participant count, then each activity in agenda order with its type, instructions, total run time,
participation and results, and where each transferred item came from.

Facilitators get every activity; everyone else only those whose results are published (and
stopped, as the room's Results links). Each activity's results come from its type and are the same
for every reader: hidden ideas left out, anonymous authors unnamed, nobody listed as not having voted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..meetings import provenance
from ..meetings.access import facilitator_ids, participants_query, require_member
from ..meetings.activity_types import ReportResults, get_type
from ..meetings.models import Activity, Meeting
from ..meetings.room import STATE_LABELS, clock
from ..meetings.run_control import elapsed_seconds
from ..platform.models import User, utcnow
from ..platform.prepared import every


@dataclass(frozen=True)
class Provenanced:
    """A transferred item: its text here and the hops it came through, oldest first."""

    text: str
    hops: list[str]


@dataclass(frozen=True)
class Section:
    number: int
    activity: Activity
    type_label: str
    state_label: str
    run_time: str  # "m:ss" or "h:mm:ss"; "" when it never ran
    results: ReportResults | None
    sources: list[Provenanced]


@dataclass(frozen=True)
class Report:
    meeting: Meeting
    facilitators: list[str]
    participant_count: int
    first_started: datetime | None
    last_stopped: datetime | None
    sections: list[Section]
    complete: bool  # a facilitator's report (every activity), not a participant's (published ones)
    generated_at: datetime


def shown_to_everyone(activity: Activity) -> bool:
    """Whether a participant's report includes the activity: stopped and published."""
    return activity.state == "stopped" and bool(activity.results_published)


def load_report(meeting_id: str, user: User) -> Report:
    """The report as ``user`` may read it (read path; members only)."""
    access = require_member(meeting_id, user)
    meeting = access.meeting
    facilitator = access.is_facilitator
    activities = [a for a in every(Activity, "position", meeting=meeting_id) if facilitator or shown_to_everyone(a)]
    now = utcnow()
    sections = [_section(number, activity, now) for number, activity in enumerate(activities, start=1)]
    started = [a.started_at for a in activities if a.started_at is not None]
    stopped = [a.stopped_at for a in activities if a.stopped_at is not None]
    ids = facilitator_ids(meeting)
    names = [u.display_name for u in User.select(User.id, User.display_name).where(User.id.in_(sorted(ids)))]
    return Report(
        meeting=meeting,
        facilitators=sorted(names, key=str.casefold),
        participant_count=participants_query(meeting_id).count(),
        first_started=min(started, default=None),
        last_stopped=max(stopped, default=None),
        sections=sections,
        complete=facilitator,
        generated_at=now,
    )


def _section(number: int, activity: Activity, now: datetime) -> Section:
    activity_type = get_type(activity.type)
    results = activity_type.report_results(activity)
    sources: list[Provenanced] = []
    if results is not None:
        chains = provenance.chains_for(activity.id, results.items)
        sources = [Provenanced(text, chains[ref]) for ref, text in results.items.items() if chains.get(ref)]
    ran = activity.started_at is not None
    return Section(
        number=number,
        activity=activity,
        type_label=activity_type.label,
        state_label=STATE_LABELS[activity.state],
        run_time=clock(elapsed_seconds(activity, now)) if ran else "",
        results=results,
        sources=sources,
    )
