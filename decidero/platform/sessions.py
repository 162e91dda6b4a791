"""Server-side sessions behind signed cookies, and CSRF tokens bound to them.

The cookie carries a random 256-bit id signed with the secret; the database keeps only its sha256,
so sessions survive restarts and are revoked by flipping a flag.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, Signer

from .models import User, UserSession, utcnow
from .prepared import one

SESSION_COOKIE = "decidero_session"
PRESESSION_COOKIE = "decidero_presession"
# Marks the CSRF token of a signed-in page. A request carrying one without a live session comes from
# a page whose session has ended (expired, revoked, or its cookie deleted): the user is told so.
SIGNED_IN_TOKEN_PREFIX = "s."
LAST_SEEN_INTERVAL = timedelta(minutes=1)


def _digest(raw_id: str) -> str:
    return hashlib.sha256(raw_id.encode()).hexdigest()


@dataclass(frozen=True)
class Signing:
    """Everything signed with DECIDERO_JWT_SECRET_KEY under the DECIDERO_JWT_ISSUER salt."""

    secret: str
    issuer: str

    def _signer(self, purpose: str) -> Signer:
        return Signer(self.secret, salt=f"{self.issuer}.{purpose}")

    def sign_session(self, raw_id: str) -> str:
        return self._signer("session").sign(raw_id).decode()

    def unsign_session(self, cookie: str) -> str | None:
        """The session's database key, or None for a forged or foreign cookie."""
        try:
            return _digest(self._signer("session").unsign(cookie).decode())
        except BadSignature:
            return None

    def sign_presession(self, raw_id: str) -> str:
        return self._signer("presession").sign(raw_id).decode()

    def unsign_presession(self, cookie: str) -> str | None:
        try:
            return self._signer("presession").unsign(cookie).decode()
        except BadSignature:
            return None

    def csrf_token(self, binding: str, signed_in: bool = False) -> str:
        key = f"{self.issuer}.csrf:{self.secret}".encode()
        token = hmac.new(key, binding.encode(), hashlib.sha256).hexdigest()
        return SIGNED_IN_TOKEN_PREFIX + token if signed_in else token

    def csrf_valid(self, binding: str | None, token: str | None) -> bool:
        if not binding or not token:
            return False
        return hmac.compare_digest(self.csrf_token(binding), token.removeprefix(SIGNED_IN_TOKEN_PREFIX))


def from_signed_in_page(token: str | None) -> bool:
    """The token was issued to a page rendered inside a session (it proves nothing else)."""
    return bool(token) and str(token).startswith(SIGNED_IN_TOKEN_PREFIX)


def new_raw_id() -> str:
    return secrets.token_urlsafe(32)


def create_session(user: User, ip: str, user_agent: str) -> str:
    """Insert a session row (call on the write path); returns the raw id for the cookie."""
    raw_id = new_raw_id()
    UserSession.create(id=_digest(raw_id), user=user, ip=ip[:64], user_agent=user_agent[:300])
    return raw_id


def find_session(key: str, lifetime_minutes: int) -> tuple[UserSession, User] | None:
    """A live session and its active user (read path); None when revoked, expired or unknown."""
    row = one(UserSession, id=key, revoked=False)
    user = one(User, id=row.user_id) if row is not None else None
    if row is None or user is None or not user.is_active or user.is_deleted:
        return None
    if row.created_at + timedelta(minutes=lifetime_minutes) <= utcnow():
        return None
    row.user = user
    return row, user


def needs_touch(session: UserSession, now: datetime) -> bool:
    return now - session.last_seen_at >= LAST_SEEN_INTERVAL


def touch(key: str) -> None:
    UserSession.update(last_seen_at=utcnow()).where(UserSession.id == key).execute()


def revoke(key: str) -> None:
    UserSession.update(revoked=True).where(UserSession.id == key).execute()


def revoke_all(user_id: str, except_key: str | None = None) -> int:
    query = UserSession.update(revoked=True).where(UserSession.user == user_id, UserSession.revoked == False)  # noqa: E712
    if except_key:
        query = query.where(UserSession.id != except_key)
    return query.execute()
