"""Who is in a meeting, cached between roster changes.

Every room page and every publish needs the whole roster (the presence list, counts, audiences); at
1,000 members reading it cost about 45 ms of CPU each time, which capped how fast a crowd could join.
The roster changes rarely, so it is kept in memory and re-read only when its stamp moves.

The stamp is kept by database triggers (SQLite's or Postgres's), not by the code paths that change
the roster: any write to a membership, a sub-roster, a meeting's owner or a member's name, avatar,
login or role gives it a new random value, whichever code (or script, or test) made it. Random
rather than counted, so a value is never seen twice: not after a rolled-back change, nor in another
database with the same meeting ids (a restored backup, a test). Only reader threads fill the cache, from committed data.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from peewee import BigIntegerField, CharField
from peewee import Database as PeeweeDatabase

from ..platform.db import BaseModel, is_postgres, on_writer_thread
from ..platform.models import User
from ..platform.prepared import one
from .models import Activity, ActivityRosterEntry, Meeting, MeetingMember

MAX_MEETINGS = 256
# The user columns a room shows (name, avatar, login on the sub-roster page, role for admin checks).
SHOWN_USER_COLUMNS = ("display_name", "login", "role", "avatar_color", "avatar_emoji")


class RosterStamp(BaseModel):
    meeting_id = CharField(primary_key=True)
    stamp = BigIntegerField()


# INSERT … SELECT needs a WHERE before ON CONFLICT (SQLite's parsing rule for upserts).
_BUMP = (
    "INSERT INTO roster_stamp (meeting_id, stamp) SELECT m, {random} FROM ({meetings}) AS changed "
    "WHERE m IS NOT NULL ON CONFLICT (meeting_id) DO UPDATE SET stamp = excluded.stamp;"
)
# A random 64-bit stamp and "differs, NULLs included" in each dialect.
_RANDOM = {"sqlite": "random()", "postgres": "floor(random() * 9.2e18)::bigint"}
_DIFFERS = {"sqlite": "IS NOT", "postgres": "IS DISTINCT FROM"}


def _bump(meetings: str, dialect: str) -> str:
    """Statement renewing the stamp of every meeting id (column ``m``) that ``meetings`` selects."""
    return _BUMP.format(meetings=meetings, random=_RANDOM[dialect])


_ENTRY_MEETING = "SELECT meeting_id AS m FROM activity WHERE id = {row}.activity_id"
_USER_MEETINGS = "SELECT meeting_id AS m FROM meeting_member WHERE user_id = NEW.id UNION SELECT id FROM meeting WHERE owner_id = NEW.id"
_USER_CHANGED = " OR ".join(f"OLD.{c} {{differs}} NEW.{c}" for c in SHOWN_USER_COLUMNS)

# Trigger name: (the change it follows, a condition on the row or "", the meetings whose stamp it renews).
TRIGGERS: dict[str, tuple[str, str, str]] = {
    "roster_meeting_insert": ("AFTER INSERT ON meeting", "", "SELECT NEW.id AS m"),
    "roster_member_insert": ("AFTER INSERT ON meeting_member", "", "SELECT NEW.meeting_id AS m"),
    "roster_member_update": ("AFTER UPDATE ON meeting_member", "", "SELECT NEW.meeting_id AS m UNION SELECT OLD.meeting_id"),
    "roster_member_delete": ("AFTER DELETE ON meeting_member", "", "SELECT OLD.meeting_id AS m"),
    "roster_entry_insert": ("AFTER INSERT ON activity_roster_entry", "", _ENTRY_MEETING.format(row="NEW")),
    "roster_entry_delete": ("AFTER DELETE ON activity_roster_entry", "", _ENTRY_MEETING.format(row="OLD")),
    "roster_entry_update": (
        "AFTER UPDATE ON activity_roster_entry",
        "",
        _ENTRY_MEETING.format(row="NEW") + " UNION " + _ENTRY_MEETING.format(row="OLD"),
    ),
    # Deleting an activity deletes its entries by cascade, when the activity row is already gone.
    "roster_activity_delete": ("AFTER DELETE ON activity", "", "SELECT OLD.meeting_id AS m"),
    "roster_owner_update": ("AFTER UPDATE OF owner_id ON meeting", "OLD.owner_id {differs} NEW.owner_id", "SELECT NEW.id AS m"),
    "roster_user_update": ('AFTER UPDATE ON "user"', _USER_CHANGED, _USER_MEETINGS),
}


def _trigger_sql(name: str, dialect: str) -> list[str]:
    event, condition, meetings = TRIGGERS[name]
    condition = condition.format(differs=_DIFFERS[dialect])
    body = _bump(meetings, dialect)
    if dialect == "sqlite":
        when = f" WHEN {condition}" if condition else ""
        return [f"CREATE TRIGGER IF NOT EXISTS {name} {event}{when} BEGIN {body} END"]
    # Postgres runs a trigger's statements in a function of their own.
    when = f" WHEN ({condition})" if condition else ""
    return [
        f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} RETURN NULL; END $$",
        f"CREATE OR REPLACE TRIGGER {name} {event} FOR EACH ROW{when} EXECUTE FUNCTION {name}()",
    ]


def install(db: PeeweeDatabase) -> None:
    """Schema step: the stamp table and the triggers that keep it."""
    dialect = "postgres" if is_postgres(db) else "sqlite"
    db.create_tables([RosterStamp], safe=True)
    for name in TRIGGERS:
        for statement in _trigger_sql(name, dialect):
            db.execute_sql(statement)
    db.execute_sql(_bump("SELECT id AS m FROM meeting", dialect))  # meetings made before this step


@dataclass(frozen=True)
class Roster:
    participants: list[User]  # by display name
    facilitators: list[User]  # the owner first, then co-facilitators by display name
    custom_rosters: dict[str, set[str]]  # activity id → user ids on its sub-roster


_cache: dict[str, tuple[int, Roster]] = {}  # meeting id → (stamp, roster), oldest first
_lock = threading.Lock()


def roster(meeting: Meeting) -> Roster:
    """``meeting``'s roster as of the current transaction (read or write path)."""
    row = one(RosterStamp, meeting_id=meeting.id)
    stamp = row.stamp if row else None
    cached = _cache.get(meeting.id)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    loaded = _load(meeting)
    if stamp is not None and not on_writer_thread():
        with _lock:
            _cache.pop(meeting.id, None)
            _cache[meeting.id] = (stamp, loaded)
            while len(_cache) > MAX_MEETINGS:
                del _cache[next(iter(_cache))]
    return loaded


def _load(meeting: Meeting) -> Roster:
    # is_guest (the "guest" mark) only ever changes with an admin's password reset: no trigger needed.
    columns = [User.id, User.is_guest, *(getattr(User, c) for c in SHOWN_USER_COLUMNS)]
    members: Iterable[Any] = (
        MeetingMember.select(MeetingMember.role.alias("role_in_meeting"), *columns)
        .join(User)
        .where(MeetingMember.meeting == meeting.id)
        .order_by(User.display_name)
        .objects(User)
    )
    participants: list[User] = []
    cofacilitators: list[User] = []
    for user in members:
        (cofacilitators if user.role_in_meeting == "cofacilitator" else participants).append(user)
    owner = User.select(*columns).where(User.id == meeting.owner_id).get()
    custom: dict[str, set[str]] = {}
    entries: Iterable[Any] = (
        ActivityRosterEntry.select(ActivityRosterEntry.activity, ActivityRosterEntry.user)
        .join(Activity)
        .where(Activity.meeting == meeting.id)
        .tuples()
    )
    for activity_id, user_id in entries:
        custom.setdefault(activity_id, set()).add(user_id)
    return Roster(participants, [owner, *cofacilitators], custom)
