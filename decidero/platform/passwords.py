"""Password rules and hashing (scrypt from the standard library; ~60 ms, run off the event loop)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SPECIAL_CHARACTERS = '!@#$%^&*(),.?":{}|<>'
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


def password_problems(password: str) -> list[str]:
    """Every rule the password breaks, each with its own message (SPEC §6)."""
    password = password.strip()
    problems = []
    if len(password) < 8:
        problems.append("Password must be at least 8 characters long")
    if len(password) > 128:
        problems.append("Password must be at most 128 characters long")
    if not any(c.isupper() for c in password):
        problems.append("Password must contain at least one uppercase letter")
    if not any(c.islower() for c in password):
        problems.append("Password must contain at least one lowercase letter")
    if not any(c.isdigit() for c in password):
        problems.append("Password must contain at least one number")
    if not any(c in SPECIAL_CHARACTERS for c in password):
        problems.append("Password must contain at least one special character")
    return problems


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.strip().encode(), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _derive(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    encoded = [base64.b64encode(part).decode() for part in (salt, digest)]
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${encoded[0]}${encoded[1]}"


def verify_password(password: str, stored: str | None) -> bool:
    if not stored:
        return False
    try:
        _, n, r, p, salt, digest = stored.split("$")
        expected = base64.b64decode(digest)
        actual = _derive(password, base64.b64decode(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


# Verifying against this keeps the timing of "unknown user" equal to "wrong password".
DUMMY_HASH = hash_password("Dummy-Passw0rd!")
