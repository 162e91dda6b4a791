"""Fan-out latency of run-control events to many open meeting streams.

    python -m bench.fanout --clients 200 --events 20

Starts Decidero under uvicorn on a free loopback port with a temporary database, seeds a meeting
with one facilitator and ``--clients`` participants (signed in by writing their sessions directly),
opens one event stream per participant with httpx, then has the facilitator start and stop the
activity ``--events`` times. Each ``activity_state`` receipt is timed against the control POST:

- *after response*: receipt time minus the time the POST's response arrived (the server publishes
  before it answers, so small negative values mean the event beat the response);
- *after request*: receipt time minus the time the POST was sent (an upper bound on fan-out).

Only loopback; every wait has a deadline; the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import resource
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from decidero import activities  # noqa: F401 - registers the activity types agenda.add_activity needs
from decidero.meetings import agenda, event_log
from decidero.meetings.ids import next_meeting_id
from decidero.meetings.models import Meeting, MeetingMember
from decidero.platform.accounts import create_user
from decidero.platform.db import Database
from decidero.platform.models import utcnow
from decidero.platform.passwords import hash_password
from decidero.platform.sessions import Signing, create_session
from decidero.schema import migrate

from .server import free_port, wait_until_healthy

ROOT = Path(__file__).resolve().parent.parent
ISSUER = "decidero"
PASSWORD = "Bench-Passw0rd!"


@dataclass
class Seeded:
    meeting_id: str
    activity_id: str
    facilitator_cookie: str
    facilitator_csrf: str
    participant_cookies: list[str]
    since: int = 0  # the event id a freshly rendered meeting page embeds


@dataclass
class Client:
    cookie: str
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    receipts: dict[int, float] = field(default_factory=dict)  # event id → monotonic receipt time
    last_other: float = 0.0  # when any other event (presence, replay) last arrived
    error: str = ""


def seed(db_path: Path, secret: str, clients: int) -> Seeded:
    """Accounts, sessions and a one-activity meeting, through Decidero's own write functions."""
    signing = Signing(secret, ISSUER)
    shared_hash = hash_password(PASSWORD)
    database = Database(db_path)
    try:
        migrate(database)

        def write() -> tuple[Seeded, list[str]]:
            owner = create_user(login="bench-fac", password_hash=shared_hash, role="facilitator", first_name="Fac")
            meeting = Meeting.create(id=next_meeting_id(utcnow()), title="Fan-out bench", owner=owner)
            common = {"title": "Talk", "instructions": "", "time_limit_minutes": None, "auto_stop": False}
            activity, _ = agenda.add_activity(meeting, "discussion", common, {}, owner.id)
            raw_owner = create_session(owner, "127.0.0.1", "bench")
            raws = []
            for number in range(clients):
                user = create_user(login=f"bench-p{number:05d}", password_hash=shared_hash)
                MeetingMember.create(meeting=meeting, user=user, role="participant")
                raws.append(create_session(user, "127.0.0.1", "bench"))
            csrf = signing.csrf_token(hashlib.sha256(raw_owner.encode()).hexdigest())
            seeded = Seeded(meeting.id, activity.id, signing.sign_session(raw_owner), csrf, [])
            seeded.since = event_log.latest_id(meeting.id)
            return seeded, raws

        seeded, raws = database.write_sync(write)
    finally:
        database.close()
    seeded.participant_cookies = [signing.sign_session(raw) for raw in raws]
    return seeded


class Server:
    """``uvicorn decidero.main:app`` as operators run it, in a temporary working directory."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd, self.env, self.port = cwd, env, free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        command = [sys.executable, "-m", "uvicorn", "decidero.main:app", "--host", "127.0.0.1", "--port", str(self.port)]
        env = {**os.environ, **self.env, "PYTHONPATH": str(ROOT)}
        with open(self.cwd / "server.out", "ab") as log:  # the child keeps its own copy
            self.process = subprocess.Popen(command, cwd=self.cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_until_healthy(self.url, self.process, self.cwd / "server.out", timeout)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


async def listen(http: httpx.AsyncClient, path: str, client: Client) -> None:
    """Hold one stream; time every ``activity_state`` frame by its id."""
    headers = {"Cookie": f"decidero_session={client.cookie}", "Accept": "text/event-stream"}
    try:
        async with http.stream("GET", path, headers=headers) as response:
            if response.status_code != 200:
                client.error = f"HTTP {response.status_code}"
                client.ready.set()
                return
            kind, event_id = "", None
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("id:"):
                    event_id = int(line[3:].strip())
                elif line == "":
                    if kind == "hello":
                        client.ready.set()
                    elif kind == "activity_state" and event_id is not None:
                        client.receipts.setdefault(event_id, time.monotonic())
                    elif kind:
                        client.last_other = time.monotonic()
                    kind, event_id = "", None
    except (httpx.HTTPError, asyncio.CancelledError) as exc:
        if not isinstance(exc, asyncio.CancelledError):
            client.error = type(exc).__name__
            client.ready.set()
        else:
            raise


async def drive(server: Server, seeded: Seeded, events: int, interval: float, connect_timeout: float) -> dict[str, object]:
    path = f"/meeting/{seeded.meeting_id}/events?since={seeded.since}"  # as the page connects
    clients = [Client(cookie) for cookie in seeded.participant_cookies]
    limits = httpx.Limits(max_connections=len(clients) + 10, max_keepalive_connections=len(clients) + 10)
    timeout = httpx.Timeout(10.0, read=None)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=timeout) as http:
        tasks = [asyncio.create_task(listen(http, path, client)) for client in clients]
        connect_started = time.monotonic()
        try:
            await asyncio.wait_for(asyncio.gather(*(c.ready.wait() for c in clients)), connect_timeout)
        except TimeoutError:
            pass
        connected = sum(1 for c in clients if c.ready.is_set() and not c.error)
        connect_seconds = time.monotonic() - connect_started
        # Let the presence announcements of everyone's arrival settle (quiet for a second).
        settle_deadline = time.monotonic() + 30.0
        while time.monotonic() < settle_deadline:
            if time.monotonic() - max(c.last_other for c in clients) > 1.0:
                break
            await asyncio.sleep(0.1)

        sent: list[float] = []
        answered: list[float] = []
        headers = {"Cookie": f"decidero_session={seeded.facilitator_cookie}", "X-CSRF-Token": seeded.facilitator_csrf}
        control = f"/meeting/{seeded.meeting_id}/activities/{seeded.activity_id}/control"
        async with httpx.AsyncClient(base_url=server.url, timeout=30.0) as facilitator:
            for number in range(events):
                sent.append(time.monotonic())
                response = await facilitator.post(
                    control, data={"action": "start" if number % 2 == 0 else "stop"}, headers=headers
                )
                answered.append(time.monotonic())
                if response.status_code != 303:
                    raise SystemExit(f"control POST answered {response.status_code}: {response.text[:300]}")
                await asyncio.sleep(interval)

        deadline = time.monotonic() + 15.0
        while time.monotonic() < deadline and any(len(c.receipts) < events for c in clients if not c.error):
            await asyncio.sleep(0.05)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    after_response: list[float] = []
    after_request: list[float] = []
    missing = 0
    for client in clients:
        if client.error:
            continue
        ids = sorted(client.receipts)[:events]  # the k-th activity_state is the k-th control POST
        missing += events - len(ids)
        for number, event_id in enumerate(ids):
            received = client.receipts[event_id]
            after_response.append(received - answered[number])
            after_request.append(received - sent[number])
    posts = [b - a for a, b in zip(sent, answered, strict=True)]
    return {
        "clients": len(clients),
        "connected": connected,
        "connect_seconds": connect_seconds,
        "errors": sorted({c.error for c in clients if c.error}),
        "events": events,
        "expected": connected * events,
        "received": len(after_response),
        "missing": missing,
        "after_response": after_response,
        "after_request": after_request,
        "post": posts,
    }


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def table(result: dict[str, object]) -> str:
    lines = [
        f"clients {result['clients']} · connected {result['connected']} in {float(result['connect_seconds']):.1f} s"  # type: ignore[arg-type]
        + (f" · errors {result['errors']}" if result["errors"] else ""),
        f"events {result['events']} · receipts {result['received']}/{result['expected']} · missing {result['missing']}",
        "",
        f"{'latency (ms)':<34}{'p50':>9}{'p95':>9}{'max':>9}",
    ]
    for label, key in (
        ("receipt - POST response arrived", "after_response"),
        ("receipt - POST sent", "after_request"),
        ("control POST round trip", "post"),
    ):
        values = [v * 1000 for v in result[key]]  # type: ignore[attr-defined]
        if values:
            lines.append(
                f"{label:<34}{statistics.median(values):>9.1f}{percentile(values, 0.95):>9.1f}{max(values):>9.1f}"
            )
    return "\n".join(lines)


def raise_open_file_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200, help="participant streams to hold open")
    parser.add_argument("--events", type=int, default=20, help="control POSTs (start/stop alternately)")
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between control POSTs")
    parser.add_argument("--connect-timeout", type=float, default=60.0, help="seconds to wait for every stream")
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= 5000 or not 1 <= args.events <= 1000:
        parser.error("--clients must be 1–5000 and --events 1–1000")
    raise_open_file_limit(2 * args.clients + 256)

    with tempfile.TemporaryDirectory(prefix="decidero-fanout-") as directory:
        cwd = Path(directory)
        secret = secrets.token_hex(32)
        db_path = cwd / "decidero.db"
        started = time.monotonic()
        seeded = seed(db_path, secret, args.clients)
        print(f"seeded {args.clients} participants in {time.monotonic() - started:.1f} s", flush=True)
        env = {
            "DECIDERO_DATABASE_URL": f"sqlite:///{db_path}",
            "DECIDERO_JWT_SECRET_KEY": secret,
            "DECIDERO_JWT_ISSUER": ISSUER,
            "LOG_LEVEL": "WARNING",
        }
        server = Server(cwd, env)
        server.start()
        try:
            result = asyncio.run(drive(server, seeded, args.events, args.interval, args.connect_timeout))
        finally:
            server.stop()
    print(table(result))
    return 0 if result["missing"] == 0 and result["connected"] == result["clients"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
