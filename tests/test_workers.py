"""Two workers, as operators run them (deploy/HOSTING.md, "Several workers"): two uvicorn processes on
their own ports, one database (SQLite; Postgres too for the tests parametrized with ``BOTH``), one
real redis-server (DECIDERO_REDIS_URL).

What a meeting relies on across them: ideas submitted on one worker reach streams on the other in
order and once; presence, login limits, settings and roster changes are the same on both; an
auto-stop happens once; and a Redis restart in the middle of a meeting loses nothing acknowledged.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from account_helpers import run_coroutine
from caddy_helpers import CADDYFILE, UPSTREAM, needs_caddy, running_caddy
from conftest import BACKENDS, CSRF_PATTERN, PASSWORD, ROOT, LiveServer, base_env, database_at, wait_until
from helpers_brainstorming import DEFAULT_CONFIG, control, seed_brainstorm
from helpers_live import RawStream, open_stream, read_all
from helpers_meetings import Person, SeededMeeting, add_people, seed_meeting, shift_segment
from redis_helpers import needs_redis

from bench import postgres
from bench.redis_server import RedisServer, running_redis
from decidero.meetings import agenda, event_log
from decidero.meetings.models import Activity, Meeting, MeetingEvent
from decidero.platform.bus import Bus, connect
from decidero.platform.db import Database
from decidero.platform.models import User
from decidero.platform.ratelimit import SharedCreationLimiter

pytestmark = needs_redis
METRICS_TOKEN = "metrics-token-for-the-two-worker-tests-0123456789"
GROUP_NUMBER = re.compile(r'<tbody class="idea-group" id="idea-group-\d+" data-number="(\d+)"')
HOSTING = (ROOT / "deploy" / "HOSTING.md").read_text()
# Two workers on either backend; the other tests run on SQLite only.
BOTH = pytest.mark.parametrize("workers", BACKENDS, indirect=True)


@dataclass
class Workers:
    a: LiveServer
    b: LiveServer
    redis: RedisServer
    directory: Path
    database_url: str


@dataclass(frozen=True)
class Proxy:
    """Caddy in front of both workers; requests and streams go wherever it sends them."""

    url: str


@pytest.fixture(scope="module")
def workers(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    backend = getattr(request, "param", "sqlite")
    directory = tmp_path_factory.mktemp(f"workers-{backend}")
    if backend == "sqlite":
        database_url = f"sqlite:///{directory / 'decidero.db'}"
    else:
        database_url = request.getfixturevalue("postgres_server").create_database(template=postgres.TEMPLATE)
    with running_redis(directory) as redis:
        env = base_env(
            directory, DECIDERO_DATABASE_URL=database_url, DECIDERO_REDIS_URL=redis.url, DECIDERO_METRICS_TOKEN=METRICS_TOKEN
        )
        servers = []
        for name in ("a", "b"):
            (directory / name).mkdir()
            servers.append(LiveServer(cwd=directory / name, env=env))
        try:
            for server in servers:
                server.start()
            yield Workers(servers[0], servers[1], redis, directory, database_url)
        finally:
            for server in servers:
                server.stop()


@pytest.fixture
def db(workers: Workers) -> Iterator[Database]:
    with database_at(workers.database_url) as handle:
        yield handle


@pytest.fixture
def people(db: Database) -> dict[str, Person]:
    roles = {"owner": "facilitator", "pat": "participant", "quinn": "participant", "rita": "participant"}
    return add_people(db, roles)


def browser(server: LiveServer | Proxy, person: Person) -> httpx.Client:
    return httpx.Client(base_url=server.url, cookies=person.cookies, headers=person.headers, timeout=15)


def stream(
    server: LiveServer | Proxy, person: Person, meeting: SeededMeeting, db: Database, since: int | None = None
) -> RawStream:
    """A meeting page's stream on ``server``: from the latest event, as a page render embeds it."""
    if since is None:
        since = db.read_sync(lambda: event_log.latest_id(meeting.id))
    opened = open_stream(server.url, f"{meeting.url}/events?since={since}", person.cookie)
    opened.wait_event("hello")
    return opened


def submit(server: LiveServer | Proxy, person: Person, meeting: SeededMeeting, content: str) -> httpx.Response:
    with browser(server, person) as client:
        data = {"content": content, "client_token": f"key-{content}"}
        return client.post(f"{meeting.url}/activities/{meeting.activities[0]}/ideas", data=data)


def numbers(stream: RawStream) -> list[int]:
    """Idea numbers in the order the stream first got them."""
    return list(dict.fromkeys(int(n) for e in stream.events for n in GROUP_NUMBER.findall(e.data)))


def deliveries(stream: RawStream) -> Counter[int]:
    """In how many ``idea_created`` messages each idea arrived (a non-author gets each exactly once;
    a region re-rendered by another event, such as a roster change, shows the board again)."""
    return Counter(int(n) for e in stream.events if e.event == "idea_created" for n in set(GROUP_NUMBER.findall(e.data)))


def event_ids(stream: RawStream) -> list[int]:
    return [int(e.id) for e in stream.events if e.id]


def started_brainstorm(db: Database, people: dict[str, Person]) -> SeededMeeting:
    meeting = seed_brainstorm(db, "owner", ["pat", "quinn", "rita"])
    control(db, meeting.activities[0], "start")
    return meeting


@BOTH
def test_ideas_from_either_worker_reach_streams_on_both_in_order_and_once(
    workers: Workers, db: Database, people: dict[str, Person]
) -> None:
    meeting = started_brainstorm(db, people)
    pat_on_b = stream(workers.b, people["pat"], meeting, db)
    quinn_on_a = stream(workers.a, people["quinn"], meeting, db)

    for n in range(1, 13):
        server = workers.a if n % 2 else workers.b
        assert submit(server, people["rita"], meeting, f"Idea {n}").status_code == 303

    expected = list(range(1, 13))
    read_all([pat_on_b, quinn_on_a], lambda: numbers(pat_on_b) == expected == numbers(quinn_on_a), timeout=10)
    for seen in (pat_on_b, quinn_on_a):
        assert set(deliveries(seen).values()) == {1}, deliveries(seen)
        ids = event_ids(seen)
        assert ids == sorted(set(ids)), ids


def test_a_reconnect_replays_from_the_log_on_the_other_worker(workers: Workers, db: Database, people: dict[str, Person]) -> None:
    meeting = started_brainstorm(db, people)
    on_a = stream(workers.a, people["pat"], meeting, db)
    assert submit(workers.a, people["rita"], meeting, "Before").status_code == 303
    last = int(on_a.wait_event("idea_created").id or 0)
    on_a.close()
    for text in ("Missed 1", "Missed 2"):
        assert submit(workers.a, people["rita"], meeting, text).status_code == 303

    on_b = stream(workers.b, people["pat"], meeting, db, since=last)
    replay = on_b.wait_event("replay")

    assert "Missed 1" in replay.data and "Missed 2" in replay.data and "Before" not in replay.data


def test_presence_is_shared_and_a_person_on_both_workers_joins_once(
    workers: Workers, db: Database, people: dict[str, Person]
) -> None:
    meeting = seed_meeting(db, "owner", ["pat", "quinn"])
    pat = people["pat"]
    owner_on_b = stream(workers.b, people["owner"], meeting, db)
    owner_on_b.wait_event("presence")  # the owner's own arrival
    joined = len(owner_on_b.events)

    pat_on_a = stream(workers.a, pat, meeting, db)
    seen = owner_on_b.wait_for(lambda e: e.event == "presence" and f'data-user="{pat.user_id}"' in e.data, start=joined)
    assert f'data-user="{pat.user_id}"' in seen.data.split("Not connected")[0]  # listed as present
    with browser(workers.b, people["owner"]) as client:
        page = client.get(meeting.url).text
    assert f'data-user="{pat.user_id}"' in page

    after = len(owner_on_b.events)
    pat_on_b = stream(workers.b, pat, meeting, db)  # a second tab, on the other worker
    owner_on_b.read_for(1.5)  # the presence window (0.5 s) and then some
    name = db.read_sync(lambda: User.get_by_id(pat.user_id).display_name)
    logged = db.read_sync(
        lambda: [e.summary for e in MeetingEvent.select().where(MeetingEvent.meeting_id == meeting.id, MeetingEvent.type == "presence")]
    )

    assert [s for s in logged if name in s] == [f"{name} joined the meeting."]
    assert [e for e in owner_on_b.events[after:] if e.event == "presence"] == []
    pat_on_a.close()
    pat_on_b.close()


def test_login_failures_count_across_workers(workers: Workers, db: Database) -> None:
    add_people(db, {"locked": "participant"})
    clients = [httpx.Client(base_url=s.url, timeout=15) for s in (workers.a, workers.b)]

    def attempt(client: httpx.Client, password: str) -> int:
        token = CSRF_PATTERN.search(client.get("/login").text)
        assert token
        return client.post("/login", data={"login": "locked", "password": password, "csrf_token": token.group(1)}).status_code

    try:
        failures = [attempt(clients[n % 2], "Wrong-passw0rd") for n in range(8)]  # the default limit: 8
        after = [attempt(client, PASSWORD) for client in clients]
    finally:
        for client in clients:
            client.close()

    assert failures == [401] * 8
    assert after == [429, 429]  # 4 failures on each worker, yet both count all 8


@BOTH
def test_an_auto_stop_happens_once_with_two_workers_ticking(workers: Workers, db: Database, people: dict[str, Person]) -> None:
    meeting = seed_meeting(db, "owner", ["pat"], activities=())

    def add() -> list[str]:
        row = Meeting.get_by_id(meeting.id)
        common = {"instructions": "", "time_limit_minutes": 1, "auto_stop": True}
        made = [agenda.add_activity(row, "brainstorming", {"title": f"Round {n}", **common}, DEFAULT_CONFIG, people["owner"].user_id) for n in range(3)]
        return [activity.id for activity, _ in made]

    activity_ids = db.write_sync(add)
    streams = [stream(server, people["owner"], meeting, db) for server in (workers.a, workers.b)]
    for activity_id in activity_ids:
        control(db, activity_id, "start")
        shift_segment(db, activity_id, 61)  # a minute has passed: both workers find it due

    wait_until(lambda: db.read_sync(lambda: all(Activity.get_by_id(a).state == "stopped" for a in activity_ids)), 10)
    for opened in streams:
        opened.read_for(2.5)  # both tickers run twice more (every second)

    def stops() -> Counter[str]:
        rows = MeetingEvent.select().where(MeetingEvent.meeting_id == meeting.id, MeetingEvent.type == "activity_state")
        return Counter(e.activity_id for e in rows if e.payload.get("action") == "auto_stop")

    assert db.read_sync(stops) == Counter(dict.fromkeys(activity_ids, 1))
    for opened in streams:  # each worker published the stops to its own stream
        assert any(e.event == "activity_state" and "stopped automatically" not in e.data for e in opened.events)
        opened.close()


@BOTH
def test_time_is_up_is_said_once_with_two_workers_ticking(workers: Workers, db: Database, people: dict[str, Person]) -> None:
    meeting = seed_meeting(db, "owner", ["pat"], activities=())

    def add() -> list[str]:
        row = Meeting.get_by_id(meeting.id)
        common = {"instructions": "", "time_limit_minutes": 1, "auto_stop": False}
        made = [agenda.add_activity(row, "brainstorming", {"title": f"Round {n}", **common}, DEFAULT_CONFIG, people["owner"].user_id) for n in range(3)]
        return [activity.id for activity, _ in made]

    def said() -> Counter[str]:
        rows = MeetingEvent.select().where(MeetingEvent.meeting_id == meeting.id, MeetingEvent.type == "activity_state")
        return Counter(e.activity_id for e in rows if e.payload.get("action") == "time_up")

    activity_ids = db.write_sync(add)
    opened = stream(workers.a, people["owner"], meeting, db)
    for activity_id in activity_ids:
        control(db, activity_id, "start")
        shift_segment(db, activity_id, 61)  # a minute has passed: both workers find it due

    wait_until(lambda: set(db.read_sync(said)) == set(activity_ids), 10)
    opened.read_for(2.5)  # both tickers run twice more (every second)

    assert db.read_sync(said) == Counter(dict.fromkeys(activity_ids, 1))
    assert db.read_sync(lambda: {Activity.get_by_id(a).state for a in activity_ids}) == {"running"}
    opened.close()


def test_a_settings_change_on_one_worker_applies_on_the_other(workers: Workers, db: Database) -> None:
    admin = add_people(db, {"boss": "super_admin"})["boss"]
    with browser(workers.a, admin) as on_a, browser(workers.b, admin) as on_b:
        saved = on_a.post("/settings", data={"tab": "brainstorming", "brainstorming.idea_character_limit": "777"})
        assert saved.status_code == 303, saved.text[:300]

        def shown_on_b() -> str:
            page = on_b.get("/settings?tab=brainstorming").text
            found = re.search(r'name="brainstorming\.idea_character_limit"[^>]*value="(\d+)"', page)
            return found.group(1) if found else ""

        wait_until(lambda: shown_on_b() == "777", 5, message="worker B shows the saved setting")
        assert on_a.post("/settings/brainstorming.idea_character_limit/reset").status_code == 303
        wait_until(lambda: shown_on_b() == "500", 5, message="worker B shows the reset setting")


def test_a_roster_change_on_one_worker_ends_the_stream_and_access_on_the_other(
    workers: Workers, db: Database, people: dict[str, Person]
) -> None:
    meeting = seed_meeting(db, "owner", ["pat", "quinn"])
    pat_on_b = stream(workers.b, people["pat"], meeting, db)
    with browser(workers.b, people["owner"]) as owner_on_b:
        assert "quinn" in owner_on_b.get(f"{meeting.url}/roster").text  # cached on B from here on

        with browser(workers.a, people["owner"]) as owner_on_a:
            removed = owner_on_a.post(f"{meeting.url}/roster/remove", data={"user": people["pat"].user_id})
        assert removed.status_code == 303, removed.text[:300]

        ended = pat_on_b.wait_event("access_revoked")
        roster_on_b = owner_on_b.get(f"{meeting.url}/roster").text
    with browser(workers.b, people["pat"]) as pat_b:
        refused = pat_b.get(meeting.url)

    assert "dashboard" in ended.data
    assert f'value="{people["pat"].user_id}"' not in roster_on_b and f'value="{people["quinn"].user_id}"' in roster_on_b
    assert refused.status_code in (403, 404)


def test_a_redis_restart_mid_meeting_loses_nothing_acknowledged(workers: Workers, db: Database, people: dict[str, Person]) -> None:
    meeting = started_brainstorm(db, people)
    pat_on_b = stream(workers.b, people["pat"], meeting, db)
    quinn_on_b = stream(workers.b, people["quinn"], meeting, db)
    acknowledged = []

    def write(server: LiveServer, text: str) -> None:
        response = submit(server, people["rita"], meeting, text)
        assert response.status_code == 303, response.text[:300]
        acknowledged.append(text)

    write(workers.a, "Before the outage")
    pat_on_b.wait_for(lambda e: "Before the outage" in e.data)
    workers.redis.stop()
    for n in range(3):
        write(workers.a if n % 2 == 0 else workers.b, f"During the outage {n}")
    with browser(workers.a, people["owner"]) as owner_on_a:  # B cannot be told while Redis is away
        assert owner_on_a.post(f"{meeting.url}/roster/remove", data={"user": people["quinn"].user_id}).status_code == 303
    with httpx.Client(base_url=workers.b.url) as client:
        assert client.get("/health").json() == {"status": "healthy", "database": "connected", "redis": "reconnecting"}
    workers.redis.start()
    for server in (workers.a, workers.b):
        wait_until(lambda s=server: httpx.get(s.url + "/health").json().get("redis") == "connected", 10, message="reconnected")
    for n in range(3):
        write(workers.a, f"After the outage {n}")

    wanted = set(range(1, len(acknowledged) + 1))
    read_all([pat_on_b], lambda: set(numbers(pat_on_b)) == wanted, timeout=10)
    assert numbers(pat_on_b) == sorted(wanted)
    assert set(deliveries(pat_on_b).values()) == {1}
    text = "".join(e.data for e in pat_on_b.events)
    assert all(t in text for t in acknowledged)
    ids = event_ids(pat_on_b)
    assert ids == sorted(set(ids))
    quinn_on_b.wait_event("access_revoked")  # judged again once Redis was back
    quinn_on_b.close()


def two_worker_caddyfile(workers: Workers) -> str:
    """The shipped Caddyfile with its upstream replaced by HOSTING.md's several-workers block, whose
    upstreams become the two workers (the first one through caddy_helpers' usual substitution)."""
    block = re.search(r"```caddyfile\n(.*?)```", HOSTING, re.S)
    assert block and "127.0.0.1:8001 127.0.0.1:8002" in block.group(1)
    upstreams = block.group(1).replace("127.0.0.1:8001", UPSTREAM).replace("127.0.0.1:8002", f"127.0.0.1:{workers.b.port}")
    text = CADDYFILE.read_text()
    return text.replace(f"\treverse_proxy {UPSTREAM}\n", upstreams)


def series_names(text: str) -> set[str]:
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}


def open_streams(server: LiveServer) -> float:
    found = re.search(r"^decidero_open_streams (\S+)$", httpx.get(server.url + "/metrics").text, re.M)
    assert found
    return float(found.group(1))


@needs_caddy
def test_behind_caddy_with_both_workers_as_upstreams_a_meeting_runs_live(
    workers: Workers, db: Database, people: dict[str, Person], tmp_path: Path
) -> None:
    meeting = started_brainstorm(db, people)
    with running_caddy(tmp_path, workers.a.port, two_worker_caddyfile(workers)) as url:
        proxy = Proxy(url)
        streams = [stream(proxy, people[login], meeting, db) for login in ("owner", "pat", "quinn")]
        spread = (open_streams(workers.a), open_streams(workers.b))
        for n in range(1, 7):
            assert submit(proxy, people["rita"], meeting, f"Through Caddy {n}").status_code == 303
        read_all(streams, lambda: all(numbers(s) == [1, 2, 3, 4, 5, 6] for s in streams), timeout=10)
        for opened in streams:
            opened.close()  # before Caddy stops: it would wait for open streams
        smoke = subprocess.run(
            [str(ROOT / "deploy" / "smoke.sh"), url, "owner", PASSWORD],
            capture_output=True, text=True, timeout=60,
            env={**os.environ, "SMOKE_MEETING_ID": meeting.id, "SMOKE_STREAM_SECONDS": "2"},
        )  # fmt: skip

    assert min(spread) >= 1 and sum(spread) == 3, spread  # least_conn put streams on both workers
    assert all(set(deliveries(seen).values()) == {1} for seen in streams)
    assert smoke.returncode == 0 and "smoke: 5 passed, 0 failed" in smoke.stdout, smoke.stdout + smoke.stderr


@needs_caddy
def test_metrics_answer_loopback_and_the_token_but_not_a_proxied_stranger(
    workers: Workers, db: Database, people: dict[str, Person], tmp_path: Path
) -> None:
    meeting = started_brainstorm(db, people)
    watching = stream(workers.a, people["pat"], meeting, db)
    assert submit(workers.a, people["rita"], meeting, "Counted").status_code == 303
    watching.wait_event("idea_created")

    local = httpx.get(workers.a.url + "/metrics")
    forwarded = httpx.get(workers.a.url + "/metrics", headers={"X-Forwarded-For": "127.0.0.1"})
    with running_caddy(tmp_path, workers.a.port, two_worker_caddyfile(workers)) as proxy:
        health = {httpx.get(proxy + "/health").status_code for _ in range(4)}
        stranger = httpx.get(proxy + "/metrics")
        scraper = httpx.get(proxy + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        wrong = httpx.get(proxy + "/metrics", headers={"Authorization": "Bearer not-the-token"})
    watching.close()

    assert local.status_code == 200 and local.headers["content-type"].startswith("text/plain")
    assert forwarded.status_code == stranger.status_code == wrong.status_code == 403
    assert health == {200}
    assert scraper.status_code == 200 and "decidero_open_streams" in scraper.text
    series = series_names(local.text)
    monitoring = HOSTING.split("## 18. Monitoring", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"\bdecidero_[a-z_]+", monitoring)) - {"decidero_health"}  # (a job name)
    assert all(name in series or f"{name}_bucket" in series for name in documented), documented - series
    assert {
        "decidero_http_request_duration_seconds_bucket",
        "decidero_open_streams",
        "decidero_publish_lag_seconds_bucket",
        "decidero_events_published_total",
        "decidero_streams_dropped_total",
        "decidero_db_write_queue",
        "decidero_redis_connected",
    } <= series
    submits = [
        line
        for line in local.text.splitlines()
        if line.startswith("decidero_http_request_duration_seconds_count")
        and 'route="/meeting/{mid}/activities/{aid}/ideas"' in line
        and 'method="POST"' in line
        and 'status="303"' in line
    ]
    assert len(submits) == 1 and not submits[0].endswith(" 0.0"), submits
    assert re.search(r"^decidero_open_streams 1\.0$", local.text, re.M)
    assert re.search(r"^decidero_events_published_total [1-9]", local.text, re.M)
    assert re.search(r"^decidero_redis_connected 1\.0$", local.text, re.M)



def test_signing_out_on_one_worker_ends_that_sessions_streams_on_the_other(
    workers: Workers, db: Database, people: dict[str, Person]
) -> None:
    meeting = seed_meeting(db, "owner", ["pat"])
    pat_on_b = stream(workers.b, people["pat"], meeting, db)
    owner_on_b = stream(workers.b, people["owner"], meeting, db)

    with browser(workers.a, people["pat"]) as pat_on_a:
        assert pat_on_a.post("/logout").status_code == 303

    ended = pat_on_b.wait_event("session_expired")
    pat_on_b.wait_closed()
    owner_on_b.read_for(0.5)

    assert "sign in again" in ended.data
    assert not owner_on_b.closed and all(e.event != "session_expired" for e in owner_on_b.events)
    owner_on_b.close()


def test_the_guest_creation_cap_is_counted_in_redis_for_every_worker(workers: Workers) -> None:
    """Two limiters (as two workers hold) over the same Redis share one window per address."""

    async def takes() -> list[int]:
        clients = [connect(workers.redis.url) for _ in range(2)]
        try:
            first, second = (SharedCreationLimiter(c, f"guests-test-{workers.redis.port}", 2, 60) for c in clients)
            return [await first.acquire("1.2.3.4"), await second.acquire("1.2.3.4"), await first.acquire("1.2.3.4"),
                    await second.acquire("1.2.3.4"), await second.acquire("5.6.7.8")]  # fmt: skip
        finally:
            for client in clients:
                await client.aclose()

    first, second, third, fourth, other = run_coroutine(takes())

    assert (first, second, other) == (0, 0, 0)
    assert 1 <= third <= 60 and 1 <= fourth <= 60


def test_installations_on_different_redis_databases_do_not_hear_each_other(workers: Workers) -> None:
    """Pub/sub ignores database numbers, so the bus names the database in its channel."""
    base = workers.redis.url.rsplit("/", 1)[0]

    async def exchange() -> dict[str, list[str]]:
        buses = {name: Bus(connect(f"{base}/{name[-1]}")) for name in ("a0", "b0", "a1", "b1")}
        heard: dict[str, list[str]] = {name: [] for name in buses}
        for name, bus in buses.items():
            bus.on("note", lambda data, name=name: heard[name].append(data["text"]))
            bus.start()

        async def until(condition: Callable[[], bool]) -> None:
            async with asyncio.timeout(5):
                while not condition():
                    await asyncio.sleep(0.01)

        try:
            await until(lambda: all(bus.connected for bus in buses.values()))
            buses["a0"].tell("note", text="for database 0")
            await until(lambda: bool(heard["b0"]))
            # Published after the first note reached b0: had b1 been on database 0's channel, the
            # first note would have reached it before this one.
            buses["a1"].tell("note", text="for database 1")
            await until(lambda: bool(heard["b1"]))
        finally:
            for bus in buses.values():
                await bus.stop()
        return heard

    heard = run_coroutine(exchange())

    assert heard == {"a0": [], "b0": ["for database 0"], "a1": [], "b1": ["for database 1"]}
