"""One-time submission keys (SPEC §4.8, §5.3): a retried create returns the first result.

The check and the insert run in the caller's write transaction, and write transactions are
serializable (SQLite's single writer; on Postgres a meeting's writes take turns, the others run
SERIALIZABLE and again on a conflict), so a concurrent duplicate simply finds the first one's record.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from peewee import CharField, DateTimeField, TextField

from .db import BaseModel, replace
from .errors import Conflict, Refused
from .models import utcnow
from .prepared import one

MAX_KEY_LENGTH = 128
LIFETIME = timedelta(hours=48)
PAYLOAD_MISMATCH = "Idempotency key was already used with a different request payload."


class IdempotencyRecord(BaseModel):
    scope = CharField()  # "<meeting>:<activity>:<user>:<operation>"
    key = CharField()
    payload_hash = CharField()
    result_json = TextField()
    created_at = DateTimeField(default=utcnow, index=True)

    class Meta:
        indexes = ((("scope", "key"), True),)


def scope_for(meeting_id: str, activity_id: str, user_id: str, operation: str) -> str:
    return f"{meeting_id}:{activity_id}:{user_id}:{operation}"


def _hash(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def check_key(key: str | None) -> str | None:
    key = (key or "").strip()
    if len(key) > MAX_KEY_LENGTH:
        raise Refused(f"Idempotency keys are at most {MAX_KEY_LENGTH} characters.", 400)
    return key or None


def replayed(scope: str, key: str | None, payload: Any) -> dict[str, Any] | None:
    """The stored result of an earlier request with this key (write path), or None.

    Raises Conflict when the key was used with a different payload.
    """
    if not key:
        return None
    record = one(IdempotencyRecord, scope=scope, key=key)
    if record is None or record.created_at <= utcnow() - LIFETIME:
        return None
    if record.payload_hash != _hash(payload):
        raise Conflict(PAYLOAD_MISMATCH)
    result: dict[str, Any] = json.loads(record.result_json)
    return result


def remember(scope: str, key: str | None, payload: Any, result: dict[str, Any]) -> None:
    if key:
        replace(
            IdempotencyRecord,
            scope=scope, key=key, payload_hash=_hash(payload), result_json=json.dumps(result), created_at=utcnow(),
        )


def purge_expired() -> int:
    return IdempotencyRecord.delete().where(IdempotencyRecord.created_at <= utcnow() - LIFETIME).execute()


def delete_for_activity(meeting_id: str, activity_id: str) -> None:
    IdempotencyRecord.delete().where(IdempotencyRecord.scope.startswith(f"{meeting_id}:{activity_id}:")).execute()
