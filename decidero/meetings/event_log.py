"""The persisted meeting event log. Write the change and its record in one transaction, then
hand the record to ``live.announce`` after the commit (SPEC §4.14)."""

from __future__ import annotations

import json
from typing import Any

from ..platform.db import serialize_on
from ..platform.prepared import add, select
from .models import MeetingEvent


def record(
    meeting_id: str,
    type: str,
    summary: str,
    *,
    actor_id: str | None = None,
    activity_id: str | None = None,
    payload: dict[str, Any] | None = None,
) -> MeetingEvent:
    """Append to the log (write path). ``summary`` is the readable line of the activity log page
    and must never name the author of an idea."""
    # A meeting's events must commit in id order: a publisher that has read up to id N never
    # looks below N again (on Postgres concurrent writers could otherwise commit N-1 after N).
    serialize_on(log_key(meeting_id))
    return add(
        MeetingEvent,
        meeting_id=meeting_id,
        type=type,
        summary=summary,
        actor_id=actor_id,
        activity_id=activity_id,
        payload_json=json.dumps(payload or {}),
    )


def log_key(meeting_id: str) -> str:
    """The ``serialize_on`` key of a meeting's log (and of the writes its pages send)."""
    return f"meeting-log:{meeting_id}"


def since(meeting_id: str, last_id: int, limit: int) -> list[MeetingEvent] | None:
    """Events after ``last_id`` in order, or None when more than ``limit`` were missed."""
    rows = select(MeetingEvent, "since", _since, meeting_id, last_id, limit + 1)
    return None if len(rows) > limit else rows


def _since(meeting_id: str, last_id: int, limit: int) -> Any:
    query = MeetingEvent.select().where(MeetingEvent.meeting_id == meeting_id, MeetingEvent.id > last_id)
    return query.order_by(MeetingEvent.id).limit(limit)


def latest_id(meeting_id: str) -> int:
    value = MeetingEvent.select(MeetingEvent.id).where(MeetingEvent.meeting_id == meeting_id).order_by(
        MeetingEvent.id.desc()
    ).scalar()
    return int(value or 0)


def newest_id() -> int:
    """The newest id in the whole log (the live engine's starting point)."""
    value = MeetingEvent.select(MeetingEvent.id).order_by(MeetingEvent.id.desc()).limit(1).scalar()
    return int(value or 0)


# The activity log page's filters (SPEC §4.14, issue 17): what people contributed, what facilitators
# did, and who came and went. By default the page shows the first two: joins would drown them.
KINDS: dict[str, tuple[str, ...]] = {
    "contributions": ("idea_created", "idea_updated", "idea_deleted", "votes_changed", "rankings_changed", "board_changed"),
    "control": ("activity_state", "activity_roster", "agenda_changed", "results_published", "meeting_updated"),
    "joins": ("presence", "roster_changed"),
}
DEFAULT_KINDS = ("contributions", "control")


def kind_of(event_type: str) -> str:
    return next((kind for kind, types in KINDS.items() if event_type in types), "control")


def page(meeting_id: str, before: int | None, size: int = 100, kinds: tuple[str, ...] | None = None) -> list[MeetingEvent]:
    """Newest first, ``size`` per page, older pages by ``before``; only events of ``kinds`` when given."""
    query = MeetingEvent.select().where(MeetingEvent.meeting_id == meeting_id)
    if kinds is not None:
        query = query.where(MeetingEvent.type.in_([t for kind in kinds for t in KINDS.get(kind, ())]))
    if before:
        query = query.where(MeetingEvent.id < before)
    return list(query.order_by(MeetingEvent.id.desc()).limit(size))


def delete_for_meeting(meeting_id: str) -> None:
    MeetingEvent.delete().where(MeetingEvent.meeting_id == meeting_id).execute()
