"""How long a meeting export and import take (issue 15: a 2,000-idea meeting exports in under 2 s,
without holding the writer).

    python -m bench.exchange                  # 2,000 ideas, 5 runs
    python -m bench.exchange --ideas 5000 --runs 3

On a temporary database it seeds a meeting with 50 participants: a stopped brainstorm of ``--ideas``
ideas (a comment on every fourth), its ideas transferred into a categorization (an item and a
provenance row each, the items spread over 10 buckets) and a dot vote of 20 options where everyone
spent 5 dots. Then, ``--runs`` times:

- export: the snapshot in one read transaction on a reader thread, then JSON and zip, as
  ``GET /meeting/{id}/export`` does; meanwhile a writer probe commits a one-row write every 10 ms
  and reports its slowest wait (what any submit would have waited while the export ran), beside
  the same probe's slowest wait with nothing else running;
- import: read and check the zip (JSON, schema, ids), then the one write transaction that creates
  the meeting, as ``POST /meeting/import`` does.

Then the same meeting on a real server (uvicorn as operators run it, ``bench.server``), signed in as
its facilitator: ``GET /meeting/{id}/export`` and ``POST /meeting/import`` timed at the client, while
``/health`` is fetched every 20 ms (its slowest answer during the exports: how long the event loop
was held).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from decidero import activities  # noqa: F401 - registers the activity types
from decidero.activities.ballots.models import VoteAllocation
from decidero.activities.brainstorming.models import Idea
from decidero.activities.categorization.models import BoardItem, BoardState, Bucket
from decidero.exchange import bundle, export
from decidero.exchange import import_ as importing
from decidero.meetings import agenda, transfer
from decidero.meetings.access import access_for
from decidero.meetings.ids import next_meeting_id, reserve
from decidero.meetings.models import Activity, Meeting, MeetingMember
from decidero.platform.accounts import create_user
from decidero.platform.db import Database
from decidero.platform.models import RuntimeSetting, User, utcnow
from decidero.platform.runtime_settings import RuntimeSettings
from decidero.schema import migrate

from . import setup
from .server import BenchServer

PEOPLE = 50


def seed(db: Database, settings: RuntimeSettings, ideas: int, owner_login: str) -> str:
    """The meeting described above, owned by the facilitator ``owner_login``; returns its id."""

    def people_and_ideas() -> tuple[str, str]:
        owner = User.get(User.login == owner_login)
        people = [create_user(login=f"bench-p{n:02d}", password_hash=None, first_name=f"P{n:02d}", email=f"p{n:02d}@bench.test") for n in range(PEOPLE)]
        meeting = Meeting.create(id=next_meeting_id(utcnow()), title="Exchange bench", owner=owner)
        MeetingMember.insert_many([{"meeting": meeting.id, "user": p.id, "role": "participant"} for p in people]).execute()
        config = {"allow_comments": True, "anonymous": False, "prompt": "", "char_limit": None, "max_ideas_per_user": None}
        donor, _ = agenda.add_activity(meeting, "brainstorming", {"title": "Ideas", "instructions": ""}, config, owner.id)
        first = reserve(f"idea:{donor.id}", ideas)
        rows = [
            {"activity": donor.id, "number": first + n, "author": people[n % PEOPLE].id, "author_name": people[n % PEOPLE].display_name,
             "content": f"Idea number {n} about the venue, the food and the budget"}
            for n in range(ideas)
        ]
        for start in range(0, len(rows), 500):
            Idea.insert_many(rows[start : start + 500]).execute()
        parents = Idea.select(Idea.id, Idea.number).where(Idea.activity == donor.id, Idea.number % 4 == 0)
        comments = [{"activity": donor.id, "number": p.number, "sub": 1, "parent": p.id, "author": people[0].id, "author_name": "P00", "content": "a comment"} for p in parents]
        for start in range(0, len(comments), 500):
            Idea.insert_many(comments[start : start + 500]).execute()
        Activity.update(state="stopped", started_at=utcnow(), stopped_at=utcnow()).where(Activity.id == donor.id).execute()
        return meeting.id, donor.id

    meeting_id, donor_id = db.write_sync(people_and_ideas)
    owner = db.read_sync(lambda: User.get(User.login == owner_login))
    access = db.read_sync(lambda: access_for(meeting_id, owner))
    draft = db.read_sync(lambda: transfer.fresh_draft(Activity.get_by_id(donor_id)))
    draft.target_type, draft.target_title, draft.mode, draft.include_comments = "categorization", "Sort", "new", False
    db.write_sync(lambda: transfer.commit(access, donor_id, draft, None, settings))

    def board_and_votes() -> None:
        sort = Activity.get((Activity.meeting == meeting_id) & (Activity.type == "categorization"))
        BoardState.create(activity=sort.id)
        buckets = [f"{sort.id}:unsorted", *(f"{sort.id}:bucket-{n}" for n in range(1, 11))]
        Bucket.insert_many([{"id": b, "activity": sort.id, "position": n, "title": f"Bucket {n}" if n else "Unsorted Ideas"} for n, b in enumerate(buckets)]).execute()
        items = [{"id": i["id"], "activity": sort.id, "bucket": buckets[n % 11], "position": n, "text": i["text"]} for n, i in enumerate(sort.config["items"])]
        for start in range(0, len(items), 500):
            BoardItem.insert_many(items[start : start + 500]).execute()
        Activity.update(state="stopped", started_at=utcnow(), stopped_at=utcnow()).where(Activity.id == sort.id).execute()
        options = [f"Option {n}" for n in range(20)]
        vote, _ = agenda.add_activity(Meeting.get_by_id(meeting_id), "voting", {"title": "Vote", "instructions": ""},
                                      {"options": options, "max_votes": 5, "max_per_option": 5}, owner.id)
        people = list(User.select().where(User.login.startswith("bench-p")))
        VoteAllocation.insert_many([{"activity": vote.id, "user": p.id, "option_id": f"{vote.id}:opt-{n % 20 + 1}", "count": 5} for n, p in enumerate(people)]).execute()
        Activity.update(state="stopped", started_at=utcnow(), stopped_at=utcnow()).where(Activity.id == vote.id).execute()

    db.write_sync(board_and_votes)
    return meeting_id


class WriterProbe:
    """Commits a tiny write every 10 ms on the app's write path and keeps the slowest wait."""

    def __init__(self, db: Database) -> None:
        self.db, self.slowest, self._stop = db, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> WriterProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.perf_counter()
            self.db.write_sync(lambda: RuntimeSetting.replace(key="bench.probe", value="1").execute())
            self.slowest = max(self.slowest, time.perf_counter() - began)
            time.sleep(0.01)


def run(ideas: int, runs: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory(prefix="decidero-exchange-bench-") as tmp:
        db = Database(Path(tmp) / "decidero.db")
        try:
            migrate(db)
            settings = RuntimeSettings(db)
            settings.load()
            owner = db.write_sync(lambda: create_user(login="bench-fac", password_hash=None, role="facilitator", first_name="Fac"))
            meeting_id = seed(db, settings, ideas, "bench-fac")
            figures: dict[str, list[float]] = {}
            for number in range(runs):
                with WriterProbe(db) as idle:
                    time.sleep(0.3)  # the same probe with nothing else running: its baseline
                figures.setdefault("writer wait, idle", []).append(idle.slowest)
                with WriterProbe(db) as probe:
                    began = time.perf_counter()
                    data = db.read_sync(lambda: export.snapshot(meeting_id, utcnow()))
                    snapshot = time.perf_counter() - began
                    raw = bundle.write_zip(data)
                    figures.setdefault("export", []).append(time.perf_counter() - began)
                figures.setdefault("export snapshot", []).append(snapshot)
                figures.setdefault("writer wait during export", []).append(probe.slowest)
                figures.setdefault("zip MB", []).append(len(raw) / 1e6)
                began = time.perf_counter()
                checked = bundle.read_bundle(raw)
                importing.check(checked)
                read = time.perf_counter() - began
                db.write_sync(lambda checked=checked, token=f"bench-{number}": importing.import_meeting(owner, checked, token=token, upload_digest="", capacity=2000))  # type: ignore[misc]
                figures.setdefault("import", []).append(time.perf_counter() - began)
                figures.setdefault("import read and check", []).append(read)
            return figures
        finally:
            db.close()


async def slowest_health(client: httpx.AsyncClient, done: asyncio.Event) -> float:
    """``/health`` every 20 ms until ``done``: its slowest answer."""
    slowest = 0.0
    while not done.is_set():
        began = time.perf_counter()
        await client.get("/health")
        slowest = max(slowest, time.perf_counter() - began)
        await asyncio.sleep(0.02)
    return slowest


async def over_http(server: BenchServer, meeting_id: str, runs: int) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {}
    async with httpx.AsyncClient(base_url=server.url, timeout=120) as client, httpx.AsyncClient(base_url=server.url) as prober:
        if (await setup.sign_in(client, setup.FACILITATOR_LOGIN)).status_code != 303:
            raise setup.SetupError("the facilitator could not sign in")
        for number in range(runs):
            done = asyncio.Event()
            probing = asyncio.create_task(slowest_health(prober, done))
            began = time.perf_counter()
            response = await client.get(f"/meeting/{meeting_id}/export")
            figures.setdefault("GET export", []).append(time.perf_counter() - began)
            done.set()
            figures.setdefault("/health slowest during it", []).append(await probing)
            if response.status_code != 200:
                raise setup.SetupError(f"export: HTTP {response.status_code}")
            page = await client.get("/meeting/import")
            fields = {"csrf_token": setup.page_csrf(page.text), "form_token": f"bench-http-{number}"}
            began = time.perf_counter()
            answer = await client.post("/meeting/import", data=fields, files={"bundle": ("m.zip", response.content, "application/zip")})
            figures.setdefault("POST import", []).append(time.perf_counter() - began)
            if answer.status_code != 303:
                raise setup.SetupError(f"import: HTTP {answer.status_code}")
    return figures


def run_http(ideas: int, runs: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory(prefix="decidero-exchange-bench-http-") as tmp:
        server = BenchServer(Path(tmp))
        plan = setup.prepare_database(server.database_path.resolve(), 0)
        db = setup.open_database(plan.database)
        try:
            settings = RuntimeSettings(db)
            settings.load()
            meeting_id = seed(db, settings, ideas, setup.FACILITATOR_LOGIN)
        finally:
            db.close()
        server.start()
        try:
            return asyncio.run(over_http(server, meeting_id, runs))
        finally:
            server.stop()


def report(figures: dict[str, list[float]]) -> None:
    for name, values in figures.items():
        if name == "zip MB":
            print(f"  {name:<28} {values[0]:.2f}")
        else:
            print(f"  {name:<28} median {statistics.median(values) * 1000:7.1f} ms (max {max(values) * 1000:7.1f} ms)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.exchange", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ideas", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    sys.setswitchinterval(0.001)  # as decidero.main runs the app (importing it would open ./decidero.db)
    print(f"Export and import of a meeting with {args.ideas} ideas ({args.ideas // 4} comments), {args.ideas} board items "
          f"with provenance, {PEOPLE} voters; {args.runs} runs. In process:")
    report(run(args.ideas, args.runs))
    print("Over HTTP (uvicorn on loopback, timed at the client):")
    report(run_http(args.ideas, args.runs))


if __name__ == "__main__":
    main()
