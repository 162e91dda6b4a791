"""Who has a stream open in a meeting on any worker, kept in Redis (DECIDERO_REDIS_URL).

Each worker counts its own streams (``live.Presence``) and records here only which users it holds:
one sorted set per meeting, member ``user|worker``, scored with a deadline that the worker pushes
forward every HEARTBEAT_SECONDS. A worker that dies stops pushing, and its users drop out of the list
after EXPIRY_SECONDS instead of staying "present" for ever. A per-user hash (worker → deadline) lets
one atomic script answer "was this user anywhere else?" on join and leave, so a person with tabs on
two workers is announced as joining once and as leaving once.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from redis import asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

HEARTBEAT_SECONDS = 10.0
EXPIRY_SECONDS = 30.0
PREFIX = "decidero:presence:"

# KEYS: the meeting's set, the user's hash. ARGV: worker, member, now, deadline, ttl.
# Returns 1 when no other worker held the user (this is a join for the meeting).
_JOIN = """
local elsewhere = 0
local held = redis.call('HGETALL', KEYS[2])
for i = 1, #held, 2 do
  if held[i] ~= ARGV[1] and tonumber(held[i + 1]) > tonumber(ARGV[3]) then elsewhere = 1 end
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[5])
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1 - elsewhere
"""
# Same keys and arguments; returns 1 when no other worker still holds the user (a leave).
_LEAVE = """
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[2])
local held = redis.call('HGETALL', KEYS[2])
for i = 1, #held, 2 do
  if tonumber(held[i + 1]) > tonumber(ARGV[3]) then return 0 end
end
return 1
"""


class SharedPresence:
    def __init__(self, redis: aioredis.Redis, worker_id: str, online: Callable[[], bool] = lambda: True) -> None:
        """``online``: whether Redis is reachable now; while not, calls fail at once (callers fall
        back to this worker's view) instead of waiting for a connection timeout."""
        self.redis = redis
        self.worker_id = worker_id
        self.online = online
        self._join = redis.register_script(_JOIN)
        self._leave = redis.register_script(_LEAVE)

    def _keys(self, meeting_id: str, user_id: str) -> tuple[list[str], str]:
        keys = [f"{PREFIX}{meeting_id}", f"{PREFIX}{meeting_id}:{user_id}"]
        return keys, f"{user_id}|{self.worker_id}"

    def _check(self) -> None:
        if not self.online():
            raise RedisConnectionError("Redis is away")

    def _args(self, member: str) -> list[str | float]:
        now = time.time()
        return [self.worker_id, member, now, now + EXPIRY_SECONDS, int(EXPIRY_SECONDS * 2)]

    async def join(self, meeting_id: str, user_id: str) -> bool:
        """Record that this worker holds ``user_id``; True when no other worker did."""
        self._check()
        keys, member = self._keys(meeting_id, user_id)
        return bool(await self._join(keys=keys, args=self._args(member)))

    async def leave(self, meeting_id: str, user_id: str) -> bool:
        """This worker no longer holds ``user_id``; True when no other worker does either."""
        self._check()
        keys, member = self._keys(meeting_id, user_id)
        return bool(await self._leave(keys=keys, args=self._args(member)))

    async def present(self, meeting_id: str) -> set[str]:
        self._check()
        members = await self.redis.zrangebyscore(f"{PREFIX}{meeting_id}", time.time(), "+inf")
        return {str(member).rpartition("|")[0] for member in members}

    async def refresh(self, held: dict[str, set[str]]) -> None:
        """Push the deadlines of every user this worker holds (meeting → users) forward; also puts
        them back after Redis lost its data (a restart without persistence)."""
        self._check()
        now = time.time()
        deadline = now + EXPIRY_SECONDS
        ttl = int(EXPIRY_SECONDS * 2)
        async with self.redis.pipeline(transaction=False) as pipe:
            for meeting_id, users in held.items():
                if not users:
                    continue
                key = f"{PREFIX}{meeting_id}"
                pipe.zadd(key, {f"{u}|{self.worker_id}": deadline for u in users})
                pipe.zremrangebyscore(key, "-inf", now)  # members of workers that stopped
                pipe.expire(key, ttl)
                for user_id in users:
                    pipe.hset(f"{key}:{user_id}", self.worker_id, deadline)
                    pipe.expire(f"{key}:{user_id}", ttl)
            await pipe.execute()
