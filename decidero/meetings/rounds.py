"""Second rounds: "Run again as round N" on a stopped vote, ranking or categorization creates a
fresh activity right after it, with the same configuration and content and none of the participant
data, and the results show the rounds side by side (per option: each round's total and the change).

Types take part through the registry: ``runs_rounds``, ``round_totals``, ``round_config`` (what the fresh round starts with) and ``content_refs`` (which item of the new
round continues which of the old, recorded as provenance so chains run through every round).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..platform.errors import Conflict, Refused
from . import agenda, lifecycle, provenance
from .access import Access, require_writable
from .activity_types import TransferSource, get_type
from .models import Activity, ActivityRosterEntry, ActivityRound, MeetingEvent

ROUND_SUFFIX = re.compile(r"\s*\(round \d+\)\s*$")
NO_ROUNDS = "This activity type cannot run a second round."
NOT_STOPPED = "Stop the activity before running it again."
ALREADY = "Round {number} of “{title}” already exists."


def number_of(activity_id: str) -> int:
    row = ActivityRound.get_or_none(ActivityRound.activity_id == activity_id)
    return row.number if row is not None else 1


def button_label(number: int) -> str:
    """The button: "Run again as round 2"."""
    return f"Run again as round {number}"


def next_numbers(activities: list[Activity]) -> dict[str, int]:
    """For each stopped activity that may run again (read path): the number of its next round."""
    ids = [a.id for a in activities]
    numbers = {r.activity_id: r.number for r in ActivityRound.select().where(ActivityRound.activity_id.in_(ids))}
    followed = {r.previous_id for r in ActivityRound.select(ActivityRound.previous_id).where(ActivityRound.previous_id.in_(ids))}
    return {
        a.id: numbers.get(a.id, 1) + 1
        for a in activities
        if a.state == "stopped" and a.id not in followed and get_type(a.type).runs_rounds
    }


def run_again(access: Access, activity_id: str) -> tuple[Activity, MeetingEvent]:
    """Write path: the fresh round, inserted right after ``activity_id``, and its agenda event."""
    lifecycle.check_facilitator(access)
    require_writable(access)
    previous = agenda.get_activity(access.meeting.id, activity_id)
    activity_type = get_type(previous.type)
    if not activity_type.runs_rounds:
        raise Refused(NO_ROUNDS, 400)
    if previous.state != "stopped":
        raise Conflict(NOT_STOPPED)
    number = number_of(previous.id) + 1
    base = ROUND_SUFFIX.sub("", previous.title)
    if ActivityRound.select().where(ActivityRound.previous_id == previous.id).exists():
        raise Conflict(ALREADY.format(number=number, title=base))
    common = {
        "title": f"{base[: 200 - 12]} (round {number})",
        "instructions": previous.instructions,
        "time_limit_minutes": previous.time_limit_minutes,
        "auto_stop": previous.auto_stop,
    }
    config = activity_type.round_config(previous)
    fresh, event = agenda.add_activity(access.meeting, previous.type, common, config, access.user.id, previous.position + 1)
    _copy_roster(previous, fresh)
    ActivityRound.create(activity_id=fresh.id, previous_id=previous.id, meeting_id=previous.meeting_id, number=number)
    old, new = activity_type.content_refs(previous), activity_type.content_refs(fresh)
    origin = provenance.Origin(previous.meeting_id, previous.id, previous.title)
    noun = activity_type.item_noun
    provenance.record(fresh, origin, [(ref, TransferSource(was, f"{noun} “{text}”", text)) for (ref, _), (was, text) in zip(new, old, strict=False)])
    return fresh, event


def _copy_roster(previous: Activity, fresh: Activity) -> None:
    """The same participants take part (a custom sub-roster carries over)."""
    if previous.roster_mode != "custom":
        return
    users = [e.user_id for e in ActivityRosterEntry.select(ActivityRosterEntry.user).where(ActivityRosterEntry.activity == previous.id)]
    if users:
        ActivityRosterEntry.insert_many([{"activity": fresh.id, "user": u} for u in users]).execute()
        fresh.roster_mode = "custom"
        fresh.save()


# -- side by side -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoundRow:
    label: str
    values: list[float | None]  # one per round, None where the option was not in that round
    change: float | None  # last round minus the one before it


@dataclass(frozen=True)
class Comparison:
    rounds: list[Activity]
    numbers: list[int]
    rows: list[RoundRow]
    current: str  # the activity the page is about


def chain_of(activity: Activity) -> list[Activity]:
    """Every round of ``activity``'s chain, round 1 first (read path)."""
    back: list[Activity] = [activity]
    seen = {activity.id}
    while (link := ActivityRound.get_or_none(ActivityRound.activity_id == back[0].id)) is not None:
        earlier = Activity.get_or_none(Activity.id == link.previous_id)
        if earlier is None or earlier.id in seen:
            break
        back.insert(0, earlier)
        seen.add(earlier.id)
    while (link := ActivityRound.get_or_none(ActivityRound.previous_id == back[-1].id)) is not None:
        later = Activity.get_or_none(Activity.id == link.activity_id)
        if later is None or later.id in seen:
            break
        back.append(later)
        seen.add(later.id)
    return back


def comparison(activity: Activity, facilitator: bool) -> Comparison | None:
    """The rounds side by side, or None when the activity has no other round. Participants see
    only the rounds whose results are published (read path)."""
    activity_type = get_type(activity.type)
    if not activity_type.runs_rounds:
        return None
    rounds = [a for a in chain_of(activity) if facilitator or a.id == activity.id or (a.state == "stopped" and a.results_published)]
    if len(rounds) < 2:
        return None
    totals = [dict(activity_type.round_totals(a)) for a in rounds]
    labels = list(dict.fromkeys(name for t in totals for name in t))
    rows = []
    for name in labels:
        values = [t.get(name) for t in totals]
        last, before = values[-1], values[-2]
        rows.append(RoundRow(name, values, None if last is None or before is None else last - before))
    return Comparison(rounds, [number_of(a.id) for a in rounds], rows, activity.id)


def _delete_for_activity(activity: Activity) -> None:
    """A deleted round leaves the chain; the round after it (if any) now follows the one before."""
    link = ActivityRound.get_or_none(ActivityRound.activity_id == activity.id)
    previous = link.previous_id if link is not None else None
    if previous is not None:
        ActivityRound.update(previous_id=previous).where(ActivityRound.previous_id == activity.id).execute()
    else:
        ActivityRound.delete().where(ActivityRound.previous_id == activity.id).execute()
    ActivityRound.delete().where(ActivityRound.activity_id == activity.id).execute()


def _delete_for_meeting(meeting_id: str) -> None:
    ActivityRound.delete().where(ActivityRound.meeting_id == meeting_id).execute()


agenda.ON_DELETE.append(_delete_for_activity)
lifecycle.ON_DELETE.append(_delete_for_meeting)
