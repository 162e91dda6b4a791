"""Account tables: users, server-side sessions and runtime settings."""

from __future__ import annotations

from datetime import UTC, datetime

from peewee import BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField, TextField

from .db import BaseModel

ROLES = ("participant", "facilitator", "admin", "super_admin")


def utcnow() -> datetime:
    """Naive UTC timestamp: what every DateTimeField stores."""
    return datetime.now(UTC).replace(tzinfo=None)


class User(BaseModel):
    id = CharField(primary_key=True)
    # NULL once the account is deleted, so the login and e-mail can be reused.
    login = CharField(null=True, unique=True)
    email = CharField(null=True, unique=True)
    first_name = CharField(default="")
    last_name = CharField(default="")
    display_name = CharField()
    organisation = CharField(default="")
    about = TextField(default="")
    role = CharField(default="participant", index=True)
    password_hash = CharField(null=True)
    is_active = BooleanField(default=True)
    is_deleted = BooleanField(default=False)
    is_guest = BooleanField(default=False)
    must_change_password = BooleanField(default=False)
    avatar_color = CharField()
    avatar_emoji = CharField(null=True)
    avatar_seed = IntegerField(default=0)
    created_at = DateTimeField(default=utcnow)

    @property
    def is_admin(self) -> bool:
        return self.role in ("admin", "super_admin")

    @property
    def is_facilitator(self) -> bool:
        return self.role in ("facilitator", "admin", "super_admin")

    @property
    def initials(self) -> str:
        words = [w for w in self.display_name.split() if w[:1].isalnum()]
        letters = "".join(w[0] for w in words[:2]) or self.display_name[:1] or "?"
        return letters.upper()


class UserSession(BaseModel):
    # sha256 of the random id in the cookie: a copy of the database alone cannot forge a cookie.
    id = CharField(primary_key=True)
    user = ForeignKeyField(User, backref="sessions", on_delete="CASCADE")
    user_id: str
    created_at = DateTimeField(default=utcnow)
    last_seen_at = DateTimeField(default=utcnow)
    ip = CharField(default="")
    user_agent = CharField(default="")
    revoked = BooleanField(default=False, index=True)


class RuntimeSetting(BaseModel):
    key = CharField(primary_key=True)
    value = TextField()  # JSON
    updated_at = DateTimeField(default=utcnow)
    updated_by = CharField(null=True)


class SchemaVersion(BaseModel):
    version = IntegerField()
