"""``python -m bench.submits``: what one idea submission costs on each backend, with no crowd.

    python -m bench.submits                     # 300 submissions on SQLite, then on Postgres
    python -m bench.submits --backend postgres --count 1000

A real server on loopback (as ``just bench`` starts it) and a throwaway Postgres with durability on;
participants take turns submitting one idea at a time, so each figure is one request's round trip
through the write path and its commit, never a queue behind others. The first 20 are warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from . import postgres, setup
from .server import BenchServer

PEOPLE = 20
WARM_UP = 20


async def _submit_times(url: str, plan: setup.Plan, count: int) -> list[float]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as facilitator:
        setup._expect(await setup.sign_in(facilitator, setup.FACILITATOR_LOGIN), "sign in the facilitator")
        await setup.prepare_meeting(facilitator, plan)
    browsers = []
    for login in plan.participants:
        browser = httpx.AsyncClient(base_url=url, timeout=30)
        setup._expect(await setup.sign_in(browser, login), f"sign in {login}")
        page = await browser.get(f"/meeting/{plan.meeting_id}")
        browsers.append((browser, setup.page_csrf(page.text)))
    path = f"/meeting/{plan.meeting_id}/activities/{plan.brainstorming_id}/ideas"
    times = []
    try:
        for n in range(count + WARM_UP):
            browser, csrf = browsers[n % len(browsers)]
            data = {"content": f"Idea number {n}", "client_token": f"submit-{n}", "csrf_token": csrf}
            started = time.perf_counter()
            response = await browser.post(path, data=data, headers={"HX-Request": "true", "X-CSRF-Token": csrf})
            times.append(1000 * (time.perf_counter() - started))
            setup._expect(response, f"submission {n}")
    finally:
        for browser, _ in browsers:
            await browser.aclose()
    return sorted(times[WARM_UP:])


def measure(backend: str, count: int) -> dict[str, float]:
    with ExitStack() as stack:
        server = BenchServer(Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="decidero-submits-"))))
        database: Path | str = server.database_path
        if backend == "postgres":
            database = server.database_url = stack.enter_context(postgres.running_postgres(durable=True)).create_database()
        plan = setup.prepare_database(database, PEOPLE)
        server.start()
        try:
            times = asyncio.run(_submit_times(server.url, plan, count))
        finally:
            server.stop()
    return {
        "p50": round(statistics.median(times), 1),
        "p95": round(times[int(0.95 * (len(times) - 1))], 1),
        "p99": round(times[int(0.99 * (len(times) - 1))], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.submits", description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres"), action="append", help="default: both, in turn")
    parser.add_argument("--count", type=int, default=300, help="measured submissions per backend")
    args = parser.parse_args()
    for backend in args.backend or ["sqlite", "postgres"]:
        figures = measure(backend, args.count)
        print(f"{backend}: {args.count} submissions one at a time, ms: " + ", ".join(f"{k} {v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
