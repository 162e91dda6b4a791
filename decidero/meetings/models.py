"""Meeting tables: meetings, rosters, agenda activities, sub-rosters, id counters, the event log."""

from __future__ import annotations

import json
from typing import Any

from peewee import (
    AutoField,
    BooleanField,
    CharField,
    DateTimeField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    TextField,
)

from ..platform.db import BaseModel
from ..platform.models import User, utcnow


class Meeting(BaseModel):
    id = CharField(primary_key=True)  # MTG<YYYYMMDD>-<4 base36>, also the join code
    title = CharField()
    description = TextField(default="")
    scheduled_start = DateTimeField(null=True)
    duration_minutes = IntegerField(default=60)
    owner = ForeignKeyField(User, backref="owned_meetings")
    owner_id: str
    # The short join code: 6 digits, unique among meetings that are not archived (SPEC §4.5 extension,
    # a partial unique index backs it). Null for meetings made before codes existed, until regenerated.
    join_code = CharField(null=True)
    open_join = BooleanField(default=True)
    archived = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)


class MeetingMember(BaseModel):
    """A rostered participant or a co-facilitator (the owner is on Meeting)."""

    meeting = ForeignKeyField(Meeting, backref="members", on_delete="CASCADE")
    user = ForeignKeyField(User, backref="memberships", on_delete="CASCADE")
    role = CharField(default="participant")  # participant | cofacilitator
    meeting_id: str
    user_id: str
    added_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("meeting", "user"), True),)


class Activity(BaseModel):
    id = CharField(primary_key=True)  # <meeting id>-<STEM>-<NNNN>
    meeting = ForeignKeyField(Meeting, backref="activities", on_delete="CASCADE")
    position = IntegerField()
    type = CharField()
    title = CharField()
    instructions = TextField(default="")
    config_json = TextField(default="{}")
    state = CharField(default="not_started")  # not_started | running | paused | stopped
    segment_started_at = DateTimeField(null=True)
    elapsed_seconds = FloatField(default=0.0)
    time_limit_minutes = IntegerField(null=True)
    auto_stop = BooleanField(default=False)
    started_at = DateTimeField(null=True)
    stopped_at = DateTimeField(null=True)
    roster_mode = CharField(default="all")  # all | custom
    results_published = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow)
    meeting_id: str

    @property
    def config(self) -> dict[str, Any]:
        return json.loads(self.config_json or "{}")

    @config.setter
    def config(self, value: dict[str, Any]) -> None:
        self.config_json = json.dumps(value)


class ActivityRosterEntry(BaseModel):
    activity = ForeignKeyField(Activity, backref="roster_entries", on_delete="CASCADE")
    user = ForeignKeyField(User, on_delete="CASCADE")
    activity_id: str
    user_id: str

    class Meta:
        indexes = ((("activity", "user"), True),)


class IdCounter(BaseModel):
    """Sequences that are never reused: meeting ids per day, activity ids per meeting and stem."""

    scope = CharField(primary_key=True)
    last = IntegerField(default=0)


class MeetingEvent(BaseModel):
    """The persisted per-meeting event log; its id is the SSE ``id:`` (SPEC §4.14)."""

    id = AutoField()
    meeting_id = CharField(index=True)
    type = CharField()
    activity_id = CharField(null=True)
    actor_id = CharField(null=True)
    summary = TextField(default="")
    payload_json = TextField(default="{}")
    created_at = DateTimeField(default=utcnow)

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.payload_json or "{}")


class Provenance(BaseModel):
    """Where one idea, option or item created by a transfer (or a second round) came from (SPEC §4.12).

    One row per created thing: the target activity and the thing's ref there, and the source
    meeting, activity and item ref with snapshots of the donor's title and the item's label and
    text, so a chain can be followed back across any number of hops even after a donor is edited
    or deleted. ``parts_json`` lists the donor refs folded into it (a bucket's items in a rollup).
    No author is ever stored: anonymity survives every transfer.
    """

    id = AutoField()
    meeting_id = CharField(index=True)
    activity_id = CharField()
    ref = CharField()
    source_meeting_id = CharField()
    source_activity_id = CharField()
    source_title = CharField()
    source_ref = CharField()
    source_label = CharField()
    source_text = TextField(default="")
    parts_json = TextField(default="[]")
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("activity_id", "ref"), True),)

    @property
    def parts(self) -> list[str]:
        value: list[str] = json.loads(self.parts_json or "[]")
        return value


class TransferDraft(BaseModel):
    """A donor's transfer draft (SPEC §4.12), restored exactly when the page is reopened."""

    donor_id = CharField(primary_key=True)
    meeting_id = CharField(index=True)
    data_json = TextField()
    updated_at = DateTimeField(default=utcnow)
    updated_by = CharField(null=True)

    @property
    def data(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.data_json or "{}")
        return value


class ActivityRound(BaseModel):
    """A second (third, …) round: a fresh activity run again after ``previous`` (its round ``number``)."""

    activity_id = CharField(primary_key=True)
    previous_id = CharField(index=True)
    meeting_id = CharField(index=True)
    number = IntegerField()
