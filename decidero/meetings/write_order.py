"""Writes sent from a meeting's pages queue on that meeting's log before they begin (Postgres).

Nearly every write to a meeting ends by recording an event under the meeting's lock
(``event_log.record``), and most also take numbers from the meeting's sequences. On Postgres,
writers of one meeting that started together would collide there and run again; holding the
meeting's key from the start makes them wait their turn instead, as SQLite's single writer does,
while other meetings' writes go on. SQLite ignores the key.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from starlette.types import ASGIApp, Receive, Scope, Send

from ..platform.db import write_order
from .event_log import log_key

PREFIX = "/meeting/"


class MeetingWriteOrder:
    """ASGI middleware: requests under ``/meeting/<meeting id>/`` write in that meeting's order."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        meeting_id = path[len(PREFIX) :].split("/", 1)[0] if path.startswith(PREFIX) else ""
        if not meeting_id.startswith("MTG"):  # /meeting/create, /meeting/join …
            await self.app(scope, receive, send)
            return
        with meeting_order(meeting_id):
            await self.app(scope, receive, send)


@contextmanager
def meeting_order(meeting_id: str | None) -> Iterator[None]:
    """Writes sent inside take the meeting's turn, as those from its pages do; for a write to a
    meeting from elsewhere (a join names its meeting by code). Every write that checks a meeting's
    rows before changing them must take it: on Postgres the turn is what keeps them consistent."""
    if meeting_id is None:
        yield
        return
    token = write_order.set(log_key(meeting_id))
    try:
        yield
    finally:
        write_order.reset(token)
