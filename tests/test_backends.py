"""The write path's guarantees on both backends (issue 18): the same rules hold on SQLite's single
writer and on Postgres's parallel writers, with several server processes on one database."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from account_helpers import run_coroutine
from conftest import LiveServer, database_at, running_server, wait_until
from helpers_brainstorming import control, seed_brainstorm
from helpers_live import ThreadedServer, open_stream
from helpers_meetings import add_people, seed_meeting
from voting_helpers import OPTIONS, add_voting

from bench import postgres
from bench.postgres import TEMPLATE
from decidero.activities.ballots.models import VoteAllocation
from decidero.activities.brainstorming import ideas
from decidero.activities.brainstorming.models import Idea
from decidero.meetings import event_log
from decidero.meetings.ids import next_in_sequence
from decidero.meetings.models import MeetingEvent, MeetingMember
from decidero.platform.db import Database, PostgresDatabase
from decidero.platform.migrations import current_version
from decidero.platform.models import User, utcnow
from decidero.schema import LATEST, migrate

PEOPLE = {"owner": "facilitator", "pat": "participant", "quinn": "participant"}


@contextmanager
def two_servers(tmp_path: Path, database_url: str) -> Iterator[list[LiveServer]]:
    """Two uvicorn processes on the same database, as two workers would be."""
    with ExitStack() as stack:
        servers = []
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            servers.append(stack.enter_context(running_server(tmp_path / name, database_url)))
        yield servers


def at_once(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    """Send every request concurrently, each released by the same barrier."""
    barrier = threading.Barrier(len(calls))

    def send(call: Callable[[], httpx.Response]) -> httpx.Response:
        barrier.wait(timeout=10)
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(send, calls))


def client(server: LiveServer | ThreadedServer, person: Any) -> httpx.Client:
    return httpx.Client(base_url=server.url, cookies=person.cookies, headers=person.headers, timeout=30)


@pytest.mark.both_backends
def test_migrations_build_the_latest_schema_and_a_second_run_changes_nothing(database_url: str) -> None:
    with database_at(database_url) as database:
        assert database.read_sync(lambda: current_version(database.peewee)) == LATEST
        tables = database.read_sync(lambda: sorted(database.peewee.get_tables()))
        assert migrate(database) == LATEST
        assert database.read_sync(lambda: sorted(database.peewee.get_tables())) == tables
        assert {"meeting", "meeting_event", "idea", "vote_allocation", "roster_stamp", "schema_version"} <= set(tables)


@pytest.mark.both_backends
def test_a_dot_budget_holds_against_concurrent_ballots_on_two_processes(tmp_path: Path, database_url: str) -> None:
    with database_at(database_url) as db:
        people = add_people(db, PEOPLE)
        meeting = seed_meeting(db, "owner", ["pat", "quinn"], activities=())
        vote = add_voting(db, meeting.id, "voting", "Vote", {"options": OPTIONS, "max_votes": 3, "max_per_option": 3})
        control(db, vote, "start")

    with two_servers(tmp_path, database_url) as servers:
        url = f"/meeting/{meeting.id}/activities/{vote}/votes"
        browsers = [client(servers[n % 2], people["pat"]) for n in range(12)]
        # Each ballot alone is within the budget (3 dots on one option); together they are 12 times it.
        calls = [lambda b=b, n=n: b.post(url, data={f"opt-{n % 4 + 1}": "3", "key": f"k{n}"}) for n, b in enumerate(browsers)]
        answers = at_once(calls)

    assert all(a.status_code in (303, 409) for a in answers), [a.status_code for a in answers]
    assert any(a.status_code == 303 for a in answers)
    with database_at(database_url) as db:
        counts = db.read_sync(
            lambda: [v.count for v in VoteAllocation.select().where(VoteAllocation.activity == vote, VoteAllocation.user == people["pat"].user_id)]
        )
    assert counts == [3]  # one ballot's allocation, never two merged


@pytest.mark.both_backends
def test_a_submission_retried_on_both_processes_at_once_is_stored_once(tmp_path: Path, database_url: str) -> None:
    with database_at(database_url) as db:
        people = add_people(db, PEOPLE)
        meeting = seed_brainstorm(db, "owner", ["pat", "quinn"])
        control(db, meeting.activities[0], "start")

    with two_servers(tmp_path, database_url) as servers:
        url = f"/meeting/{meeting.id}/activities/{meeting.activities[0]}/ideas"
        browsers = [client(servers[n % 2], people["pat"]) for n in range(10)]
        answers = at_once([lambda b=b: b.post(url, data={"content": "Only once", "client_token": "same-key"}) for b in browsers])

    assert [a.status_code for a in answers] == [303] * 10
    with database_at(database_url) as db:
        ideas = db.read_sync(lambda: [i.content for i in Idea.select().where(Idea.activity == meeting.activities[0])])
        logged = db.read_sync(lambda: MeetingEvent.select().where(MeetingEvent.type == "idea_created").count())
    assert ideas == ["Only once"]
    assert logged == 1  # the change and its record commit together, once


@pytest.mark.both_backends
def test_a_stream_gets_every_idea_of_a_concurrent_crowd_once_in_id_order(tmp_path: Path, database_url: str) -> None:
    with database_at(database_url) as db:
        people = add_people(db, {**PEOPLE, **{f"p{n}": "participant" for n in range(8)}})
        meeting = seed_brainstorm(db, "owner", ["pat", "quinn", *(f"p{n}" for n in range(8))])
        control(db, meeting.activities[0], "start")
        since = db.read_sync(lambda: event_log.latest_id(meeting.id))

    with running_server(tmp_path, database_url) as server:
        stream = open_stream(server.url, f"{meeting.url}/events?since={since}", people["quinn"].cookie)
        stream.wait_event("hello")
        url = f"/meeting/{meeting.id}/activities/{meeting.activities[0]}/ideas"
        writers = [f"p{n}" for n in range(8)]
        calls = [
            lambda who=who, k=k: client(server, people[who]).post(url, data={"content": f"{who} idea {k}", "client_token": f"{who}-{k}"})
            for who in writers
            for k in range(3)
        ]
        assert {a.status_code for a in at_once(calls)} == {303}
        with database_at(database_url) as db:
            logged = db.read_sync(
                lambda: [e.id for e in MeetingEvent.select().where(MeetingEvent.meeting_id == meeting.id, MeetingEvent.type == "idea_created")]
            )
        assert len(logged) == 24

        stream.wait_for(lambda e: e.id is not None and int(e.id) >= max(logged), timeout=15)
        stream.close()

    ids = [int(e.id) for e in stream.events if e.id is not None]
    assert ids == sorted(set(ids))  # in id order, nothing twice
    ideas = "".join(e.data for e in stream.events if e.event == "idea_created")
    assert all(f"{who} idea {k}" in ideas for who in writers for k in range(3))


def test_postgres_orders_one_meetings_events_by_commit_without_holding_up_other_meetings(postgres_server: Any) -> None:
    with database_at(postgres_server.create_database(template=TEMPLATE)) as db:
        add_people(db, PEOPLE)
        meeting, other = seed_meeting(db, "owner", activities=()), seed_meeting(db, "owner", activities=())
        recorded, release = threading.Event(), threading.Event()

        def first() -> int:
            row = event_log.record(meeting.id, "meeting_updated", "First.")
            recorded.set()
            assert release.wait(10)
            return int(row.id)

        def logged() -> list[int]:
            return db.read_sync(lambda: [e.id for e in MeetingEvent.select().where(MeetingEvent.meeting_id == meeting.id)])

        before = logged()
        held = db.submit_write(first)
        assert recorded.wait(10)
        second = db.submit_write(lambda: int(event_log.record(meeting.id, "meeting_updated", "Second.").id))
        # The second writer waits for the first's lock on this meeting's log...
        wait_until(lambda: _lock_waiters(db) == 1, message="the second writer waiting on the meeting's log")
        # ...while another meeting's writes go through.
        assert db.write_sync(lambda: int(event_log.record(other.id, "meeting_updated", "Elsewhere.").id)) > 0
        assert logged() == before and not second.done()
        release.set()
        first_id, second_id = held.result(10), second.result(10)

        assert first_id < second_id
        assert logged() == [*before, first_id, second_id]


@pytest.mark.both_backends
def test_a_write_that_fails_leaves_nothing_while_the_writes_committed_beside_it_stay(database_url: str) -> None:
    with database_at(database_url) as db:
        add_people(db, PEOPLE)
        meeting = seed_meeting(db, "owner", activities=())
        key = event_log.log_key(meeting.id)
        started, release = threading.Event(), threading.Event()

        def holding() -> None:
            started.set()
            assert release.wait(10)

        def doomed() -> None:
            event_log.record(meeting.id, "meeting_updated", "Doomed.")
            raise ValueError("refused after writing")

        def summaries() -> list[str]:
            return db.read_sync(lambda: [e.summary for e in MeetingEvent.select().where(MeetingEvent.meeting_id == meeting.id)])

        before = summaries()
        first = db.submit_write(holding, key)
        assert started.wait(10)
        # Queued behind the first, so the next writer commits them together in one transaction.
        batch = [db.submit_write(doomed, key), db.submit_write(lambda: event_log.record(meeting.id, "meeting_updated", "Kept."), key)]
        release.set()
        first.result(10)
        with pytest.raises(ValueError):
            batch[0].result(10)
        assert batch[1].result(10).id > 0
        with pytest.raises(ValueError):  # alone in its transaction
            db.submit_write(doomed, key).result(10)
        assert db.write_sync(lambda: event_log.record(meeting.id, "meeting_updated", "After.").id) > 0

        assert summaries() == [*before, "Kept.", "After."]


def test_postgres_writes_of_two_meetings_side_by_side_do_not_cancel_each_other(postgres_server: Any) -> None:
    """Each meeting's writes hold its turn, so two meetings' write batches run side by side. Both
    read the ideas of their own round and then submit one; neither may be cancelled as in conflict
    with the other (as predicate locks on the shared table once made them, under load until the
    submission failed with "busy")."""
    with database_at(postgres_server.create_database(template=TEMPLATE)) as db:
        add_people(db, PEOPLE)
        meetings = [seed_brainstorm(db, "owner", ["pat", "quinn"]) for _ in range(2)]
        for meeting in meetings:
            control(db, meeting.activities[0], "start")
        pat = db.read_sync(lambda: User.get(User.login == "pat"))
        both_read = threading.Barrier(2)

        def read_then_submit(meeting: Any, first_attempt: list[bool]) -> int | None:
            activity = meeting.activities[0]
            Idea.select().where(Idea.activity == activity).count()
            if first_attempt:  # a run again after a conflict goes on alone
                first_attempt.pop()
                both_read.wait(timeout=10)  # each has read before either writes
            return ideas.submit(meeting.id, activity, pat, f"Idea for {meeting.id}", "", None).idea_id

        written = [db.submit_write(partial(read_then_submit, m, [True]), event_log.log_key(m.id)) for m in meetings]

        assert all(isinstance(w.result(20), int) for w in written)
        assert db.conflicts == 0


def test_postgres_runs_a_write_that_lost_a_conflict_again_and_counts_it(postgres_server: Any) -> None:
    with database_at(postgres_server.create_database(template=TEMPLATE)) as db:
        taken, release = threading.Event(), threading.Event()

        def first() -> int:
            number = next_in_sequence("contested")
            taken.set()
            assert release.wait(10)
            return number

        def second() -> int:
            db.peewee.execute_sql("SELECT 1")  # its snapshot now predates the first one's commit
            return next_in_sequence("contested")  # waits for the first, then collides with its update

        held = db.submit_write(first)
        assert taken.wait(10)
        behind = db.submit_write(second)
        wait_until(lambda: _lock_waiters(db) == 1, message="the second writer waiting on the sequence")
        release.set()

        assert (held.result(10), behind.result(10)) == (1, 2)  # run again on a fresh snapshot
        assert db.conflicts == 1


def _lock_waiters(db: Database, locktype: str = "advisory") -> int:
    """Sessions waiting for a lock of ``locktype`` ("": of any type)."""
    sql = "SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted AND (locktype = %s OR %s = '')"
    return int(db.read_sync(lambda: db.peewee.execute_sql(sql, (locktype, locktype)).fetchone()[0]))


def test_postgres_writes_from_one_meetings_pages_wait_their_turn_instead_of_running_twice(
    tmp_path: Path, postgres_server: Any
) -> None:
    server = ThreadedServer(tmp_path, database_url=postgres_server.create_database(template=TEMPLATE)).start()
    try:
        people = add_people(server.db, {**PEOPLE, **{f"p{n}": "participant" for n in range(8)}})
        meeting = seed_brainstorm(server.db, "owner", [f"p{n}" for n in range(8)])
        control(server.db, meeting.activities[0], "start")
        url = f"/meeting/{meeting.id}/activities/{meeting.activities[0]}/ideas"
        calls = [
            lambda who=f"p{n % 8}", n=n: client(server, people[who]).post(url, data={"content": f"idea {n}", "client_token": f"k{n}"})
            for n in range(40)
        ]

        assert {a.status_code for a in at_once(calls)} == {303}
        assert isinstance(server.db, PostgresDatabase)
        # Every submission took the idea counter and wrote the log; none collided and ran again.
        assert server.db.conflicts == 0
        numbers = server.db.read_sync(lambda: sorted(i.number for i in Idea.select().where(Idea.activity == meeting.activities[0])))
        assert numbers == list(range(1, 41))
    finally:
        server.stop()


def test_postgres_a_join_takes_its_meetings_turn_so_a_full_meeting_stays_full(tmp_path: Path, postgres_server: Any) -> None:
    """A join comes from /join, not from the meeting's pages, yet checks the meeting's capacity
    before adding to it: it must wait for the meeting's writer of the moment and then see what
    that writer added."""
    server = ThreadedServer(tmp_path, database_url=postgres_server.create_database(template=TEMPLATE)).start()
    try:
        people = add_people(server.db, PEOPLE)
        meeting = seed_meeting(server.db, "owner", activities=())
        run_coroutine(server.app.state.services.settings.save("meetings.max_participants", "1", None))  # type: ignore[union-attr]
        adding, release = threading.Event(), threading.Event()

        def add_pat() -> None:  # as the facilitator's roster page would, holding the meeting's turn
            MeetingMember.create(meeting=meeting.id, user=User.get(User.login == "pat").id, role="participant", added_at=utcnow())
            adding.set()
            assert release.wait(10)

        held = server.db.submit_write(add_pat, event_log.log_key(meeting.id))
        assert adding.wait(10)
        with ThreadPoolExecutor(1) as pool:
            joining = pool.submit(lambda: client(server, people["quinn"]).post("/join", data={"code": meeting.id}))
            # Queued behind the meeting's writer in this process, or (without its turn) on one of its locks.
            waiting = lambda: server.db.pending_writes() == 1 or _lock_waiters(server.db, "") == 1  # noqa: E731
            wait_until(waiting, message="the join waiting for the meeting's writer")
            release.set()
            held.result(10)
            answer = joining.result(10)

        assert answer.status_code == 409
        assert "This meeting is full (limit 1 participants)." in answer.text
        members = server.db.read_sync(lambda: sorted(m.user.login for m in MeetingMember.select().where(MeetingMember.meeting == meeting.id)))
        assert members == ["pat"]
    finally:
        server.stop()


def test_a_postgres_restart_costs_no_request_once_it_is_back(tmp_path: Path) -> None:
    # A cluster of its own: the session's stays up for the other tests.
    with postgres.running_postgres() as cluster:
        server = ThreadedServer(tmp_path, database_url=cluster.create_database()).start()
        try:
            people = add_people(server.db, PEOPLE)
            meeting = seed_brainstorm(server.db, "owner", ["pat"])
            control(server.db, meeting.activities[0], "start")
            pat = client(server, people["pat"])
            url = f"/meeting/{meeting.id}/activities/{meeting.activities[0]}/ideas"
            assert pat.post(url, data={"content": "Before", "client_token": "before"}).status_code == 303

            cluster.restart()  # every pooled connection of the server is now dead

            # Readers and writers find their connection gone, connect again and do the work.
            assert pat.get(meeting.url).status_code == 200
            assert pat.post(url, data={"content": "After", "client_token": "after"}).status_code == 303
            assert client(server, people["owner"]).get(meeting.url).status_code == 200
            assert pat.get("/health").status_code == 200
            stored = server.db.read_sync(lambda: [i.content for i in Idea.select().order_by(Idea.number)])
            assert stored == ["Before", "After"]
        finally:
            server.stop()
