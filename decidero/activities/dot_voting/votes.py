"""Dot-voting submissions (SPEC §4.9), on the write path in one transaction: membership, scope, run
state and every limit are checked and the voter's whole allocation is replaced, so concurrent or
retried requests can never exceed a limit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...meetings import event_log, run_control
from ...meetings.access import require_member
from ...meetings.models import Activity, MeetingEvent
from ...platform import idempotency
from ...platform.errors import NotFound, Refused
from ...platform.forms import whole_number
from ...platform.models import User, utcnow
from ..ballots.models import VoteAllocation
from ..ballots.rules import NOT_OPEN, VOTING, cap_of, options_of, voter_for, voting_activity

BAD_OPTION = "Selected option is not valid for this activity."
OPTION_LIMIT = "Vote limit reached for this option."
TOTAL_LIMIT = "Vote limit reached for this activity."
NO_RETRACT = "Vote retraction is not enabled."


def requested_counts(fields: Mapping[str, str], activity_id: str) -> dict[str, str]:
    """Submitted ``opt-N`` fields as {option id: raw count}; other field names are not options."""
    return {f"{activity_id}:{name}": str(value).strip() for name, value in fields.items() if name.startswith("opt-")}


def own_allocation(activity: Activity, user_id: str) -> dict[str, int]:
    rows = VoteAllocation.select().where(VoteAllocation.activity == activity.id, VoteAllocation.user == user_id)
    return {r.option_id: r.count for r in rows}


def check_allocation(activity: Activity, requested: Mapping[str, str], saved: Mapping[str, int]) -> dict[str, int]:
    """The allocation to store, or Refused with the first rule it breaks (SPEC §4.9 steps 3–6)."""
    config = activity.config
    valid = {o.id for o in options_of(activity)}
    for option_id in requested:
        if option_id not in valid:
            raise Refused(BAD_OPTION, 400)
    cap = cap_of(config)
    counts: dict[str, int] = {}
    for option_id, raw in requested.items():
        count = whole_number(raw) if raw.strip() else 0
        if count is None:
            raise Refused(OPTION_LIMIT, 409)
        if not 0 <= count <= cap:
            raise Refused(OPTION_LIMIT, 409)
        if count:
            counts[option_id] = count
    if sum(counts.values()) > int(config.get("max_votes", 5)):
        raise Refused(TOTAL_LIMIT, 409)
    if not config.get("allow_retract", True) and any(counts.get(o, 0) < n for o, n in saved.items()):
        raise Refused(NO_RETRACT, 409)
    return counts


def submit_allocation(
    meeting_id: str, activity_id: str, actor: User, for_user: str, requested: Mapping[str, str], key: str | None
) -> tuple[dict[str, Any], MeetingEvent | None]:
    """Write path: check everything and replace the voter's allocation, all dots or none."""
    access = require_member(meeting_id, actor)
    activity = voting_activity(meeting_id, activity_id)
    if activity.type != VOTING:
        raise NotFound()
    voter = voter_for(access, activity, for_user)
    scope = idempotency.scope_for(meeting_id, activity_id, voter.id, "votes")
    payload = {"for": voter.id, "counts": dict(sorted(requested.items()))}
    earlier = idempotency.replayed(scope, key, payload)
    if earlier is not None:
        return earlier, None
    run_control.check_open_for_input(activity, utcnow(), NOT_OPEN)
    counts = check_allocation(activity, requested, own_allocation(activity, voter.id))
    VoteAllocation.delete().where(VoteAllocation.activity == activity.id, VoteAllocation.user == voter.id).execute()
    recorder = actor.id if voter.id != actor.id else None
    if counts:
        VoteAllocation.insert_many(
            [
                {"activity": activity.id, "user": voter.id, "option_id": o, "count": n, "recorded_by": recorder}
                for o, n in counts.items()
            ]
        ).execute()
    summary = (
        f"{actor.display_name} recorded votes on behalf of a participant in “{activity.title}”."
        if recorder
        else f"Votes were submitted in “{activity.title}”."
    )
    event = event_log.record(meeting_id, "votes_changed", summary, actor_id=actor.id, activity_id=activity.id)
    result = {"for": voter.id, "counts": counts}
    idempotency.remember(scope, key, payload, result)
    return result, event
