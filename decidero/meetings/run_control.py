"""Run control and timers (SPEC §4.6–4.7): start, pause, resume, stop, extend, time-up, sub-rosters.

Run state lives in the Activity row (state, segment start, elapsed, limit, auto-stop), so a restart
changes nothing: a running activity keeps running and the downtime counts in its timer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..platform.db import serialize_on
from ..platform.errors import Conflict, Refused
from ..platform.models import User, utcnow
from . import event_log
from .access import participant_ids, scope_query
from .activity_types import get_type
from .models import Activity, ActivityRosterEntry, MeetingEvent, MeetingMember

ACTIVE_STATES = ("running", "paused")
NOT_OPEN = "This activity is not open yet."
PAUSED = "This activity is paused."
TIME_UP = "Time is up."
COLLISION = "Participant Collision Detected!"
REVERTED = "Activity “{title}” now includes all participants because its custom list became empty."
NOT_STARTED = "Results can be published once the activity has started."
MESSAGES = {
    "start": "Activity started.",
    "pause": "Activity paused.",
    "resume": "Activity resumed.",
    "stop": "Activity stopped.",
    "extend": "Time limit extended.",
}
LOG_VERBS = {"start": "started", "pause": "paused", "resume": "resumed", "stop": "stopped", "extend": "extended"}


def elapsed_seconds(activity: Activity, now: datetime) -> float:
    started = activity.segment_started_at
    extra = (now - started).total_seconds() if activity.state == "running" and started is not None else 0.0
    return float(activity.elapsed_seconds) + max(0.0, extra)


def remaining_seconds(activity: Activity, now: datetime) -> float | None:
    if not activity.time_limit_minutes:
        return None
    return activity.time_limit_minutes * 60 - elapsed_seconds(activity, now)


def time_is_up(activity: Activity, now: datetime) -> bool:
    left = remaining_seconds(activity, now)
    return activity.state in ACTIVE_STATES and left is not None and left <= 0


def check_open_for_input(activity: Activity, now: datetime, not_open: str = NOT_OPEN) -> None:
    """The state part of every submit rule: running, not paused, time left."""
    if activity.state == "paused":
        raise Refused(PAUSED, 409)
    if activity.state != "running":
        raise Refused(not_open, 409)
    if time_is_up(activity, now):
        raise Refused(TIME_UP, 409)


def scope_user_ids(activity: Activity, everyone: list[str]) -> set[str]:
    """``scope_query`` as ids; ``everyone`` is ``participant_ids`` of the meeting, read once by callers
    that check several activities."""
    if activity.roster_mode != "custom":
        return set(everyone)
    return {e.user_id for e in scope_query(activity)}


@dataclass(frozen=True)
class Clash:
    user_id: str
    name: str
    activity_title: str


class CollisionRefused(Conflict):
    """Exclusivity would put a participant in two live activities; nothing changed."""

    def __init__(self, clashes: list[Clash]) -> None:
        super().__init__(COLLISION)
        self.clashes = clashes


def check_exclusivity(activity: Activity, scope: set[str]) -> None:
    everyone = participant_ids(activity.meeting_id)
    others = Activity.select().where(
        Activity.meeting == activity.meeting_id, Activity.id != activity.id, Activity.state.in_(ACTIVE_STATES)
    )
    pairs = [(user_id, other.title) for other in others for user_id in sorted(scope & scope_user_ids(other, everyone))]
    if pairs:
        ids = list({user_id for user_id, _ in pairs})
        names: dict[str, str] = {u.id: u.display_name for u in User.select(User.id, User.display_name).where(User.id.in_(ids))}
        raise CollisionRefused([Clash(user_id, names.get(user_id, user_id), title) for user_id, title in pairs])


def control(activity: Activity, action: str, actor: User, exclusivity: bool, minutes: int = 0) -> MeetingEvent:
    """Apply one run-control action (write path). Safe to repeat only where the state allows."""
    now = utcnow()
    state = activity.state
    if action == "start":
        if state not in ("not_started", "stopped"):
            raise Conflict("This activity is already running." if state == "running" else PAUSED)
        get_type(activity.type).check_startable(activity)
    elif action == "resume" and state != "paused":
        raise Conflict("Only a paused activity can be resumed.")
    elif action == "pause" and state != "running":
        raise Conflict("Only a running activity can be paused.")
    elif action == "stop" and state not in ACTIVE_STATES:
        raise Conflict("This activity is not running.")
    elif action == "extend" and (state not in ACTIVE_STATES or not activity.time_limit_minutes):
        raise Conflict("Only a live activity with a time limit can be extended.")
    elif action not in MESSAGES:
        raise Refused(f"Unknown action '{action}'.", 400)
    if action in ("start", "resume") and exclusivity:
        check_exclusivity(activity, scope_user_ids(activity, participant_ids(activity.meeting_id)))
    if action in ("pause", "stop") and state == "running":
        activity.elapsed_seconds = elapsed_seconds(activity, now)
        activity.segment_started_at = None
    if action == "start" and activity.started_at is None:
        get_type(activity.type).on_first_start(activity)
    if action in ("start", "resume"):
        activity.segment_started_at = now
        activity.started_at = activity.started_at or now
    activity.state = {"start": "running", "resume": "running", "pause": "paused", "stop": "stopped"}.get(action, state)
    if action == "stop":
        activity.stopped_at = now
    if action == "extend":
        activity.time_limit_minutes = min(24 * 60, (activity.time_limit_minutes or 0) + max(1, minutes))
    activity.save()
    return event_log.record(
        activity.meeting_id,
        "activity_state",
        f"{actor.display_name} {LOG_VERBS[action]} “{activity.title}”.",
        actor_id=actor.id,
        activity_id=activity.id,
        payload={"action": action, "state": activity.state},
    )


def publish(activity: Activity, published: bool, actor: User) -> MeetingEvent:
    """Publish or unpublish results (SPEC §4.13): publishing needs an activity that has started."""
    if published and activity.started_at is None:
        raise Conflict(NOT_STARTED)
    activity.results_published = published
    activity.save()
    verb = "published" if published else "unpublished"
    return event_log.record(
        activity.meeting_id, "results_published", f"{actor.display_name} {verb} the results of “{activity.title}”.",
        actor_id=actor.id, activity_id=activity.id, payload={"published": published},
    )


def auto_stop_due(now: datetime) -> list[Activity]:
    """Running activities whose limit has passed (read path; the ticker acts on them)."""
    candidates = Activity.select().where(Activity.state == "running", Activity.time_limit_minutes.is_null(False))
    return [a for a in candidates if time_is_up(a, now)]


def expire(activity_id: str) -> MeetingEvent | None:
    """At zero: stop when auto-stop is on, else announce "Time is up." once (write path, re-checked)."""
    activity = Activity.get_or_none(Activity.id == activity_id)
    now = utcnow()
    if activity is None or not time_is_up(activity, now):
        return None
    if activity.auto_stop and activity.state == "running":
        # Conditional on the state just read: with several workers ticking, the one whose UPDATE
        # matches stops it and logs it; any other finds the row changed and does nothing.
        stopped = (
            Activity.update(
                elapsed_seconds=elapsed_seconds(activity, now), segment_started_at=None, state="stopped", stopped_at=now
            )
            .where(
                Activity.id == activity.id,
                Activity.state == "running",
                Activity.segment_started_at == activity.segment_started_at,
            )
            .execute()
        )
        if stopped != 1:
            return None
        return event_log.record(
            activity.meeting_id,
            "activity_state",
            f"“{activity.title}” stopped automatically when time was up.",
            activity_id=activity.id,
            payload={"action": "auto_stop", "state": "stopped"},
        )
    # Several workers tick: on Postgres they take turns on the meeting's log from here, and a turn
    # whose snapshot missed the other's "Time is up." fails to commit and runs again. SQLite's
    # writer already takes one transaction at a time.
    serialize_on(event_log.log_key(activity.meeting_id))
    if time_up_logged(activity):
        return None  # already said, perhaps before a restart
    return event_log.record(
        activity.meeting_id,
        "activity_state",
        f"Time is up for “{activity.title}”.",
        activity_id=activity.id,
        payload={"action": "time_up", "state": activity.state},
    )


def time_up_logged(activity: Activity) -> bool:
    """Whether "Time is up." was logged since the activity last started, was extended or edited
    (each of which can give it time again); pausing and resuming do not."""
    events = (
        MeetingEvent.select(MeetingEvent.type, MeetingEvent.payload_json)
        .where(
            MeetingEvent.meeting_id == activity.meeting_id,
            MeetingEvent.activity_id == activity.id,
            MeetingEvent.type.in_(("activity_state", "agenda_changed")),
        )
        .order_by(MeetingEvent.id.desc())
    )
    for event in events.iterator():
        action = event.payload.get("action") if event.type == "activity_state" else "edit"
        if action == "time_up":
            return True
        if action in ("start", "extend", "edit"):
            return False
    return False


def set_sub_roster(activity: Activity, user_ids: list[str], actor: User, exclusivity: bool) -> MeetingEvent:
    """"Set to" the activity's participant list; an empty list means everyone (SPEC §4.7)."""
    members = set(participant_ids(activity.meeting_id))
    for user_id in user_ids:
        if user_id not in members:
            user = User.get_or_none(User.id == user_id)
            name = user.login if user is not None else user_id
            raise Refused(f"User {name} is not part of this meeting and cannot be assigned.", 400)
    chosen = set(user_ids)
    if exclusivity and activity.state in ACTIVE_STATES:
        current = scope_user_ids(activity, list(members))
        widened = (chosen or members) - current
        if widened:
            check_exclusivity(activity, widened)
    ActivityRosterEntry.delete().where(ActivityRosterEntry.activity == activity.id).execute()
    if chosen and chosen != members:
        ActivityRosterEntry.insert_many([{"activity": activity.id, "user": u} for u in sorted(chosen)]).execute()
        activity.roster_mode = "custom"
    else:
        activity.roster_mode = "all"
    activity.save()
    label = "All" if activity.roster_mode == "all" else f"Custom ({len(chosen)})"
    return event_log.record(
        activity.meeting_id,
        "activity_roster",
        f"{actor.display_name} set the participants of “{activity.title}” to {label}.",
        actor_id=actor.id,
        activity_id=activity.id,
    )


def is_member_participant(meeting_id: str, user_id: str) -> bool:
    return MeetingMember.select().where(
        MeetingMember.meeting == meeting_id, MeetingMember.user == user_id, MeetingMember.role == "participant"
    ).exists()


def leave_sub_rosters(meeting_id: str, user_ids: list[str], actor: User) -> tuple[list[str], list[MeetingEvent]]:
    """Drop users from the meeting's custom activity lists; a list left empty reverts to all
    participants. Returns the notices to show and the ``activity_roster`` records (write path)."""
    notices: list[str] = []
    events: list[MeetingEvent] = []
    activities = Activity.select().where(Activity.meeting == meeting_id, Activity.roster_mode == "custom")
    for activity in activities:
        removed = (
            ActivityRosterEntry.delete()
            .where(ActivityRosterEntry.activity == activity.id, ActivityRosterEntry.user.in_(user_ids))
            .execute()
        )
        if not removed:
            continue
        left = ActivityRosterEntry.select().where(ActivityRosterEntry.activity == activity.id).count()
        if left == 0:
            Activity.update(roster_mode="all").where(Activity.id == activity.id).execute()
            notices.append(REVERTED.format(title=activity.title))
        badge = "All" if left == 0 else f"Custom ({left})"
        events.append(
            event_log.record(
                meeting_id,
                "activity_roster",
                f"The participants of “{activity.title}” changed to {badge}.",
                actor_id=actor.id,
                activity_id=activity.id,
            )
        )
    return notices, events
