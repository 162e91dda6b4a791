"""Brainstorming over the live stream of a real server (SPEC §4.14, §5.3–5.4): who receives which
fragment, anonymity in every payload, replays, and a burst of simultaneous submissions."""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from conftest import LiveServer, running_server
from helpers_brainstorming import board_rows, seed_brainstorm, seed_ideas, stored, unwrap
from helpers_live import RawStream, Sse, open_stream, read_all
from helpers_meetings import Person, SeededMeeting, add_people, second_handle

from decidero.activities.brainstorming.board import PAGE_SIZE
from decidero.meetings import event_log
from decidero.platform.db import Database

GROUP_ID = re.compile(r'id="idea-group-(\d+)"')
GROUP_NUMBER = re.compile(r'<tbody class="idea-group" id="idea-group-\d+" data-number="(\d+)"')
OWN_ROW = re.compile(r'<tr class="idea-row[^"]* mine" id="idea-\d+" data-number="\d+" data-sub="\d+" data-label="([\d.]+)"')


class Live:
    """A seeded meeting on ``live_server``, with the server's database reachable from the test."""

    def __init__(self, server: LiveServer, db: Database, meeting: SeededMeeting, people: dict[str, Person]) -> None:
        self.server, self.db, self.meeting, self.people = server, db, meeting, people
        self.streams: list[RawStream] = []

    @property
    def aid(self) -> str:
        return self.meeting.activities[0]

    def stream(self, login: str, since: int | None = None) -> RawStream:
        """A meeting page's stream: from the latest event, as a page render embeds it, or ``since``."""
        if since is None:
            since = self.db.read_sync(lambda: event_log.latest_id(self.meeting.id))
        stream = open_stream(self.server.url, f"{self.meeting.url}/events?since={since}", self.people[login].cookie)
        stream.wait_event("hello")
        self.streams.append(stream)
        return stream

    def browser(self, login: str) -> httpx.Client:
        person = self.people[login]
        return httpx.Client(base_url=self.server.url, cookies=person.cookies, headers=person.headers, timeout=15)

    def submit(self, login: str, content: str, key: str, parent: str = "") -> httpx.Response:
        data = {"content": content, "client_token": key, **({"parent": parent} if parent else {})}
        with self.browser(login) as browser:
            return browser.post(f"{self.meeting.url}/activities/{self.aid}/ideas", data=data)

    def control(self, action: str) -> None:
        """Run control as the facilitator's button does it, so the change is announced live."""
        with self.browser("owner") as browser:
            response = browser.post(f"{self.meeting.url}/activities/{self.aid}/control", data={"action": action})
        assert response.status_code == 303, response.text[:300]

    def act(self, login: str, label: str, action: str, data: dict[str, str] | None = None) -> httpx.Response:
        with self.browser(login) as browser:
            return browser.post(f"{self.meeting.url}/activities/{self.aid}/ideas/{label}/{action}", data=data or {})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One uvicorn for the module; every test seeds its own meeting on it."""
    with running_server(tmp_path_factory.mktemp("brainstorming-live")) as running:
        yield running


@pytest.fixture
def live(server: LiveServer) -> Iterator[Live]:
    with second_handle(Path(server.cwd) / "decidero.db") as db:
        people = add_people(db, {"owner": "facilitator", "pat": "participant", "quinn": "participant", "rita": "participant"})
        meeting = seed_brainstorm(db, "owner", ["pat", "quinn", "rita"], rounds=[("Ideas", {"allow_comments": True})])
        state = Live(server, db, meeting, people)
        try:
            yield state
        finally:
            for stream in state.streams:
                stream.close()


def idea_events(stream: RawStream, kind: str = "idea_created") -> list[Sse]:
    return [e for e in stream.events if e.event == kind]


def delivered_groups(stream: RawStream) -> Counter[str]:
    """In how many messages each idea group arrived; concurrent commits may come merged into one
    message, and an author's message carries their own row twice (shared, then with Edit/Delete)."""
    return Counter(i for e in stream.events if e.event != "hello" for i in set(GROUP_ID.findall(e.data)))


def arrival_order(stream: RawStream) -> list[int]:
    """The idea numbers in the order this stream first received them."""
    numbers = (int(n) for e in stream.events for n in GROUP_NUMBER.findall(e.data))
    return list(dict.fromkeys(numbers))


def test_a_new_idea_reaches_every_viewer_once_and_only_its_author_gets_edit_controls(live: Live) -> None:
    live.control("start")
    streams = {login: live.stream(login) for login in ("owner", "pat", "quinn")}

    assert live.submit("pat", "Idea A", "k-1").status_code == 303

    received = {login: s.wait_event("idea_created") for login, s in streams.items()}
    for login, event in received.items():
        rows = board_rows(event.data)  # the author's own variant comes last and wins
        assert {(r.label, r.text, r.author) for r in rows} == {("1", "Idea A", "pat")}, login
        assert ("Edit" in rows[-1].actions) == (login == "pat"), login
        assert len(rows) == (2 if login == "pat" else 1)
    assert "Hide" in board_rows(received["owner"].data)[0].actions
    assert "Hide" not in board_rows(received["quinn"].data)[0].actions
    assert "Transfer Ideas (1)" in received["owner"].data  # the facilitators' agenda count
    assert "Transfer Ideas" not in received["quinn"].data
    assert live.submit("quinn", "+1", "k-2", parent="1").status_code == 303
    reply = streams["owner"].wait_for(lambda e: e.event == "idea_created" and "+1" in e.data)
    assert [(r.label, r.text) for r in board_rows(reply.data)] == [("1.1", "+1")]
    assert 'data-insert-into="#idea-group-' in reply.data


def test_a_participant_out_of_scope_or_before_the_start_gets_nothing(live: Live) -> None:
    quinn, owner = live.stream("quinn"), live.stream("owner")

    assert live.submit("owner", "Seeded before the start", "seed").status_code == 303
    owner.wait_for(lambda e: "Seeded before the start" in e.data)
    with live.browser("owner") as browser:
        url = f"{live.meeting.url}/activities/{live.aid}/roster"
        assert browser.post(url, data={"op": "remove", "user": live.people["quinn"].user_id}).status_code == 303
    live.control("start")
    assert live.submit("pat", "Only for the sub-roster", "in-scope").status_code == 303
    owner.wait_for(lambda e: "Only for the sub-roster" in e.data)

    quinn.read_for(0.5)
    assert delivered_groups(quinn) == Counter()
    assert not any("Seeded before the start" in e.data or "sub-roster" in e.data for e in quinn.events)


def test_anonymous_ideas_never_name_their_author_in_any_event(live: Live) -> None:
    def anonymous() -> None:
        from decidero.meetings.models import Activity

        activity = Activity.get_by_id(live.aid)
        activity.config = {**activity.config, "anonymous": True}
        activity.save()

    live.db.write_sync(anonymous)
    live.control("start")
    streams = {login: live.stream(login) for login in ("owner", "pat", "quinn")}
    pat = live.people["pat"]

    live.submit("pat", "Secret", "s-1")
    live.submit("pat", "Secret reply", "s-2", parent="1")
    live.act("pat", "1", "edit", {"content": "Secret, edited"})
    live.act("owner", "1", "hide")
    hidden = ("Hidden", 'hx-swap-oob="delete"')
    for stream in streams.values():
        stream.wait_for(lambda e: any(mark in e.data for mark in hidden))
    replays = {login: live.stream(login, since=0) for login in ("rita", "owner")}  # everything, replayed
    for stream in replays.values():
        stream.wait_event("replay")
    assert {r.author for r in board_rows(replays["owner"].events[-1].data)} == {"Anonymous"}

    for login, stream in [*streams.items(), *(("replay " + k, v) for k, v in replays.items())]:
        # Only the board: presence lists and headers legitimately name who is in the room.
        payloads = "".join(str(n) for e in stream.events for n in unwrap(e.data).select(".brainstorm, tbody.idea-group, tr.idea-row"))
        assert payloads, login
        assert pat.user_id not in payloads and ">pat<" not in payloads and '"pat"' not in payloads, login
        authors = {r.author for r in board_rows(payloads)}
        assert authors <= {"Anonymous"}, (login, authors)


def test_hiding_removes_the_idea_for_participants_and_greys_it_for_facilitators(live: Live) -> None:
    live.control("start")
    live.submit("pat", "Off topic", "h-1")
    owner, quinn = live.stream("owner"), live.stream("quinn")

    live.act("owner", "1", "hide")

    hidden_for_owner = owner.wait_event("idea_updated")
    removal = quinn.wait_event("idea_updated")
    assert board_rows(hidden_for_owner.data)[0].hidden
    assert 'hx-swap-oob="delete"' in removal.data and "Off topic" not in removal.data
    live.act("owner", "1", "unhide")
    back = quinn.wait_for(lambda e: e.event == "idea_updated" and "Off topic" in e.data)
    assert [r.label for r in board_rows(back.data)] == ["1"]


def test_a_facilitator_delete_removes_the_idea_and_its_comments_everywhere(live: Live) -> None:
    live.control("start")
    live.submit("pat", "Going", "fd-1")
    live.submit("quinn", "a comment", "fd-2", parent="1")
    live.submit("quinn", "Staying", "fd-3")
    owner, pat, quinn = live.stream("owner"), live.stream("pat"), live.stream("quinn")

    assert live.act("owner", "1", "delete").status_code == 303

    removals = {login: s.wait_event("idea_deleted") for login, s in (("owner", owner), ("pat", pat), ("quinn", quinn))}
    for login, removal in removals.items():
        assert '<tbody id="idea-group-' in removal.data and 'hx-swap-oob="delete"' in removal.data, login
        assert "Going" not in removal.data and "a comment" not in removal.data, login
    assert "Transfer Ideas (1)" in removals["owner"].data
    assert [i.label for i in stored(live.db, live.aid)] == ["2"]


def test_a_facilitator_reconnecting_after_an_edit_and_a_delete_gets_the_current_count(live: Live) -> None:
    live.control("start")
    live.submit("pat", "One", "rc-1")
    live.submit("pat", "Two", "rc-2")
    since = live.db.read_sync(lambda: event_log.latest_id(live.meeting.id))
    live.act("pat", "1", "edit", {"content": "One, edited"})
    live.act("pat", "1", "delete")

    replay = live.stream("owner", since=since).wait_event("replay")

    assert 'id="idea-group-' in replay.data and 'hx-swap-oob="delete"' in replay.data
    assert "Transfer Ideas (1)" in replay.data


def test_a_submit_sent_twice_at_once_with_one_key_stores_one_idea(live: Live) -> None:
    live.control("start")
    owner = live.stream("owner")
    gate = threading.Barrier(2)

    def send(_: int) -> httpx.Response:
        with live.browser("pat") as browser:
            gate.wait(timeout=20)
            data = {"content": "Clicked twice", "client_token": "same-key"}
            return browser.post(f"{live.meeting.url}/activities/{live.aid}/ideas", data=data, headers={"HX-Request": "true"})

    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(send, range(2)))

    assert [a.status_code for a in answers] == [200, 200]
    assert [[r.label for r in board_rows(a)] for a in answers] == [["1"], ["1"]]
    assert [(i.label, i.content) for i in stored(live.db, live.aid)] == [("1", "Clicked twice")]
    owner.wait_for(lambda e: e.event == "idea_created")
    owner.read_for(0.3)
    assert list(delivered_groups(owner).values()) == [1]


def test_a_reconnecting_viewer_gets_each_missed_idea_once(live: Live) -> None:
    live.control("start")
    live.stream("quinn").close()
    since = live.db.read_sync(lambda: event_log.latest_id(live.meeting.id))
    live.submit("pat", "Missed one", "r-1")
    live.submit("pat", "Missed two", "r-2")
    live.act("pat", "1", "edit", {"content": "Missed one, edited"})

    again = live.stream("quinn", since=since)
    replay = again.wait_event("replay")

    ids = GROUP_ID.findall(replay.data)
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 2
    assert {(r.label, r.text) for r in board_rows(replay.data)} == {("1", "Missed one, edited"), ("2", "Missed two")}


def test_fifty_simultaneous_submissions_are_stored_once_numbered_and_delivered_once(live: Live) -> None:
    logins = [f"burst{n:02d}" for n in range(50)]
    people = add_people(live.db, dict.fromkeys(logins, "participant"))
    live.people.update(people)

    def roster() -> None:
        from decidero.meetings.models import MeetingMember

        for person in people.values():
            MeetingMember.create(meeting=live.meeting.id, user=person.user_id, role="participant")

    live.db.write_sync(roster)
    live.control("start")
    # Every subscribed client: the facilitator, two watching participants and all fifty submitters.
    streams = {login: live.stream(login) for login in ["owner", "pat", "quinn", *logins]}
    gate = threading.Barrier(len(logins))

    def submit(login: str) -> int:
        with live.browser(login) as browser:
            gate.wait(timeout=20)
            url = f"{live.meeting.url}/activities/{live.aid}/ideas"
            return browser.post(url, data={"content": f"Idea from {login}", "client_token": f"t-{login}"}).status_code

    with ThreadPoolExecutor(max_workers=len(logins)) as pool:
        statuses = list(pool.map(submit, logins))

    assert statuses == [303] * len(logins)
    ideas = stored(live.db, live.aid)
    assert [i.label for i in ideas] == [str(n) for n in range(1, 51)]
    assert sorted(i.author for i in ideas if i.author) == logins
    author_of = {i.label: i.author for i in ideas}
    read_all(list(streams.values()), lambda: all(len(arrival_order(s)) >= len(logins) for s in streams.values()), timeout=30)
    streams["owner"].read_for(0.3)  # anything extra would show up now
    for login, stream in streams.items():
        stream.read_for(0.01)
        delivered = delivered_groups(stream)
        assert len(delivered) == len(logins) and set(delivered.values()) == {1}, login
        assert arrival_order(stream) == list(range(1, 51)), login  # in commit order
        ids = [int(e.id) for e in stream.events if e.id and GROUP_ID.search(e.data)]
        assert ids == sorted(set(ids)), login
        own = [label for e in stream.events for label in OWN_ROW.findall(e.data)]
        assert own == [label for label, author in author_of.items() if author == login], login


def reconnect(live: Live, login: str, last_event_id: int) -> RawStream:
    """A page's stream coming back after an outage, as the browser sends it."""
    path = f"{live.meeting.url}/events"
    stream = open_stream(live.server.url, path, live.people[login].cookie, headers={"Last-Event-ID": str(last_event_id)})
    live.streams.append(stream)
    return stream


def test_a_reconnect_after_5000_missed_ideas_gets_a_resync_not_5000_rows(live: Live) -> None:
    live.control("start")
    seen = live.db.read_sync(lambda: event_log.latest_id(live.meeting.id))
    seed_ideas(live.db, live.aid, "pat", 5_000, logged=True)  # logged while this page was away

    back = reconnect(live, "quinn", seen)

    back.wait_event("resync")
    back.read_for(0.3)
    assert [e.event for e in back.events] == ["hello", "resync"]
    assert sum(len(e.data) for e in back.events) < 1_000


def test_a_reconnect_that_missed_less_than_a_page_of_ideas_replays_them(live: Live) -> None:
    live.control("start")
    seen = live.db.read_sync(lambda: event_log.latest_id(live.meeting.id))
    newest = seed_ideas(live.db, live.aid, "pat", PAGE_SIZE, logged=True)

    back = reconnect(live, "quinn", seen)

    replay = back.wait_event("replay")
    assert set(map(int, GROUP_NUMBER.findall(replay.data))) == set(range(1, newest + 1))
    assert "resync" not in [e.event for e in back.events]


def test_a_reconnect_that_missed_more_than_a_page_of_ideas_gets_the_current_page_not_every_row(live: Live) -> None:
    live.control("start")
    seen = live.db.read_sync(lambda: event_log.latest_id(live.meeting.id))
    newest = seed_ideas(live.db, live.aid, "pat", 4 * PAGE_SIZE, logged=True)

    back = reconnect(live, "quinn", seen)

    replay = back.wait_event("replay")
    page = unwrap(replay.data).select_one(f"#board-{live.aid}")
    assert page is not None and page["hx-swap-oob"] == "true"
    numbers = [int(g["data-number"]) for g in page.select("tbody.idea-group")]
    assert numbers == list(range(newest, newest - PAGE_SIZE, -1))  # the page a fresh load shows
    assert "resync" not in [e.event for e in back.events]


def test_a_new_idea_reaches_a_paged_board_live(live: Live) -> None:
    live.control("start")
    seed_ideas(live.db, live.aid, "pat", 3 * PAGE_SIZE)
    stream = live.stream("rita")

    assert live.submit("quinn", "Fresh on a big board", "k-fresh").status_code == 303

    created = stream.wait_event("idea_created")
    assert GROUP_NUMBER.findall(created.data) == [str(3 * PAGE_SIZE + 1)]
    assert 'data-insert-into="#ideas-' in created.data and "Fresh on a big board" in created.data
