"""Login failure counting per account and per client address, and guest creation per client address
(SPEC §4.1): in memory, or in Redis shared by every worker."""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from redis import asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("decidero.ratelimit")

TOO_MANY = "Too many login attempts. Please wait before trying again."
TOO_MANY_GUESTS = "Too many guests joined from this address. Please wait before trying again."
# A class or a conference hall joins from behind one address, so the cap is generous: it is there to
# stop a script minting accounts, not a room of people.
GUESTS_PER_ADDRESS = 100
GUEST_WINDOW_SECONDS = 600


def limit_key(account_id: str | None, typed: str) -> str:
    """What failures count against: the account, whichever of its login or email was typed (so
    alternating them gives no extra guesses); the typed text when it names no account."""
    return f"account:{account_id}" if account_id else f"name:{typed}"


@dataclass(frozen=True)
class LimitPolicy:
    enabled: bool
    window_seconds: int
    max_per_username: int
    max_per_ip: int
    lockout_seconds: int


class LoginLimiter:
    """Sliding-window failure counts; reaching a maximum locks that key for the lockout period."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}

    async def retry_after(self, account: str, ip: str, policy: LimitPolicy) -> int:
        """Seconds until a locked key frees up (≥ 1), or 0 when the attempt may proceed."""
        return self.retry_after_now(account, ip, policy)

    def retry_after_now(self, account: str, ip: str, policy: LimitPolicy) -> int:
        if not policy.enabled:
            return 0
        now = self._clock()
        remaining = max(self._locked_until.get(key, 0.0) - now for key in self._keys(account, ip))
        return max(1, math.ceil(remaining)) if remaining > 0 else 0

    async def record_failure(self, account: str, ip: str, policy: LimitPolicy) -> None:
        self.record_failure_now(account, ip, policy)

    def record_failure_now(self, account: str, ip: str, policy: LimitPolicy) -> None:
        if not policy.enabled:
            return
        now = self._clock()
        user_key, ip_key = self._keys(account, ip)
        for key, limit in ((user_key, policy.max_per_username), (ip_key, policy.max_per_ip)):
            window = self._failures.setdefault(key, deque())
            window.append(now)
            while window and window[0] <= now - policy.window_seconds:
                window.popleft()
            if len(window) >= limit:
                self._locked_until[key] = now + policy.lockout_seconds
                window.clear()
        self._forget_stale(now, policy)

    async def record_success(self, account: str) -> None:
        key = self._keys(account, "")[0]
        self._failures.pop(key, None)
        self._locked_until.pop(key, None)

    @staticmethod
    def _keys(account: str, ip: str) -> tuple[str, str]:
        return limited_keys(account, ip)

    def _forget_stale(self, now: float, policy: LimitPolicy) -> None:
        # Bounded memory under a spray of usernames: drop keys with nothing recent.
        if len(self._failures) < 10_000:
            return
        for key in [k for k, w in self._failures.items() if not w or w[-1] <= now - policy.window_seconds]:
            del self._failures[key]
        for key in [k for k, until in self._locked_until.items() if until <= now]:
            del self._locked_until[key]


def limited_keys(account: str, ip: str) -> tuple[str, str]:
    """``account`` comes from ``limit_key``; typed names count ignoring case."""
    return f"user:{account.strip().lower()}", f"ip:{ip}"


# One failure against one key, atomically, on Redis's clock (every worker shares it): add it to the
# key's window, forget what fell out of the window, and lock the key once the window is full.
_RECORD_FAILURE = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local window, limit, lockout = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], ms, ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms - window)
if redis.call('ZCARD', KEYS[1]) >= limit then
  redis.call('SET', KEYS[2], '1', 'PX', lockout)
  redis.call('DEL', KEYS[1])
else
  redis.call('PEXPIRE', KEYS[1], window)
end
return 0
"""
PREFIX = "decidero:login:"


class SharedLoginLimiter:
    """The same rules as ``LoginLimiter``, with the windows and locks in Redis so that every worker
    counts the same failures. While Redis cannot be reached each worker counts on its own (the
    fallback), so a Redis outage weakens the limit to one worker's view instead of disabling login."""

    def __init__(self, redis: aioredis.Redis, online: Callable[[], bool] = lambda: True) -> None:
        """``online`` says whether Redis is reachable now (the bus knows): while it is not, the
        fallback answers at once instead of each request waiting for a connection timeout."""
        self.redis = redis
        self.online = online
        self.fallback = LoginLimiter()
        self._record = redis.register_script(_RECORD_FAILURE)

    async def retry_after(self, account: str, ip: str, policy: LimitPolicy) -> int:
        if not policy.enabled:
            return 0
        if not self.online():
            return self.fallback.retry_after_now(account, ip, policy)
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for key in limited_keys(account, ip):
                    pipe.pttl(PREFIX + "lock:" + key)
                remaining_ms = max(int(ms) for ms in await pipe.execute())
        except (RedisError, OSError) as exc:
            log.warning("Login limits from this worker only: Redis unreachable (%s)", exc)
            return self.fallback.retry_after_now(account, ip, policy)
        return max(1, math.ceil(remaining_ms / 1000)) if remaining_ms > 0 else 0

    async def record_failure(self, account: str, ip: str, policy: LimitPolicy) -> None:
        if not policy.enabled:
            return
        if not self.online():
            self.fallback.record_failure_now(account, ip, policy)
            return
        user_key, ip_key = limited_keys(account, ip)
        try:
            for key, limit in ((user_key, policy.max_per_username), (ip_key, policy.max_per_ip)):
                keys = [PREFIX + "fail:" + key, PREFIX + "lock:" + key]
                args: list[str | int] = [policy.window_seconds * 1000, limit, policy.lockout_seconds * 1000, secrets.token_hex(8)]
                await self._record(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            log.warning("Login limits from this worker only: Redis unreachable (%s)", exc)
            self.fallback.record_failure_now(account, ip, policy)

    async def record_success(self, account: str) -> None:
        key = limited_keys(account, "")[0]
        await self.fallback.record_success(account)
        if not self.online():
            return
        try:
            await self.redis.delete(PREFIX + "fail:" + key, PREFIX + "lock:" + key)
        except (RedisError, OSError) as exc:
            log.warning("Could not clear the login limit in Redis (%s)", exc)


class CreationLimiter:
    """At most ``limit`` creations per key in a sliding window of ``window_seconds``."""

    def __init__(self, limit: int, window_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self._clock = clock
        self._recent: dict[str, deque[float]] = {}

    async def acquire(self, key: str) -> int:
        return self.take(key)

    def take(self, key: str) -> int:
        """Count one creation and answer 0, or the seconds (≥ 1) until one is allowed again. Runs
        on the event loop without awaiting, so two requests cannot both take the last one."""
        now = self._clock()
        recent = self._recent.setdefault(key, deque())
        while recent and recent[0] <= now - self.window_seconds:
            recent.popleft()
        if len(recent) >= self.limit:
            return max(1, math.ceil(recent[0] + self.window_seconds - now))
        recent.append(now)
        if len(self._recent) > 10_000:  # bounded memory: forget addresses with nothing recent
            for stale in [k for k, times in self._recent.items() if not times or times[-1] <= now - self.window_seconds]:
                del self._recent[stale]
        return 0


# One creation against a key, atomically on Redis's clock: forget what left the window, then either
# refuse (answering the milliseconds until the oldest leaves it) or count this one.
_TAKE = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local window, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms - window)
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return tonumber(oldest[2]) + window - ms
end
redis.call('ZADD', KEYS[1], ms, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return 0
"""


class SharedCreationLimiter:
    """``CreationLimiter`` with its windows in Redis, so the cap holds across workers; while Redis
    cannot be reached, each worker counts on its own."""

    def __init__(
        self, redis: aioredis.Redis, name: str, limit: int, window_seconds: float, online: Callable[[], bool] = lambda: True
    ) -> None:
        self.online = online  # as for SharedLoginLimiter
        self.prefix = f"decidero:{name}:"
        self.limit = limit
        self.window_ms = int(window_seconds * 1000)
        self.fallback = CreationLimiter(limit, window_seconds)
        self._take = redis.register_script(_TAKE)

    async def acquire(self, key: str) -> int:
        if not self.online():
            return self.fallback.take(key)
        try:
            args: list[str | int] = [self.window_ms, self.limit, secrets.token_hex(8)]
            wait_ms = int(await self._take(keys=[self.prefix + key], args=args))
        except (RedisError, OSError) as exc:
            log.warning("Creation limits from this worker only: Redis unreachable (%s)", exc)
            return self.fallback.take(key)
        return max(1, math.ceil(wait_ms / 1000)) if wait_ms > 0 else 0
