"""Who may do what in a meeting (SPEC §2.2–2.3). Every meeting route asks here first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from peewee import JOIN

from ..platform.errors import Forbidden, NotFound
from ..platform.models import User
from ..platform.prepared import one, select
from .models import Activity, ActivityRosterEntry, Meeting, MeetingMember

NO_ACCESS = "You do not have access to this meeting."
REVOKED = "Your access to this meeting has been revoked."
FACILITATORS_ONLY = "Only facilitators can control meeting activities."
NOT_ASSIGNED = "You are not assigned to this activity."
ARCHIVED = "This meeting is archived. Restore it to make changes."
OWNER_ONLY = "Co-facilitators cannot modify meeting ownership or facilitator roster."


@dataclass(frozen=True)
class Access:
    """A user's standing in one meeting, computed once per request on a reader thread."""

    meeting: Meeting
    user: User
    is_owner: bool
    is_cofacilitator: bool
    is_participant: bool

    @property
    def is_facilitator(self) -> bool:
        return self.is_owner or self.is_cofacilitator or self.user.is_admin

    @property
    def is_member(self) -> bool:
        return self.is_facilitator or self.is_participant

    @property
    def may_manage_facilitators(self) -> bool:
        return self.is_owner or self.user.is_admin


def get_meeting(meeting_id: str) -> Meeting:
    meeting = one(Meeting, id=meeting_id)
    if meeting is None:
        raise NotFound()
    return meeting


def _meeting_with_role(user_id: str, meeting_id: str) -> Any:
    on = (MeetingMember.meeting == Meeting.id) & (MeetingMember.user == user_id)
    query = Meeting.select(Meeting, MeetingMember.role.alias("member_role"))
    return query.join(MeetingMember, JOIN.LEFT_OUTER, on=on).where(Meeting.id == meeting_id)


def access_for(meeting_id: str, user: User) -> Access:
    """Membership of ``user``; 404 for an unknown meeting. One query (the meeting and the user's
    role in it), since every meeting request asks, each write while holding its meeting's turn."""
    found = select(Meeting, "with_role", _meeting_with_role, user.id, meeting_id)
    if not found:
        raise NotFound()
    meeting = found[0]
    role = getattr(meeting, "member_role", None)
    return Access(
        meeting=meeting,
        user=user,
        is_owner=meeting.owner_id == user.id,
        is_cofacilitator=role == "cofacilitator",
        is_participant=role == "participant",
    )


def require_member(meeting_id: str, user: User) -> Access:
    access = access_for(meeting_id, user)
    if not access.is_member:
        raise Forbidden(NO_ACCESS)
    return access


def require_facilitator(meeting_id: str, user: User, message: str = FACILITATORS_ONLY) -> Access:
    access = require_member(meeting_id, user)
    if not access.is_facilitator:
        raise Forbidden(message)
    return access


def require_writable(access: Access) -> None:
    if access.meeting.archived:
        raise Forbidden(ARCHIVED)


def in_scope(activity: Activity, user_id: str) -> bool:
    """Participant scope of an activity; facilitators are always in scope (checked by callers)."""
    if activity.roster_mode != "custom":
        return True
    return one(ActivityRosterEntry, activity=activity.id, user=user_id) is not None


def participants_query(meeting_id: str) -> Any:
    """The meeting's participants (not its facilitators), as a query of user ids."""
    return MeetingMember.select(MeetingMember.user).where(
        MeetingMember.meeting == meeting_id, MeetingMember.role == "participant"
    )


def scope_query(activity: Activity) -> Any:
    """Participants in scope of the activity, as a query of user ids: its sub-roster when it has
    one, else every participant (facilitators are always in scope but not counted)."""
    if activity.roster_mode == "custom":
        return ActivityRosterEntry.select(ActivityRosterEntry.user).where(ActivityRosterEntry.activity == activity.id)
    return participants_query(activity.meeting_id)


def participant_ids(meeting_id: str) -> list[str]:
    return [m.user_id for m in participants_query(meeting_id)]


def facilitator_ids(meeting: Meeting) -> set[str]:
    """Owner and co-facilitators (admins act as facilitators too but are not listed per meeting)."""
    query = MeetingMember.select(MeetingMember.user).where(
        MeetingMember.meeting == meeting.id, MeetingMember.role == "cofacilitator"
    )
    return {meeting.owner_id, *(m.user_id for m in query)}
