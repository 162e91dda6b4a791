"""In-process pub/sub between the live engine and this worker's open streams.

Publishing never waits on a subscriber: each subscription has a bounded queue, and one that is full
(a slow or dead client) is closed and dropped instead of slowing everyone else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Protocol

QUEUE_SIZE = 500


@dataclass(frozen=True)
class Viewer:
    """Who a stream belongs to; events choose their fragment from this."""

    user_id: str
    session_key: str
    facilitator: bool


def personal(user_id: str) -> tuple[str, str]:
    """The variant key reserved for one user."""
    return ("user", user_id)


@dataclass(frozen=True)
class Event:
    """One published event with its data pre-rendered per audience.

    ``audience`` maps a viewer to a key of ``variants`` (or None to skip that viewer), so the same
    rendered string is shared by every connection of an audience. A variant keyed
    ``personal(user_id)`` is appended to it for that one user (e.g. totals a voter may see): it
    must replace elements by id, so it wins over the shared fragments. Appending rather than
    replacing keeps it correct when several events are merged into one.
    """

    type: str
    id: int | None
    variants: dict[Hashable, str]
    audience: Callable[[Viewer], Hashable | None]
    # The SSE wire form per audience, encoded by the first connection that needs it.
    _encoded: dict[Hashable, bytes] = field(default_factory=dict, compare=False, repr=False)

    def data_for(self, viewer: Viewer) -> str | None:
        key = self.audience(viewer)
        shared = None if key is None else self.variants.get(key)
        own = self.variants.get(personal(viewer.user_id))
        return shared if own is None else (shared or "") + own

    def encoded_for(self, viewer: Viewer) -> bytes | None:
        """The event as SSE bytes for ``viewer``: one encoding per audience, not per connection."""
        own = personal(viewer.user_id)
        key = own if own in self.variants else self.audience(viewer)
        if key is None:
            return None
        cached = self._encoded.get(key)
        if cached is None:
            data = self.data_for(viewer)
            if data is None:
                return None
            cached = self._encoded[key] = sse_bytes(self.type, self.id, data)
        return cached


def sse_bytes(event: str, event_id: int | None, data: str) -> bytes:
    """One event in the SSE wire format, as sse-starlette writes it (CRLF-separated fields).

    Two C-level replaces instead of a Python loop over the lines of a large fragment.
    """
    head = ("" if event_id is None else f"id: {event_id}\r\n") + f"event: {event}\r\n"
    lines = data.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\ndata: ")
    return f"{head}data: {lines}\r\n\r\n".encode()


@dataclass(eq=False)
class Subscription:
    topic: str
    viewer: Viewer
    queue: asyncio.Queue[Event | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    dropped: bool = False

    def close(self) -> None:
        """End the stream after what is already queued (a revocation notice, say); used on
        revocation and shutdown. A full queue cannot take the end marker: drop it instead."""
        try:
            self.queue.put_nowait(None)
        except asyncio.QueueFull:
            self.dropped = True


class Broker(Protocol):
    def publish(self, topic: str, event: Event) -> None: ...

    def subscribe(self, topic: str, viewer: Viewer) -> Subscription: ...

    def unsubscribe(self, subscription: Subscription) -> None: ...

    def viewers(self, topic: str) -> list[Viewer]: ...


class InProcessBroker:
    """This worker's streams by topic. With several workers each has its own: the live engine
    wakes every worker's publisher with the ids committed anywhere (``LiveEngine.listen``)."""

    def __init__(self, on_drop: Callable[[], None] | None = None) -> None:
        self._topics: dict[str, set[Subscription]] = {}
        self.on_drop = on_drop  # counts streams dropped for a full queue (/metrics)

    def publish(self, topic: str, event: Event) -> None:
        for subscription in list(self._topics.get(topic, ())):
            try:
                subscription.queue.put_nowait(event)
            except asyncio.QueueFull:
                # It cannot keep up: end its stream; the browser reconnects and resyncs.
                self.unsubscribe(subscription)
                subscription.dropped = True
                if self.on_drop is not None:
                    self.on_drop()

    def subscribe(self, topic: str, viewer: Viewer) -> Subscription:
        subscription = Subscription(topic, viewer)
        self._topics.setdefault(topic, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subs = self._topics.get(subscription.topic)
        if subs is not None:
            subs.discard(subscription)
            if not subs:
                del self._topics[subscription.topic]

    def viewers(self, topic: str) -> list[Viewer]:
        return [s.viewer for s in self._topics.get(topic, ())]

    def subscriptions(self, topic: str) -> list[Subscription]:
        return list(self._topics.get(topic, ()))

    def topics(self) -> list[str]:
        return list(self._topics)

    def count(self) -> int:
        """Open subscriptions on every topic (the open streams of this worker)."""
        return sum(len(subs) for subs in self._topics.values())

    def close_all(self) -> None:
        for topic in list(self._topics):
            for subscription in list(self._topics.get(topic, ())):
                subscription.close()
