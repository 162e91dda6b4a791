"""Agenda rules (SPEC §4.6): add, edit, reorder and delete activities. Write path only.

Each operation returns the event-log record the caller announces after the commit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..platform.accounts import clean_text
from ..platform.errors import Conflict, FormErrors, NotFound, Refused
from ..platform.forms import whole_number
from . import event_log
from .activity_types import get_type
from .ids import next_activity_id
from .models import Activity, ActivityRosterEntry, Meeting, MeetingEvent

MAX_ACTIVITIES = 50
ACTIVE_STATES = ("running", "paused")
TYPE_CHANGE = "Changing activity tool type is not supported; create a new activity instead."
DELETE_ACTIVE = "Cannot delete an active activity. Please stop it first."
BAD_ORDER = "Agenda order must list every activity exactly once."
COMMON_FORM = "common_form"  # hidden field of the activity form: every common field was submitted
# Engine features that keep rows per activity (transfer drafts, provenance, rounds) register a
# cleanup here; each runs inside the delete transaction, before the activity row goes.
ON_DELETE: list[Callable[[Activity], None]] = []


def validate_common(form: dict[str, str], partial: bool = False) -> dict[str, Any]:
    """Title, instructions, time limit and auto-stop, shared by every type.

    ``partial`` (an edit): only the fields the request carries, so the others keep their value
    (SPEC §4.6). An unchecked box sends nothing, so auto-stop is read when the box was sent or the
    whole form was (its ``COMMON_FORM`` marker).
    """
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    if not partial or "title" in form:
        values["title"] = clean_text(form.get("title"))
        if not 1 <= len(values["title"]) <= 200:
            errors["title"] = "Title must be 1–200 characters."
    if not partial or "instructions" in form:
        values["instructions"] = clean_text(form.get("instructions"))
        if len(values["instructions"]) > 2000:
            errors["instructions"] = "Instructions must be at most 2000 characters."
    if not partial or "time_limit_minutes" in form:
        raw_limit = clean_text(form.get("time_limit_minutes"))
        values["time_limit_minutes"] = (whole_number(raw_limit) or 0) if raw_limit else None
        if raw_limit and not 1 <= values["time_limit_minutes"] <= 240:
            errors["time_limit_minutes"] = "Time limit must be blank or a whole number of minutes from 1 to 240."
    if not partial or "auto_stop" in form or COMMON_FORM in form:
        values["auto_stop"] = form.get("auto_stop") in ("on", "true", "1", "yes")
    if errors:
        raise FormErrors(errors)
    return values


def ordered(meeting_id: str) -> list[Activity]:
    return list(Activity.select().where(Activity.meeting == meeting_id).order_by(Activity.position))


def _renumber(activities: list[Activity]) -> None:
    for number, activity in enumerate(activities, start=1):
        if activity.position != number:
            Activity.update(position=number).where(Activity.id == activity.id).execute()
            activity.position = number


def get_activity(meeting_id: str, activity_id: str) -> Activity:
    activity = Activity.get_or_none(Activity.id == activity_id, Activity.meeting == meeting_id)
    if activity is None:
        raise NotFound()
    return activity


def add_activity(
    meeting: Meeting,
    type_name: str,
    common: dict[str, Any],
    config: dict[str, Any],
    actor_id: str | None,
    position: int | None = None,
) -> tuple[Activity, MeetingEvent]:
    """Append, or insert at ``position`` (1-based); the others renumber 1..n."""
    activity_type = get_type(type_name)
    current = ordered(meeting.id)
    if len(current) >= MAX_ACTIVITIES:
        raise Refused(f"A meeting can have at most {MAX_ACTIVITIES} activities.", 409)
    activity = Activity.create(
        id=next_activity_id(meeting.id, activity_type.stem),
        meeting=meeting,
        position=len(current) + 1,
        type=type_name,
        config_json="{}",
        **common,
    )
    activity.config = activity_type.prepare_config(activity, config)
    activity.save()
    if position is not None and 1 <= position <= len(current):
        current.insert(position - 1, activity)
        _renumber(current)
    event = event_log.record(
        meeting.id, "agenda_changed", f"Activity “{activity.title}” was added.", actor_id=actor_id, activity_id=activity.id
    )
    return activity, event


def edit_activity(
    activity: Activity, type_name: str, common: dict[str, Any], config: dict[str, Any], actor_id: str | None
) -> MeetingEvent:
    """Only the submitted fields change; run state, timers, roster and data stay as they are."""
    if type_name != activity.type:
        raise Conflict(TYPE_CHANGE)
    for key, value in common.items():
        setattr(activity, key, value)
    activity.config = get_type(activity.type).prepare_config(activity, config)
    activity.save()
    return event_log.record(
        activity.meeting_id,
        "agenda_changed",
        f"Activity “{activity.title}” was edited.",
        actor_id=actor_id,
        activity_id=activity.id,
    )


def reorder(meeting_id: str, order: list[str], actor_id: str | None) -> MeetingEvent:
    current = ordered(meeting_id)
    if sorted(order) != sorted(a.id for a in current) or len(set(order)) != len(order):
        raise Refused(BAD_ORDER, 400)
    by_id = {a.id: a for a in current}
    _renumber([by_id[i] for i in order])
    return event_log.record(meeting_id, "agenda_changed", "The agenda was reordered.", actor_id=actor_id)


def move(activity: Activity, direction: str, actor_id: str | None) -> MeetingEvent:
    """↑/↓ as a "set to" operation on the current order."""
    if direction not in ("up", "down"):
        raise Refused(f"Unknown direction '{direction[:20]}'; use up or down.", 400)
    current = ordered(activity.meeting_id)
    ids = [a.id for a in current]
    index = ids.index(activity.id)
    target = index - 1 if direction == "up" else index + 1
    if 0 <= target < len(ids):
        ids[index], ids[target] = ids[target], ids[index]
    return reorder(activity.meeting_id, ids, actor_id)


def delete_activity(activity: Activity, actor_id: str | None) -> MeetingEvent:
    if activity.state in ACTIVE_STATES:
        raise Conflict(DELETE_ACTIVE)
    get_type(activity.type).delete_data(activity)
    for cleanup in ON_DELETE:
        cleanup(activity)
    ActivityRosterEntry.delete().where(ActivityRosterEntry.activity == activity.id).execute()
    Activity.delete().where(Activity.id == activity.id).execute()
    _renumber(ordered(activity.meeting_id))
    return event_log.record(
        activity.meeting_id, "agenda_changed", f"Activity “{activity.title}” was deleted.", actor_id=actor_id
    )
