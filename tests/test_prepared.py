"""Prepared statements (``decidero.prepared``) store and find exactly what Peewee's own queries do:
the hot paths use them, every other path uses Peewee, and both must agree on the same rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers_meetings import second_handle

from decidero.meetings.models import MeetingEvent
from decidero.platform import prepared
from decidero.platform.db import Database


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with second_handle(tmp_path / "decidero.db") as database:
        yield database


def test_an_added_row_reads_back_through_peewee_with_its_defaults(db: Database) -> None:
    first = db.write_sync(lambda: prepared.add(MeetingEvent, meeting_id="M1", type="presence", summary="Pat joined."))
    second = db.write_sync(
        lambda: prepared.add(MeetingEvent, meeting_id="M1", type="idea_created", summary="x", activity_id="A1", payload_json='{"idea": 3}')
    )
    assert second.id == first.id + 1
    stored = db.read_sync(lambda: MeetingEvent.get_by_id(second.id))
    assert (stored.type, stored.activity_id, stored.payload) == ("idea_created", "A1", {"idea": 3})
    assert stored.created_at == second.created_at  # the default was applied once, before the insert
    assert db.read_sync(lambda: MeetingEvent.get_by_id(first.id)).payload_json == "{}"


def test_lookups_find_what_peewee_finds(db: Database) -> None:
    for n in range(3):
        db.write_sync(lambda n=n: prepared.add(MeetingEvent, meeting_id="M1" if n else "M2", type="t", summary=str(n)))

    def read() -> tuple[int, list[str], str | None]:
        found = prepared.one(MeetingEvent, meeting_id="M1", summary="2")
        rows = prepared.every(MeetingEvent, "id", meeting_id="M1")
        return prepared.count(MeetingEvent, meeting_id="M1"), [r.summary for r in rows], found and found.summary

    assert db.read_sync(read) == (2, ["1", "2"], "2")
    assert db.read_sync(lambda: prepared.one(MeetingEvent, meeting_id="M3")) is None


def test_a_query_whose_parameters_are_not_the_given_ones_in_order_is_refused(db: Database) -> None:
    def swapped(meeting_id: str, after: int) -> object:
        return MeetingEvent.select().where(MeetingEvent.id > after, MeetingEvent.meeting_id == meeting_id)

    with pytest.raises(ValueError, match="cannot prepare"):
        db.read_sync(lambda: prepared.select(MeetingEvent, "swapped", swapped, "M1", 0))
