"""The live engine: render each event once per audience, publish it, stream it, replay what was missed.

Flow: a route commits a change together with its event-log record, then calls ``announce``. The
event's fragments are rendered on a reader thread once per audience among the connected viewers
(facilitators, or participants sharing the same activity scope) and published on the meeting's topic.
Streams hold no database connection or thread while they wait: only an asyncio queue.

Several workers (DECIDERO_REDIS_URL) each hold their own streams. Each tells the others the ids it
commits (``Bus``), and each worker's publisher reads the committed rows after the last id it published
from the log: order and gaps are the log's business, Redis only carries the wake-up. After Redis comes
back, every worker catches up from the log (``catch_up``); while it is away, each polls the log
every second, and every few seconds even while it is there.

Who may read a stream is judged when it opens and again whenever that can change (``recheck``,
called by every write path that changes a role, a roster, co-facilitators or ownership), and a
session's streams end the moment it expires (``_watch_expiry``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Hashable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from itertools import groupby
from typing import Any

import anyio
from jinja2 import Environment
from redis.exceptions import RedisError
from sse_starlette import ServerSentEvent
from starlette.types import Message, Send

from ..platform.bus import Bus
from ..platform.errors import NotFound
from ..platform.models import User, utcnow
from ..platform.prepared import one
from ..platform.sessions import find_session
from ..platform.web import NOTICES, Services
from . import event_log, run_control
from .access import REVOKED, access_for
from .activity_types import event_builder, get_type, over_replay_limit
from .broker import Event, InProcessBroker, Subscription, Viewer, personal
from .models import Meeting, MeetingEvent
from .room import FACILITATOR_AUDIENCE, RoomState, load_room, panel_values, region_values
from .shared_presence import HEARTBEAT_SECONDS, SharedPresence

log = logging.getLogger("decidero.live")

REPLAY_LIMIT = 500
PRESENCE_GRACE_SECONDS = 10.0
# Joins and leaves are gathered for a window that grows with the streams to tell (half a second up
# to 500, a second per thousand beyond, at most 5 s): every presence event is one write to every
# stream, and a crowd arriving would otherwise keep the event loop writing "Present (N)".
PRESENCE_WINDOW_SECONDS = 0.5
PRESENCE_WINDOW_PER_STREAM = 0.001
PRESENCE_WINDOW_MAX = 5.0
PRESENCE_CACHE_SECONDS = 0.5  # how old another worker's presence may be on a page or a stream's opening
PRESENCE_CACHE_MEETINGS = 1024
TICK_SECONDS = 1.0
CATCH_UP_SECONDS = 5.0  # with Redis: how often each worker also reads the log for missed notices
PING_SECONDS = 15
RETRY_MS = 3000
# A client that stops reading (a phone gone to sleep mid-send) ends its stream after this long,
# instead of holding a send, and with it the stream's task, forever. It reconnects and replays.
SEND_TIMEOUT_SECONDS = 15.0
MAX_STREAMS_PER_SESSION = 10
# Publishing windows per meeting (see LiveEngine._publisher): 0.25 ms per connected stream, bounded.
# A publish costs about 50 µs of the event loop per stream, so a window of at least five times that
# keeps fan-out to a fifth of the loop or less: 250 ms at 1,000 streams, 600 ms from 2,400 up.
PUBLISH_WINDOW_MIN = 0.02
PUBLISH_WINDOW_MAX = 0.6
PUBLISH_WINDOW_PER_VIEWER = 0.00025
DRAIN_LIMIT = 64  # events joined into one write for a stream that fell behind

REGION_TEMPLATES = {
    "header": "_partials/meeting_header.html",
    "presence": "_partials/presence.html",
    "agenda": "_partials/agenda.html",
    "switcher": "_partials/switcher.html",
    "panels": "_partials/panels.html",
    "reveal": "_partials/reveal.html",
}
# Which regions each event re-renders; "panel"/"panel_head" mean the event's own activity.
REGIONS_FOR: dict[str, tuple[str, ...]] = {
    "activity_state": ("agenda", "switcher", "reveal", "panel"),
    "activity_roster": ("agenda", "switcher", "reveal", "panel"),
    "agenda_changed": ("agenda", "switcher", "reveal", "panels"),
    "results_published": ("agenda", "switcher", "reveal", "panel"),
    "presence": ("presence", "agenda"),
    "meeting_updated": ("header",),
    "roster_changed": ("header", "presence", "agenda", "switcher", "reveal", "panels"),
}
# Pause, resume, extend and time-up leave the panel's body (and anything typed in it) alone.
HEAD_ONLY_ACTIONS = {"pause", "resume", "extend", "time_up"}


def render_regions(
    env: Environment, state: RoomState, audience: Hashable, regions: tuple[str, ...], activity_id: str | None
) -> str:
    """OOB fragments for ``regions`` as one audience sees them (the page renders the same partials)."""
    values = {**region_values(state, audience), "oob": True}
    parts = []
    for region in regions:
        if region in ("panel", "panel_head"):
            activity = state.activity(activity_id) if activity_id else None
            if activity is None:
                continue
            template = "_partials/panel.html" if region == "panel" else "_partials/panel_head.html"
            panel = panel_values(state, activity, audience, None)
            parts.append(env.get_template(template).render({**values, "p": panel}))
        elif region == "panels":
            panels = [panel_values(state, a, audience, None) for a in state.activities]
            parts.append(env.get_template(REGION_TEMPLATES[region]).render({**values, "panels": panels}))
        else:
            parts.append(env.get_template(REGION_TEMPLATES[region]).render(values))
    return "".join(parts)


def regions_of(event: MeetingEvent) -> tuple[str, ...]:
    regions = REGIONS_FOR.get(event.type, ())
    if event.type == "activity_state" and event.payload.get("action") in HEAD_ONLY_ACTIONS:
        # Paused or running, the activity is open either way: the reveal stays as it is.
        return tuple("panel_head" if r == "panel" else r for r in regions if r != "reveal")
    return regions


def build_variants(
    env: Environment, state: RoomState, events: list[MeetingEvent], audiences: set[Hashable]
) -> dict[Hashable, str]:
    """Fragments per audience for a run of events: region refreshes are merged, builders appended."""
    regions: list[str] = []
    activity_regions: list[tuple[str, str]] = []
    out: dict[Hashable, list[str]] = {a: [] for a in audiences}
    for event in events:
        builder = event_builder(event.type)  # a type's own event (ideas, votes, …)
        if builder is not None:
            for audience, html in builder(state, event, audiences, env).items():
                out.setdefault(audience, []).append(html)
            continue
        for region in regions_of(event):
            if region in ("panel", "panel_head"):
                if event.activity_id and (region, event.activity_id) not in activity_regions:
                    activity_regions.append((region, event.activity_id))
            elif region not in regions:
                regions.append(region)
    for audience in audiences:
        html = render_regions(env, state, audience, tuple(regions), None)
        for region, activity_id in activity_regions:
            html += render_regions(env, state, audience, (region,), activity_id)
        if html:
            out[audience].append(html)
    return {audience: "".join(parts) for audience, parts in out.items() if parts}


def build_replay(env: Environment, state: RoomState, events: list[MeetingEvent], key: Hashable, user_id: str) -> str | None:
    """What a reconnecting viewer missed, as one fragment; None when only a resync will do.

    A type with more of its own events than its ``replay_limit`` (a board that got hundreds of
    ideas meanwhile) is not replayed row by row: its panel content is sent once as a fresh load
    shows it (``page_refresh``), so a replay never grows past a page per activity."""
    over = over_replay_limit([e.type for e in events])
    refreshed: list[str] = []
    for activity_id in dict.fromkeys(e.activity_id for e in events if e.type in over and e.activity_id):
        activity = state.activity(activity_id)
        if activity is None:
            continue
        html = get_type(activity.type).page_refresh(state, activity, key, env)
        if html is None:
            return None
        refreshed.append(html)
    rest = [e for e in events if e.type not in over]
    variants = build_variants(env, state, rest, {key}) if rest else {}
    return variants.get(key, "") + variants.get(personal(user_id), "") + "".join(refreshed)


# -- presence -----------------------------------------------------------------------------------


class Presence:
    """Who has an open stream, per meeting. Joins/leaves are coalesced into one event per window.

    ``counts`` are this worker's streams. With several workers, ``shared`` (Redis) holds which
    users each worker has, and a user's first join and last leave across all of them are the ones
    announced; if Redis cannot be reached, this worker announces and lists what it sees itself.
    """

    def __init__(self, shared: SharedPresence | None = None) -> None:
        self.counts: dict[str, dict[str, int]] = {}
        self.shared = shared
        self._leave_timers: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._pending: dict[str, dict[str, str]] = {}  # meeting → user → "joined"/"left"
        self._flush_tasks: dict[str, asyncio.Task[None]] = {}
        self._everyone: dict[str, tuple[float, set[str]]] = {}  # meeting → (read at, users on any worker)
        self._tasks: set[asyncio.Task[None]] = set()

    async def present(self, meeting_id: str, fresh: bool = False) -> set[str]:
        """Users with a stream open here or (shared) on any worker. Pages and stream openings may
        use a list up to PRESENCE_CACHE_SECONDS old; a publish, which renders presence events, reads it anew."""
        here = set(self.counts.get(meeting_id, {}))
        if self.shared is None:
            return here
        cached = self._everyone.get(meeting_id)
        now = time.monotonic()
        if cached is not None and not fresh and now - cached[0] < PRESENCE_CACHE_SECONDS:
            return cached[1] | here
        try:
            everyone = await self.shared.present(meeting_id)
        except (RedisError, OSError):
            return here | (cached[1] if cached else set())
        self._everyone.pop(meeting_id, None)
        self._everyone[meeting_id] = (now, everyone)
        while len(self._everyone) > PRESENCE_CACHE_MEETINGS:
            del self._everyone[next(iter(self._everyone))]
        return everyone | here

    def join(self, svc: Services, meeting_id: str, user_id: str) -> None:
        users = self.counts.setdefault(meeting_id, {})
        timer = self._leave_timers.pop((meeting_id, user_id), None)
        if timer is not None:
            timer.cancel()  # back within the grace period: no leave, no join
        elif user_id not in users:
            if self.shared is None:
                self._queue(svc, meeting_id, user_id, "joined")
            else:
                self._spawn(self._shared_change(svc, meeting_id, user_id, "joined"))
        users[user_id] = users.get(user_id, 0) + 1

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _shared_change(self, svc: Services, meeting_id: str, user_id: str, change: str) -> None:
        """Announce a join or leave only when this worker's is the first or the last anywhere."""
        assert self.shared is not None
        try:
            if change == "joined":
                announce_it = await self.shared.join(meeting_id, user_id)
            else:
                announce_it = await self.shared.leave(meeting_id, user_id)
        except (RedisError, OSError):
            announce_it = True  # Redis away: say what this worker saw
        if announce_it:
            self._queue(svc, meeting_id, user_id, change)

    async def heartbeat_forever(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            await self.refresh()

    async def refresh(self) -> None:
        """Tell Redis again which users this worker holds (after a reconnect, and every heartbeat)."""
        if self.shared is None:
            return
        try:
            await self.shared.refresh({m: set(users) for m, users in self.counts.items()})
        except (RedisError, OSError) as exc:
            log.debug("Presence heartbeat skipped: %s", exc)

    def leave(self, svc: Services, meeting_id: str, user_id: str) -> None:
        users = self.counts.get(meeting_id, {})
        users[user_id] = users.get(user_id, 1) - 1
        if users[user_id] > 0:
            return
        loop = asyncio.get_running_loop()
        self._leave_timers[(meeting_id, user_id)] = loop.call_later(
            PRESENCE_GRACE_SECONDS, self._gone, svc, meeting_id, user_id
        )

    def _gone(self, svc: Services, meeting_id: str, user_id: str) -> None:
        self._leave_timers.pop((meeting_id, user_id), None)
        users = self.counts.get(meeting_id, {})
        if users.get(user_id, 0) <= 0:
            users.pop(user_id, None)
            if not users:
                self.counts.pop(meeting_id, None)
            if self.shared is None:
                self._queue(svc, meeting_id, user_id, "left")
            else:
                self._spawn(self._shared_change(svc, meeting_id, user_id, "left"))

    def _queue(self, svc: Services, meeting_id: str, user_id: str, change: str) -> None:
        self._pending.setdefault(meeting_id, {})[user_id] = change
        if meeting_id not in self._flush_tasks:
            self._flush_tasks[meeting_id] = asyncio.create_task(self._flush(svc, meeting_id, self.window(meeting_id)))

    def window(self, meeting_id: str) -> float:
        """How long this worker gathers the meeting's joins and leaves before announcing them."""
        streams = sum(self.counts.get(meeting_id, {}).values())
        return min(PRESENCE_WINDOW_MAX, max(PRESENCE_WINDOW_SECONDS, streams * PRESENCE_WINDOW_PER_STREAM))

    async def _flush(self, svc: Services, meeting_id: str, window: float) -> None:
        await asyncio.sleep(window)
        self._flush_tasks.pop(meeting_id, None)
        changes = self._pending.pop(meeting_id, {})
        if not changes:
            return
        try:
            event = await svc.db.write(lambda: _record_presence(meeting_id, changes))
        except Exception:
            log.exception("Could not record presence for %s", meeting_id)
            return
        if event is not None:
            await announce(svc, event)


def _record_presence(meeting_id: str, changes: dict[str, str]) -> MeetingEvent | None:
    """One log row for a window's joins and leaves (write path).

    A presence event re-renders the whole list, so one per window says everything; a row per person
    would let a mass reconnect (a restart with 1,000 pages open) push every page past the replay
    limit into a resync.
    """
    if Meeting.get_or_none(Meeting.id == meeting_id) is None:
        return None
    names = {u.id: u.display_name for u in User.select(User.id, User.display_name).where(User.id.in_(list(changes)))}
    joined = [names.get(u, "Someone") for u, change in changes.items() if change == "joined"]
    left = [names.get(u, "Someone") for u, change in changes.items() if change == "left"]
    lines = [f"{_name_list(group)} {verb} the meeting." for group, verb in ((joined, "joined"), (left, "left")) if group]
    return event_log.record(
        meeting_id,
        "presence",
        " ".join(lines),
        actor_id=next(iter(changes)) if len(changes) == 1 else None,
        payload={"joined": len(joined), "left": len(left)},
    )


def _name_list(names: list[str]) -> str:
    """"Pat", "Pat and Quinn", "Pat, Quinn and Ruth", "Pat, Quinn and 3 others"."""
    if len(names) == 1:
        return names[0]
    if len(names) <= 3:
        return ", ".join(names[:-1]) + " and " + names[-1]
    return f"{names[0]}, {names[1]} and {len(names) - 2} others"


# -- who may read a stream ------------------------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    """What a stream's viewer may receive now: ``ending`` names the event that ends the stream
    (``session_expired`` or ``access_revoked``), else ``facilitator`` picks the audience."""

    ending: str | None
    facilitator: bool = False
    session_started: datetime | None = None


def standing(meeting_id: str, viewer: Viewer, lifetime_minutes: int) -> Standing:
    """The viewer's session and membership as the database has them now (read path)."""
    found = find_session(viewer.session_key, lifetime_minutes)
    if found is None:
        return Standing("session_expired")
    session, user = found
    try:
        access = access_for(meeting_id, user)
    except NotFound:
        return Standing("access_revoked")
    if not access.is_member:
        return Standing("access_revoked")
    return Standing(None, access.is_facilitator, session.created_at)


ENDINGS = {
    "session_expired": {"message": NOTICES["session_expired"]},
    "access_revoked": {"message": REVOKED, "to": "/dashboard"},
}


# -- the engine -----------------------------------------------------------------------------------


class StalledSends:
    """Ends streams whose client stopped reading: one send pending for over SEND_TIMEOUT_SECONDS.

    One sweep for all streams instead of a timeout armed and cancelled around every write: with
    thousands of streams that timer cost more than the write itself. A stalled stream's scope is
    cancelled; the browser reconnects and replays what it missed.
    """

    def __init__(self) -> None:
        self.sending: dict[anyio.CancelScope, float] = {}  # stream → when its pending send began

    def guard(self, send: Send, stream: anyio.CancelScope) -> Send:
        async def guarded(message: Message) -> None:
            self.sending[stream] = time.monotonic()
            try:
                await send(message)
            finally:
                self.sending.pop(stream, None)

        return guarded

    def end_stalled(self) -> int:
        """End the stalled streams; returns how many."""
        too_old = time.monotonic() - SEND_TIMEOUT_SECONDS
        stalled = [s for s, began in self.sending.items() if began < too_old]
        for stream in stalled:
            self.sending.pop(stream, None)
            stream.cancel()
        return len(stalled)

    async def sweep_forever(self, on_ended: Callable[[int], None]) -> None:
        while True:
            await asyncio.sleep(SEND_TIMEOUT_SECONDS / 3)
            on_ended(self.end_stalled())


@dataclass
class LiveEngine:
    svc: Services
    broker: InProcessBroker
    presence: Presence
    # The newest event id in the log when the engine started: no event at or below it is pending.
    floor: int = 0
    # Per meeting: the newest event id published so far (streams skip ids at or below the last
    # one they delivered), the newest announced, and the task publishing the difference.
    published: dict[str, int] = field(default_factory=dict)
    wanted: dict[str, int] = field(default_factory=dict)
    publishers: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    # Open streams per session key, oldest first.
    session_streams: dict[str, list[Subscription]] = field(default_factory=dict)
    # Per session with open streams: its user, when it began, and the timer ending its streams.
    expiry_timers: dict[str, tuple[str, datetime, asyncio.TimerHandle]] = field(default_factory=dict)
    timed_lifetime: int = 0  # the session lifetime (minutes) the timers were set for
    stalled: StalledSends = field(default_factory=StalledSends)
    caught_up_at: float = 0.0  # when the ticker last read the log for other workers' events

    async def announce(self, event: MeetingEvent) -> None:
        """Have ``event`` published, with every earlier unpublished event of its meeting, in id order,
        on this worker and (told through the bus) on every other.

        Returns at once: the request that committed the event does not wait for the fan-out. One
        publisher task per meeting publishes the whole unpublished tail of the log each time, so
        announcements arriving out of commit order cannot make streams skip an event.
        """
        self.svc.bus.tell("events", m=event.meeting_id, id=event.id)
        self._wake(event.meeting_id, event.id)

    def _wake(self, meeting_id: str, event_id: int) -> None:
        """Events of ``meeting_id`` up to ``event_id`` are committed: publish what this worker has not."""
        if event_id <= self.published.get(meeting_id, self.floor):
            return
        self.wanted[meeting_id] = max(self.wanted.get(meeting_id, 0), event_id)
        if meeting_id not in self.publishers:
            self.publishers[meeting_id] = asyncio.create_task(self._publisher(meeting_id))

    def listen(self, bus: Bus) -> None:
        """Act on the other workers' notices: committed events, passing signals, and changes that
        end or re-judge streams (each worker judges its own streams)."""
        bus.on("events", lambda d: self._wake(str(d["m"]), int(d["id"])))
        bus.on("signal", lambda d: self._signal_here(d["m"], d["type"], d["html"], d["sender"]))
        bus.on("sessions_revoked", lambda d: self._expire_here(d["user"], d.get("only"), d.get("keep")))
        bus.on("access_revoked", lambda d: self._revoke_here(d["m"], d["user"], d["message"]))
        bus.on("recheck", lambda d: self._recheck_here(d["users"], d.get("m")))
        bus.on_connect(self.catch_up)
        bus.on_connect(self.rejudge_all)

    async def rejudge_all(self) -> None:
        """Judge every open stream again: after Redis comes back, since sign-outs and roster changes
        told meanwhile by other workers were lost (streams that lost access end now)."""
        users = {s.viewer.user_id for t in self.broker.topics() for s in self.broker.subscriptions(t)}
        if users:
            await self._recheck_here(users, None)

    async def catch_up(self) -> None:
        """Publish whatever the log holds beyond what this worker published, for every meeting with
        streams here: after Redis came back (notices sent meanwhile were lost), or while it is away."""
        topics = self.broker.topics()
        if not topics:
            return
        latest = await self.svc.db.read(lambda: {t: event_log.latest_id(t) for t in topics})
        for meeting_id, event_id in latest.items():
            self._wake(meeting_id, event_id)

    def open_streams(self) -> int:
        return self.broker.count()

    async def _publisher(self, meeting_id: str) -> None:
        """Publish now, then at most once per window while events keep coming.

        An idle meeting's event goes out at once; in a burst, what arrives during the window goes
        out together. The cost of a publish grows with the audience (every stream gets a copy), so
        the window does too: a crowd gets a few merged events per second instead of one per idea.
        """
        failures = 0
        try:
            while self.wanted.get(meeting_id, 0) > self.published.get(meeting_id, self.floor):
                try:
                    await self._publish_tail(meeting_id)
                    failures = 0
                except Exception:
                    failures += 1
                    log.exception("Could not publish events of %s", meeting_id)
                    if failures >= 3:
                        return  # the next announcement tries again
                viewers = len(self.broker.viewers(meeting_id))
                await asyncio.sleep(min(PUBLISH_WINDOW_MAX, max(PUBLISH_WINDOW_MIN, viewers * PUBLISH_WINDOW_PER_VIEWER)))
        finally:
            self.publishers.pop(meeting_id, None)

    def stop_publishing(self) -> None:
        """At shutdown: publishers must not outlive the database they read."""
        for task in self.publishers.values():
            task.cancel()

    async def _publish_tail(self, meeting_id: str) -> None:
        last = self.published.get(meeting_id, self.floor)
        wanted = self.wanted.get(meeting_id, 0)
        viewers = self.broker.viewers(meeting_id)
        if not viewers:
            self.published[meeting_id] = wanted
            return
        present = await self.presence.present(meeting_id, fresh=True)
        outgoing, logged = await self.svc.db.read(partial(self._build, meeting_id, last, viewers, present))
        self.published[meeting_id] = max([wanted, *(e.id or 0 for e in outgoing)])
        for published in outgoing:
            self.broker.publish(meeting_id, published)
        if logged:
            metrics = self.svc.metrics
            metrics.events_published.inc(len(logged))
            now = utcnow()
            for row in logged:
                metrics.publish_lag.observe(max(0.0, (now - row.created_at).total_seconds()))

    def _build(
        self, meeting_id: str, last: int, viewers: list[Viewer], present: set[str]
    ) -> tuple[list[Event], list[MeetingEvent]]:
        """The unpublished events after ``last``, each rendered once per audience, and the log rows
        they carry (read path)."""
        if one(Meeting, id=meeting_id) is None:
            return [], []
        events = event_log.since(meeting_id, last, REPLAY_LIMIT)
        if events is None:
            latest = event_log.latest_id(meeting_id)
            return [Event("resync", latest, {"x": json.dumps({"since": latest})}, lambda _v: "x")], []
        if not events:
            return [], []
        state = load_room(meeting_id, present)
        keys = {v.user_id: state.scope_of(v.user_id) for v in viewers if not v.facilitator}

        def audience(viewer: Viewer) -> Hashable | None:
            # A stream that opened after ``viewers`` was taken may have read its replay before
            # these events: it must get them live, so its scope is looked up in the same snapshot
            # (a viewer who stopped being a facilitator since, ``recheck``, gets the participants').
            if viewer.facilitator:
                return FACILITATOR_AUDIENCE
            key = keys.get(viewer.user_id)
            return state.scope_of(viewer.user_id) if key is None else key

        # Every audience's, watched or not, for the same reason: their stream may open meanwhile.
        audiences: set[Hashable] = {FACILITATOR_AUDIENCE, *state.participant_scopes()}
        # A run of same-type events (a crowd arriving, a burst of ideas) goes out as one event.
        runs = [list(run) for _, run in groupby(events, key=lambda e: e.type)]
        built = [
            Event(run[-1].type, run[-1].id, build_variants(self.svc.templates, state, run, audiences), audience)
            for run in runs
        ]
        return built, events

    async def _open(self, subscription: Subscription, last_id: int) -> tuple[Standing, int, list[ServerSentEvent]]:
        """The viewer's standing, the meeting's latest event id, and what a reconnecting viewer
        missed (merged into at most one event, or a resync), from one read."""
        env = self.svc.templates
        meeting_id = subscription.topic
        present = await self.presence.present(meeting_id)
        lifetime = self._lifetime_minutes()

        def build() -> tuple[Standing, int, list[ServerSentEvent]]:
            judged = standing(meeting_id, subscription.viewer, lifetime)
            latest = event_log.latest_id(meeting_id)
            if judged.ending:
                return judged, latest, []
            resync = [ServerSentEvent(data=json.dumps({"since": latest}), event="resync")]
            missed = event_log.since(meeting_id, last_id, REPLAY_LIMIT)
            if missed is None:
                return judged, latest, resync
            if not missed:
                return judged, latest, []
            state = load_room(meeting_id, present)
            user_id = subscription.viewer.user_id
            html = build_replay(env, state, missed, state.audience_key(user_id, judged.facilitator), user_id)
            if html is None:
                return judged, latest, resync
            return judged, latest, [ServerSentEvent(data=html or " ", event="replay", id=str(missed[-1].id))]

        return await self.svc.db.read(build, room=True)

    async def stream(self, meeting_id: str, viewer: Viewer, last_id: int) -> AsyncIterator[ServerSentEvent | bytes]:
        # Subscribe before reading the log, so nothing falls between replay and live events, and
        # before judging the viewer again: a change of access committed meanwhile is seen by one
        # or the other (the route checked access before the stream began).
        subscription = self.broker.subscribe(meeting_id, viewer)
        self._limit_streams(subscription)
        self.presence.join(self.svc, meeting_id, viewer.user_id)
        try:
            judged, latest, replayed = await self._open(subscription, last_id)
            self._apply(subscription, judged)
            if judged.ending is None:
                if judged.session_started is not None:
                    self._watch_expiry(viewer, judged.session_started)
                # No ``id:`` on hello: the browser would resume from it and skip the replay that follows.
                yield ServerSentEvent(data=json.dumps({"latest": latest}), event="hello", retry=RETRY_MS)
            delivered = last_id
            for item in replayed:
                delivered = max(delivered, int(item.id or 0))
                yield item
            async for chunk in self._live(subscription, delivered):
                yield chunk
        finally:
            self.broker.unsubscribe(subscription)
            mine = self.session_streams.get(viewer.session_key, [])
            if subscription in mine:
                mine.remove(subscription)
            if not mine:
                self.session_streams.pop(viewer.session_key, None)
                self._unwatch_expiry(viewer.session_key)
            self.presence.leave(self.svc, meeting_id, viewer.user_id)

    def _limit_streams(self, subscription: Subscription) -> None:
        """At most MAX_STREAMS_PER_SESSION open streams per session: a new one closes the oldest."""
        mine = self.session_streams.setdefault(subscription.viewer.session_key, [])
        mine.append(subscription)
        while len(mine) > MAX_STREAMS_PER_SESSION:
            oldest = mine.pop(0)
            self.broker.unsubscribe(oldest)
            oldest.close()

    async def _live(self, subscription: Subscription, delivered: int) -> AsyncIterator[bytes]:
        """Queued events as SSE bytes; a backlog goes out in one write rather than one per event."""
        queue = subscription.queue
        while not subscription.dropped:
            batch: list[bytes] = []
            ended = False
            event = await queue.get()
            while True:
                if event is None or subscription.dropped:
                    ended = True
                    break
                if event.id is None or event.id > delivered:  # lower ids were part of the replay
                    encoded = event.encoded_for(subscription.viewer)
                    if encoded is not None:
                        batch.append(encoded)
                        delivered = event.id or delivered
                if queue.empty() or len(batch) >= DRAIN_LIMIT:
                    break
                event = queue.get_nowait()
            if batch:
                yield b"".join(batch)
            if ended:
                return

    def signal(self, meeting_id: str, type: str, html: str, sender_id: str) -> None:
        """A passing fragment for the meeting's facilitators other than the sender, such as "being
        moved by Dana": not logged, so never replayed; a page that missed it loses nothing lasting."""
        self.svc.bus.tell("signal", m=meeting_id, type=type, html=html, sender=sender_id)
        self._signal_here(meeting_id, type, html, sender_id)

    def _signal_here(self, meeting_id: str, type: str, html: str, sender_id: str) -> None:
        def audience(viewer: Viewer) -> Hashable | None:
            return FACILITATOR_AUDIENCE if viewer.facilitator and viewer.user_id != sender_id else None

        self.broker.publish(meeting_id, Event(type, None, {FACILITATOR_AUDIENCE: html}, audience))

    def send_to(self, meeting_id: str | None, match: Callable[[Viewer], bool], type: str, data: dict[str, Any]) -> None:
        """A message for some viewers only (revocation, expiry), then their streams end."""
        topics = [meeting_id] if meeting_id else self.broker.topics()
        for topic in topics:
            for subscription in self.broker.subscriptions(topic):
                if match(subscription.viewer):
                    self._end(subscription, type, data)

    def _end(self, subscription: Subscription, type: str, data: dict[str, Any]) -> None:
        """Queue ``type`` as the stream's last event and stop publishing to it."""
        self.broker.unsubscribe(subscription)
        try:
            subscription.queue.put_nowait(Event(type, None, {"x": json.dumps(data)}, lambda _v: "x"))
        except asyncio.QueueFull:
            pass
        subscription.close()

    async def revoke_access(self, meeting_id: str, user_id: str, message: str) -> None:
        self.svc.bus.tell("access_revoked", m=meeting_id, user=user_id, message=message)
        self._revoke_here(meeting_id, user_id, message)

    def _revoke_here(self, meeting_id: str, user_id: str, message: str) -> None:
        self.send_to(meeting_id, lambda v: v.user_id == user_id, "access_revoked", {"message": message, "to": "/dashboard"})

    def expire_sessions(self, user_id: str, only: str | None = None, keep: str | None = None) -> None:
        """Streams of revoked sessions get ``session_expired`` and end (SPEC §4.1), on every worker."""
        self.svc.bus.tell("sessions_revoked", user=user_id, only=only, keep=keep)
        self._expire_here(user_id, only, keep)

    def _expire_here(self, user_id: str, only: str | None, keep: str | None) -> None:
        def revoked(viewer: Viewer) -> bool:
            if viewer.user_id != user_id or viewer.session_key == keep:
                return False
            return only is None or viewer.session_key == only

        self.send_to(None, revoked, "session_expired", ENDINGS["session_expired"])

    async def recheck(self, user_ids: Iterable[str], meeting_id: str | None = None) -> None:
        """Judge again every open stream of ``user_ids`` in ``meeting_id`` (in every meeting when
        None, as for a role change), before the request that changed their access answers.

        The one rule for a change to a user's role, a meeting's roster, its co-facilitators or its
        owner: a viewer who lost access gets ``access_revoked`` (``session_expired`` if the session
        ended) and the stream ends; one whose audience changed gets ``resync`` and the new
        audience's fragments from then on. Anything committed after this returns is rendered for
        the new standing only on this worker; other workers judge theirs when told, a moment later.
        """
        wanted = set(user_ids)
        self.svc.bus.tell("recheck", users=sorted(wanted), m=meeting_id)
        await self._recheck_here(wanted, meeting_id)

    async def _recheck_here(self, user_ids: Iterable[str], meeting_id: str | None) -> None:
        wanted = set(user_ids)
        topics = [meeting_id] if meeting_id else self.broker.topics()
        subscriptions = [s for t in topics for s in self.broker.subscriptions(t) if s.viewer.user_id in wanted]
        if not subscriptions:
            return
        lifetime = self._lifetime_minutes()

        def judge() -> list[Standing]:
            judged: dict[tuple[str, str], Standing] = {}
            for s in subscriptions:
                key = (s.topic, s.viewer.session_key)
                if key not in judged:
                    judged[key] = standing(s.topic, s.viewer, lifetime)
            return [judged[(s.topic, s.viewer.session_key)] for s in subscriptions]

        for subscription, judged in zip(subscriptions, await self.svc.db.read(judge), strict=True):
            self._apply(subscription, judged)

    def _apply(self, subscription: Subscription, judged: Standing) -> None:
        if judged.ending is not None:
            self._end(subscription, judged.ending, ENDINGS[judged.ending])
        elif judged.facilitator != subscription.viewer.facilitator:
            subscription.viewer = replace(subscription.viewer, facilitator=judged.facilitator)
            # The page re-fetches its regions, now rendered for the new audience.
            resync = Event("resync", None, {"x": json.dumps({"audience": "changed"})}, lambda _v: "x")
            try:
                subscription.queue.put_nowait(resync)
            except asyncio.QueueFull:
                subscription.close()

    # -- session expiry ---------------------------------------------------------------------------

    def _lifetime_minutes(self) -> int:
        return int(self.svc.settings.get("auth.session_lifetime_minutes"))

    def _watch_expiry(self, viewer: Viewer, started: datetime) -> None:
        """End the session's streams with ``session_expired`` at the moment it expires (SPEC §4.1),
        not at its next request: one timer per session with open streams."""
        if viewer.session_key not in self.expiry_timers:
            self._arm(viewer.session_key, viewer.user_id, started)

    def _arm(self, key: str, user_id: str, started: datetime) -> None:
        self.timed_lifetime = self._lifetime_minutes()
        ends = started + timedelta(minutes=self.timed_lifetime)
        delay = max(0.0, (ends - utcnow()).total_seconds())
        handle = asyncio.get_running_loop().call_later(delay, self._expiry_due, key, user_id, started)
        self.expiry_timers[key] = (user_id, started, handle)

    def _unwatch_expiry(self, key: str) -> None:
        timer = self.expiry_timers.pop(key, None)
        if timer is not None:
            timer[2].cancel()

    def _expiry_due(self, key: str, user_id: str, started: datetime) -> None:
        self.expiry_timers.pop(key, None)
        if key not in self.session_streams:
            return
        if started + timedelta(minutes=self._lifetime_minutes()) > utcnow():
            self._arm(key, user_id, started)  # the lifetime setting grew meanwhile, or the clock is early
            return
        self._expire_here(user_id, key, None)

    def _rearm_on_new_lifetime(self) -> None:
        """The current lifetime setting applies (SPEC §4.1): a changed one moves every timer."""
        if self.expiry_timers and self._lifetime_minutes() != self.timed_lifetime:
            for key, (user_id, started, handle) in list(self.expiry_timers.items()):
                handle.cancel()
                self._arm(key, user_id, started)

    async def tick_forever(self) -> None:
        """Time-up and auto-stop on the server clock, even with no browser open."""
        announced: set[Hashable] = set()
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                await self._tick(announced)
            except Exception:
                log.exception("Timer tick failed")

    async def _tick(self, announced: set[Hashable]) -> None:
        """``announced`` spares a write per second per overdue activity; the log, not this memory,
        is what keeps a restart from announcing the same time-up twice (``run_control.expire``).

        Every worker ticks: ``expire`` decides in the database, inside the write transaction, so
        whichever worker commits first stops the activity or says "Time is up." and the others find
        nothing left to do (no leader to elect, hand over or lose)."""
        self._rearm_on_new_lifetime()
        bus = self.svc.bus
        if bus.shared and (not bus.connected or time.monotonic() - self.caught_up_at >= CATCH_UP_SECONDS):
            # Redis away: the other workers' notices cannot arrive, so read the log every tick. With
            # Redis, now and then too: a notice lost in passing (a publish that timed out) then costs
            # seconds of delay, never an event that waits for the meeting's next one.
            self.caught_up_at = time.monotonic()
            await self.catch_up()
        due = await self.svc.db.read(lambda: run_control.auto_stop_due(utcnow()))
        markers = {a.id: (a.id, a.time_limit_minutes, a.segment_started_at) for a in due}
        announced.intersection_update(markers.values())
        for activity in due:
            marker = markers[activity.id]
            if marker in announced and not activity.auto_stop:
                continue
            announced.add(marker)
            # Queued on the meeting's key, as its pages' writes are: on Postgres a worker waits for
            # another's commit instead of colliding with it.
            expiring = self.svc.db.submit_write(partial(run_control.expire, activity.id), event_log.log_key(activity.meeting_id))
            event = await asyncio.wrap_future(expiring)
            if event is not None:
                await self.announce(event)


def engine(svc: Services) -> LiveEngine:
    live_engine: LiveEngine = svc.extras["live"]
    return live_engine


async def announce(svc: Services, event: MeetingEvent | None) -> None:
    """Publish a committed event-log record to everyone it concerns."""
    if event is not None:
        await engine(svc).announce(event)


async def revoke_access(svc: Services, meeting_id: str, user_id: str, message: str) -> None:
    await engine(svc).revoke_access(meeting_id, user_id, message)


def signal(svc: Services, meeting_id: str, type: str, html: str, sender_id: str) -> None:
    engine(svc).signal(meeting_id, type, html, sender_id)
