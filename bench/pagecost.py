"""``python -m bench.pagecost``: what a page load, a panel, a catch-up and a reconnect cost as the board grows.

    python -m bench.pagecost                                  # boards of 0, 1,000 and 10,000 ideas
    python -m bench.pagecost --ideas 0 2000 --missed 100 5000

A real server on an idle loopback with one facilitator and one participant; the board is seeded
directly (``bench.seed``). Each figure is the median of ``--repeat`` requests, timed at the client,
which on an idle loopback is the server's time plus well under a millisecond. Then, for each
``--missed`` count, that many ideas are logged behind a stream's back and the stream reconnects with
``Last-Event-ID``: the size of what it is sent first (a replay, or a resync). Last, what page loads do
to everyone else: ``/health`` is timed every 20 ms while ``--crowd`` clients load the biggest board's
page back to back; a render that holds the event loop shows as a stall there.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx

from . import setup, sse
from .seed import seed_board
from .server import BenchServer


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.pagecost", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ideas", type=int, nargs="+", default=[0, 1000, 10000], help="board sizes, ascending")
    parser.add_argument("--missed", type=int, nargs="*", default=[100, 499, 5000], help="ideas a reconnecting stream missed")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--crowd", type=int, default=4, help="clients loading pages while /health is timed")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long the crowd loads pages")
    return parser.parse_args(argv)


async def timed_get(client: httpx.AsyncClient, path: str, repeat: int, headers: dict[str, str] | None = None) -> tuple[float, int]:
    """Median milliseconds and the body size in bytes of ``repeat`` GETs."""
    times, size = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        response = await client.get(path, headers=headers or {})
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise setup.SetupError(f"GET {path}: HTTP {response.status_code}")
        size = len(response.content)
    return statistics.median(times), size


async def first_sent(url: str, client: httpx.AsyncClient, meeting_id: str, last_id: int) -> tuple[str, int, float]:
    """Reconnect with ``Last-Event-ID``: the first event after ``hello``, its size, and when it came."""
    got: asyncio.Future[tuple[str, int, float]] = asyncio.get_running_loop().create_future()
    started = time.perf_counter()

    def handle(block: bytes, _now: float) -> None:
        head = block.split(b"\r\n", 2)
        kind = next((line[6:].strip().decode() for line in head if line.startswith(b"event:")), "")
        if kind and kind != "hello" and not got.done():
            got.set_result((kind, len(block), (time.perf_counter() - started) * 1000))

    target = httpx.URL(url)
    cookies = "; ".join(f"{c.name}={c.value}" for c in client.cookies.jar)
    headers = {"Accept": "text/event-stream", "Last-Event-ID": str(last_id), "Cookie": cookies}
    protocol = await sse.open_stream(target.host, target.port or 80, f"/meeting/{meeting_id}/events", headers, handle)
    try:
        return await asyncio.wait_for(got, 30)
    except TimeoutError:
        return "nothing", 0, 30000.0
    finally:
        if protocol.transport is not None:
            protocol.transport.close()


async def measure(server: BenchServer, plan: setup.Plan, args: argparse.Namespace) -> list[str]:
    lines = [
        "| Ideas on the board | Participant page | Facilitator page | Panel fragment | Catch-up (all regions) |",
        "|---:|---:|---:|---:|---:|",
    ]
    clients = {login: httpx.AsyncClient(base_url=server.url, timeout=60) for login in (setup.FACILITATOR_LOGIN, plan.participants[0])}
    try:
        for login, client in clients.items():
            response = await setup.sign_in(client, login)
            if response.status_code != 303:
                raise setup.SetupError(f"{login} sign-in gave HTTP {response.status_code}")
        facilitator, participant = clients[setup.FACILITATOR_LOGIN], clients[plan.participants[0]]
        await setup.prepare_meeting(facilitator, plan)
        authors = list(plan.user_ids[p] for p in plan.participants)
        page, hx = f"/meeting/{plan.meeting_id}", {"HX-Request": "true"}
        panel = f"{page}/activities/{plan.brainstorming_id}"
        have = 0
        for size in args.ideas:
            if size > have:
                seed_board(plan.database, plan.meeting_id, plan.brainstorming_id, authors, size - have)
                have = size
            figures = [
                await timed_get(participant, page, args.repeat),
                await timed_get(facilitator, page, args.repeat),
                await timed_get(participant, panel, args.repeat, hx),
                await timed_get(participant, page, args.repeat, hx),
            ]
            cells = " | ".join(f"{size_kb(b)}, {ms:.0f} ms" for ms, b in figures)
            lines.append(f"| {size:,} | {cells} |")
        lines += ["", "| Ideas missed by a reconnecting stream | First event | Size | Time |", "|---:|---|---:|---:|"]
        for missed in args.missed:
            before = setup.latest_event_id(plan.database, plan.meeting_id)
            seed_board(plan.database, plan.meeting_id, plan.brainstorming_id, authors, missed, events=True)
            kind, size, ms = await first_sent(server.url, participant, plan.meeting_id, before)
            lines.append(f"| {missed:,} | {kind} | {size_kb(size)} | {ms:.0f} ms |")
        lines += ["", *await stalls(server.url, participant, page, args)]
    finally:
        for client in clients.values():
            await client.aclose()
    return lines


async def stalls(url: str, signed_in: httpx.AsyncClient, page: str, args: argparse.Namespace) -> list[str]:
    """How long a trivial request waits while a crowd loads the board's page (event-loop stalls)."""
    end = time.monotonic() + args.seconds
    loads: list[float] = []

    async def load_pages() -> None:
        async with httpx.AsyncClient(base_url=url, cookies=signed_in.cookies, timeout=60) as client:
            while time.monotonic() < end:
                started = time.perf_counter()
                await client.get(page)
                loads.append((time.perf_counter() - started) * 1000)

    async def probe() -> list[float]:
        waits = []
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            while time.monotonic() < end:
                started = time.perf_counter()
                await client.get("/health")
                waits.append((time.perf_counter() - started) * 1000)
                await asyncio.sleep(0.02)
        return waits

    crowd = [asyncio.create_task(load_pages()) for _ in range(args.crowd)]
    waits = await probe()
    await asyncio.gather(*crowd)
    waits.sort()
    p95 = waits[int(0.95 * (len(waits) - 1))]
    # --crowd 0 times /health alone: the baseline the crowd's figure compares with.
    during = f"While {args.crowd} clients loaded the page back to back ({len(loads)} loads, median {statistics.median(loads):.0f} ms)" if loads else "With no page loads"
    return [
        f"{during}: /health answered in median {statistics.median(waits):.0f} ms, p95 {p95:.0f} ms, max {waits[-1]:.0f} ms ({len(waits)} probes)."
    ]


def size_kb(size: int) -> str:
    return f"{size / 1024:,.0f} KB"


Measure = Callable[[BenchServer, setup.Plan, argparse.Namespace], Coroutine[Any, Any, list[str]]]


def run_measure(prefix: str, participants: int, measure: Measure, args: argparse.Namespace) -> int:
    """Start a server on a temporary database with ``participants`` accounts, run ``measure``
    against it, print its lines; 2 when the set-up failed."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        server = BenchServer(Path(tmp))
        plan = setup.prepare_database(server.database_path.resolve(), participants)
        server.start()
        try:
            lines = asyncio.run(measure(server, plan, args))
        except setup.SetupError as exc:
            print(f"Failed: {exc}\n" + server.output()[-3000:], file=sys.stderr)
            return 2
        finally:
            server.stop()
    print("\n".join(lines))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_measure("decidero-pagecost-", 2, measure, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
