"""Meetings (SPEC §4.4): create, edit details, computed status, the dashboard list, archive, restore,
delete, ownership, and what happens to meetings when their owner's account is deleted.

Functions that take an ``Access`` enforce who may call them; the write ones run on the write path
and return the event-log records the route announces after the commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from peewee import JOIN

from ..platform import idempotency, user_admin
from ..platform.accounts import clean_text
from ..platform.errors import Conflict, Forbidden, FormErrors, Refused
from ..platform.forms import whole_number
from ..platform.models import User, utcnow
from ..platform.runtime_settings import RuntimeSettings
from . import agenda, event_log
from .access import ARCHIVED, NO_ACCESS, OWNER_ONLY, Access, get_meeting, require_writable
from .activity_types import TYPES
from .ids import new_join_code, next_meeting_id
from .models import Activity, ActivityRosterEntry, IdCounter, Meeting, MeetingEvent, MeetingMember
from .run_control import leave_sub_rosters

CREATED = "Meeting created successfully."
DATE_MESSAGE = "Enter a date as YYYY-MM-DD or YYYY-MM-DD HH:MM."
ARCHIVE_ACTIVE = "Stop all running activities before archiving this meeting."
DELETED = "This meeting was deleted."
FACILITATORS_ONLY = "Only meeting facilitators can manage this meeting."
CREATORS_ONLY = "Only facilitators and administrators can create meetings."
DELETE_ONLY = "Only the meeting owner or an administrator can delete this meeting."
OWNER_TARGET = "Ownership can only be transferred to a co-facilitator."
COFACILITATOR_ROLE = "Only users with the facilitator role or higher can be co-facilitators."
FULL = "This meeting is full (limit {limit} participants)."

STATUSES = ("Running", "Paused", "Stopped", "Never started", "Archived")
SORTS = ("date", "title", "status")
TABS = ("active", "archived")
DATE_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d")
CREATE_SCOPE = "meeting-create:{user_id}"

# Feature modules that keep per-meeting rows (drafts, ideas outside activities, …) register a
# cleanup here; each runs inside the delete transaction with the meeting id.
ON_DELETE: list[Callable[[str], None]] = []


# -- permission checks --------------------------------------------------------------------------


def check_member(access: Access) -> None:
    if not access.is_member:
        raise Forbidden(NO_ACCESS)


def check_facilitator(access: Access) -> None:
    """Owner, co-facilitator or admin (SPEC §2.3); participants and strangers get 403."""
    check_member(access)
    if not access.is_facilitator:
        raise Forbidden(FACILITATORS_ONLY)


def check_owner_or_admin(access: Access, message: str = OWNER_ONLY) -> None:
    check_facilitator(access)
    if not access.may_manage_facilitators:
        raise Forbidden(message)


def check_creator(user: User) -> None:
    if not user.is_facilitator:
        raise Forbidden(CREATORS_ONLY)


# -- validation ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Details:
    title: str
    description: str
    scheduled_start: datetime | None
    duration_minutes: int


@dataclass(frozen=True)
class PlannedActivity:
    type: str
    title: str
    instructions: str
    config: dict[str, Any] = field(default_factory=dict)
    time_limit_minutes: int | None = None


def parse_start(raw: str) -> datetime | None:
    """``YYYY-MM-DD``, ``YYYY-MM-DD HH:MM`` or the native picker's value (UTC); ValueError otherwise."""
    text = clean_text(raw)
    if not text:
        return None
    for pattern in DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    raise ValueError(DATE_MESSAGE)


def validate_details(form: Mapping[str, str]) -> Details:
    errors: dict[str, str] = {}
    title = clean_text(form.get("title"))
    if not 1 <= len(title) <= 200:
        errors["title"] = "Title must be 1–200 characters."
    description = clean_text(form.get("description"))
    if len(description) > 2000:
        errors["description"] = "Description must be at most 2000 characters."
    start = None
    try:
        start = parse_start(form.get("scheduled_start", ""))
    except ValueError:
        errors["scheduled_start"] = DATE_MESSAGE
    raw_duration = clean_text(form.get("duration_minutes")) or "60"
    duration = whole_number(raw_duration) or 0
    if not 5 <= duration <= 1440:
        errors["duration_minutes"] = "Duration must be a whole number of minutes from 5 to 1440."
    if errors:
        raise FormErrors(errors)
    return Details(title, description, start, duration)


def validate_agenda(
    rows: Sequence[Mapping[str, str]],
    settings: RuntimeSettings | None = None,
    preset: Callable[[Mapping[str, str]], PlannedActivity | None] = lambda row: None,
) -> list[PlannedActivity]:
    """Initial agenda rows of the create form; blank rows are skipped, and each activity starts with
    its type's default config (from ``settings``), or with the config and time limit ``preset`` finds
    for its row (a draft's). Errors are keyed ``activity_<field>_<row number>`` so the form can show
    each beside its row."""
    errors: dict[str, str] = {}
    planned = []
    for number, row in enumerate(rows, start=1):
        if not clean_text(row.get("title")) and not clean_text(row.get("instructions")):
            continue
        type_name = row.get("type", "")
        if type_name not in TYPES:
            errors[f"activity_type_{number}"] = f"Unknown activity type '{type_name}'."
        try:
            common = agenda.validate_common({"title": row.get("title", ""), "instructions": row.get("instructions", "")})
        except FormErrors as exc:
            errors.update({f"activity_{key}_{number}": message for key, message in exc.errors.items()})
            continue
        if type_name in TYPES:
            drafted = preset(row)
            config = TYPES[type_name].default_config(settings) if settings is not None else {}
            config = drafted.config if drafted is not None else config
            limit = drafted.time_limit_minutes if drafted is not None else None
            planned.append(PlannedActivity(type_name, common["title"], common["instructions"], config, limit))
    if len(planned) > agenda.MAX_ACTIVITIES:
        errors["agenda"] = f"A meeting can have at most {agenda.MAX_ACTIVITIES} activities."
    if errors:
        raise FormErrors(errors)
    return planned


# -- create and edit ----------------------------------------------------------------------------


def _people(user_ids: Iterable[str]) -> list[User]:
    wanted = list(dict.fromkeys(user_ids))
    if not wanted:
        return []
    found = {u.id: u for u in User.select().where(User.id.in_(wanted), User.is_deleted == False)}  # noqa: E712
    return [found[i] for i in wanted if i in found]


def create_meeting(
    owner: User,
    details: Details,
    plan: list[PlannedActivity],
    participant_ids: Iterable[str] = (),
    cofacilitator_ids: Iterable[str] = (),
    *,
    token: str | None = None,
    capacity: int = 2000,
) -> tuple[Meeting, bool]:
    """Create the meeting, its agenda and roster in one transaction (write path).

    Returns ``(meeting, created)``; a replayed form ``token`` returns the first meeting unchanged.
    """
    check_creator(owner)
    scope = CREATE_SCOPE.format(user_id=owner.id)
    prior = idempotency.replayed(scope, token, {"form": "meeting-create"})
    if prior is not None:
        existing = Meeting.get_or_none(Meeting.id == prior["meeting_id"])
        if existing is not None:
            return existing, False
    cofacilitators = [u for u in _people(cofacilitator_ids) if u.id != owner.id]
    if any(not u.is_facilitator for u in cofacilitators):
        raise FormErrors({"cofacilitators": COFACILITATOR_ROLE})
    cofacilitator_set = {u.id for u in cofacilitators}
    participants = [u for u in _people(participant_ids) if u.id != owner.id and u.id not in cofacilitator_set]
    if len(participants) > capacity:
        raise FormErrors({"participants": FULL.format(limit=capacity)})
    now = utcnow()
    meeting = Meeting.create(
        id=next_meeting_id(now),
        join_code=new_join_code(),
        title=details.title,
        description=details.description,
        scheduled_start=details.scheduled_start,
        duration_minutes=details.duration_minutes,
        owner=owner,
        created_at=now,
        updated_at=now,
    )
    for planned in plan:
        common = {"title": planned.title, "instructions": planned.instructions, "time_limit_minutes": planned.time_limit_minutes}
        agenda.add_activity(meeting, planned.type, common, planned.config, owner.id)
    rows = [{"meeting": meeting.id, "user": u.id, "role": "cofacilitator", "added_at": now} for u in cofacilitators]
    rows += [{"meeting": meeting.id, "user": u.id, "role": "participant", "added_at": now} for u in participants]
    if rows:
        MeetingMember.insert_many(rows).execute()
    event_log.record(meeting.id, "meeting_updated", f"{owner.display_name} created the meeting.", actor_id=owner.id)
    idempotency.remember(scope, token, {"form": "meeting-create"}, {"meeting_id": meeting.id})
    return meeting, True


def update_details(access: Access, details: Details) -> MeetingEvent:
    """Edit in place: only the meeting row changes, never its activities (SPEC §4.4)."""
    check_facilitator(access)
    meeting = get_meeting(access.meeting.id)
    if meeting.archived:
        raise Forbidden(ARCHIVED)
    Meeting.update(
        title=details.title,
        description=details.description,
        scheduled_start=details.scheduled_start,
        duration_minutes=details.duration_minutes,
        updated_at=utcnow(),
    ).where(Meeting.id == meeting.id).execute()
    return event_log.record(
        meeting.id,
        "meeting_updated",
        f"{access.user.display_name} updated the meeting details.",
        actor_id=access.user.id,
        payload={"change": "details"},
    )


# -- status and the dashboard -------------------------------------------------------------------


def status_of(archived: bool, activities: Iterable[Activity]) -> str:
    """Archived; Running if any runs; Paused if one is paused; Stopped if something has run;
    otherwise Never started (SPEC §4.4)."""
    if archived:
        return "Archived"
    states = [(a.state, a.started_at is not None) for a in activities]
    if any(state == "running" for state, _ in states):
        return "Running"
    if any(state == "paused" for state, _ in states):
        return "Paused"
    if any(state == "stopped" or started for state, started in states):
        return "Stopped"
    return "Never started"


def meeting_status(meeting_id: str) -> str:
    """The status of one meeting (read path)."""
    meeting = get_meeting(meeting_id)
    return status_of(meeting.archived, Activity.select().where(Activity.meeting == meeting_id))


@dataclass
class MeetingRow:
    """One dashboard row as ``user`` sees it."""

    meeting: Meeting
    owner: User
    status: str
    role: str  # owner | cofacilitator | participant | admin
    is_admin: bool
    cofacilitators: list[User] = field(default_factory=list)
    published: list[str] = field(default_factory=list)  # stopped activities whose results are published

    @property
    def has_published(self) -> bool:
        return bool(self.published)

    @property
    def date(self) -> datetime:
        return self.meeting.scheduled_start or self.meeting.created_at

    @property
    def may_manage(self) -> bool:
        return self.role in ("owner", "cofacilitator") or self.is_admin

    @property
    def may_delete(self) -> bool:
        return self.role == "owner" or self.is_admin

    @property
    def may_archive(self) -> bool:
        return self.may_manage and self.status not in ("Running", "Paused", "Archived")


def list_meetings(
    user: User, *, scope: str = "mine", tab: str = "active", status: str = "", sort: str = "date"
) -> list[MeetingRow]:
    """The dashboard's MY MEETINGS (owner, co-facilitator or participant) or, for admins,
    ``scope="all"``; ``tab`` active/archived, an optional status filter, sorted by date (newest
    first), title or status (read path)."""
    mine = MeetingMember.select(MeetingMember.meeting).where(MeetingMember.user == user.id)
    query = Meeting.select(Meeting, User).join(User, on=(Meeting.owner == User.id))
    if not (scope == "all" and user.is_admin):
        query = query.where((Meeting.owner == user.id) | Meeting.id.in_(mine))
    query = query.where(Meeting.archived == (tab == "archived"))
    meetings = list(query)
    ids = [m.id for m in meetings]
    roles = {m.meeting_id: m.role for m in MeetingMember.select().where(MeetingMember.user == user.id)}
    activities: dict[str, list[Activity]] = {}
    cofacilitators: dict[str, list[User]] = {}
    if ids:
        for activity in (
            Activity.select(
                Activity.id, Activity.meeting, Activity.type, Activity.state, Activity.started_at, Activity.results_published
            )
            .where(Activity.meeting.in_(ids))
            .order_by(Activity.position)
        ):
            activities.setdefault(activity.meeting_id, []).append(activity)
        members = (
            MeetingMember.select(MeetingMember, User)
            .join(User)
            .where(MeetingMember.meeting.in_(ids), MeetingMember.role == "cofacilitator")
            .order_by(MeetingMember.added_at)
        )
        for member in members:
            cofacilitators.setdefault(member.meeting_id, []).append(member.user)
    rows = []
    for meeting in meetings:
        own = activities.get(meeting.id, [])
        role = "owner" if meeting.owner_id == user.id else roles.get(meeting.id, "admin")
        rows.append(
            MeetingRow(
                meeting=meeting,
                owner=meeting.owner,
                status=status_of(meeting.archived, own),
                role=role,
                is_admin=user.is_admin,
                cofacilitators=cofacilitators.get(meeting.id, []),
                published=[a.id for a in own if a.results_published and a.state == "stopped" and _has_results(a)],
            )
        )
    if status in STATUSES:
        rows = [r for r in rows if r.status == status]
    return sort_rows(rows, sort)


def _has_results(activity: Activity) -> bool:
    activity_type = TYPES.get(activity.type)
    return activity_type is not None and activity_type.results_page is not None


def has_archived(user: User) -> bool:
    """Whether ``user`` has archived meetings (the Active tab's empty state points there; read path)."""
    mine = MeetingMember.select(MeetingMember.meeting).where(MeetingMember.user == user.id)
    query = Meeting.select().where(Meeting.archived == True, (Meeting.owner == user.id) | Meeting.id.in_(mine))  # noqa: E712
    return bool(query.exists())


def sort_rows(rows: list[MeetingRow], sort: str) -> list[MeetingRow]:
    by_date = sorted(rows, key=lambda r: (r.date, r.meeting.id), reverse=True)
    if sort == "title":
        return sorted(by_date, key=lambda r: r.meeting.title.casefold())
    if sort == "status":
        return sorted(by_date, key=lambda r: STATUSES.index(r.status))
    return by_date


# -- archive, restore, delete, ownership --------------------------------------------------------


def archive(access: Access) -> MeetingEvent | None:
    """Read-only from now on; refused while anything runs or is paused. None when already archived."""
    check_facilitator(access)
    meeting = get_meeting(access.meeting.id)
    if meeting.archived:
        return None
    if Activity.select().where(Activity.meeting == meeting.id, Activity.state.in_(agenda.ACTIVE_STATES)).exists():
        raise Conflict(ARCHIVE_ACTIVE)
    Meeting.update(archived=True, updated_at=utcnow()).where(Meeting.id == meeting.id).execute()
    return event_log.record(
        meeting.id,
        "meeting_updated",
        f"{access.user.display_name} archived the meeting.",
        actor_id=access.user.id,
        payload={"change": "archived"},
    )


def restore(access: Access) -> MeetingEvent | None:
    """Unflag; the status is computed, so it returns to exactly what it was."""
    check_facilitator(access)
    meeting = get_meeting(access.meeting.id)
    if not meeting.archived:
        return None
    # Codes are unique among live meetings only: one reused while this was archived is replaced.
    code = meeting.join_code
    if code is None or Meeting.select().where(Meeting.join_code == code, Meeting.archived == False).exists():  # noqa: E712
        code = new_join_code(meeting.id)
    Meeting.update(archived=False, join_code=code, updated_at=utcnow()).where(Meeting.id == meeting.id).execute()
    return event_log.record(
        meeting.id,
        "meeting_updated",
        f"{access.user.display_name} restored the meeting.",
        actor_id=access.user.id,
        payload={"change": "restored"},
    )


def regenerate_join_code(access: Access) -> MeetingEvent:
    """A fresh short code; the old one stops working at once (meeting facilitators, write path)."""
    check_facilitator(access)
    meeting = get_meeting(access.meeting.id)
    require_writable(access)
    Meeting.update(join_code=new_join_code(meeting.id), updated_at=utcnow()).where(Meeting.id == meeting.id).execute()
    return event_log.record(
        meeting.id,
        "meeting_updated",
        f"{access.user.display_name} made a new join code.",
        actor_id=access.user.id,
        payload={"change": "join_code"},
    )


def delete_meeting(access: Access) -> list[str]:
    """Remove everything of the meeting (owner or admin). Returns the member ids, whose open pages
    the caller sends ``access_revoked`` with DELETED after the commit."""
    check_owner_or_admin(access, DELETE_ONLY)
    meeting = get_meeting(access.meeting.id)
    members = [m.user_id for m in MeetingMember.select(MeetingMember.user).where(MeetingMember.meeting == meeting.id)]
    for activity in Activity.select().where(Activity.meeting == meeting.id):
        activity_type = TYPES.get(activity.type)
        if activity_type is not None:
            activity_type.delete_data(activity)
        ActivityRosterEntry.delete().where(ActivityRosterEntry.activity == activity.id).execute()
    for cleanup in ON_DELETE:
        cleanup(meeting.id)
    Activity.delete().where(Activity.meeting == meeting.id).execute()
    MeetingMember.delete().where(MeetingMember.meeting == meeting.id).execute()
    event_log.delete_for_meeting(meeting.id)
    idempotency.IdempotencyRecord.delete().where(
        idempotency.IdempotencyRecord.scope.startswith(f"{meeting.id}:")
        | (
            idempotency.IdempotencyRecord.scope.startswith("meeting-create:")
            & idempotency.IdempotencyRecord.result_json.contains(f'"{meeting.id}"')
        )
    ).execute()
    IdCounter.delete().where(IdCounter.scope.startswith(f"activity:{meeting.id}:")).execute()
    Meeting.delete().where(Meeting.id == meeting.id).execute()
    return list(dict.fromkeys([meeting.owner_id, *members]))


def transfer_ownership(access: Access, new_owner_id: str) -> MeetingEvent:
    """Hand the meeting to one of its co-facilitators; the old owner becomes a co-facilitator."""
    check_owner_or_admin(access)
    require_writable(access)
    meeting = get_meeting(access.meeting.id)
    member = MeetingMember.get_or_none(
        MeetingMember.meeting == meeting.id, MeetingMember.user == new_owner_id, MeetingMember.role == "cofacilitator"
    )
    if member is None:
        raise Refused(OWNER_TARGET, 400)
    previous = meeting.owner
    new_owner = User.get_by_id(new_owner_id)
    _set_owner(meeting, new_owner, keep_previous=True)
    return event_log.record(
        meeting.id,
        "meeting_updated",
        f"{access.user.display_name} transferred ownership from {previous.display_name} to {new_owner.display_name}.",
        actor_id=access.user.id,
        payload={"change": "owner", "owner": new_owner.id},
    )


def _set_owner(meeting: Meeting, new_owner: User, keep_previous: bool) -> None:
    """The new owner leaves the member list; the previous one joins it as co-facilitator if kept."""
    previous_id = meeting.owner_id
    MeetingMember.delete().where(MeetingMember.meeting == meeting.id, MeetingMember.user == new_owner.id).execute()
    Meeting.update(owner=new_owner.id, updated_at=utcnow()).where(Meeting.id == meeting.id).execute()
    if keep_previous:
        MeetingMember.insert(meeting=meeting.id, user=previous_id, role="cofacilitator", added_at=utcnow()).execute()


def hand_over_meetings(deleted: User, admin: User) -> int:
    """``user_admin.DELETION_HOOKS`` entry: owned meetings pass to their first co-facilitator by date
    added, else to the deleting admin; the user leaves every roster. Returns how many went to the admin."""
    to_admin = 0
    for meeting in Meeting.select().where(Meeting.owner == deleted.id):
        heir = (
            MeetingMember.select(MeetingMember, User)
            .join(User, JOIN.INNER)
            .where(
                MeetingMember.meeting == meeting.id,
                MeetingMember.role == "cofacilitator",
                MeetingMember.user != deleted.id,
                User.is_deleted == False,  # noqa: E712
            )
            .order_by(MeetingMember.added_at, MeetingMember._meta.primary_key)
            .first()
        )
        new_owner = heir.user if heir is not None else admin
        to_admin += heir is None
        _set_owner(meeting, new_owner, keep_previous=False)
        event_log.record(
            meeting.id,
            "meeting_updated",
            f"Ownership passed to {new_owner.display_name} because {deleted.display_name}'s account was deleted.",
            actor_id=admin.id,
            payload={"change": "owner", "owner": new_owner.id},
        )
    memberships = list(MeetingMember.select().where(MeetingMember.user == deleted.id))
    for membership in memberships:
        leave_sub_rosters(membership.meeting_id, [deleted.id], admin)
        event_log.record(
            membership.meeting_id,
            "roster_changed",
            f"{deleted.display_name} left the meeting (account deleted).",
            actor_id=admin.id,
            payload={"removed": [deleted.id]},
        )
    MeetingMember.delete().where(MeetingMember.user == deleted.id).execute()
    return int(to_admin)


user_admin.DELETION_HOOKS.append(hand_over_meetings)

