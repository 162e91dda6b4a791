"""A meeting as ``meeting.json`` (SPEC §4.13), read in one read transaction: the snapshot is
consistent, and the writer never waits for it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ..meetings import agenda
from ..meetings.access import get_meeting
from ..meetings.activity_types import get_type, stamp
from ..meetings.models import (
    Activity,
    ActivityRosterEntry,
    ActivityRound,
    MeetingMember,
    Provenance,
    TransferDraft,
)
from ..meetings.run_control import elapsed_seconds
from ..platform.models import User
from .bundle import FORMAT, VERSION


def file_name(meeting_id: str, now: datetime) -> str:
    return f"meeting_{meeting_id}_{now.strftime('%Y%m%dT%H%M%SZ')}.zip"


def person(user: User) -> dict[str, Any]:
    return {
        "user_id": user.id, "login": user.login, "email": user.email,
        "first_name": user.first_name, "last_name": user.last_name, "display_name": user.display_name,
    }


def snapshot(meeting_id: str, now: datetime) -> dict[str, Any]:
    """Everything of the meeting an export carries (read path, inside one read transaction)."""
    meeting = get_meeting(meeting_id)  # NotFound if it was deleted since the access check
    members = list(MeetingMember.select().where(MeetingMember.meeting == meeting_id).order_by(MeetingMember.user))
    activities = [_activity(activity, now) for activity in agenda.ordered(meeting_id)]
    named = {meeting.owner_id, *(m.user_id for m in members)}
    for activity in activities:
        named |= set(activity["roster"]) | get_type(activity["type"]).content_users(activity["content"])
    users = {u.id: u for u in User.select().where(User.id.in_(list(named)))}
    roles = {m.user_id: m.role for m in members}
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": stamp(now),
        "meeting": {
            "id": meeting.id, "title": meeting.title, "description": meeting.description,
            "scheduled_start": stamp(meeting.scheduled_start), "duration_minutes": meeting.duration_minutes,
            "open_join": meeting.open_join, "archived": meeting.archived,
            "created_at": stamp(meeting.created_at), "updated_at": stamp(meeting.updated_at),
        },
        "owner": person(users[meeting.owner_id]),
        "cofacilitators": _people(users, (i for i, role in roles.items() if role == "cofacilitator")),
        "participants": _people(users, (i for i, role in roles.items() if role == "participant")),
        "contributors": _people(users, sorted(named - set(roles) - {meeting.owner_id})),
        "activities": activities,
        "provenance": [_provenance(row) for row in Provenance.select().where(Provenance.meeting_id == meeting_id).order_by(Provenance.id)],
        "transfer_drafts": [
            {"donor_id": d.donor_id, "data": d.data, "updated_at": stamp(d.updated_at)}
            for d in TransferDraft.select().where(TransferDraft.meeting_id == meeting_id).order_by(TransferDraft.donor_id)
        ],
    }


def _people(users: dict[str, User], ids: Iterable[str]) -> list[dict[str, Any]]:
    # A user id without an account (an audit line of a removed account) still gets a name.
    unknown = {"login": None, "email": None, "first_name": "", "last_name": "", "display_name": "Unknown"}
    return [person(users[i]) if i in users else {"user_id": i, **unknown} for i in ids]


def _activity(activity: Activity, now: datetime) -> dict[str, Any]:
    round_row = ActivityRound.get_or_none(ActivityRound.activity_id == activity.id)
    roster = ActivityRosterEntry.select(ActivityRosterEntry.user).where(ActivityRosterEntry.activity == activity.id)
    return {
        "id": activity.id,
        "type": activity.type,
        "position": activity.position,
        "title": activity.title,
        "instructions": activity.instructions,
        "config": activity.config,
        "state": activity.state,
        # A running activity's time so far: what it will have when it arrives stopped (SPEC §4.13).
        "elapsed_seconds": round(elapsed_seconds(activity, now), 3),
        "time_limit_minutes": activity.time_limit_minutes,
        "auto_stop": activity.auto_stop,
        "started_at": stamp(activity.started_at),
        "stopped_at": stamp(activity.stopped_at),
        "results_published": activity.results_published,
        "roster_mode": activity.roster_mode,
        "roster": sorted(entry.user_id for entry in roster),
        "round": {"previous_id": round_row.previous_id, "number": round_row.number} if round_row else None,
        "created_at": stamp(activity.created_at),
        "content": get_type(activity.type).dump_content(activity),
    }


def _provenance(row: Provenance) -> dict[str, Any]:
    return {
        "activity_id": row.activity_id, "ref": row.ref, "source_meeting_id": row.source_meeting_id,
        "source_activity_id": row.source_activity_id, "source_title": row.source_title, "source_ref": row.source_ref,
        "source_label": row.source_label, "source_text": row.source_text, "parts": row.parts, "created_at": stamp(row.created_at),
    }
