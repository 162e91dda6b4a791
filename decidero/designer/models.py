"""The designer's record, per user (SPEC §4.16 audit): conversations, their messages, and every
agenda generation with the model's answers. Readable by the user and admins only; no API key."""

from __future__ import annotations

from peewee import AutoField, BooleanField, CharField, DateTimeField, ForeignKeyField, TextField

from ..platform.db import BaseModel
from ..platform.models import User, utcnow


class DesignerConversation(BaseModel):
    id = CharField(primary_key=True)
    user = ForeignKeyField(User, on_delete="CASCADE", index=True)
    user_id: str
    title = CharField(default="")  # the start of the first message, for the list
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)


class DesignerMessage(BaseModel):
    id = AutoField()
    conversation = ForeignKeyField(DesignerConversation, backref="messages", on_delete="CASCADE")
    conversation_id: str
    role = CharField()  # user | assistant | error (a provider failure, shown but never sent back)
    content = TextField()
    created_at = DateTimeField(default=utcnow)


class DesignerGeneration(BaseModel):
    id = CharField(primary_key=True)
    conversation = ForeignKeyField(DesignerConversation, backref="generations", on_delete="CASCADE")
    conversation_id: str
    created_at = DateTimeField(default=utcnow)
    answers_json = TextField()  # each answer of the model, as it came (the first try and the retry)
    problems_json = TextField()  # what made each answer unusable
    agenda_json = TextField(null=True)  # the validated agenda, or NULL when none could be used
    usable = BooleanField(default=False)
