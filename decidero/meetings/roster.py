"""Meeting rosters (SPEC §2.2, §4.4, §4.5): participants, co-facilitators, joining and the directory.

Every change is a "set" operation, safe to repeat, and reports what it did. Write functions run on
the write path; the route announces ``change.events`` and revokes ``change.revoked`` after the commit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from peewee import fn

from ..platform.accounts import clean_text, find_by_login_or_email
from ..platform.errors import Conflict, Forbidden, Refused
from ..platform.models import User, utcnow
from . import event_log
from .access import ARCHIVED, Access, access_for, get_meeting
from .lifecycle import COFACILITATOR_ROLE, FULL, check_facilitator, check_owner_or_admin
from .models import Meeting, MeetingEvent, MeetingMember
from .run_control import leave_sub_rosters

REVOKED = "Your access to this meeting has been revoked."
NO_MEETING = "No meeting found with that code."
JOIN_ARCHIVED = "This meeting is archived."
NOT_ACCEPTING = "This meeting is not accepting new participants. Ask the facilitator to add you."
PAGE_SIZE = 25
MIN_QUERY = 2


@dataclass
class RosterChange:
    """What one roster request did, and what the route must announce or revoke afterwards."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    skipped_label: str = "Not in meeting"
    notices: list[str] = field(default_factory=list)
    events: list[MeetingEvent] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """E.g. "Added 2. Removed 1. Already in meeting: p03. Not found: zed." """
        parts = []
        if self.added:
            parts.append(f"Added {len(self.added)}.")
        if self.removed:
            parts.append(f"Removed {len(self.removed)}.")
        if self.already:
            parts.append(f"Already in meeting: {', '.join(self.already)}.")
        if self.not_found:
            parts.append(f"Not found: {', '.join(self.not_found)}.")
        if self.skipped:
            parts.append(f"{self.skipped_label}: {', '.join(self.skipped)}.")
        return " ".join(parts) or "No changes."


def split_identifiers(text: str) -> list[str]:
    """Logins or emails separated by commas, semicolons, spaces or new lines."""
    return list(dict.fromkeys(part for part in re.split(r"[,;\s]+", clean_text(text)) if part))


def resolve(identifiers: Iterable[str], user_ids: Iterable[str]) -> tuple[list[User], list[str]]:
    """Users named by login/email or chosen by id, in order and without repeats; plus what matched nobody."""
    users: dict[str, User] = {}
    missing = []
    for identifier in identifiers:
        user = find_by_login_or_email(identifier)
        if user is None:
            missing.append(identifier[:100])
        else:
            users.setdefault(user.id, user)
    for user_id in dict.fromkeys(user_ids):
        user = User.get_or_none(User.id == user_id, User.is_deleted == False)  # noqa: E712
        if user is None:
            missing.append(user_id[:100])
        else:
            users.setdefault(user.id, user)
    return list(users.values()), missing


def label(user: User) -> str:
    return user.login or user.display_name


def _roles(meeting_id: str) -> dict[str, str]:
    return {m.user_id: m.role for m in MeetingMember.select().where(MeetingMember.meeting == meeting_id)}


def participant_count(meeting_id: str) -> int:
    return int(
        MeetingMember.select(fn.COUNT(MeetingMember.user))
        .where(MeetingMember.meeting == meeting_id, MeetingMember.role == "participant")
        .scalar()
        or 0
    )


def check_capacity(meeting_id: str, adding: int, capacity: int) -> None:
    if adding and participant_count(meeting_id) + adding > capacity:
        raise Conflict(FULL.format(limit=capacity))


def _writable(access: Access) -> Meeting:
    meeting = get_meeting(access.meeting.id)
    if meeting.archived:
        raise Forbidden(ARCHIVED)
    return meeting


def _names(users: list[User]) -> str:
    names = [u.display_name for u in users]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


# -- participants -------------------------------------------------------------------------------


def add_participants(
    access: Access, identifiers: Iterable[str], user_ids: Iterable[str], capacity: int
) -> RosterChange:
    """Add to the participant roster; owner and co-facilitators count as already in the meeting."""
    check_facilitator(access)
    meeting = _writable(access)
    change = RosterChange()
    users, change.not_found = resolve(identifiers, user_ids)
    roles = _roles(meeting.id)
    new = []
    for user in users:
        if user.id == meeting.owner_id or user.id in roles:
            change.already.append(label(user))
        else:
            new.append(user)
    check_capacity(meeting.id, len(new), capacity)
    if new:
        now = utcnow()
        MeetingMember.insert_many(
            [{"meeting": meeting.id, "user": u.id, "role": "participant", "added_at": now} for u in new]
        ).execute()
        change.added = [label(u) for u in new]
        change.events.append(
            event_log.record(
                meeting.id,
                "roster_changed",
                f"{access.user.display_name} added {_names(new)} to the meeting.",
                actor_id=access.user.id,
                payload={"added": [u.id for u in new]},
            )
        )
    return change


def remove_participants(access: Access, identifiers: Iterable[str], user_ids: Iterable[str]) -> RosterChange:
    """Remove from the roster and from every activity sub-roster; their past contributions stay."""
    check_facilitator(access)
    meeting = _writable(access)
    change = RosterChange(skipped_label="Not a participant")
    users, change.not_found = resolve(identifiers, user_ids)
    roles = _roles(meeting.id)
    gone = [u for u in users if roles.get(u.id) == "participant"]
    change.skipped = [label(u) for u in users if roles.get(u.id) != "participant"]
    if not gone:
        return change
    ids = [u.id for u in gone]
    MeetingMember.delete().where(MeetingMember.meeting == meeting.id, MeetingMember.user.in_(ids)).execute()
    change.notices, change.events = leave_sub_rosters(meeting.id, ids, access.user)
    change.events.append(
        event_log.record(
            meeting.id,
            "roster_changed",
            f"{access.user.display_name} removed {_names(gone)} from the meeting.",
            actor_id=access.user.id,
            payload={"removed": ids},
        )
    )
    change.removed = [label(u) for u in gone]
    change.revoked = ids
    return change


# -- co-facilitators ----------------------------------------------------------------------------


def add_cofacilitators(access: Access, identifiers: Iterable[str], user_ids: Iterable[str]) -> RosterChange:
    """Owner or admins only. Facilitator role or higher; a participant moves off the participant roster."""
    check_owner_or_admin(access)
    meeting = _writable(access)
    change = RosterChange()
    users, change.not_found = resolve(identifiers, user_ids)
    if any(not u.is_facilitator for u in users):
        raise Refused(COFACILITATOR_ROLE, 400)
    roles = _roles(meeting.id)
    new = [u for u in users if u.id != meeting.owner_id and roles.get(u.id) != "cofacilitator"]
    change.already = [label(u) for u in users if u not in new]
    if not new:
        return change
    now = utcnow()
    moved = [u.id for u in new if roles.get(u.id) == "participant"]
    MeetingMember.update(role="cofacilitator").where(
        MeetingMember.meeting == meeting.id, MeetingMember.user.in_(moved)
    ).execute()
    outsiders = [u for u in new if u.id not in moved]
    if outsiders:
        MeetingMember.insert_many(
            [{"meeting": meeting.id, "user": u.id, "role": "cofacilitator", "added_at": now} for u in outsiders]
        ).execute()
    if moved:
        change.notices, change.events = leave_sub_rosters(meeting.id, moved, access.user)
        change.events.append(
            event_log.record(
                meeting.id,
                "roster_changed",
                "Participants became co-facilitators.",
                actor_id=access.user.id,
                payload={"removed": moved},
            )
        )
    change.added = [label(u) for u in new]
    change.events.append(
        event_log.record(
            meeting.id,
            "meeting_updated",
            f"{access.user.display_name} made {_names(new)} co-facilitator.",
            actor_id=access.user.id,
            payload={"change": "cofacilitators"},
        )
    )
    return change


def remove_cofacilitators(access: Access, identifiers: Iterable[str], user_ids: Iterable[str]) -> RosterChange:
    """Owner or admins only. A removed co-facilitator leaves the meeting."""
    check_owner_or_admin(access)
    meeting = _writable(access)
    change = RosterChange(skipped_label="Not a co-facilitator")
    users, change.not_found = resolve(identifiers, user_ids)
    roles = _roles(meeting.id)
    gone = [u for u in users if roles.get(u.id) == "cofacilitator"]
    change.skipped = [label(u) for u in users if u not in gone]
    if not gone:
        return change
    ids = [u.id for u in gone]
    MeetingMember.delete().where(MeetingMember.meeting == meeting.id, MeetingMember.user.in_(ids)).execute()
    change.removed = [label(u) for u in gone]
    change.revoked = ids
    change.events.append(
        event_log.record(
            meeting.id,
            "meeting_updated",
            f"{access.user.display_name} removed {_names(gone)} as co-facilitator.",
            actor_id=access.user.id,
            payload={"change": "cofacilitators"},
        )
    )
    return change


# -- joining ------------------------------------------------------------------------------------


def normalise_code(code: str) -> str:
    return clean_text(code).upper()


def join(code: str, user: User, capacity: int) -> tuple[str, MeetingEvent | None]:
    """Join by code or invite link (write path): members pass through; others become participants."""
    meeting_id = normalise_code(code)
    meeting = Meeting.get_or_none(Meeting.id == meeting_id) if meeting_id else None
    if meeting is None:
        raise Refused(NO_MEETING, 404)
    if access_for(meeting.id, user).is_member:
        return meeting.id, None
    if meeting.archived:
        raise Forbidden(JOIN_ARCHIVED)
    if not meeting.open_join:
        raise Forbidden(NOT_ACCEPTING)
    check_capacity(meeting.id, 1, capacity)
    MeetingMember.create(meeting=meeting.id, user=user.id, role="participant", added_at=utcnow())
    event = event_log.record(
        meeting.id,
        "roster_changed",
        f"{user.display_name} joined the meeting.",
        actor_id=user.id,
        payload={"added": [user.id]},
    )
    return meeting.id, event


def set_open_join(access: Access, open_join: bool) -> MeetingEvent | None:
    check_facilitator(access)
    meeting = _writable(access)
    if meeting.open_join == open_join:
        return None
    Meeting.update(open_join=open_join, updated_at=utcnow()).where(Meeting.id == meeting.id).execute()
    state = "on" if open_join else "off"
    return event_log.record(
        meeting.id,
        "meeting_updated",
        f"{access.user.display_name} turned Open join {state}.",
        actor_id=access.user.id,
        payload={"change": "open_join", "open_join": open_join},
    )


# -- reading ------------------------------------------------------------------------------------


@dataclass
class DirectoryPage:
    query: str
    users: list[User]
    page: int
    pages: int
    total: int

    @property
    def too_short(self) -> bool:
        return len(self.query) < MIN_QUERY


def search_directory(query: str, page: int = 1, exclude: Iterable[str] = ()) -> DirectoryPage:
    """Users by name, login or email (at least 2 characters), 25 per page (read path)."""
    text = clean_text(query)[:100]
    if len(text) < MIN_QUERY:
        return DirectoryPage(text, [], 1, 1, 0)
    like = f"%{text.lower()}%"
    select = User.select().where(
        User.is_deleted == False,  # noqa: E712
        (fn.LOWER(User.login) ** like)
        | (fn.LOWER(User.email) ** like)
        | (fn.LOWER(User.display_name) ** like)
        | (fn.LOWER(User.first_name) ** like)
        | (fn.LOWER(User.last_name) ** like),
    )
    skip = list(exclude)
    if skip:
        select = select.where(User.id.not_in(skip))
    total = select.count()
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(1, page), pages)
    users = list(select.order_by(fn.LOWER(User.display_name), User.login).paginate(page, PAGE_SIZE))
    return DirectoryPage(text, users, page, pages, total)


def facilitator_candidates(exclude: Iterable[str] = ()) -> list[User]:
    """Users who may be co-facilitators: facilitator role or higher."""
    select = User.select().where(
        User.is_deleted == False,  # noqa: E712
        User.role.in_(("facilitator", "admin", "super_admin")),
    )
    skip = list(exclude)
    if skip:
        select = select.where(User.id.not_in(skip))
    return list(select.order_by(fn.LOWER(User.display_name), User.login))


@dataclass
class RosterView:
    meeting: Meeting
    owner: User
    cofacilitators: list[User]
    participants: list[User]

    @property
    def member_ids(self) -> set[str]:
        return {self.owner.id, *(u.id for u in self.cofacilitators), *(u.id for u in self.participants)}


def roster_view(meeting_id: str) -> RosterView:
    meeting = get_meeting(meeting_id)
    members = list(
        MeetingMember.select(MeetingMember, User)
        .join(User)
        .where(MeetingMember.meeting == meeting_id)
        .order_by(MeetingMember.added_at, MeetingMember._meta.primary_key)
    )
    cofacilitators = [m.user for m in members if m.role == "cofacilitator"]
    participants = sorted((m.user for m in members if m.role == "participant"), key=lambda u: u.display_name.casefold())
    return RosterView(meeting, meeting.owner, cofacilitators, participants)


def users_by_id(user_ids: Iterable[str]) -> list[User]:
    wanted = list(dict.fromkeys(user_ids))
    if not wanted:
        return []
    found = {u.id: u for u in User.select().where(User.id.in_(wanted), User.is_deleted == False)}  # noqa: E712
    return [found[i] for i in wanted if i in found]

