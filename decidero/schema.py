"""The schema history: every step, in order, over the platform's, the meeting engine's and the
activity types' tables. Each step is idempotent and only ever adds; a new feature appends a step
(the mechanism is ``platform.migrations``). Numbers and order never change: they are what an
existing ``decidero.db`` records.

``migrate`` runs at startup and brings any older ``decidero.db`` up to date without losing data.
"""

from __future__ import annotations

from peewee import Database as PeeweeDatabase

from .activities.ballots.models import Ranking, VoteAllocation
from .activities.brainstorming.models import BoardPreference, Idea
from .activities.categorization.models import BoardAudit, BoardItem, BoardState, Bucket
from .designer.models import DesignerConversation, DesignerGeneration, DesignerMessage
from .meetings import roster_cache
from .meetings.drafts import MeetingDraft
from .meetings.ids import new_join_code
from .meetings.models import (
    Activity,
    ActivityRosterEntry,
    ActivityRound,
    IdCounter,
    Meeting,
    MeetingEvent,
    MeetingMember,
    Provenance,
    TransferDraft,
)
from .platform import migrations
from .platform.db import Database
from .platform.idempotency import IdempotencyRecord
from .platform.models import RuntimeSetting, User, UserSession


def _accounts(db: PeeweeDatabase) -> None:
    db.create_tables([User, UserSession], safe=True)


def _runtime_settings(db: PeeweeDatabase) -> None:
    db.create_tables([RuntimeSetting], safe=True)


def _meetings(db: PeeweeDatabase) -> None:
    db.create_tables([Meeting, MeetingMember, Activity, ActivityRosterEntry, IdCounter, MeetingEvent], safe=True)


def _idempotency(db: PeeweeDatabase) -> None:
    db.create_tables([IdempotencyRecord], safe=True)


def _brainstorming(db: PeeweeDatabase) -> None:
    db.create_tables([Idea], safe=True)


def _voting(db: PeeweeDatabase) -> None:
    db.create_tables([VoteAllocation, Ranking], safe=True)


def _roster_stamps(db: PeeweeDatabase) -> None:
    roster_cache.install(db)


def _visible_idea_index(db: PeeweeDatabase) -> None:
    db.execute_sql('CREATE INDEX IF NOT EXISTS "idea_activity_id_sub_hidden" ON "idea" ("activity_id", "sub", "hidden")')


def _designer(db: PeeweeDatabase) -> None:
    db.create_tables([MeetingDraft, DesignerConversation, DesignerMessage, DesignerGeneration], safe=True)


def _convergence(db: PeeweeDatabase) -> None:
    """Categorization boards, transfer drafts, provenance and second rounds (issue 14)."""
    db.create_tables([Bucket, BoardItem, BoardState, BoardAudit, TransferDraft, Provenance, ActivityRound], safe=True)


def _join_codes(db: PeeweeDatabase) -> None:
    """Short join codes: the column, uniqueness among live meetings, and a code for each existing one."""
    migrations.add_column_if_missing(db, "meeting", "join_code", Meeting.join_code)
    db.execute_sql(
        'CREATE UNIQUE INDEX IF NOT EXISTS "meeting_join_code_live" ON "meeting" ("join_code") WHERE NOT "archived"'
    )
    for meeting in Meeting.select(Meeting.id).where(Meeting.join_code.is_null(), Meeting.archived == False):  # noqa: E712
        Meeting.update(join_code=new_join_code()).where(Meeting.id == meeting.id).execute()


def _paged_boards(db: PeeweeDatabase) -> None:
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
    (10, _designer),
    (11, _convergence),
    (12, _join_codes),
    (13, _paged_boards),
]

LATEST = max(number for number, _ in STEPS)


def migrate(database: Database, target: int = LATEST) -> int:
    """Bring ``database`` up to ``target`` (default: the latest step); returns the version reached."""
    return migrations.apply(database, STEPS, target)
