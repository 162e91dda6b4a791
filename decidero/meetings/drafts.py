"""Server-side drafts of a new meeting (SPEC §4.16 "Edit in Meeting Creator"): a plan someone else
prepared (the AI designer) opens in the create form, pre-filled, and nothing exists until it is saved.

The draft keeps what the create form has no fields for: each planned activity's config and time
limit. The form carries the draft's id and, per agenda row, which planned activity the row came from;
saving applies a row's config only while the row keeps that activity's type.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from peewee import CharField, DateTimeField, ForeignKeyField, TextField

from ..platform.db import BaseModel
from ..platform.models import User, utcnow
from .lifecycle import PlannedActivity


class MeetingDraft(BaseModel):
    id = CharField(primary_key=True)
    owner = ForeignKeyField(User, on_delete="CASCADE")
    owner_id: str
    created_at = DateTimeField(default=utcnow)
    payload_json = TextField()


@dataclass(frozen=True)
class Draft:
    """What the create form opens with: details and the planned activities, in order."""

    id: str
    title: str
    description: str
    duration_minutes: int
    activities: list[PlannedActivity]

    def row_plan(self, ref: str, type_name: str) -> PlannedActivity | None:
        """The planned activity a form row came from (``ref`` is its 1-based number), if the row
        still has its type."""
        index = int(ref) - 1 if ref.isascii() and ref.isdigit() else -1
        planned = self.activities[index] if 0 <= index < len(self.activities) else None
        return planned if planned is not None and planned.type == type_name else None


def save_draft(owner: User, title: str, description: str, duration_minutes: int, activities: list[PlannedActivity]) -> str:
    """Store a draft for ``owner`` (write path); returns its id."""
    payload = {
        "title": title,
        "description": description,
        "duration_minutes": duration_minutes,
        "activities": [
            {
                "type": a.type,
                "title": a.title,
                "instructions": a.instructions,
                "config": a.config,
                "time_limit_minutes": a.time_limit_minutes,
            }
            for a in activities
        ],
    }
    draft_id = uuid.uuid4().hex
    MeetingDraft.create(id=draft_id, owner=owner.id, payload_json=json.dumps(payload))
    return draft_id


def load_draft(owner: User, draft_id: str) -> Draft | None:
    """The owner's draft (read path); None for anyone else's or an unknown id."""
    row = MeetingDraft.get_or_none(MeetingDraft.id == draft_id, MeetingDraft.owner == owner.id)
    if row is None:
        return None
    payload: dict[str, Any] = json.loads(row.payload_json)
    activities = [
        PlannedActivity(a["type"], a["title"], a["instructions"], a.get("config") or {}, a.get("time_limit_minutes"))
        for a in payload["activities"]
    ]
    return Draft(row.id, payload["title"], payload["description"], int(payload["duration_minutes"]), activities)
