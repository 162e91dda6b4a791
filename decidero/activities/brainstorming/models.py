"""Brainstorming tables: ideas and their one level of comments (SPEC §4.8)."""

from __future__ import annotations

from peewee import (
    AutoField,
    BooleanField,
    CharField,
    CompositeKey,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    TextField,
)

from ...meetings.models import Activity, Meeting
from ...platform.db import BaseModel
from ...platform.models import User, utcnow


class Idea(BaseModel):
    """An idea (``sub`` 0, shown as ``n``) or a comment on idea ``n`` (shown as ``n.sub``).

    The author is stored even in anonymous rounds (caps, edit-own) and must never be shown there;
    ``author_name`` is the display name at creation (empty in anonymous rounds), or a label such as
    "From “Ideas”" for transferred ideas. Those also name their donor item in the ``source_*``
    fields; the engine's provenance record (``meetings.provenance``) holds the labels and chains.
    """

    id = AutoField()
    activity = ForeignKeyField(Activity, backref="ideas", on_delete="CASCADE")
    number = IntegerField()
    sub = IntegerField(default=0)
    parent = ForeignKeyField("self", null=True, backref="comments", on_delete="CASCADE")
    author = ForeignKeyField(User, null=True, on_delete="SET NULL")
    author_name = CharField(default="")
    content = TextField()
    created_at = DateTimeField(default=utcnow)
    edited = BooleanField(default=False)
    hidden = BooleanField(default=False)
    source_meeting_id = CharField(null=True)
    source_activity_id = CharField(null=True)
    source_item_id = CharField(null=True)
    activity_id: str
    parent_id: int | None
    author_id: str | None

    class Meta:
        indexes = (
            (("activity", "number", "sub"), True),
            (("activity", "author"), False),
            # The facilitators' "Transfer Ideas (N)" count, on every publish: counted in the index.
            (("activity", "sub", "hidden"), False),
        )

    @property
    def label(self) -> str:
        """The number users see: "5" for an idea, "5.2" for its second comment."""
        return f"{self.number}.{self.sub}" if self.sub else str(self.number)

    @property
    def is_comment(self) -> bool:
        return self.sub > 0


class BoardPreference(BaseModel):
    """How one user reads the boards of one meeting: newest ideas first (the default) or oldest."""

    user = ForeignKeyField(User, on_delete="CASCADE")
    meeting = ForeignKeyField(Meeting, on_delete="CASCADE")
    oldest_first = BooleanField(default=False)

    class Meta:
        primary_key = CompositeKey("user", "meeting")
