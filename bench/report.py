"""``python -m bench.report``: how long the meeting report takes at 2,000 ideas (issue 15: under 2 s,
never holding the writer or the event loop).

    python -m bench.report                       # 2,000 ideas, 5 requests per figure
    python -m bench.report --ideas 5000 --repeat 3

A real server on a temporary database. The facilitator's meeting gets a brainstorm of ``--ideas``
ideas (about a tenth with a comment, seeded by ``bench.seed``) beside a dot vote; both are stopped
and published. Each figure is the median of ``--repeat`` GETs of ``/report`` and ``/report.md``, as
the facilitator and as a participant, timed at the client on an idle loopback. Then the whole board
is transferred into a second brainstorm (every idea with a provenance chain) and timed again.

Last, what a report costs everyone else: for ``--seconds``, ``--crowd`` clients load the
facilitator's report back to back while a participant submits an idea to a running brainstorm every
50 ms (the single writer) and ``/health`` is probed every 20 ms (the event loop).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

import httpx

from . import setup
from .pagecost import run_measure, size_kb, timed_get
from .seed import seed_board
from .server import BenchServer

PARTICIPANTS = 20


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ideas", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--crowd", type=int, default=2, help="clients loading the report while writes and /health are timed")
    parser.add_argument("--seconds", type=float, default=8.0)
    return parser.parse_args(argv)


def stop_publish_and_transfer(path: Path | str, meeting_id: str, activity_ids: list[str], donor_id: str | None) -> str | None:
    """Stop and publish ``activity_ids`` on the database (the server's writer waits its turn); with a
    ``donor_id``, transfer its whole board into a new brainstorm, stopped and published too."""
    from decidero import activities  # noqa: F401 - registers the activity types
    from decidero.meetings import run_control, transfer
    from decidero.meetings.access import access_for
    from decidero.meetings.models import Activity, Meeting
    from decidero.platform.models import User
    from decidero.platform.runtime_settings import RuntimeSettings

    database = setup.open_database(path)
    try:
        def write() -> str | None:
            owner = User.get(User.login == setup.FACILITATOR_LOGIN)
            for activity_id in activity_ids:
                activity = Activity.get_by_id(activity_id)
                if activity.state == "not_started":
                    run_control.control(activity, "start", owner, exclusivity=False)
                    activity = Activity.get_by_id(activity_id)
                if activity.state != "stopped":
                    run_control.control(activity, "stop", owner, exclusivity=False)
                run_control.publish(Activity.get_by_id(activity_id), True, owner)
            if donor_id is None:
                return None
            settings = RuntimeSettings(database)
            settings.load()
            draft = transfer.fresh_draft(Activity.get_by_id(donor_id))
            draft = replace(draft, mode="new", target_type="brainstorming", target_title="Ideas - Transfer")
            transfer.commit(access_for(meeting_id, owner), donor_id, draft, None, settings)
            target = Activity.get(Activity.meeting == Meeting.get_by_id(meeting_id), Activity.title == "Ideas - Transfer")
            run_control.control(target, "start", owner, exclusivity=False)
            run_control.control(Activity.get_by_id(target.id), "stop", owner, exclusivity=False)
            run_control.publish(Activity.get_by_id(target.id), True, owner)
            return str(target.id)

        return database.write_sync(write)
    finally:
        database.close()


async def report_figures(clients: dict[str, httpx.AsyncClient], meeting_id: str, repeat: int) -> list[str]:
    rows = []
    for who, client in clients.items():
        for path in (f"/meeting/{meeting_id}/report", f"/meeting/{meeting_id}/report.md"):
            ms, size = await timed_get(client, path, repeat)
            rows.append(f"| {who} | `{path.rsplit('/', 1)[1]}` | {ms:,.0f} ms | {size_kb(size)} |")
    return rows


async def under_load(url: str, reader: httpx.AsyncClient, writer: httpx.AsyncClient, meeting_id: str, live_id: str, args: argparse.Namespace) -> list[str]:
    """Idea submits (the writer) and /health (the loop) while ``--crowd`` clients load the report."""
    end = time.monotonic() + args.seconds
    loads: list[float] = []
    room = await writer.get(f"/meeting/{meeting_id}")
    csrf = setup.page_csrf(room.text)

    async def load_reports() -> None:
        async with httpx.AsyncClient(base_url=url, cookies=reader.cookies, timeout=60) as client:
            while time.monotonic() < end:
                started = time.perf_counter()
                response = await client.get(f"/meeting/{meeting_id}/report")
                loads.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise setup.SetupError(f"report under load: HTTP {response.status_code}")

    async def submit() -> list[float]:
        times = []
        while time.monotonic() < end:
            data = {"content": f"Live idea {uuid.uuid4().hex[:8]}", "client_token": str(uuid.uuid4()), "csrf_token": csrf}
            started = time.perf_counter()
            response = await writer.post(f"/meeting/{meeting_id}/activities/{live_id}/ideas", data=data, headers={"X-CSRF-Token": csrf})
            times.append((time.perf_counter() - started) * 1000)
            if response.status_code >= 400:
                raise setup.SetupError(f"idea submit under load: HTTP {response.status_code}")
            await asyncio.sleep(0.05)
        return times

    async def probe() -> list[float]:
        waits = []
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            while time.monotonic() < end:
                started = time.perf_counter()
                await client.get("/health")
                waits.append((time.perf_counter() - started) * 1000)
                await asyncio.sleep(0.02)
        return waits

    crowd = [asyncio.create_task(load_reports()) for _ in range(args.crowd)]
    submits, waits = await asyncio.gather(submit(), probe())
    await asyncio.gather(*crowd)
    return [
        f"While {args.crowd} clients loaded the facilitator's report back to back ({len(loads)} loads, median "
        f"{statistics.median(loads):,.0f} ms): idea submit median {statistics.median(submits):.0f} ms, p95 {p95(submits):.0f} ms, "
        f"max {max(submits):.0f} ms ({len(submits)} submits); /health median {statistics.median(waits):.0f} ms, "
        f"p95 {p95(waits):.0f} ms, max {max(waits):.0f} ms ({len(waits)} probes)."
    ]


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[int(0.95 * (len(ordered) - 1))]


async def measure(server: BenchServer, plan: setup.Plan, args: argparse.Namespace) -> list[str]:
    participant = plan.participants[0]
    clients = {login: httpx.AsyncClient(base_url=server.url, timeout=60) for login in (setup.FACILITATOR_LOGIN, participant)}
    try:
        for login, client in clients.items():
            if (await setup.sign_in(client, login)).status_code != 303:
                raise setup.SetupError(f"{login} could not sign in")
        facilitator = clients[setup.FACILITATOR_LOGIN]
        await setup.prepare_meeting(facilitator, plan)
        authors = [plan.user_ids[p] for p in plan.participants]
        seed_board(plan.database, plan.meeting_id, plan.brainstorming_id, authors, args.ideas)
        stop_publish_and_transfer(plan.database, plan.meeting_id, [plan.brainstorming_id, plan.voting_id], None)
        named = {"facilitator": facilitator, "participant": clients[participant]}
        head = ["| Reader | Report | Median | Size |", "|---|---|---:|---:|"]
        lines = [f"Brainstorm of {args.ideas:,} ideas (about a tenth with a comment) and a dot vote, both published:", "", *head]
        lines += await report_figures(named, plan.meeting_id, args.repeat)
        stop_publish_and_transfer(plan.database, plan.meeting_id, [], plan.brainstorming_id)
        lines += ["", f"After Transfer Ideas of the whole board into a second brainstorm ({args.ideas:,} more ideas, each with its source chain):", "", *head]
        lines += await report_figures(named, plan.meeting_id, args.repeat)
        live = await facilitator.post(
            f"/meeting/{plan.meeting_id}/activities",
            data={**setup.BRAINSTORMING_FIELDS, "title": "Live", "csrf_token": setup.page_csrf((await facilitator.get(f"/meeting/{plan.meeting_id}")).text)},
        )
        if live.status_code >= 400:
            raise setup.SetupError(f"add the live brainstorm: HTTP {live.status_code}")
        live_id = [a for a, t in setup.activities(plan.database, plan.meeting_id) if t == "brainstorming"][-1]
        csrf = setup.page_csrf((await facilitator.get(f"/meeting/{plan.meeting_id}")).text)
        await setup.control(facilitator, plan.meeting_id, live_id, "start", csrf)
        lines += ["", *await under_load(server.url, facilitator, clients[participant], plan.meeting_id, live_id, args)]
    finally:
        for client in clients.values():
            await client.aclose()
    return lines


def main(argv: list[str] | None = None) -> int:
    return run_measure("decidero-report-bench-", PARTICIPANTS, measure, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
