"""``python -m bench.submits``: what one idea submission costs on each backend, with no crowd.

    python -m bench.submits                     # 300 submissions on SQLite, then on Postgres
    python -m bench.submits --backend postgres --count 1000
    python -m bench.submits --at-once 32 --count 3000   # one meeting's write path when submissions queue
    python -m bench.submits --at-once 32 --count 3000 --backend postgres --workers 2
    python -m bench.submits --at-once 32 --count 3000 --backend postgres --workers 2 --meetings 2

A real server on loopback (as ``just bench`` starts it) and a throwaway Postgres with durability on;
participants take turns submitting one idea at a time, so each figure is one request's round trip
through the write path and its commit, never a queue behind others. The first 20 are warm-up.

With ``--at-once K``, K participants submit without pause, each its next idea as soon as the last
one is answered, all to one meeting: the submissions queue on the meeting's write path, and the
throughput is that path's ceiling (no streams, no fan-out: the write path alone). With
``--meetings M`` the submitters are shared out over M meetings with the same roster, which run
side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from . import setup
from .fleet import fresh_servers

PEOPLE = 20
WARM_UP = 20


async def _submit_times(urls: list[str], plans: list[setup.Plan], count: int, at_once: int) -> tuple[list[float], float]:
    """Each measured submission's time in ms (sorted), and the seconds the measured ones took.
    Participants are spread over the workers' ``urls`` in turn, submitters over the ``plans``' meetings."""
    async with httpx.AsyncClient(base_url=urls[0], timeout=30) as facilitator:
        setup._expect(await setup.sign_in(facilitator, setup.FACILITATOR_LOGIN), "sign in the facilitator")
        for plan in plans:
            await setup.prepare_meeting(facilitator, plan)
    browsers = []
    for n, login in enumerate(plans[0].participants):
        browser = httpx.AsyncClient(base_url=urls[n % len(urls)], timeout=30)
        setup._expect(await setup.sign_in(browser, login), f"sign in {login}")
        page = await browser.get(f"/meeting/{plans[0].meeting_id}")
        browsers.append((browser, setup.page_csrf(page.text)))
    paths = [f"/meeting/{plan.meeting_id}/activities/{plan.brainstorming_id}/ideas" for plan in plans]
    times: list[float] = []
    numbers = iter(range(count + WARM_UP))

    async def submit(browser: httpx.AsyncClient, csrf: str, n: int, path: str = paths[0]) -> None:
        data = {"content": f"Idea number {n}", "client_token": f"submit-{n}", "csrf_token": csrf}
        started = time.perf_counter()
        response = await browser.post(path, data=data, headers={"HX-Request": "true", "X-CSRF-Token": csrf})
        if n >= WARM_UP:
            times.append(1000 * (time.perf_counter() - started))
        setup._expect(response, f"submission {n}")

    async def keep_submitting(mine: list[tuple[httpx.AsyncClient, str]], path: str) -> None:
        """One after another, each by the next of ``mine`` in turn (a person's ideas are capped)."""
        for turn, n in enumerate(numbers):
            await submit(*mine[turn % len(mine)], n, path)

    try:
        for n in range(WARM_UP):
            await submit(*browsers[n % len(browsers)], next(numbers))
        started = time.perf_counter()
        await asyncio.gather(*(keep_submitting(browsers[k::at_once], paths[k % len(paths)]) for k in range(at_once)))
        seconds = time.perf_counter() - started
    finally:
        for browser, _ in browsers:
            await browser.aclose()
    return sorted(times), seconds


def measure(backend: str, count: int, at_once: int = 1, workers: int = 1, meetings: int = 1) -> dict[str, Any]:
    with ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="decidero-submits-")))
        servers, _, database, _ = fresh_servers(stack, root, workers, backend)
        plan = setup.prepare_database(database, max(PEOPLE, at_once))
        plans = [plan, *(setup.another_meeting(plan) for _ in range(meetings - 1))]
        try:
            for server in servers:
                server.start()
            times, seconds = asyncio.run(_submit_times([server.url for server in servers], plans, count, at_once))
        finally:
            for server in servers:
                server.stop()
        logged = [sum(1 for event in setup.event_log(database, p.meeting_id) if event[1] == "idea_created") for p in plans]
    return {
        "p50": round(statistics.median(times), 1),
        "p95": round(times[int(0.95 * (len(times) - 1))], 1),
        "p99": round(times[int(0.99 * (len(times) - 1))], 1),
        "per_second": round(count / seconds, 1),
        "logged": logged,  # ideas each meeting's log holds afterwards, warm-up included
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.submits", description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres"), action="append", help="default: both, in turn")
    parser.add_argument("--count", type=int, default=300, help="measured submissions per backend")
    parser.add_argument("--at-once", type=int, default=1, help="participants submitting at the same time (default 1)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers on the one database (more than 1 starts Redis)")
    parser.add_argument("--meetings", type=int, default=1, help="meetings the submitters are shared out over (default 1)")
    args = parser.parse_args()
    if min(args.at_once, args.workers, args.count, args.meetings) < 1:
        parser.error("--at-once, --workers, --count and --meetings must be at least 1")
    if args.meetings > args.at_once:
        parser.error("--meetings cannot exceed --at-once: each meeting needs a submitter")
    how = "one at a time" if args.at_once == 1 else f"{args.at_once} at once"
    how += f", {args.workers} workers" if args.workers > 1 else ""
    how += f", {args.meetings} meetings" if args.meetings > 1 else ""
    for backend in args.backend or ["sqlite", "postgres"]:
        figures = measure(backend, args.count, args.at_once, args.workers, args.meetings)
        per_second, logged = figures.pop("per_second"), figures.pop("logged")
        times = ", ".join(f"{k} {v}" for k, v in figures.items())
        print(f"{backend}: {args.count} submissions {how}, {per_second} per s; ms: {times}; {sum(logged)} ideas logged with the warm-up")


if __name__ == "__main__":
    main()
