"""Identifiers that are allocated atomically and never reused (SPEC §4.0). Write path only."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime

from ..platform.db import serialize_on
from ..platform.prepared import add_many
from .models import IdCounter, Meeting

BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


# Plain SQL both backends speak; {p} is the driver's placeholder.
NEXT_IN_SEQUENCE = (
    'INSERT INTO "id_counter" ("scope", "last") VALUES ({p}, 1) '
    'ON CONFLICT ("scope") DO UPDATE SET "last" = "id_counter"."last" + 1 RETURNING "last"'
)


def next_in_sequence(scope: str) -> int:
    # One upsert instead of insert-if-missing, increment and read back: every idea takes a number.
    serialize_on(f"sequence:{scope}")  # Postgres: a writer that collided here waits here next time
    database = IdCounter._meta.database
    cursor = database.execute_sql(NEXT_IN_SEQUENCE.format(p=database.param), (scope,))
    return int(cursor.fetchone()[0])


RESERVE = (
    'INSERT INTO "id_counter" ("scope", "last") VALUES ({p}, {p}) '
    'ON CONFLICT ("scope") DO UPDATE SET "last" = "id_counter"."last" + excluded."last" RETURNING "last"'
)


def reserve(scope: str, count: int) -> int:
    """Take ``count`` numbers of a sequence at once (a bulk insert); returns the first of them."""
    serialize_on(f"sequence:{scope}")
    database = IdCounter._meta.database
    cursor = database.execute_sql(RESERVE.format(p=database.param), (scope, count))
    return int(cursor.fetchone()[0]) - count + 1


def base36(number: int, width: int) -> str:
    digits = ""
    while number:
        number, rest = divmod(number, 36)
        digits = BASE36[rest] + digits
    return digits.rjust(width, "0")


def next_meeting_id(created: datetime) -> str:
    """``MTG<YYYYMMDD>-<4 base36>`` by UTC creation date."""
    day = created.strftime("%Y%m%d")
    return f"MTG{day}-{base36(next_in_sequence(f'meeting:{day}'), 4)}"


def next_activity_id(meeting_id: str, stem: str) -> str:
    """``<meeting id>-<STEM>-<NNNN>``, the sequence per meeting and stem."""
    return f"{meeting_id}-{stem}-{next_in_sequence(f'activity:{meeting_id}:{stem}'):04d}"


JOIN_CODE_DIGITS = 6


def is_join_code(text: str) -> bool:
    return len(text) == JOIN_CODE_DIGITS and text.isascii() and text.isdigit()


def new_join_code(taken_by: str | None = None) -> str:
    """A 6-digit code no other non-archived meeting uses (write path: the check and the write that
    stores it share one transaction, and a partial unique index backs it). ``taken_by`` is the
    meeting getting it, whose current code does not count."""
    while True:
        code = f"{secrets.randbelow(10**JOIN_CODE_DIGITS):0{JOIN_CODE_DIGITS}d}"
        clash = Meeting.select().where(Meeting.join_code == code, Meeting.archived == False)  # noqa: E712
        if taken_by is not None:
            clash = clash.where(Meeting.id != taken_by)
        if not clash.exists():
            return code


def set_sequences(lasts: Mapping[str, int]) -> None:
    """Set sequences to the last numbers an import brings (a new meeting's, so none exist yet)."""
    add_many(IdCounter, [{"scope": scope, "last": last} for scope, last in lasts.items()], replace=True)
