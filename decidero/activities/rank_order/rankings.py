"""Rank-order submissions (SPEC §4.10), on the write path in one transaction: a complete ranking
atomically replaces the voter's previous one."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from ...meetings import event_log, run_control
from ...meetings.access import require_member
from ...meetings.models import Activity, MeetingEvent
from ...platform.db import replace
from ...platform.errors import Conflict, NotFound, Refused
from ...platform.forms import whole_number
from ...platform.models import User, utcnow
from ..ballots.models import Ranking
from ..ballots.rules import NOT_OPEN, RANKING, options_of, voter_for, voting_activity

INCOMPLETE = "Ranking must include every idea exactly once."
DUPLICATE = "Ranking includes duplicate ideas."
INVALID_IDEAS = "Ranking contains invalid ideas for this activity."
NO_IDEAS = "Rank-order voting has no configured ideas."
RESET_DISABLED = "Ranking reset is disabled for this activity."


def requested_order(fields: Mapping[str, str], activity_id: str) -> list[str]:
    """The submitted order as option ids: ``order`` (ids or ``opt-N``, comma/space separated) or
    one ``rank-opt-N`` = position field per idea (the no-JS form)."""

    def full(token: str) -> str:
        return token if ":" in token else f"{activity_id}:{token}"

    if "order" in fields:
        return [full(t) for t in re.split(r"[\s,]+", fields["order"]) if t]
    positions: list[tuple[int, str]] = []
    for name, value in fields.items():
        if name.startswith("rank-"):
            raw = str(value).strip()
            position = whole_number(raw) or 0
            positions.append((position, full(name.removeprefix("rank-"))))
    taken = [p for p, _ in positions]
    if sorted(taken) != list(range(1, len(positions) + 1)):
        raise Refused(INCOMPLETE, 400)
    return [option_id for _, option_id in sorted(positions)]


def check_order(activity: Activity, order: list[str]) -> list[str]:
    ideas = [o.id for o in options_of(activity)]
    if not ideas:
        raise Refused(NO_IDEAS, 409)
    if any(i not in ideas for i in order):
        raise Refused(INVALID_IDEAS, 400)
    if len(set(order)) != len(order):
        raise Refused(DUPLICATE, 400)
    if len(order) != len(ideas):
        raise Refused(INCOMPLETE, 400)
    return order


def submit_ranking(
    meeting_id: str, activity_id: str, actor: User, fields: Mapping[str, str], for_user: str = ""
) -> MeetingEvent:
    """Write path: a complete ranking atomically replaces the voter's previous one (the actor's own,
    or, for facilitators, that of someone in the room: ``for_user``)."""
    access = require_member(meeting_id, actor)
    activity = voting_activity(meeting_id, activity_id)
    if activity.type != RANKING:
        raise NotFound()
    voter = voter_for(access, activity, for_user)
    run_control.check_open_for_input(activity, utcnow(), NOT_OPEN)
    if not options_of(activity):
        raise Refused(NO_IDEAS, 409)
    order = check_order(activity, requested_order(fields, activity.id))
    recorder = actor.id if voter.id != actor.id else None
    replace(Ranking, activity=activity.id, user=voter.id, order_json=json.dumps(order), recorded_by=recorder, submitted_at=utcnow())
    summary = (
        f"{actor.display_name} recorded a ranking on behalf of a participant in “{activity.title}”."
        if recorder
        else f"A ranking was submitted in “{activity.title}”."
    )
    return event_log.record(meeting_id, "rankings_changed", summary, actor_id=actor.id, activity_id=activity.id)


def reset_ranking(meeting_id: str, activity_id: str, actor: User, for_user: str = "") -> MeetingEvent | None:
    access = require_member(meeting_id, actor)
    activity = voting_activity(meeting_id, activity_id)
    if activity.type != RANKING:
        raise NotFound()
    voter = voter_for(access, activity, for_user)
    run_control.check_open_for_input(activity, utcnow(), NOT_OPEN)
    if not activity.config.get("allow_reset", True):
        raise Conflict(RESET_DISABLED)
    deleted = Ranking.delete().where(Ranking.activity == activity.id, Ranking.user == voter.id).execute()
    if not deleted:
        return None
    summary = (
        f"{actor.display_name} reset a ranking on behalf of a participant in “{activity.title}”."
        if voter.id != actor.id
        else f"A ranking was reset in “{activity.title}”."
    )
    return event_log.record(meeting_id, "rankings_changed", summary, actor_id=actor.id, activity_id=activity.id)


def own_ranking(activity: Activity, user_id: str) -> list[str] | None:
    row = Ranking.get_or_none(Ranking.activity == activity.id, Ranking.user == user_id)
    return None if row is None else row.order
