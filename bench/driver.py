"""The load driver: one httpx client (own cookie jar) and one held SSE stream per simulated person.

Profiles (SPEC §5.7, issue 7):
- ``classroom``: ideas and comments at 1.0–2.0 per minute each (30 % comments), then the
  facilitator switches to voting and everyone submits one allocation within the vote window;
- ``burst``: everyone submits an idea every 3–7 s;
- ``viewers``: N connections only watch while ``writers`` participants write at the burst rate;
- ``trickle``: people join one every 0.3 s while everyone already in submits an idea every 3–7 s,
  so each join opens a board that is already big and still growing (issue 19). The join figures
  are page GET, stream connect (request to ``hello``) and first event (request to the first event
  with an id), reported separately.

When the server has no brainstorming type yet, the facilitator drives run control (start/stop of a
discussion step) instead, so fan-out is still measured. Every loop is bounded in count and time.
"""

from __future__ import annotations

import asyncio
import math
import random
import re
import ssl
import time
import uuid
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from . import setup, sse

IDEA_TOKEN = re.compile(rb"bx[0-9a-f]{12}")
# Where a rendered idea carries the value a comment's ``parent`` field wants: its label ("12", not
# "12.1"; a reply to a comment attaches to the idea anyway), from the Reply form or the row itself.
PARENT_PATTERNS = (
    re.compile(rb'name="parent"\s+value="([^"]+)"'),
    re.compile(rb'data-label="([^".]+)"'),
)
WORDS = (
    "agenda budget customer delivery feedback quality process team training workshop pilot survey "
    "onboarding roadmap release review schedule support tooling metrics goals risks ideas data"
).split()
MAX_RECONNECTS = 5
MAX_SUBMITS = 2000  # per person per phase
CONNECT_GRACE = 60.0  # beyond the ramp, to wait for every stream
DRAIN_TIMEOUT = 15.0
REQUEST_TIMEOUT = 30.0
# Logged events a participant's stream never carries in this set-up (everyone is in every scope).
FACILITATOR_ONLY = {"roster_changed"}
IDEA_EVENTS = {"idea_created", "idea_updated", "idea_deleted"}  # never carry a voting ballot
BOARD_REFRESH = b'class="idea-board" id="board-'  # a board page sent whole (a replay past a page of ideas)
CONTROL_INTERVAL = {"classroom": 2.0, "burst": 1.0, "viewers": 1.0, "trickle": 1.0}
TRICKLE_GAP = 0.3  # seconds between two people joining a trickle
# What the page scripts retry (SPEC §4.8, §4.9): (retries, first backoff s, last backoff s).
RETRY_POLICY = {"idea": (3, 0.4, 2.5), "comment": (3, 0.4, 2.5), "vote": (2, 0.35, 1.8), "login": (2, 0.45, 1.8)}
RETRY_STATUSES = (429, 502, 503, 504)
# Below uvicorn's 5 s keep-alive, so an idle connection is never reused just as the server drops it.
KEEPALIVE_SECONDS = 3.0


@dataclass
class Options:
    profile: str = "classroom"
    participants: int = 100
    duration: float = 60.0
    vote_window: float = 60.0
    ramp: float | None = None
    writers: int = 20
    streams_per_login: int = 1
    seed: int | None = None
    sse: str = "raw"  # raw (bench/sse.py) or httpx

    @property
    def ramp_seconds(self) -> float:
        if self.ramp is not None:
            return self.ramp
        if self.profile == "trickle":
            return TRICKLE_GAP * (self.people + 1)
        return max(2.0, 0.08 * (self.people + 1))  # ~60 ms of scrypt per login on the server

    @property
    def people(self) -> int:
        """Participant accounts needed (viewers: the writers plus enough logins for N watching streams)."""
        if self.profile != "viewers":
            return self.participants
        return self.writers + math.ceil(self.participants / self.streams_per_login)


@dataclass
class Receiver:
    """One held SSE stream and what arrived on it, one entry per event carrying an ``id:``.

    The server may merge several logged events into one SSE event (a replay, coalesced presence, or
    the unpublished tail of the log): an event with id X then stands for every id after the
    previous one delivered, up to X. So coverage is contiguous from ``since`` up to ``covered``.
    """

    index: int
    user: str
    facilitator: bool = False
    since: int = 0
    opened_at: float = 0.0
    ids: array[int] = field(default_factory=lambda: array("q"))
    times: array[float] = field(default_factory=lambda: array("d"))
    variants: array[int] = field(default_factory=lambda: array("i"))  # index into Recorder.variants
    replayed: array[int] = field(default_factory=lambda: array("b"))
    covered: int = 0  # highest id delivered, live or by replay
    duplicates: int = 0  # events whose id was not above everything delivered before
    bytes: int = 0
    reconnects: int = 0
    resyncs: int = 0
    ended: int = 0
    failed: str = ""
    # (after, through]: event ids a resync skipped; the page re-fetched instead of replaying them.
    gaps: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class Submit:
    kind: str  # idea | comment | vote | control
    user: str
    t_send: float
    t_resp: float
    status: int
    token: str = ""


@dataclass
class Recorder:
    """Everything measured during a run; metrics.py turns it into figures."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: dict[str, Counter[str]] = field(default_factory=dict)
    submits: list[Submit] = field(default_factory=list)
    receivers: list[Receiver] = field(default_factory=list)
    event_types: dict[int, str] = field(default_factory=dict)
    token_events: dict[str, int] = field(default_factory=dict)
    # The idea tokens in each distinct (event id, data length): every stream of one audience gets
    # the same data, so each is scanned once, not once per stream.
    variants: list[tuple[str, ...]] = field(default_factory=list)
    variant_index: dict[tuple[int, int], int] = field(default_factory=dict)
    parents: list[str] = field(default_factory=list)
    stream_errors: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    phases: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def request(self, kind: str, started: float, status: int | str) -> None:
        self.latencies.setdefault(kind, []).append((time.perf_counter() - started) * 1000)
        self.statuses.setdefault(kind, Counter())[str(status)] += 1

    def learn_parents(self, body: bytes) -> None:
        for pattern in PARENT_PATTERNS:
            found = pattern.findall(body)
            if found:
                self.parents.extend(v.decode() for v in found[:5] if v)
                del self.parents[:-500]
                return


def ok(status: int) -> bool:
    return 200 <= status < 400


def idea_text(token: str) -> str:
    """Log-normal length clipped to 10–400 characters (median about 60), starting with a unique token."""
    length = int(min(400, max(10, random.lognormvariate(math.log(60), 0.8))))
    words = [token]
    while sum(len(w) + 1 for w in words) < length:
        words.append(random.choice(WORDS))
    return " ".join(words)[:length] if length > len(token) else token


def new_token() -> str:
    return "bx" + uuid.uuid4().hex[:12]


# -- one simulated person -------------------------------------------------------------------------


@dataclass
class Person:
    run: Run
    login: str
    user_id: str
    facilitator: bool = False
    streams: int = 1
    writer: bool = True
    client: httpx.AsyncClient | None = None
    # The worker this person's stream goes to; with several workers, not the one its requests go to,
    # so that every submission's fan-out crosses from one worker to the other.
    stream_url: str = ""
    csrf: str = ""
    ready: bool = False  # signed in with a page (and its CSRF token) open; only then does it act
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    # The newest voting ballot the stream brought (the panel's shared form, or its loader).
    ballot: str = ""
    ballot_arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def http(self) -> httpx.AsyncClient:
        assert self.client is not None
        return self.client

    async def sign_in(self) -> bool:
        """As the login page does: a 429 or 503 is retried twice, after Retry-After or 0.45–1.8 s."""
        started = time.perf_counter()
        retries, first_delay, max_delay = RETRY_POLICY["login"]
        for attempt in range(retries + 1):
            try:
                response = await setup.sign_in(self.http, self.login)
            except (httpx.HTTPError, setup.SetupError) as exc:
                self.run.rec.request("login", started, type(exc).__name__)
                return False
            if attempt == retries or response.status_code not in (429, 503):
                break
            self.run.rec.retries[f"login {response.status_code}"] += 1
            wait = whole_seconds(response.headers.get("retry-after"))
            await asyncio.sleep(max(wait, min(max_delay, first_delay * 2**attempt) * random.uniform(0.75, 1.25)))
        location = response.headers.get("location", "")
        good = response.status_code == 303 and "/profile/password" not in location
        self.run.rec.request("login", started, response.status_code if good or not ok(response.status_code) else "bad_redirect")
        return good

    async def open_page(self) -> int | None:
        started = time.perf_counter()
        try:
            response = await self.http.get(f"/meeting/{self.run.plan.meeting_id}")
        except httpx.HTTPError as exc:
            self.run.rec.request("page", started, type(exc).__name__)
            return None
        self.run.rec.request("page", started, response.status_code)
        if response.status_code != 200:
            return None
        self.csrf = setup.page_csrf(response.text)
        return setup.page_since(response.text)

    async def join(self) -> None:
        if not await self.sign_in():
            self.run.connected(self.streams)  # counted as failed so the barrier does not wait for it
            return
        for _ in range(self.streams):
            since = await self.open_page()
            if since is None:
                self.run.connected(1)
                continue
            self.ready = True
            receiver = Receiver(len(self.run.rec.receivers), self.user_id, self.facilitator, since, covered=since)
            self.run.rec.receivers.append(receiver)
            self.tasks.append(asyncio.create_task(self.hold(receiver)))

    async def hold(self, receiver: Receiver) -> None:
        """Hold the stream until the run ends; reconnect with Last-Event-ID like a browser, boundedly."""
        run = self.run
        for attempt in range(MAX_RECONNECTS + 1):
            headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
            if attempt:
                receiver.reconnects += 1
                headers["Last-Event-ID"] = str(receiver.covered or receiver.since)
            path = f"/meeting/{run.plan.meeting_id}/events?since={receiver.since}"
            started = time.perf_counter()
            try:
                status = await (self._raw_stream if run.sse_mode == "raw" else self._httpx_stream)(
                    receiver, path, headers, started, attempt == 0
                )
                if status != 200:
                    run.rec.request("stream", started, status)
                    receiver.failed = f"HTTP {status}"
                    break
                receiver.ended += 1
            except (httpx.HTTPError, sse.StreamError, OSError) as exc:
                run.rec.stream_errors[type(exc).__name__] += 1
                receiver.failed = type(exc).__name__
            if run.stopping.is_set():
                return
            await asyncio.sleep(min(3.0, 0.5 * (attempt + 1)))
        if not receiver.opened_at:
            run.connected(1)

    async def _raw_stream(self, receiver: Receiver, path: str, headers: dict[str, str], started: float, first: bool) -> int:
        url = httpx.URL(self.stream_url or self.run.base_url)
        cookies = "; ".join(f"{c.name}={c.value}" for c in self.http.cookies.jar)
        protocol = await sse.open_stream(
            url.host, url.port or 80, path, {**headers, "Cookie": cookies},
            lambda block, now: self._handle(receiver, block, now, started, first),
        )
        status = protocol.status.result()
        try:
            if status == 200:
                await protocol.closed
        finally:
            if protocol.transport is not None:
                protocol.transport.close()
        return status

    async def _httpx_stream(self, receiver: Receiver, path: str, headers: dict[str, str], started: float, first: bool) -> int:
        async with self.http.stream("GET", (self.stream_url or "") + path, headers=headers) as response:
            if response.status_code != 200:
                return response.status_code
            buffer, separator = b"", b""
            async for chunk in response.aiter_raw():
                now = time.time()
                buffer += chunk
                if not separator:
                    separator = b"\r\n\r\n" if b"\r\n" in buffer else b"\n\n"
                while True:
                    end = buffer.find(separator)
                    if end < 0:
                        break
                    block, buffer = buffer[:end], buffer[end + len(separator) :]
                    self._handle(receiver, block, now, started, first)
                if self.run.stopping.is_set():
                    break
        return 200

    def _handle(self, receiver: Receiver, block: bytes, now: float, started: float, first: bool) -> None:
        """One SSE event block as it arrived at ``now``."""
        run = self.run
        event_id, event = parse_head(block)
        if event == "hello" and not receiver.opened_at:
            receiver.opened_at = now
            if first:
                run.rec.request("stream", started, 200)
                run.connected(1)
        elif event == "resync":
            receiver.resyncs += 1
            self.tasks.append(asyncio.get_running_loop().create_task(self.refetch(receiver, receiver.covered)))
        elif event in ("access_revoked", "session_expired"):
            run.rec.stream_errors[event] += 1
        elif event not in IDEA_EVENTS and run.plan.voting_id:
            marker = f'<div id="ballot-{run.plan.voting_id}"'.encode()
            at = block.rfind(marker)  # a later element with the same id wins, as in the browser
            if at >= 0:
                self.ballot = sse_data(block[at:])
                self.ballot_arrived.set()
        if event == "replay" and event_id is not None and BOARD_REFRESH in block:
            # More of the board's ideas were missed than a page holds: the replay carries the board's
            # current page instead of their rows (as a fresh load shows it); the older ones sit behind
            # "Show earlier ideas", not on the stream.
            receiver.gaps.append((max(receiver.since, receiver.covered), event_id))
        if event_id is not None:
            if first and not receiver.ids and run.options.profile == "trickle":
                run.rec.request("first_event", started, 200)
            run.deliver(receiver, event_id, event, block, now)

    async def refetch(self, receiver: Receiver, after: int) -> None:
        """What the page does on ``resync``: re-fetch its live regions, which cover the log up to
        the id in ``X-Decidero-Since``; the ids in between were not replayed and are not expected."""
        started = time.perf_counter()
        try:
            response = await self.http.get(f"/meeting/{self.run.plan.meeting_id}", headers={"HX-Request": "true"})
        except httpx.HTTPError as exc:
            self.run.rec.request("refetch", started, type(exc).__name__)
            return
        self.run.rec.request("refetch", started, response.status_code)
        through = whole_seconds(response.headers.get("x-decidero-since"))
        if response.status_code == 200 and through:
            receiver.gaps.append((after, max(through, receiver.covered)))
            receiver.covered = max(receiver.covered, through)

    async def submit_idea(self, parent: str | None) -> None:
        run, token = self.run, new_token()
        kind = "comment" if parent else "idea"
        data = {"content": idea_text(token), "client_token": str(uuid.uuid4()), "csrf_token": self.csrf}
        if parent:
            data["parent"] = parent
        path = f"/meeting/{run.plan.meeting_id}/activities/{run.plan.brainstorming_id}/ideas"
        response = await self.post(kind, path, data, token)
        if response is not None and ok(response.status_code):
            run.rec.learn_parents(response.content)
        elif response is not None and parent in run.rec.parents:
            run.rec.parents.remove(parent)  # not a usable parent: do not pick it again

    async def post(self, kind: str, path: str, data: dict[str, str], token: str = "") -> httpx.Response | None:
        """POST as the page's script does: network errors and 429/502/503/504 are retried with the same
        idempotency key (SPEC §4.8, §4.9); the latency is the user's, from the first attempt."""
        key = data.get("client_token") or data.get("key") or ""
        headers = {"X-CSRF-Token": self.csrf, "HX-Request": "true", "X-Idempotency-Key": key}
        headers = {k: v for k, v in headers.items() if v}
        retries, first_delay, max_delay = RETRY_POLICY.get(kind, (0, 0.0, 0.0))
        started, t_send = time.perf_counter(), time.time()
        response: httpx.Response | None = None
        outcome: int | str = 0
        for attempt in range(retries + 1):
            try:
                response = await self.http.post(path, data=data, headers=headers)
                outcome = response.status_code
            except httpx.TransportError as exc:
                response, outcome = None, type(exc).__name__
            if attempt == retries or not (response is None or response.status_code in RETRY_STATUSES):
                break
            self.run.rec.retries[f"{kind} {outcome}"] += 1
            delay = min(max_delay, first_delay * 2**attempt)
            await asyncio.sleep(delay * random.uniform(0.75, 1.25))
        t_resp = time.time()
        self.run.rec.request(kind, started, outcome)
        self.run.rec.submits.append(Submit(kind, self.user_id, t_send, t_resp, response.status_code if response else 0, token))
        if response is not None and not ok(response.status_code) and len(self.run.rec.notes) < 20:
            parent = f" (parent {data['parent']})" if data.get("parent") else ""
            self.run.rec.notes.append(f"{kind} {response.status_code}{parent}: {error_text(response.text)}")
        return response

    async def ballot_form(self, wait: float) -> setup.Form | None:
        """What the page does when the voting panel arrives: use the ballot in it, or (the panel has
        the loader) GET the viewer's own. Waits at most ``wait`` seconds for the panel."""
        try:
            await asyncio.wait_for(self.ballot_arrived.wait(), wait)
        except TimeoutError:
            pass
        form = setup.find_form(self.ballot, "/votes") if self.ballot else None
        return form if form is not None else await self.load_ballot()

    async def load_ballot(self) -> setup.Form | None:
        """What htmx does when the panel has the ballot loader: GET the viewer's own ballot."""
        run = self.run
        started = time.perf_counter()
        path = f"/meeting/{run.plan.meeting_id}/activities/{run.plan.voting_id}/ballot"
        try:
            response = await self.http.get(path, headers={"HX-Request": "true"})
        except httpx.HTTPError as exc:
            run.rec.request("ballot", started, type(exc).__name__)
            return None
        run.rec.request("ballot", started, response.status_code)
        return setup.find_form(response.text, "/votes") if response.status_code == 200 else None

    async def vote(self, form: setup.Form | None) -> None:
        run = self.run
        path = f"/meeting/{run.plan.meeting_id}/activities/{run.plan.voting_id}/votes"
        if form is None or not form.choices:
            # The option fields as dot voting names them (``opt-N``), should the ballot not offer a form.
            choices = {f"opt-{n}": list(range(setup.VOTE_BUDGET + 1)) for n in range(1, setup.VOTE_OPTIONS + 1)}
            form = setup.Form(path, {"key": ""}, choices)
            if len(run.rec.notes) < 20:
                run.rec.notes.append("the ballot had no vote form; used opt-1…opt-N fields")
        data = {**form.hidden, **allocation(form.choices, setup.VOTE_BUDGET), "csrf_token": self.csrf}
        data.pop("for", None)
        for key in ("key", "client_token", "idempotency_key"):
            if key in data:
                data[key] = str(uuid.uuid4())
        await self.post("vote", path, data)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            try:
                await task
            except (asyncio.CancelledError, httpx.HTTPError):
                pass
        if self.client is not None:
            await self.client.aclose()


ERROR_ELEMENT = re.compile(r'<[^>]*(?:role="alert"|class="[^"]*\berror\b[^"]*")[^>]*>(.*?)</', re.S)


def error_text(markup: str) -> str:
    """The message a refusal shows (the field or page error), else the start of the page's text."""
    found = ERROR_ELEMENT.search(markup)
    return setup._text_of(found.group(1) if found else markup)[:200]


async def sleep_until(end: float, delay: float) -> None:
    """Sleep ``delay`` seconds, but never past ``end``."""
    await asyncio.sleep(max(0.0, min(delay, end - time.time())))


def whole_seconds(value: str | None) -> int:
    return int(value) if value and value.strip().isdigit() else 0


def sse_data(block: bytes) -> str:
    """The data lines of (the rest of) an SSE block, joined back into the HTML the server rendered."""
    lines = block.decode(errors="replace").split("\r\n")
    return "\n".join(line[6:] if line.startswith("data: ") else line for line in lines)


def parse_head(block: bytes) -> tuple[int | None, str]:
    """``id:`` and ``event:`` of one SSE block; sse-starlette writes them before the data lines."""
    event_id, event, position = None, "message", 0
    while position < len(block):
        end = block.find(b"\n", position)
        end = len(block) if end < 0 else end
        line = block[position:end].rstrip(b"\r")
        position = end + 1
        if line.startswith(b"id:"):
            value = line[3:].strip()
            event_id = int(value) if value.isdigit() else None
        elif line.startswith(b"event:"):
            event = line[6:].strip().decode()
        elif not line.startswith(b":"):
            break
    return event_id, event


def allocation(choices: dict[str, list[int]], budget: int) -> dict[str, str]:
    """A random allocation of at most ``budget`` dots, each field within its offered values."""
    counts = dict.fromkeys(choices, 0)
    names = list(choices)
    for _ in range(budget):
        name = random.choice(names)
        if counts[name] + 1 in choices[name]:
            counts[name] += 1
    return {name: str(count if count in choices[name] else min(choices[name])) for name, count in counts.items()}


# -- the run --------------------------------------------------------------------------------------


@dataclass
class Run:
    base_url: str
    plan: setup.Plan
    options: Options
    worker_urls: list[str] = field(default_factory=list)  # several workers: people spread over them
    rec: Recorder = field(default_factory=Recorder)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    all_connected: asyncio.Event = field(default_factory=asyncio.Event)
    expected_streams: int = 0
    connected_streams: int = 0
    deliveries: int = 0
    # Plain HTTP on loopback: one context without a CA bundle, instead of loading one per client.
    ssl_context: ssl.SSLContext = field(default_factory=lambda: ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))

    @property
    def sse_mode(self) -> str:
        return self.options.sse

    def connected(self, count: int) -> None:
        self.connected_streams += count
        if self.connected_streams >= self.expected_streams:
            self.all_connected.set()

    def deliver(self, receiver: Receiver, event_id: int, event: str, block: bytes, now: float) -> None:
        rec = self.rec
        self.deliveries += 1
        key = (event_id, len(block))
        index = rec.variant_index.get(key)
        if index is None:
            tokens = tuple(t.decode() for t in IDEA_TOKEN.findall(block))
            index = rec.variant_index[key] = len(rec.variants)
            rec.variants.append(tokens)
            rec.event_types.setdefault(event_id, event)
            for token in tokens:
                rec.token_events.setdefault(token, event_id)
            if tokens and event != "replay":
                rec.learn_parents(block)
        receiver.bytes += len(block)
        receiver.ids.append(event_id)
        receiver.times.append(now)
        receiver.variants.append(index)
        receiver.replayed.append(event == "replay")
        if event_id <= receiver.covered:
            receiver.duplicates += 1
        else:
            receiver.covered = event_id

    def url_for(self, number: int) -> str:
        urls = self.worker_urls or [self.base_url]
        return urls[number % len(urls)]

    def new_client(self, base_url: str | None = None) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=base_url or self.base_url,
            timeout=httpx.Timeout(REQUEST_TIMEOUT, read=60.0),
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=2, keepalive_expiry=KEEPALIVE_SECONDS),
            verify=self.ssl_context,
            follow_redirects=False,
        )

    def people(self) -> list[Person]:
        opts, plan = self.options, self.plan
        people = [Person(self, setup.FACILITATOR_LOGIN, plan.user_ids[setup.FACILITATOR_LOGIN], facilitator=True, writer=False)]
        for number, login in enumerate(plan.participants):
            watcher = opts.profile == "viewers" and number >= opts.writers
            streams = opts.streams_per_login if watcher else 1
            people.append(Person(self, login, plan.user_ids[login], streams=streams, writer=not watcher))
        if opts.profile == "viewers":
            # The watchers' logins carry several streams each; drop logins beyond N streams.
            budget, kept = opts.participants, people[: 1 + opts.writers]
            for person in people[1 + opts.writers :]:
                if budget <= 0:
                    break
                person.streams = min(person.streams, budget)
                budget -= person.streams
                kept.append(person)
            people = kept
        return people

    async def execute(self) -> None:
        people = self.people()
        self.expected_streams = sum(p.streams for p in people)
        for number, person in enumerate(people):
            person.client = self.new_client(self.url_for(number))
            person.stream_url = self.url_for(number + 1)
        facilitator = people[0]
        try:
            async with self.new_client() as client:
                response = await setup.sign_in(client, setup.FACILITATOR_LOGIN)
                if response.status_code != 303:
                    raise setup.SetupError(f"facilitator sign-in gave HTTP {response.status_code}")
                await setup.prepare_meeting(client, self.plan)
            if self.options.profile == "trickle":
                await self._trickle(people)
            else:
                await self._ramp(people)
                self.rec.phases["measure_start"] = time.time()
                await self._act(facilitator, people[1:])
            await self._drain()
        finally:
            self.rec.phases["measure_end"] = time.time()
            self.stopping.set()
            await asyncio.gather(*(p.close() for p in people), return_exceptions=True)

    async def _ramp(self, people: list[Person]) -> None:
        ramp = self.options.ramp_seconds
        self.rec.phases["ramp_start"] = time.time()
        gap = ramp / max(1, len(people))

        async def staggered(person: Person, slot: int) -> None:
            await asyncio.sleep(slot * gap)
            await person.join()

        joins = [asyncio.create_task(staggered(p, i)) for i, p in enumerate(people)]
        await asyncio.gather(*joins)
        try:
            await asyncio.wait_for(self.all_connected.wait(), CONNECT_GRACE)
        except TimeoutError:
            self.rec.notes.append(f"only {self.connected_streams} of {self.expected_streams} streams connected")
        self.rec.phases["ramp_seconds"] = time.time() - self.rec.phases["ramp_start"]
        await asyncio.sleep(1.0)  # let the presence burst of the ramp settle before measuring

    async def _trickle(self, people: list[Person]) -> None:
        """People join one by one; each writes from the moment they are in until the common end."""
        opts = self.options
        start = time.time()
        self.rec.phases["ramp_start"] = self.rec.phases["measure_start"] = start
        end = start + opts.ramp_seconds + opts.duration
        gap = opts.ramp_seconds / max(1, len(people))

        async def arrive(person: Person, slot: int) -> None:
            await asyncio.sleep(slot * gap)
            await person.join()
            if person.writer and person.ready and not person.facilitator:
                await self._burst_writer(person, end)

        arrivals = [asyncio.create_task(arrive(p, i)) for i, p in enumerate(people)]
        try:
            await asyncio.wait_for(self.all_connected.wait(), opts.ramp_seconds + CONNECT_GRACE)
        except TimeoutError:
            self.rec.notes.append(f"only {self.connected_streams} of {self.expected_streams} streams connected")
        self.rec.phases["ramp_seconds"] = time.time() - start
        await asyncio.gather(*arrivals)

    async def _act(self, facilitator: Person, others: list[Person]) -> None:
        opts, plan = self.options, self.plan
        writers = [p for p in others if p.writer and p.ready]
        if len(writers) < len([p for p in others if p.writer]):
            self.rec.notes.append(f"{len(writers)} of {len([p for p in others if p.writer])} writers could join; the rest do not act")
        end = time.time() + opts.duration
        running = True
        if plan.mode == "control":
            running = await self._control_loop(facilitator, end, CONTROL_INTERVAL[opts.profile])
        elif opts.profile == "classroom":
            await asyncio.gather(*(self._classroom_writer(p, end) for p in writers))
        else:
            await asyncio.gather(*(self._burst_writer(p, end) for p in writers))
        if opts.profile == "classroom" and plan.voting_id:
            await self._voting(facilitator, writers, running)

    async def _control_loop(self, facilitator: Person, end: float, interval: float) -> bool:
        """Stop and start the discussion step until ``end``; returns whether it is left running."""
        running = True
        for _ in range(int(self.options.duration / interval) + 1):
            if time.time() >= end:
                break
            path = f"/meeting/{self.plan.meeting_id}/activities/{self.plan.control_id}/control"
            action = "stop" if running else "start"
            response = await facilitator.post("control", path, {"action": action, "csrf_token": facilitator.csrf})
            if response is not None and ok(response.status_code):
                running = not running
            await asyncio.sleep(max(0.0, min(interval, end - time.time())))
        return running

    async def _classroom_writer(self, person: Person, end: float) -> None:
        per_minute = random.uniform(1.0, 2.0)
        await sleep_until(end, random.uniform(0, 60.0 / per_minute))
        for _ in range(MAX_SUBMITS):
            if time.time() >= end:
                return
            parent = random.choice(self.rec.parents) if self.rec.parents and random.random() < 0.3 else None
            await person.submit_idea(parent)
            await sleep_until(end, random.expovariate(per_minute / 60.0))

    async def _burst_writer(self, person: Person, end: float) -> None:
        await sleep_until(end, random.uniform(0, 3.0))
        for _ in range(MAX_SUBMITS):
            if time.time() >= end:
                return
            await person.submit_idea(None)
            await sleep_until(end, random.uniform(3.0, 7.0))

    async def _voting(self, facilitator: Person, voters: list[Person], first_running: bool) -> None:
        plan = self.plan
        # The last ideas reach everyone before the stop: published together with it, they would
        # reach facilitators only (participants' boards close), which reads here as a lost idea.
        await self._caught_up()
        steps = [(plan.brainstorming_id or plan.control_id, "stop")] if first_running else []
        for person in voters:
            person.ballot = ""
            person.ballot_arrived.clear()
        for activity_id, action in [*steps, (plan.voting_id, "start")]:
            path = f"/meeting/{plan.meeting_id}/activities/{activity_id}/control"
            await facilitator.post("control", path, {"action": action, "csrf_token": facilitator.csrf})
        self.rec.phases["voting_start"] = time.time()
        window = self.options.vote_window

        async def voter(person: Person) -> None:
            form = await person.ballot_form(min(10.0, window))
            await asyncio.sleep(max(0.0, random.uniform(0, window) - (time.time() - started)))
            await person.vote(form)

        started = time.time()
        await asyncio.gather(*(voter(p) for p in voters))

    async def _drain(self) -> None:
        """Wait (boundedly) until every live stream has everything the log holds for it, then stop."""
        await asyncio.sleep(1.0)
        self.rec.phases["cutoff_event_id"] = await self._caught_up()
        self.rec.phases["drained_at"] = time.time()

    async def _caught_up(self) -> int:
        """Wait (boundedly) until every live stream has all the log holds for it; the newest id."""
        log = await asyncio.to_thread(setup.event_log, self.plan.database, self.plan.meeting_id)
        cutoff = log[-1][0] if log else 0
        for_participants = max((i for i, kind, _, _ in log if kind not in FACILITATOR_ONLY), default=0)
        deadline = time.time() + DRAIN_TIMEOUT
        while time.time() < deadline:
            behind = [
                r for r in self.rec.receivers
                if not r.failed and r.covered < (cutoff if r.facilitator else for_participants)
            ]
            if not behind:
                break
            await asyncio.sleep(0.2)
        return cutoff


def run_load(base_url: str, plan: setup.Plan, options: Options, worker_urls: list[str] | None = None) -> Run:
    """Run one load profile against a prepared meeting; returns the run with its recordings. With
    ``worker_urls`` (several workers on one database), people spread over them."""
    if options.seed is not None:
        random.seed(options.seed)
    run = Run(base_url, plan, options, worker_urls or [])
    runner: Any
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    # A last guard so the run always ends by itself, whatever the server does.
    limit = options.ramp_seconds + CONNECT_GRACE + options.duration + options.vote_window + DRAIN_TIMEOUT + 120
    with runner:
        try:
            runner.run(asyncio.wait_for(run.execute(), limit))
        except TimeoutError:
            run.rec.notes.append(f"the run was cut off after {limit:.0f} s")
    return run
