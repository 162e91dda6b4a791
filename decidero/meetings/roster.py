"""Meeting rosters (SPEC §2.2, §4.4, §4.5): participants, co-facilitators, joining and the directory.

Every change is a "set" operation, safe to repeat, and reports what it did. Who a request names is
resolved first on a reader (``resolve``, a few batched queries), so the write transaction only
touches the users found; write functions run on the write path, and the route announces
``change.events`` and has the live engine judge the open streams of ``change.affected`` again.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from peewee import fn

from ..platform.accounts import GUEST_CONFINED, clean_text
from ..platform.errors import Conflict, Forbidden, FormErrors, Refused
from ..platform.models import User, utcnow
from . import event_log
from .access import ARCHIVED, Access, access_for, get_meeting
from .ids import is_join_code
from .lifecycle import COFACILITATOR_ROLE, FULL, check_facilitator, check_owner_or_admin
from .models import Meeting, MeetingEvent, MeetingMember
from .run_control import leave_sub_rosters

NO_MEETING = "No meeting found with that code."
JOIN_ARCHIVED = "This meeting is archived."
NOT_ACCEPTING = "This meeting is not accepting new participants. Ask the facilitator to add you."
PAGE_SIZE = 25
MIN_QUERY = 2
# One roster request names at most this many people (typed plus picked): a capacity's worth. Each
# name costs the writer a little; tens of thousands of them held it for seconds (SPEC §3.4: < 1 s).
MAX_IDENTIFIERS = 2000
TOO_MANY = "Enter at most {limit:,} logins or emails at a time (this list has {count:,})."
RESOLVE_BATCH = 400  # identifiers per IN query, well under SQLite's bound-variable limit
NAMES_SHOWN = 5  # names a summary lists before it counts the rest


@dataclass(frozen=True)
class Resolved:
    """The users a request names, in order and without repeats, and what matched nobody."""

    users: list[User]
    missing: list[str]


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
    affected: list[str] = field(default_factory=list)  # ids of users whose place in the meeting changed

    def summary(self) -> str:
        """E.g. "Added 2. Removed 1. Already in meeting: p03. Not found: zed." (long lists are cut
        to a few names and a count: the summary travels in a redirect's URL)."""
        parts = []
        if self.added:
            parts.append(f"Added {len(self.added)}.")
        if self.removed:
            parts.append(f"Removed {len(self.removed)}.")
        if self.already:
            parts.append(f"Already in meeting: {few(self.already)}.")
        if self.not_found:
            parts.append(f"Not found: {few(self.not_found)}.")
        if self.skipped:
            parts.append(f"{self.skipped_label}: {few(self.skipped)}.")
        return " ".join(parts) or "No changes."


def few(names: list[str]) -> str:
    """"a, b, c", or "a, b, c, d, e and 1,995 more" beyond NAMES_SHOWN."""
    shown = ", ".join(name[:100] for name in names[:NAMES_SHOWN])
    rest = len(names) - NAMES_SHOWN
    return f"{shown} and {rest:,} more" if rest > 0 else shown


def split_identifiers(text: str) -> list[str]:
    """Logins or emails separated by commas, semicolons, spaces or new lines."""
    return list(dict.fromkeys(part for part in re.split(r"[,;\s]+", clean_text(text)) if part))


def check_count(identifiers: list[str], user_ids: list[str], field_name: str) -> None:
    """FormErrors beside ``field_name`` when a request names more than MAX_IDENTIFIERS people."""
    count = len(identifiers) + len(set(user_ids))
    if count > MAX_IDENTIFIERS:
        raise FormErrors({field_name: TOO_MANY.format(limit=MAX_IDENTIFIERS, count=count)})


def _batches(items: list[str]) -> Iterable[list[str]]:
    return (items[i : i + RESOLVE_BATCH] for i in range(0, len(items), RESOLVE_BATCH))


def resolve(identifiers: Iterable[str], user_ids: Iterable[str]) -> Resolved:
    """Users named by login or email (ignoring case) or chosen by id (read path, one query per
    RESOLVE_BATCH names). A login wins over another account's identical email."""
    typed = list(dict.fromkeys(identifiers))
    wanted = [clean_text(t).lower() for t in typed]
    named: dict[str, User] = {}
    for batch in _batches(list(dict.fromkeys(w for w in wanted if w))):
        rows = list(User.select().where((User.login.in_(batch) | User.email.in_(batch)) & (User.is_deleted == False)))  # noqa: E712
        named.update((u.email, u) for u in rows if u.email)
        named.update((u.login, u) for u in rows if u.login)
    chosen = list(dict.fromkeys(user_ids))
    by_id: dict[str, User] = {}
    for batch in _batches(chosen):
        by_id.update((u.id, u) for u in User.select().where(User.id.in_(batch), User.is_deleted == False))  # noqa: E712
    users: dict[str, User] = {}
    missing: list[str] = []
    for text, key in zip(typed, wanted, strict=True):
        if key in named:
            users.setdefault(named[key].id, named[key])
        else:
            missing.append(text[:100])
    for user_id in chosen:
        if user_id in by_id:
            users.setdefault(user_id, by_id[user_id])
        else:
            missing.append(user_id[:100])
    return Resolved(list(users.values()), missing)


def _still_there(users: list[User]) -> list[User]:
    """``users`` minus any deleted since they were resolved (write path, batched)."""
    kept: set[str] = set()
    for batch in _batches([u.id for u in users]):
        kept.update(u.id for u in User.select(User.id).where(User.id.in_(batch), User.is_deleted == False))  # noqa: E712
    return [u for u in users if u.id in kept]


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


def add_participants(access: Access, found: Resolved, capacity: int) -> RosterChange:
    """Add to the participant roster; owner and co-facilitators count as already in the meeting."""
    check_facilitator(access)
    meeting = _writable(access)
    change = RosterChange()
    users, change.not_found = _still_there(found.users), list(found.missing)
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
        change.affected = [u.id for u in new]
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


def remove_participants(access: Access, found: Resolved) -> RosterChange:
    """Remove from the roster and from every activity sub-roster; their past contributions stay."""
    check_facilitator(access)
    meeting = _writable(access)
    change = RosterChange(skipped_label="Not a participant")
    users, change.not_found = _still_there(found.users), list(found.missing)
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
    change.affected = ids
    return change


# -- co-facilitators ----------------------------------------------------------------------------


def add_cofacilitators(access: Access, found: Resolved) -> RosterChange:
    """Owner or admins only. Facilitator role or higher; a participant moves off the participant roster."""
    check_owner_or_admin(access)
    meeting = _writable(access)
    change = RosterChange()
    users, change.not_found = _still_there(found.users), list(found.missing)
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
    change.affected = [u.id for u in new]
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


def remove_cofacilitators(access: Access, found: Resolved) -> RosterChange:
    """Owner or admins only. A removed co-facilitator leaves the meeting."""
    check_owner_or_admin(access)
    meeting = _writable(access)
    change = RosterChange(skipped_label="Not a co-facilitator")
    users, change.not_found = _still_there(found.users), list(found.missing)
    roles = _roles(meeting.id)
    gone = [u for u in users if roles.get(u.id) == "cofacilitator"]
    change.skipped = [label(u) for u in users if u not in gone]
    if not gone:
        return change
    ids = [u.id for u in gone]
    MeetingMember.delete().where(MeetingMember.meeting == meeting.id, MeetingMember.user.in_(ids)).execute()
    change.removed = [label(u) for u in gone]
    change.affected = ids
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
    """Trimmed and upper-cased; a short code may be typed or read out with spaces or dashes ("482 913")."""
    text = clean_text(code).upper()
    compact = re.sub(r"[\s-]", "", text)
    return compact if is_join_code(compact) else text


def find_by_code(code: str) -> Meeting | None:
    """The meeting a typed code names: its 6-digit join code (live meetings only) or its id (read path)."""
    text = normalise_code(code)
    if not text:
        return None
    if is_join_code(text):
        return Meeting.get_or_none(Meeting.join_code == text, Meeting.archived == False)  # noqa: E712
    return Meeting.get_or_none(Meeting.id == text)


def meeting_id_for(code: str) -> str | None:
    """The id of the meeting a join code or invite link names (read path), whose turn the join takes."""
    meeting = find_by_code(code)
    return str(meeting.id) if meeting is not None else None


def join(code: str, user: User, capacity: int) -> tuple[str, MeetingEvent | None]:
    """Join by code or invite link (write path): members pass through; others become participants."""
    meeting = find_by_code(code)
    if meeting is None:
        raise Refused(NO_MEETING, 404)
    if access_for(meeting.id, user).is_member:
        return meeting.id, None
    if user.is_guest and MeetingMember.select().where(MeetingMember.user == user.id).exists():
        raise Forbidden(GUEST_CONFINED)  # a guest joins one meeting: the one they came for
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


def guest_home(user: User) -> str | None:
    """The meeting a guest most recently joined, where their dashboard sends them (read path)."""
    member = (
        MeetingMember.select(MeetingMember.meeting)
        .where(MeetingMember.user == user.id)
        .order_by(MeetingMember.added_at.desc())
        .first()
    )
    return member.meeting_id if member is not None else None


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

