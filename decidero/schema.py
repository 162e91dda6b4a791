"""Schema versions. Each step is idempotent and only ever adds; a new feature appends a step.

``migrate`` runs at startup and brings any older ``decidero.db`` up to date without losing data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from peewee import Field, SqliteDatabase
from playhouse.migrate import SqliteMigrator
from playhouse.migrate import migrate as apply_operations

from .activities.ballots.models import Ranking, VoteAllocation
from .activities.brainstorming.models import Idea
from .meetings import roster_cache
from .meetings.models import Activity, ActivityRosterEntry, IdCounter, Meeting, MeetingEvent, MeetingMember
from .platform.db import Database
from .platform.idempotency import IdempotencyRecord
from .platform.models import RuntimeSetting, SchemaVersion, User, UserSession

log = logging.getLogger("decidero.migrations")


def add_column_if_missing(db: SqliteDatabase, table: str, column: str, field: Field) -> None:
    """For later steps that grow an existing table."""
    if column not in {c.name for c in db.get_columns(table)}:
        apply_operations(SqliteMigrator(db).add_column(table, column, field))


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


STEPS: list[tuple[int, Callable[[SqliteDatabase], None]]] = [
    (1, _accounts),
    (2, _runtime_settings),
    (3, _meetings),
    (5, _idempotency),
    (7, _voting),
    (6, _brainstorming),
    (8, _roster_stamps),
    (9, _visible_idea_index),
]

LATEST = max(number for number, _ in STEPS)


def current_version(db: SqliteDatabase) -> int:
    if not db.table_exists("schema_version"):
        return 0
    row = SchemaVersion.select().order_by(SchemaVersion.version.desc()).first()
    return row.version if row else 0


def migrate(database: Database, target: int = LATEST) -> int:
    """Apply pending steps up to ``target`` on the writer thread; returns the resulting version."""

    def run() -> int:
        db = database.peewee
        db.create_tables([SchemaVersion], safe=True)
        version = current_version(db)
        for number, step in sorted(STEPS, key=lambda s: s[0]):
            if version < number <= target:
                log.info("Applying schema step %d (%s)", number, step.__name__.strip("_"))
                step(db)
                SchemaVersion.delete().execute()
                SchemaVersion.create(version=number)
                version = number
        return version

    return database.write_sync(run)
