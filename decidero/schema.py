"""The schema history: every step, in order, over the platform's, the meeting engine's and the
activity types' tables. Each step is idempotent and only ever adds; a new feature appends a step
(the mechanism is ``platform.migrations``). Numbers and order never change: they are what an
existing ``decidero.db`` records.

``migrate`` runs at startup and brings any older ``decidero.db`` up to date without losing data.
"""

from __future__ import annotations

from peewee import SqliteDatabase

from .activities.ballots.models import Ranking, VoteAllocation
from .activities.brainstorming.models import BoardPreference, Idea
from .meetings import roster_cache
from .meetings.models import Activity, ActivityRosterEntry, IdCounter, Meeting, MeetingEvent, MeetingMember
from .platform import migrations
from .platform.db import Database
from .platform.idempotency import IdempotencyRecord
from .platform.models import RuntimeSetting, User, UserSession


def _accounts(db: SqliteDatabase) -> None:
    db.create_tables([User, UserSession], safe=True)


def _runtime_settings(db: SqliteDatabase) -> None:
    db.create_tables([RuntimeSetting], safe=True)


def _meetings(db: SqliteDatabase) -> None:
    db.create_tables([Meeting, MeetingMember, Activity, ActivityRosterEntry, IdCounter, MeetingEvent], safe=True)


def _idempotency(db: SqliteDatabase) -> None:
    db.create_tables([IdempotencyRecord], safe=True)


def _brainstorming(db: SqliteDatabase) -> None:
    db.create_tables([Idea], safe=True)


def _voting(db: SqliteDatabase) -> None:
    db.create_tables([VoteAllocation, Ranking], safe=True)


def _roster_stamps(db: SqliteDatabase) -> None:
    roster_cache.install(db)


def _visible_idea_index(db: SqliteDatabase) -> None:
    db.execute_sql('CREATE INDEX IF NOT EXISTS "idea_activity_id_sub_hidden" ON "idea" ("activity_id", "sub", "hidden")')


def _paged_boards(db: SqliteDatabase) -> None:
    """A board page (and "N earlier ideas") is a range of one activity's visible ideas by number."""
    db.create_tables([BoardPreference], safe=True)
    db.execute_sql(
        'CREATE INDEX IF NOT EXISTS "idea_activity_id_sub_hidden_number" ON "idea" ("activity_id", "sub", "hidden", "number")'
    )


STEPS: list[migrations.Step] = [
    (1, _accounts),
    (2, _runtime_settings),
    (3, _meetings),
    (5, _idempotency),
    (7, _voting),
    (6, _brainstorming),
    (8, _roster_stamps),
    (9, _visible_idea_index),
    (10, _paged_boards),
]

LATEST = max(number for number, _ in STEPS)


def migrate(database: Database, target: int = LATEST) -> int:
    """Bring ``database`` up to ``target`` (default: the latest step); returns the version reached."""
    return migrations.apply(database, STEPS, target)
