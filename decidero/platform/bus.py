"""Notices between the workers of one install, over Redis pub/sub (DECIDERO_REDIS_URL).

A notice says that something committed to the database changed ("meeting M has events up to id N",
"the settings changed"): receivers read the change itself from the database. So a notice lost while
Redis is away loses no data: after every (re)connection the ``on_connect`` hooks catch up from the
database, which is what the notices would have told them.

Without Redis there is one process, nothing to tell, and ``Bus`` sends nothing; callers act locally
first in both cases (a worker never waits for its own notice to come back).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis import asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

log = logging.getLogger("decidero.bus")

CHANNEL = "decidero:bus:{db}"  # pub/sub ignores database numbers: name the database in the channel
RECONNECT_MIN_SECONDS = 0.2
RECONNECT_MAX_SECONDS = 2.0
OUTBOX_SIZE = 10_000  # notices waiting to be sent; past that they are dropped (receivers catch up)
# Redis calls that answer within a request (login limits, presence) give up after this long, so a
# stalled Redis slows a request by at most this much; callers then fall back to this process's view.
COMMAND_TIMEOUT_SECONDS = 1.0
# A subscription that hears nothing this long is pinged; one silent for three times as long is taken
# for dead (a network path that dropped without a reset would otherwise look connected for ever).
LIVENESS_SECONDS = 5.0

Handler = Callable[[dict[str, Any]], Awaitable[None] | None]
Hook = Callable[[], Awaitable[None]]


def connect(url: str) -> aioredis.Redis:
    """The shared client (a connection pool); decoded strings, bounded waits."""
    return aioredis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=COMMAND_TIMEOUT_SECONDS,
        socket_connect_timeout=COMMAND_TIMEOUT_SECONDS,
        health_check_interval=10,
    )


class Bus:
    def __init__(self, redis: aioredis.Redis | None = None) -> None:
        self.redis = redis
        db = redis.connection_pool.connection_kwargs.get("db", 0) if redis is not None else 0
        self.channel = CHANNEL.format(db=db)
        self.worker_id = secrets.token_hex(6)
        self.connected = False
        self._handlers: dict[str, list[Handler]] = {}
        self._on_connect: list[Hook] = []
        self._outbox: asyncio.Queue[str] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._overflowing = False

    @property
    def shared(self) -> bool:
        """Whether other workers may exist (Redis is configured)."""
        return self.redis is not None

    def on(self, kind: str, handler: Handler) -> None:
        """Call ``handler(data)`` for every ``kind`` notice from another worker."""
        self._handlers.setdefault(kind, []).append(handler)

    def on_connect(self, hook: Hook) -> None:
        """Await ``hook()`` after each (re)subscription: catch up on what was missed meanwhile."""
        self._on_connect.append(hook)

    def tell(self, kind: str, **data: Any) -> None:
        """Send a notice to the other workers without waiting. Dropped while Redis is away or the
        outbox is full: the receivers catch up from the database instead."""
        if self._outbox is None or not self.connected:
            return
        try:
            self._outbox.put_nowait(json.dumps({"k": kind, "w": self.worker_id, "d": data}))
            self._overflowing = False
        except asyncio.QueueFull:
            if not self._overflowing:
                log.warning("Bus outbox full; dropping notices until Redis keeps up (other workers catch up)")
            self._overflowing = True

    def start(self) -> None:
        if self.redis is None:
            return
        self._outbox = asyncio.Queue(OUTBOX_SIZE)
        self._tasks = [asyncio.create_task(self._listen()), asyncio.create_task(self._send())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self.redis is not None:
            await self.redis.aclose()

    async def _send(self) -> None:
        assert self._outbox is not None and self.redis is not None
        while True:
            message = await self._outbox.get()
            try:
                await self.redis.publish(self.channel, message)
            except (RedisError, OSError):
                pass  # the listener notices the outage, and receivers catch up when it ends

    async def _listen(self) -> None:
        """Subscribe, catch up, dispatch; on any failure wait a little and start again."""
        assert self.redis is not None
        delay = RECONNECT_MIN_SECONDS
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self.connected = True
                if delay > RECONNECT_MIN_SECONDS:
                    log.warning("Redis is back; catching up from the database")
                delay = RECONNECT_MIN_SECONDS
                await self._caught_up()
                heard = time.monotonic()
                while True:
                    message = await pubsub.get_message(timeout=LIVENESS_SECONDS)
                    if message is None:
                        if time.monotonic() - heard > 3 * LIVENESS_SECONDS:
                            raise RedisConnectionError("no answer to PING")
                        await pubsub.ping()
                        continue
                    heard = time.monotonic()
                    if message.get("type") == "message":
                        await self._dispatch(message["data"])
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if self.connected or delay == RECONNECT_MIN_SECONDS:
                    log.warning("Redis unreachable (%s); retrying, live events from other workers wait", exc)
                self.connected = False
                await asyncio.sleep(delay)
                delay = min(RECONNECT_MAX_SECONDS, delay * 2)
            finally:
                self.connected = False
                try:
                    await pubsub.aclose()
                except (RedisError, OSError):
                    pass

    async def _caught_up(self) -> None:
        for hook in self._on_connect:
            try:
                await hook()
            except (RedisError, OSError):
                raise
            except Exception:
                log.exception("Catching up after a Redis (re)connection failed")

    async def _dispatch(self, raw: str) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            return
        if message.get("w") == self.worker_id:
            return
        for handler in self._handlers.get(message.get("k"), ()):
            try:
                result = handler(message.get("d") or {})
                if result is not None:
                    await result
            except Exception:
                log.exception("Handling a %s notice failed", message.get("k"))
