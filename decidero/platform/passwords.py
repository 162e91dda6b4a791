"""Password rules and hashing (scrypt from the standard library; ~35–60 ms, run off the event loop).

Hashing runs on ``Hasher``: as many threads as cores, and a bounded number of jobs waiting for them.
hashlib's scrypt releases the GIL, so threads hash in parallel on every core (measured: two threads
hash twice as fast as one) without the start-up, memory and shutdown cost of worker processes. When
a crowd signs in faster than the cores can hash, the jobs past the bound are refused at once with
503 and ``Retry-After`` (the login page retries by itself) instead of queueing for tens of seconds.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import os
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from .errors import BUSY_MESSAGE, Refused

T = TypeVar("T")
# Jobs allowed to wait per hashing thread: at ~50 ms each, about 0.8 s of queue at most.
WAITING_PER_THREAD = 16
RETRY_AFTER_SECONDS = 1
# How far hashing threads yield the cores (Linux thread niceness, added to the process's), where
# the app asks for it: on SQLite, so that scrypt on every core does not keep the event loop waiting
# for one while a crowd signs in (viewers N = 5,000, README). Not beside Postgres: its backends
# then took the cores from the hashing, and sign-ins were refused as busy (160 of 1,021).
HASH_NICENESS = 10

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


def _lower_priority(niceness: int) -> None:
    """Lower this thread's priority (Linux applies PRIO_PROCESS with a thread id to that thread
    alone); where that is not possible it runs at normal priority."""
    try:
        thread = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread, os.getpriority(os.PRIO_PROCESS, thread) + niceness)
    except (AttributeError, OSError):
        pass


class Hasher:
    """Hashing and verifying off the event loop, on a bounded pool (one per app; ``close`` at shutdown)."""

    def __init__(self, threads: int | None = None, waiting_per_thread: int = WAITING_PER_THREAD, niceness: int = 0) -> None:
        self.threads = threads or os.cpu_count() or 1
        self.capacity = self.threads * (1 + waiting_per_thread)
        self.in_flight = 0  # jobs submitted and not yet finished on their thread
        self._lock = threading.Lock()
        lower = functools.partial(_lower_priority, niceness) if niceness else None
        self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="hash", initializer=lower)

    async def hash(self, password: str) -> str:
        return await self._run(hash_password, password)

    async def verify(self, password: str, stored: str | None) -> bool:
        return await self._run(verify_password, password, stored)

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        with self._lock:
            if self.in_flight >= self.capacity:
                raise Refused(BUSY_MESSAGE, 503, {"Retry-After": str(RETRY_AFTER_SECONDS)})
            self.in_flight += 1
        future = self._pool.submit(fn, *args)
        # Freed when the hash ends on its thread, not when a busy event loop gets back to this
        # request: a slot must not look taken while its thread is already idle.
        future.add_done_callback(self._release)
        return await asyncio.wrap_future(future)

    def _release(self, _future: object) -> None:
        with self._lock:
            self.in_flight -= 1

    def close(self) -> None:
        """Drop waiting jobs; a hash already running finishes within a tenth of a second."""
        self._pool.shutdown(wait=False, cancel_futures=True)
