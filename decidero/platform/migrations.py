"""How the schema moves forward: numbered steps, each idempotent and only ever adding, applied in
order on the writer thread; the version reached is stored in ``schema_version``.

The steps themselves span every layer's tables, so they are listed above all layers, in
``decidero.schema``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from peewee import Database as PeeweeDatabase
from peewee import Field
from playhouse.migrate import SchemaMigrator
from playhouse.migrate import migrate as apply_operations

from .db import Database, serialize_on
from .models import SchemaVersion

log = logging.getLogger("decidero.migrations")

Step = tuple[int, Callable[[PeeweeDatabase], None]]


def add_column_if_missing(db: PeeweeDatabase, table: str, column: str, field: Field) -> None:
    """For later steps that grow an existing table (on either backend)."""
    if column not in {c.name for c in db.get_columns(table)}:
        apply_operations(SchemaMigrator.from_database(db).add_column(table, column, field))


def current_version(db: PeeweeDatabase) -> int:
    if not db.table_exists("schema_version"):
        return 0
    row = SchemaVersion.select().order_by(SchemaVersion.version.desc()).first()
    return row.version if row else 0


def apply(database: Database, steps: Sequence[Step], target: int) -> int:
    """Apply the pending ``steps`` up to ``target`` on the writer thread; returns the resulting version."""
    return database.write_sync(lambda: apply_in_transaction(database.peewee, steps, target))


def apply_in_transaction(db: PeeweeDatabase, steps: Sequence[Step], target: int) -> int:
    """The pending steps inside the caller's write transaction (the move to Postgres runs them
    together with its copy, so a failed move leaves nothing behind)."""
    serialize_on("schema-migrations")  # workers starting together on Postgres take turns
    db.create_tables([SchemaVersion], safe=True)
    version = current_version(db)
    for number, step in sorted(steps, key=lambda s: s[0]):
        if version < number <= target:
            log.info("Applying schema step %d (%s)", number, step.__name__.strip("_"))
            step(db)
            SchemaVersion.delete().execute()
            SchemaVersion.create(version=number)
            version = number
    return version
