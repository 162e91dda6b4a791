"""The meeting's event stream (SPEC §3.9, §4.14, S12, S19): who may listen, what each listener
receives, replay after a reconnect, revocation, slow clients and clean-up."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from account_helpers import run_coroutine
from bs4 import BeautifulSoup
from helpers_live import RawStream, Sse, ThreadedServer, open_stream, read_all
from helpers_meetings import Person, SeededMeeting, add_people, seed_meeting
from sse_starlette import ServerSentEvent

from decidero.meetings import broker, event_log, live, run_control
from decidero.meetings.agenda import get_activity
from decidero.meetings.broker import Event, InProcessBroker, Viewer
from decidero.meetings.models import Activity, MeetingEvent
from decidero.platform.db import Database
from decidero.platform.models import User

PEOPLE = {"owner": "facilitator", "pat": "participant", "quinn": "participant", "ruth": "participant", "outsider": "participant"}


@dataclass
class Live:
    server: ThreadedServer
    meeting: SeededMeeting
    people: dict[str, Person]
    streams: list[RawStream]

    @property
    def db(self) -> Database:
        return self.server.db

    def stream(self, login: str | None, *, since: int | None = None, last_event_id: int | None = None, **kwargs: object) -> RawStream:
        path = f"{self.meeting.url}/events" + (f"?since={since}" if since is not None else "")
        headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
        cookie = self.people[login].cookie if login else None
        opened = open_stream(self.server.url, path, cookie, headers=headers, **kwargs)
        self.streams.append(opened)
        return opened

    def listening(self, login: str) -> RawStream:
        """A stream that has received its hello (and any replay), ready for live events."""
        opened = self.stream(login, since=self.latest())
        opened.wait_event("hello")
        return opened

    def browser(self, login: str) -> httpx.Client:
        person = self.people[login]
        return httpx.Client(base_url=self.server.url, cookies=person.cookies, headers=person.headers, timeout=10)

    def post(self, login: str, path: str, data: dict[str, str]) -> httpx.Response:
        with self.browser(login) as browser:
            return browser.post(path, data=data)

    def control(self, action: str, index: int = 0) -> httpx.Response:
        response = self.post("owner", self.meeting.activity_url(index, "control"), {"action": action})
        assert response.status_code == 303, response.text
        return response

    def latest(self) -> int:
        return self.db.read_sync(lambda: event_log.latest_id(self.meeting.id))


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[ThreadedServer]:
    threaded = ThreadedServer(tmp_path, database_url=database_url).start()
    yield threaded
    threaded.stop()


@pytest.fixture
def room(server: ThreadedServer) -> Iterator[Live]:
    people = add_people(server.db, PEOPLE)
    meeting = seed_meeting(
        server.db, "owner", ["pat", "quinn", "ruth"], activities=[("Talk", {"instructions": "Say hello."}), ("Vote", {})]
    )
    live_room = Live(server, meeting, people, [])
    yield live_room
    for opened in live_room.streams:
        opened.close()


def html(event: Sse) -> BeautifulSoup:
    return BeautifulSoup(event.data, "html.parser")


def kinds(stream: RawStream) -> list[str]:
    """The events a stream received, leaving out presence (people come and go on their own time)."""
    return [e.event for e in stream.events if e.event != "presence"]


def region_ids(event: Sse) -> set[str]:
    return {str(node["id"]) for node in html(event).select("[hx-swap-oob]")}


# -- who may listen, and how the stream starts (SPEC §3.9, §4.14) ---------------------------------


def test_the_stream_needs_a_session(room: Live) -> None:
    refused = room.stream(None)

    assert refused.status == 401
    assert "text/event-stream" not in refused.response_headers.get("content-type", "")


def test_the_stream_refuses_a_forged_session_cookie(room: Live) -> None:
    room.people["forger"] = Person("forger", "-", "not-a-signed-cookie", "-")

    assert room.stream("forger").status == 401


def test_the_stream_refuses_people_outside_the_meeting(room: Live) -> None:
    refused = room.stream("outsider")

    assert refused.status == 403
    assert "You do not have access to this meeting." in refused.body()


def test_the_stream_refuses_unknown_meetings(room: Live) -> None:
    refused = open_stream(room.server.url, "/meeting/MTG20990101-ZZZZ/events", room.people["owner"].cookie)
    room.streams.append(refused)

    assert refused.status == 404


def test_the_stream_sends_proxy_safe_headers_and_a_first_frame_at_once(room: Live) -> None:
    opened = room.stream("pat", since=room.latest())

    assert opened.status == 200
    assert opened.response_headers["content-type"].split(";")[0] == "text/event-stream"
    assert opened.response_headers["cache-control"] == "no-cache, no-transform"
    assert opened.response_headers["x-accel-buffering"] == "no"
    hello = opened.wait_event("hello", timeout=2)
    assert opened.events[0] == hello
    assert hello.retry == 3000
    assert b"retry: 3000" in opened.first_frame and b"event: hello" in opened.first_frame


# -- live delivery, scoped per viewer (SPEC §4.14, S5) ----------------------------------------------


@pytest.mark.both_backends
def test_starting_an_activity_reaches_a_participants_open_stream(room: Live) -> None:
    talk = room.meeting.activities[0]
    pat = room.listening("pat")
    before = room.latest()

    room.control("start")

    event = pat.wait_event("activity_state", timeout=2)
    assert before < int(event.id or 0) <= room.latest()
    panel = html(event).select_one(f"#panel-{talk}")
    assert panel is not None and not panel.has_attr("hidden")
    assert panel.select_one(".panel-body") is not None
    assert "Say hello." in panel.get_text()
    assert html(event).select_one(f"#row-{talk}")["data-state"] == "running"  # type: ignore[index]


def test_a_stream_opened_while_events_were_being_rendered_still_gets_them(room: Live) -> None:
    # A publish renders once per audience for the streams open when it began. A page that joined
    # meanwhile, and whose replay was read before these events, is in that audience too: skipping
    # it left ideas missing from the boards of people joining a busy session (trickle N = 1,000).
    before = room.latest()
    room.control("start")
    owner, pat, quinn = (Viewer(room.people[login].user_id, login, login == "owner") for login in ("owner", "pat", "quinn"))

    built, _ = room.db.read_sync(lambda: room.server.engine._build(room.meeting.id, before, [pat], set()))

    [event] = built  # quinn's and the owner's streams opened after the publish began
    assert event.type == "activity_state"
    assert event.encoded_for(quinn) is not None and event.encoded_for(quinn) == event.encoded_for(pat)
    assert event.encoded_for(owner) is not None and event.encoded_for(owner) != event.encoded_for(quinn)


def test_a_late_stream_whose_roster_no_open_stream_shared_still_gets_the_events(room: Live) -> None:
    # The same for a participant left off a custom roster: when the publish began, nobody watching
    # saw the room as they do, and their view of it must still be there for them.
    talk = room.meeting.activities[0]
    room.post("owner", room.meeting.activity_url(0, "roster"), {"op": "remove", "user": room.people["quinn"].user_id})
    before = room.latest()
    room.control("start")
    pat, quinn = (Viewer(room.people[login].user_id, login, False) for login in ("pat", "quinn"))

    built, _ = room.db.read_sync(lambda: room.server.engine._build(room.meeting.id, before, [pat], set()))

    [event] = built
    for_quinn, for_pat = event.encoded_for(quinn), event.encoded_for(pat)
    assert for_quinn is not None and for_pat is not None
    closed = 'title="Not assigned to you"'
    assert closed in for_quinn.decode() and closed not in for_pat.decode()
    assert f'id="panel-{talk}"' in for_quinn.decode()


def test_pausing_replaces_only_the_panel_head(room: Live) -> None:
    talk = room.meeting.activities[0]
    room.control("start")
    pat = room.listening("pat")

    room.control("pause")

    event = pat.wait_event("activity_state", timeout=2)
    assert f"panel-head-{talk}" in region_ids(event) and f"panel-{talk}" not in region_ids(event)
    assert "This activity is paused." in html(event).select_one(f"#panel-head-{talk}").get_text()  # type: ignore[union-attr]


def test_participants_outside_an_activitys_scope_get_no_panel_content(room: Live) -> None:
    talk = room.meeting.activities[0]
    room.post("owner", room.meeting.activity_url(0, "roster"), {"op": "remove", "user": room.people["quinn"].user_id})
    pat, quinn, owner = room.listening("pat"), room.listening("quinn"), room.listening("owner")

    room.control("start")

    for inside in (pat, owner):
        panel = html(inside.wait_event("activity_state")).select_one(f"#panel-{talk}")
        assert panel is not None and panel.select_one(".panel-body") is not None
    event = quinn.wait_event("activity_state")
    panel = html(event).select_one(f"#panel-{talk}")
    assert panel is not None and panel.has_attr("hidden")
    assert panel.select_one(".panel-body") is None and panel.get_text(strip=True) == ""
    assert html(event).select_one(f"#row-{talk} .badge.access-closed")["title"] == "Not assigned to you"  # type: ignore[index]


def test_agenda_changes_keep_every_panel(room: Live) -> None:
    talk = room.meeting.activities[0]
    room.control("start")
    pat = room.listening("pat")

    room.post("owner", room.meeting.activity_url(1, "move"), {"direction": "up"})

    event = pat.wait_event("agenda_changed")
    rows = [a.get_text(strip=True) for a in html(event).select("#agenda .row-title")]
    assert rows == ["1. Vote", "2. Talk"]
    panel = html(event).select_one(f"#panels #panel-{talk}")
    assert panel is not None and not panel.has_attr("hidden")
    assert "Say hello." in panel.get_text()


@pytest.mark.both_backends
def test_announcements_that_arrive_out_of_commit_order_lose_nothing(room: Live) -> None:
    talk, vote = room.meeting.activities
    pat = room.listening("pat")

    def start(activity_id: str) -> MeetingEvent:
        actor = User.get(User.login == "owner")
        return run_control.control(get_activity(room.meeting.id, activity_id), "start", actor, False)

    first = room.db.write_sync(lambda: start(talk))
    second = room.db.write_sync(lambda: start(vote))

    async def announce_late_first() -> None:  # two requests finishing in the "wrong" order
        await room.server.engine.announce(second)
        await room.server.engine.announce(first)

    room.server.call(announce_late_first())

    pat.wait_for(lambda e: e.id == str(second.id))
    pat.read_for(0.3)
    published = [e for e in pat.events if e.event == "activity_state"]
    ids = [int(e.id or 0) for e in published]
    assert ids == sorted(set(ids)) and ids[-1] == second.id  # in commit order, nothing twice
    for activity_id in (talk, vote):
        panels = [html(e).select_one(f"#panel-{activity_id}") for e in published]
        assert any(p is not None and not p.has_attr("hidden") for p in panels), activity_id


# -- replay and resync (SPEC §4.14, S19) -----------------------------------------------------------


@pytest.mark.both_backends
def test_reconnecting_with_last_event_id_replays_what_was_missed_once(room: Live) -> None:
    talk, vote = room.meeting.activities
    seen = room.latest()
    room.control("start")
    room.control("pause")
    paused = room.latest()

    back = room.stream("pat", last_event_id=seen, since=0)  # the header wins over the page's since

    hello = back.wait_event("hello")
    replay = back.wait_event("replay")
    assert hello.retry == 3000
    assert replay.id == str(paused)
    # Start and pause touched the agenda, the switcher, the reveal (a participant with an activity
    # open sees no results preview) and Talk's panel; nothing else is re-sent.
    assert region_ids(replay) - {f"panel-head-{talk}"} == {"agenda", "switcher", "reveal", f"panel-{talk}"}
    panel = html(replay).select_one(f"#panel-{talk}")
    assert panel is not None and "This activity is paused." in panel.get_text()
    assert html(replay).select_one(f"#row-{vote}")["data-state"] == "not_started"  # type: ignore[index]
    back.read_for(0.3)
    assert kinds(back) == ["hello", "replay"]


def test_hello_carries_the_latest_event_id_not_the_resume_point(room: Live) -> None:
    seen = room.latest()
    room.control("start")
    room.control("pause")
    paused = room.latest()

    back = room.stream("pat", last_event_id=seen)

    hello = back.wait_event("hello")
    latest = json.loads(hello.data)["latest"]
    assert paused <= latest <= room.latest()  # (pat's own arrival may be logged since)
    assert hello.id is None  # resuming from it would skip the replay that follows
    assert back.wait_event("replay").id == str(paused)


def test_a_stream_opened_from_a_fresh_page_replays_nothing(room: Live) -> None:
    room.control("start")

    fresh = room.stream("pat", since=room.latest())

    fresh.wait_event("hello")
    fresh.read_for(0.3)
    assert kinds(fresh) == ["hello"]


def test_a_malformed_since_opens_the_stream_without_a_replay(room: Live) -> None:
    room.control("start")
    # "²" passes str.isdigit() but not int(); it must read as "no position", not fail the request.
    odd = open_stream(room.server.url, f"{room.meeting.url}/events?since=%C2%B2", room.people["pat"].cookie)
    room.streams.append(odd)

    assert odd.wait_event("hello").retry == 3000


@pytest.mark.both_backends
def test_events_after_the_replay_arrive_live_without_duplicates(room: Live) -> None:
    seen = room.latest()
    room.control("start")
    back = room.stream("pat", last_event_id=seen)
    back.wait_event("replay")

    room.control("stop")

    stopped = back.wait_event("activity_state")
    assert int(back.events[1].id or 0) < int(stopped.id or 0) <= room.latest()
    assert kinds(back) == ["hello", "replay", "activity_state"]


@pytest.mark.both_backends
def test_more_than_500_missed_events_ask_for_a_resync(room: Live) -> None:
    seen = room.latest()
    room.db.write_sync(
        lambda: [event_log.record(room.meeting.id, "meeting_updated", "Details changed.") for _ in range(501)]
    )
    latest = room.latest()

    back = room.stream("pat", last_event_id=seen)

    resync = back.wait_event("resync")
    assert kinds(back) == ["hello", "resync"]
    assert resync.data == f'{{"since": {latest}}}'


def test_a_crowd_arriving_at_once_is_one_presence_row_and_one_event(room: Live) -> None:
    owner = room.listening("owner")
    owner.wait_for(lambda e: e.event == "presence" and "Present (1)" in e.data)
    start, before = len(owner.events), room.latest()
    arriving = [room.people[login].user_id for login in ("pat", "quinn", "ruth")]
    services = room.server.app.state.services  # type: ignore[union-attr]

    async def arrive() -> None:  # three pages connecting in the same instant, as after a restart
        for user_id in arriving:
            room.server.engine.presence.join(services, room.meeting.id, user_id)

    room.server.call(arrive())

    event = owner.wait_for(lambda e: e.event == "presence", start=start)
    assert "Present (4)" in html(event).select_one("#presence").get_text()  # type: ignore[union-attr]
    names = room.db.read_sync(lambda: [User.get_by_id(u).display_name for u in arriving])
    rows = room.db.read_sync(
        lambda: [
            e.summary
            for e in MeetingEvent.select().where(
                MeetingEvent.meeting_id == room.meeting.id, MeetingEvent.type == "presence", MeetingEvent.id > before
            )
        ]
    )
    assert rows == [f"{names[0]}, {names[1]} and {names[2]} joined the meeting."]
    assert [e.event for e in owner.events[start:]].count("presence") == 1


def test_a_crowd_hears_of_arrivals_every_few_seconds_and_a_small_room_at_once() -> None:
    # Every presence event is a write to every stream: 5,000 streams told twice a second while a
    # crowd arrives kept the event loop from accepting the next people.
    presence = live.Presence()
    presence.counts["small"] = {"pat": 2, "quinn": 1}
    presence.counts["crowd"] = {f"u{n}": 3 for n in range(1000)}  # three tabs each: 3,000 streams
    presence.counts["stadium"] = {f"u{n}": 1 for n in range(20_000)}
    assert presence.window("small") == live.PRESENCE_WINDOW_SECONDS == 0.5
    assert presence.window("empty") == 0.5
    assert presence.window("crowd") == pytest.approx(3.0)
    assert presence.window("stadium") == live.PRESENCE_WINDOW_MAX == 5.0


def test_presence_lines_name_a_few_people_and_count_the_rest() -> None:
    assert live._name_list(["Pat"]) == "Pat"
    assert live._name_list(["Pat", "Quinn"]) == "Pat and Quinn"
    assert live._name_list(["Pat", "Quinn", "Ruth", "Sam", "Tia"]) == "Pat, Quinn and 3 others"


# -- timers on the server clock (SPEC §4.6) ---------------------------------------------------------


def time_up_rows(room: Live) -> int:
    def count() -> int:
        events = MeetingEvent.select().where(MeetingEvent.meeting_id == room.meeting.id, MeetingEvent.type == "activity_state")
        return sum(1 for e in events if e.payload.get("action") == "time_up")

    return room.db.read_sync(count)


def test_time_up_is_logged_once_even_by_a_ticker_that_forgot_it(room: Live) -> None:
    talk = room.meeting.activities[0]
    room.control("start")
    room.db.write_sync(
        lambda: Activity.update(time_limit_minutes=1, elapsed_seconds=61.0).where(Activity.id == talk).execute()
    )
    engine = room.server.engine

    # Each tick with an empty memory is what the first tick after a restart does.
    room.server.call(engine._tick(set()))
    room.server.call(engine._tick(set()))
    assert time_up_rows(room) == 1

    room.control("pause")
    room.control("resume")  # still out of time: nothing new to announce
    room.server.call(engine._tick(set()))
    assert time_up_rows(room) == 1

    room.control("extend")
    room.db.write_sync(lambda: Activity.update(elapsed_seconds=200.0).where(Activity.id == talk).execute())
    room.server.call(engine._tick(set()))  # the extra minute ran out as well: say so again
    assert time_up_rows(room) == 2


def test_a_page_catching_up_refetches_every_region_or_hears_that_nothing_changed(room: Live) -> None:
    talk = room.meeting.activities[0]
    room.control("start")
    latest = room.latest()
    htmx = {"HX-Request": "true"}

    with room.browser("pat") as browser:
        regions = browser.get(room.meeting.url, headers=htmx)
        unchanged = browser.get(f"{room.meeting.url}?since={latest}", headers=htmx)
        behind = browser.get(f"{room.meeting.url}?since={latest - 1}", headers=htmx)
        restoring = browser.get(room.meeting.url, headers={**htmx, "HX-History-Restore-Request": "true"})

    assert regions.status_code == 200 and regions.headers["X-Decidero-Since"] == str(latest)
    fragment = BeautifulSoup(regions.text, "html.parser")
    assert fragment.select_one("body") is None
    oob = {str(node["id"]) for node in fragment.select("[hx-swap-oob]")}
    assert {"meeting-header", "presence", "agenda", "switcher", "panels"} <= oob
    assert "Say hello." in fragment.select_one(f"#panel-{talk}").get_text()  # type: ignore[union-attr]
    assert (unchanged.status_code, unchanged.text) == (204, "")
    assert unchanged.headers["X-Decidero-Since"] == str(latest)
    assert behind.status_code == 200 and behind.headers["X-Decidero-Since"] == str(latest)
    assert BeautifulSoup(restoring.text, "html.parser").select_one("body #room") is not None


# -- revocation and expiry (SPEC §4.1, §4.4, S12.4) -------------------------------------------------


@pytest.mark.both_backends
def test_removing_a_participant_from_the_meeting_revokes_their_stream(room: Live) -> None:
    quinn, pat = room.listening("quinn"), room.listening("pat")

    response = room.post("owner", f"{room.meeting.url}/roster/remove", {"user": room.people["quinn"].user_id})

    assert response.status_code == 303
    revoked = quinn.wait_event("access_revoked", timeout=2)
    assert '"message": "Your access to this meeting has been revoked."' in revoked.data
    assert '"to": "/dashboard"' in revoked.data
    quinn.wait_closed(timeout=2)
    pat.read_for(0.3)
    assert "access_revoked" not in [e.event for e in pat.events] and not pat.closed
    assert room.stream("quinn").status == 403


def test_revoke_access_reaches_only_that_users_streams(room: Live) -> None:
    quinn_tabs = [room.listening("quinn"), room.listening("quinn")]
    pat = room.listening("pat")

    room.server.call(live.revoke_access(room.server.app.state.services, room.meeting.id, room.people["quinn"].user_id, "Gone."))  # type: ignore[union-attr]

    for tab in quinn_tabs:
        assert tab.wait_event("access_revoked").data == '{"message": "Gone.", "to": "/dashboard"}'
        tab.wait_closed()
    assert not pat.closed


def test_signing_out_ends_that_sessions_streams_with_session_expired(room: Live) -> None:
    pat = room.listening("pat")

    with room.browser("pat") as browser:
        assert browser.post("/logout").status_code == 303

    expired = pat.wait_event("session_expired", timeout=2)
    assert "Your session expired. Please sign in again." in expired.data
    pat.wait_closed(timeout=2)


def test_an_eleventh_stream_of_one_session_closes_the_oldest(room: Live) -> None:
    tabs = [room.listening("pat") for _ in range(10)]

    newest = room.listening("pat")

    tabs[0].wait_closed(timeout=2)
    assert not any(tab.closed for tab in tabs[1:]) and not newest.closed
    assert room.server.subscription_count(room.meeting.id) == 10


# -- slow clients, fan-out and clean-up (SPEC §5.7) -------------------------------------------------


def test_a_full_queue_drops_only_that_subscription_and_publishing_never_waits() -> None:
    async def scenario() -> None:
        hub = InProcessBroker()
        slow = hub.subscribe("m", Viewer("slow", "s1", False))
        fast = [hub.subscribe("m", Viewer(f"fast{i}", f"s{i}", False)) for i in range(2)]
        received: list[list[int]] = [[], []]

        async def consume(index: int) -> None:
            while True:
                event = await fast[index].queue.get()
                if event is None:
                    return
                received[index].append(event.id or 0)

        consumers = [asyncio.create_task(consume(i)) for i in range(2)]
        for number in range(1, broker.QUEUE_SIZE + 51):
            hub.publish("m", Event("activity_state", number, {"x": "<p></p>"}, lambda _v: "x"))
            await asyncio.sleep(0)
        for subscription in fast:
            subscription.close()
        await asyncio.gather(*consumers)

        assert slow.dropped and slow not in hub.subscriptions("m")
        assert slow.queue.qsize() == broker.QUEUE_SIZE
        assert received == [list(range(1, broker.QUEUE_SIZE + 51))] * 2

    run_coroutine(scenario())


def test_close_delivers_what_is_queued_then_ends_the_stream() -> None:
    async def scenario() -> list[bytes]:
        hub = InProcessBroker()
        engine = live.LiveEngine(svc=None, broker=hub, presence=live.Presence())  # type: ignore[arg-type]
        subscription = hub.subscribe("m", Viewer("u", "s", False))
        engine.send_to("m", lambda v: v.user_id == "u", "access_revoked", {"message": "Gone."})
        return [chunk async for chunk in engine._live(subscription, 0)]

    [chunk] = run_coroutine(scenario())
    assert chunk.startswith(b"event: access_revoked")


def test_a_slow_client_does_not_delay_the_others_and_is_dropped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Small socket buffers and a small queue make "slow" happen after a few dozen events instead of
    # megabytes; the code path is the one a stalled phone takes.
    monkeypatch.setattr(broker, "QUEUE_SIZE", 16)
    server = ThreadedServer(tmp_path, send_buffer=4096).start()
    try:
        people = add_people(server.db, PEOPLE)
        meeting = seed_meeting(server.db, "owner", ["pat", "quinn", "ruth"])
        room = Live(server, meeting, people, [])
        slow = room.stream("ruth", since=room.latest(), receive_buffer=2048)  # never read
        readers = [room.listening("pat"), room.listening("quinn")]
        wait_for_subscriptions(server, meeting.id, 3)
        talk = meeting.activities[0]
        count = 80

        async def burst() -> dict[int, float]:
            published: dict[int, float] = {}
            actor = await server.db.read(lambda: User.get(User.login == "owner"))
            for number in range(count):
                action = "start" if number % 2 == 0 else "stop"
                event = await server.db.write(
                    lambda action=action: run_control.control(get_activity(meeting.id, talk), action, actor, False)
                )
                await server.engine.announce(event)
                # One publish per change (no merging), so ruth's queue fills instead of shrinking.
                while server.engine.published.get(meeting.id, 0) < event.id:
                    await asyncio.sleep(0.001)
                published[event.id] = time.monotonic()
            return published

        running = asyncio.run_coroutine_threadsafe(burst(), server._server.loop)  # type: ignore[union-attr,arg-type]

        def newest(reader: RawStream) -> int:
            return max((int(e.id) for e in reader.events if e.id), default=0)

        def everything_arrived() -> bool:
            return running.done() and all(newest(r) >= max(running.result()) for r in readers)

        # Everything reaches the readers while ruth never reads: her full queue holds nobody up.
        read_all(readers, everything_arrived, timeout=30)
        viewers = server.run(lambda: {v.user_id for v in server.broker.viewers(meeting.id)})
        assert viewers == {people["pat"].user_id, people["quinn"].user_id}
        slow.close()
        for reader in readers:
            reader.close()
        wait_for_subscriptions(server, meeting.id, 0)
    finally:
        server.stop()


def test_a_client_that_stops_reading_is_cut_off_by_the_send_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Small socket buffers: a few large events fill them, far fewer than a full queue would take.
    monkeypatch.setattr(live, "SEND_TIMEOUT_SECONDS", 0.5)
    server = ThreadedServer(tmp_path, send_buffer=4096).start()
    try:
        people = add_people(server.db, PEOPLE)
        meeting = seed_meeting(server.db, "owner", ["pat"])
        room = Live(server, meeting, people, [])
        stalled = room.stream("pat", since=room.latest(), receive_buffer=2048)
        stalled.wait_event("hello")
        wait_for_subscriptions(server, meeting.id, 1)
        subscription = server.run(lambda: server.broker.subscriptions(meeting.id)[0])
        first, big = room.latest() + 1, "<p>" + "x" * 16_000 + "</p>"

        for number in range(first, first + 40):  # never read: the server's sends stall
            event = Event("meeting_updated", number, {"x": big}, lambda _v: "x")
            server.run(lambda event=event: server.broker.publish(meeting.id, event))

        wait_for_subscriptions(server, meeting.id, 0, timeout=10)
        assert not subscription.dropped  # ended by the stalled send, not by a full queue
        stalled.close()
    finally:
        server.stop()


def wait_for_subscriptions(server: ThreadedServer, meeting_id: str, count: int, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while server.subscription_count(meeting_id) != count:
        assert time.monotonic() < deadline, f"expected {count} subscriptions, have {server.subscription_count(meeting_id)}"
        time.sleep(0.02)


def test_closed_streams_leave_no_subscriptions_behind(room: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "PRESENCE_GRACE_SECONDS", 0.2)
    tabs = [room.listening(login) for login in ("owner", "pat", "pat", "quinn", "ruth")]
    assert room.server.subscription_count(room.meeting.id) == 5

    for tab in tabs:
        tab.close()

    deadline = time.monotonic() + 5
    while room.server.run(lambda: bool(room.server.broker.topics() or room.server.engine.session_streams)):
        assert time.monotonic() < deadline, "subscriptions left behind"
        time.sleep(0.02)
    while room.server.call(room.server.engine.presence.present(room.meeting.id)):
        assert time.monotonic() < deadline, "presence left behind"
        time.sleep(0.02)


def test_presence_is_announced_when_someone_arrives_and_after_the_grace_when_they_leave(
    room: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "PRESENCE_GRACE_SECONDS", 0.5)
    owner = room.listening("owner")
    owner.wait_for(lambda e: e.event == "presence" and "Present (1)" in e.data)
    start = len(owner.events)
    pat = room.listening("pat")

    arrived = owner.wait_for(lambda e: e.event == "presence", start=start)
    assert "Present (2)" in arrived.data and "pat" in html(arrived).select_one("#presence").get_text()  # type: ignore[union-attr]
    pat.close()
    left = owner.wait_for(lambda e: e.event == "presence", start=owner.events.index(arrived) + 1, timeout=3)
    assert left.at - arrived.at >= 0.5
    assert "Present (1)" in left.data


@pytest.mark.parametrize("data", ["a", "", "<div>\n  x\n</div>\n", "a\nb\r\nc\rd"])
@pytest.mark.parametrize("event_id", [None, 7])
def test_events_are_encoded_exactly_as_sse_starlette_writes_them(data: str, event_id: int | None) -> None:
    # Live events are encoded once per audience by our own encoder; replays go through sse-starlette.
    expected = ServerSentEvent(data=data, event="idea_created", id=None if event_id is None else str(event_id)).encode()

    assert broker.sse_bytes("idea_created", event_id, data) == expected
