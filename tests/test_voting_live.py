"""Votes and rankings against a real server: what each person's event stream carries (totals only
to those allowed), replays, and concurrent or retried submissions that must never exceed a limit
(SPEC §4.9, §4.10, §4.14, §5.3–5.4)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from conftest import LiveServer, running_server
from helpers_live import RawStream, ThreadedServer, open_stream
from helpers_meetings import second_handle, soup, text_of
from voting_helpers import FileDatabase, Poll, http_opener, seed_poll

from decidero.meetings import event_log


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    """One in-process server for the module; each test seeds its own meeting on it."""
    running = ThreadedServer(tmp_path_factory.mktemp("voting-live")).start()
    yield running
    running.stop()


@pytest.fixture
def poll(server: ThreadedServer) -> Poll:
    seeded = seed_poll(server.db, http_opener(server.url), vote={"allow_retract": False})
    seeded.control("start", seeded.vote)
    seeded.control("start", seeded.rank)
    return seeded


def _stream(server: ThreadedServer, poll: Poll, login: str, since: int | None = None) -> RawStream:
    path = f"/meeting/{poll.meeting.id}/events" + (f"?since={since}" if since is not None else "")
    stream = open_stream(server.url, path, poll.people[login].cookie)
    stream.wait_event("hello")
    return stream


def _latest(poll: Poll) -> int:
    return poll.db.read_sync(lambda: event_log.latest_id(poll.meeting.id))


def _results(data: str, activity: str) -> list[list[str]]:
    return [[text_of(td) for td in tr.find_all("td")] for tr in soup(data).select(f"#results-{activity} table tbody tr")]


def test_vote_totals_stream_only_to_facilitators_and_voters_allowed_to_see_them(server: ThreadedServer, poll: Poll) -> None:
    streams = {login: _stream(server, poll, login) for login in ("owner", "pat", "quinn")}
    marks = {login: len(s.events) for login, s in streams.items()}

    assert poll.vote_as("pat", {"A": 2, "B": 1}).status_code == 303

    seen = {login: s.wait_event("votes_changed", timeout=1.0, start=marks[login]).data for login, s in streams.items()}
    for data in seen.values():
        assert text_of(soup(data).select_one(f"#progress-{poll.vote}")) == "1 of 3 participants have voted"
    assert _results(seen["owner"], poll.vote)[0] == ["1", "A", "2", "1"]
    assert "Not voted yet (2)" in text_of(soup(seen["owner"]).select_one(".not-voted"))
    # Retraction is off, so pat (who submitted) may see totals; quinn (who has not) never receives them.
    assert _results(seen["pat"], poll.vote)[0] == ["1", "A", "2", "1"]
    assert soup(seen["pat"]).select_one(".not-voted") is None
    assert "<table" not in seen["quinn"] and "bar-chart" not in seen["quinn"]
    assert "A" not in [text_of(td) for td in soup(seen["quinn"]).select("td")]


def test_a_reconnecting_voter_gets_the_same_split_in_the_replay(server: ThreadedServer, poll: Poll) -> None:
    before = _latest(poll)
    assert poll.vote_as("pat", {"C": 2}).status_code == 303
    assert poll.vote_as("rae", {"D": 1}).status_code == 303

    pat = _stream(server, poll, "pat", since=before).wait_event("replay", timeout=1.0).data
    quinn = _stream(server, poll, "quinn", since=before).wait_event("replay", timeout=1.0).data

    assert _results(pat, poll.vote) == [["1", "C", "2", "1"], ["2", "D", "1", "1"], ["3", "A", "0", "0"], ["3", "B", "0", "0"]]
    assert text_of(soup(quinn).select_one(f"#progress-{poll.vote}")) == "2 of 3 participants have voted"
    assert "<table" not in quinn


def test_ranking_counts_stream_to_everyone_and_results_only_when_shown_live(server: ThreadedServer, poll: Poll) -> None:
    quinn = _stream(server, poll, "quinn")
    mark = len(quinn.events)
    assert poll.rank_as("pat", ["Y", "X", "Z"]).status_code == 303
    hidden = quinn.wait_event("rankings_changed", timeout=1.0, start=mark).data

    poll.configure(poll.rank, results_visibility="live", show_results_immediately=True)
    mark = len(quinn.events)
    assert poll.post("pat", "/meeting/{mid}/activities/{rank}/ranking/reset").status_code == 303
    shown = quinn.wait_event("rankings_changed", timeout=1.0, start=mark).data

    assert text_of(soup(hidden).select_one(f"#progress-{poll.rank}")) == "Submitted rankings: 1/3"
    assert "<table" not in hidden
    assert text_of(soup(shown).select_one(f"#progress-{poll.rank}")) == "Submitted rankings: 0/3"
    assert [row[1] for row in _results(shown, poll.rank)] == ["X", "Y", "Z"]


def test_publishing_after_stop_shows_participants_the_results_link_live(server: ThreadedServer, poll: Poll) -> None:
    assert poll.vote_as("pat", {"A": 1}).status_code == 303
    poll.control("stop", poll.vote)
    quinn = _stream(server, poll, "quinn")
    mark = len(quinn.events)

    poll.publish(poll.vote)
    published = quinn.wait_event("results_published", timeout=1.0, start=mark).data
    mark = len(quinn.events)
    poll.publish(poll.vote, on=False)
    unpublished = quinn.wait_event("results_published", timeout=1.0, start=mark).data

    assert soup(published).find(lambda tag: tag.name == "a" and tag.get_text(strip=True) == "Results: Vote") is not None
    assert soup(unpublished).find(lambda tag: tag.name == "a" and tag.get_text(strip=True) == "Results: Vote") is None


def test_a_vote_starting_brings_participants_the_ballot_itself_until_someone_has_voted(server: ThreadedServer) -> None:
    """A crowd must not all ask for their ballot in the same second: while it is the same for
    everyone, it comes inside the panel; once votes are saved, each voter loads their own again."""
    poll = seed_poll(server.db, http_opener(server.url), vote={"allow_retract": False})
    streams = {login: _stream(server, poll, login) for login in ("owner", "pat")}
    marks = {login: len(s.events) for login, s in streams.items()}

    poll.control("start", poll.vote)

    started = {login: s.wait_event("activity_state", timeout=1.0, start=marks[login]).data for login, s in streams.items()}
    ballot = soup(started["pat"]).select_one(f"#ballot-{poll.vote}")
    assert ballot is not None and ballot.select_one("form.dot-ballot") is not None
    assert [text_of(legend) for legend in ballot.select("legend")] == ["A", "B", "C", "D"]
    assert ballot.select_one("input[name=key]")["value"] == ""  # the page script gives each its own
    assert "You've cast 0 of your 3 votes." in text_of(ballot)
    # Facilitators load theirs: they may be recording a ballot for someone in the room.
    assert soup(started["owner"]).select_one(f"#ballot-{poll.vote}[hx-get$='/ballot']") is not None

    assert poll.vote_as("pat", {"A": 2}).status_code == 303
    mark = len(streams["pat"].events)
    poll.control("stop", poll.vote)
    streams["pat"].wait_event("activity_state", timeout=1.0, start=mark)
    mark = len(streams["pat"].events)
    poll.control("start", poll.vote)

    restarted = soup(streams["pat"].wait_event("activity_state", timeout=1.0, start=mark).data)
    assert restarted.select_one(f"#ballot-{poll.vote}[hx-get$='/ballot']") is not None
    assert restarted.select_one("form.dot-ballot") is None  # pat's saved dots are not on a shared form


# -- concurrency against the operators' server process -----------------------------------------


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """uvicorn in its own process, as operators run it."""
    with running_server(tmp_path_factory.mktemp("voting-race")) as running:
        yield running


@pytest.fixture
def remote_poll(remote: LiveServer) -> Poll:
    with second_handle(remote.cwd / "decidero.db") as db:
        seeded = seed_poll(db, http_opener(remote.url))
    seeded.db = FileDatabase(remote.cwd / "decidero.db")
    seeded.control("start", seeded.vote)
    return seeded


def _all_at_once(count: int, send: Callable[[int], httpx.Response]) -> list[httpx.Response]:
    barrier = threading.Barrier(count)

    def go(index: int) -> httpx.Response:
        barrier.wait(timeout=10)
        return send(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(go, range(count)))


def test_twenty_parallel_submissions_never_store_more_than_the_limits(remote_poll: Poll) -> None:
    poll = remote_poll
    over = [{"A": 2, "B": 2}, {"A": 1, "B": 1, "C": 1, "D": 1}, {"C": 2, "D": 2}]
    valid = [{"A": 2, "B": 1}, {"C": 2, "D": 1}, {"B": 1, "C": 1, "D": 1}, {"D": 2}]
    payloads = [over[i % 3] if i % 2 else valid[i % 4] for i in range(20)]
    browsers = [poll.as_("pat") for _ in range(20)]

    responses = _all_at_once(20, lambda i: browsers[i].post(
        poll.url("/meeting/{mid}/activities/{vote}/votes"),
        data={f"opt-{'ABCD'.index(k) + 1}": str(v) for k, v in payloads[i].items()} | {"key": f"race-{i}"},
    ))

    statuses = [r.status_code for r in responses]
    assert [s for s, p in zip(statuses, payloads, strict=True) if p in over] == [409] * 10
    assert [s for s, p in zip(statuses, payloads, strict=True) if p in valid] == [303] * 10
    stored = poll.allocation("pat")
    assert stored in valid
    assert sum(stored.values()) <= 3 and max(stored.values()) <= 2
    assert poll.events("votes_changed") == 10


def test_twenty_parallel_over_limit_submissions_from_one_voter_store_nothing(remote_poll: Poll) -> None:
    poll = remote_poll
    assert poll.vote_as("rae", {"A": 1}, key="first").status_code == 303
    over = [{"A": 2, "B": 2}, {"A": 1, "B": 1, "C": 1, "D": 1}, {"C": 3}, {"D": 2, "B": 2}]
    browsers = [poll.as_("rae") for _ in range(20)]

    responses = _all_at_once(20, lambda i: browsers[i].post(
        poll.url("/meeting/{mid}/activities/{vote}/votes"),
        data={f"opt-{'ABCD'.index(k) + 1}": str(v) for k, v in over[i % 4].items()} | {"key": f"over-{i}"},
    ))

    assert [r.status_code for r in responses] == [409] * 20
    assert poll.allocation("rae") == {"A": 1}
    assert poll.events("votes_changed") == 1


def test_parallel_retries_with_one_key_store_once(remote_poll: Poll) -> None:
    poll = remote_poll
    browsers = [poll.as_("quinn") for _ in range(12)]

    responses = _all_at_once(12, lambda i: browsers[i].post(
        poll.url("/meeting/{mid}/activities/{vote}/votes"), data={"opt-1": "2", "opt-3": "1", "key": "one-click"}
    ))

    assert {r.status_code for r in responses} == {303}
    assert poll.allocation("quinn") == {"A": 2, "C": 1}
    assert poll.events("votes_changed") == 1
