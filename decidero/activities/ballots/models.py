"""Tables of dot voting and rank-order voting. Options and ideas live in the activity's config with
stable ids (``<activity id>:opt-N``); these tables hold what participants submitted."""

from __future__ import annotations

import json

from peewee import CharField, DateTimeField, ForeignKeyField, IntegerField, TextField

from ...meetings.models import Activity
from ...platform.db import BaseModel
from ...platform.models import User, utcnow


class VoteAllocation(BaseModel):
    """One user's dots on one option (rows with a count above zero only)."""

    activity = ForeignKeyField(Activity, backref="vote_allocations", on_delete="CASCADE")
    user = ForeignKeyField(User, backref="+", on_delete="CASCADE")
    option_id = CharField()
    count = IntegerField()
    recorded_by = ForeignKeyField(User, backref="+", null=True, on_delete="SET NULL")  # a facilitator, for someone in the room
    updated_at = DateTimeField(default=utcnow)
    activity_id: str
    user_id: str
    recorded_by_id: str | None

    class Meta:
        indexes = ((("activity", "user", "option_id"), True),)


class Ranking(BaseModel):
    """One user's complete order of an activity's ideas."""

    activity = ForeignKeyField(Activity, backref="rankings", on_delete="CASCADE")
    user = ForeignKeyField(User, backref="+", on_delete="CASCADE")
    order_json = TextField()
    recorded_by = ForeignKeyField(User, backref="+", null=True, on_delete="SET NULL")
    submitted_at = DateTimeField(default=utcnow)
    activity_id: str
    user_id: str
    recorded_by_id: str | None

    class Meta:
        indexes = ((("activity", "user"), True),)

    @property
    def order(self) -> list[str]:
        value: list[str] = json.loads(self.order_json or "[]")
        return value
