"""Categorization tables (SPEC §4.11): a board's buckets and items, its lock, and the audit record
of every change. Ids follow SPEC §4.0 (``<activity id>:bucket-N``, ``:item-N``, ``:unsorted``) and
are never reused."""

from __future__ import annotations

from peewee import AutoField, BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField, TextField

from ...meetings.models import Activity
from ...platform.db import BaseModel
from ...platform.models import utcnow


class Bucket(BaseModel):
    """A bucket; "Unsorted Ideas" is the one at position 0 with the id ``<activity id>:unsorted``."""

    id = CharField(primary_key=True)
    activity = ForeignKeyField(Activity, backref="+", on_delete="CASCADE")
    position = IntegerField()
    title = CharField()
    description = TextField(default="")
    activity_id: str

    class Meta:
        indexes = ((("activity", "position"), False),)


class BoardItem(BaseModel):
    """An idea on the board. ``revision`` counts the times it changed place: a move made from an
    older revision was made on a stale view of the board and is refused."""

    id = CharField(primary_key=True)
    activity = ForeignKeyField(Activity, backref="+", on_delete="CASCADE")
    bucket = ForeignKeyField(Bucket, backref="items", on_delete="CASCADE")
    position = IntegerField()
    text = TextField()
    revision = IntegerField(default=0)
    created_at = DateTimeField(default=utcnow)
    activity_id: str
    bucket_id: str

    class Meta:
        indexes = ((("activity", "bucket", "position"), False),)


class BoardState(BaseModel):
    """One row per seeded board: seeded on first start; locked or not."""

    activity = ForeignKeyField(Activity, primary_key=True, backref="+", on_delete="CASCADE")
    locked = BooleanField(default=False)
    activity_id: str


class BoardAudit(BaseModel):
    """Who changed what and when (SPEC §4.11), written in the change's own transaction."""

    id = AutoField()
    activity = ForeignKeyField(Activity, backref="+", on_delete="CASCADE")
    actor_id = CharField(null=True)
    actor_name = CharField(default="")
    at = DateTimeField(default=utcnow)
    operation = CharField()
    subject = CharField(default="")  # the item or bucket id
    subject_text = TextField(default="")  # its text or title at the time
    from_value = TextField(default="")
    to_value = TextField(default="")
    activity_id: str
