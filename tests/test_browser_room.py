"""The live meeting room in real browsers: one context per person against a real server
(SPEC §4.6, §4.14, S5, S12, S14, S19)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from conftest import LiveServer, running_server
from helpers_live import RawStream, open_stream
from helpers_meetings import (
    Person,
    SeededMeeting,
    activity_row,
    add_people,
    on_file,
    row_action,
    second_handle,
    seed_meeting,
)
from playwright.sync_api import Browser, BrowserContext, Page, Request, Route, expect

from decidero.meetings import event_log, run_control
from decidero.meetings.agenda import get_activity
from decidero.meetings.models import Activity
from decidero.platform.db import Database
from decidero.platform.models import User

LIVE_MS = 5000  # arrives without a reload; the 1 s promise is measured by bench/, not asserted here
PEOPLE = {"dana": "facilitator", "pat": "participant", "quinn": "participant"}


@dataclass
class Meeting:
    server: LiveServer
    meeting: SeededMeeting
    people: dict[str, Person]
    open_page: Callable[..., Page]

    @property
    def db_path(self) -> Path:
        return self.server.cwd / "decidero.db"

    def row(self, index: int) -> str:
        return f"#row-{self.meeting.activities[index]}"

    def panel(self, index: int = 0) -> str:
        return f"#panel-{self.meeting.activities[index]}"

    def post(self, login: str, path: str, data: dict[str, str]) -> httpx.Response:
        person = self.people[login]
        with httpx.Client(base_url=self.server.url, cookies=person.cookies, headers=person.headers, timeout=10) as client:
            return client.post(path, data=data)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One real server for the module; each test seeds its own meeting on it."""
    with running_server(tmp_path_factory.mktemp("browser-room")) as running:
        yield running


def seed(server: LiveServer, activities: list[tuple[str, dict[str, object]]]) -> tuple[SeededMeeting, dict[str, Person]]:
    def write(db: Database) -> tuple[SeededMeeting, dict[str, Person]]:
        people = add_people(db, PEOPLE)
        return seed_meeting(db, "dana", ["pat", "quinn"], activities=activities), people

    return on_file(server.cwd / "decidero.db", write)


@pytest.fixture
def room(server: LiveServer, browser: Browser, contexts: list[BrowserContext]) -> Meeting:
    meeting, people = seed(server, [("Talk", {"instructions": "Say hello."}), ("Vote", {})])
    return Meeting(server, meeting, people, opener(server, browser, contexts, meeting, people))


def opener(
    server: LiveServer, browser: Browser, contexts: list[BrowserContext], meeting: SeededMeeting, people: dict[str, Person]
) -> Callable[..., Page]:
    def open_page(login: str, javascript: bool = True, before: Callable[[Page], None] | None = None, connected: bool = True) -> Page:
        """``before`` prepares the page before it loads (a fake clock, routes)."""
        context = browser.new_context(base_url=server.url, java_script_enabled=javascript)
        context.set_default_timeout(5000)
        contexts.append(context)
        context.add_cookies([{"name": "decidero_session", "value": people[login].cookie, "url": server.url}])
        page = context.new_page()
        if before is not None:
            before(page)
        page.goto(meeting.url)
        if javascript:
            if connected:
                expect(page.locator("#live-pill")).to_have_text("Connected")
            page.evaluate("window.__sameDocument = true")  # gone after any reload
        return page

    return open_page


def same_document(page: Page) -> bool:
    return bool(page.evaluate("window.__sameDocument === true"))


STATE_AFTER = {"Start": "Running", "Pause": "Paused", "Resume": "Running", "Stop": "Stopped"}


def click_control(page: Page, row: str, label: str) -> None:
    """Click a run-control button and wait for the facilitator's own page to show the result, so
    the participants' ``LIVE_MS`` deadlines measure the live update, not the request."""
    row_action(page, row, label)
    expect(page.locator(f"{row} .badge.state")).to_have_text(STATE_AFTER[label])


# -- run control, live (S5) --------------------------------------------------------------------------


def test_starting_an_activity_opens_the_panel_for_participants_live(room: Meeting) -> None:
    dana, pat, quinn = (room.open_page(login) for login in ("dana", "pat", "quinn"))
    talk = room.panel(0)
    for participant in (pat, quinn):
        expect(participant.locator(talk)).to_be_hidden()
        expect(participant.get_by_text("The facilitator will open the discussion when ready.")).to_be_visible()

    click_control(dana, room.row(0), "Start")

    for participant in (pat, quinn):
        expect(participant.locator(talk)).to_be_visible(timeout=LIVE_MS)
        expect(participant.locator(talk)).to_contain_text("Say hello.")
        expect(participant.locator(f"{room.row(0)} .badge.state")).to_have_text("Running")
        expect(participant.locator(f"{room.row(0)} .badge.state svg.icon")).to_have_count(1)  # ▶ drawn as SVG
        assert same_document(participant)
    expect(dana.locator(f"{room.row(0)} .controls")).to_contain_text("Pause")


def test_pause_and_stop_reach_participants_live(room: Meeting) -> None:
    dana, pat = room.open_page("dana"), room.open_page("pat")
    talk = room.panel(0)
    click_control(dana, room.row(0), "Start")
    expect(pat.locator(talk)).to_be_visible(timeout=LIVE_MS)

    click_control(dana, room.row(0), "Pause")
    expect(pat.locator(talk).get_by_text("This activity is paused.")).to_be_visible(timeout=LIVE_MS)
    expect(pat.locator(f"{talk} .panel-body")).to_have_attribute("disabled", "")

    click_control(dana, room.row(0), "Resume")
    expect(pat.locator(talk).get_by_text("This activity is paused.")).to_be_hidden(timeout=LIVE_MS)
    expect(pat.locator(f"{talk} .panel-body")).not_to_have_attribute("disabled", "")

    click_control(dana, room.row(0), "Stop")
    expect(pat.locator(talk)).to_be_hidden(timeout=LIVE_MS)
    expect(pat.locator(f"{room.row(0)} .badge.state")).to_have_text("Stopped")
    expect(dana.locator(talk)).to_be_visible()  # facilitators still read everything
    assert same_document(pat)


def _seconds_left(page: Page, row: str) -> int:
    text = page.locator(f"{row} .timer .left").inner_text()
    match = re.fullmatch(r"Time left (\d+):(\d\d)", text.strip())
    assert match, text
    return int(match.group(1)) * 60 + int(match.group(2))


def test_countdown_matches_for_everyone_and_ends_with_time_is_up(room: Meeting) -> None:
    talk = room.meeting.activities[0]

    def nearly_over(db: Database) -> None:
        def write() -> None:  # a one-minute limit with 55 s already used in an earlier run
            Activity.update(time_limit_minutes=1, elapsed_seconds=55.0).where(Activity.id == talk).execute()

        db.write_sync(write)

    on_file(room.db_path, nearly_over)
    dana, pat = room.open_page("dana"), room.open_page("pat")

    click_control(dana, room.row(0), "Start")
    expect(pat.locator(room.panel(0))).to_be_visible(timeout=LIVE_MS)

    readings = [(_seconds_left(dana, room.row(0)), _seconds_left(pat, room.row(0))) for _ in range(3)]
    for facilitator_left, participant_left in readings:
        assert abs(facilitator_left - participant_left) <= 1, readings
        assert 0 < facilitator_left <= 5
    for page in (dana, pat):
        expect(page.locator(f"{room.row(0)} .timer .left")).to_have_text("Time is up.", timeout=8000)
    expect(pat.locator(f"#panel-head-{talk} .time-up")).to_have_text("Time is up.", timeout=3000)
    expect(pat.locator(f"{room.panel(0)} .panel-body")).to_have_attribute("disabled", "")


# -- agenda, roster, revocation (S12, S14) -----------------------------------------------------------


def test_moving_an_activity_up_renumbers_the_participants_agenda_live(room: Meeting) -> None:
    dana, pat = room.open_page("dana"), room.open_page("pat")
    titles = pat.locator("#agenda .row-title")
    expect(titles).to_have_text(["1. Talk", "2. Vote"])

    row_action(dana, room.row(1), "Move Vote up")
    expect(dana.locator("#agenda .row-title")).to_have_text(["1. Vote", "2. Talk"])

    expect(titles).to_have_text(["1. Vote", "2. Talk"], timeout=LIVE_MS)
    assert same_document(pat)


def test_a_participant_removed_from_the_meeting_is_sent_to_the_dashboard(room: Meeting) -> None:
    quinn = room.open_page("quinn")

    response = room.post("dana", f"{room.meeting.url}/roster/remove", {"user": room.people["quinn"].user_id})

    assert response.status_code == 303, response.text[:300]
    expect(quinn.get_by_text("Your access to this meeting has been revoked.")).to_be_visible(timeout=LIVE_MS)
    expect(quinn).to_have_url(re.compile(r"/dashboard$"), timeout=2000)


def test_an_activity_roster_change_opens_the_panel_for_the_newly_included(room: Meeting) -> None:
    quinn_id = room.people["quinn"].user_id
    room.post("dana", room.meeting.activity_url(0, "roster"), {"op": "remove", "user": quinn_id})
    room.post("dana", room.meeting.activity_url(0, "control"), {"action": "start"})
    quinn = room.open_page("quinn")
    talk = room.panel(0)
    expect(quinn.locator(talk)).to_be_hidden()
    expect(quinn.locator(f"{room.row(0)} .badge.access-closed")).to_have_attribute("title", "Not assigned to you")

    room.post("dana", room.meeting.activity_url(0, "roster"), {"op": "add", "user": quinn_id})

    expect(quinn.locator(talk)).to_be_visible(timeout=LIVE_MS)
    expect(quinn.locator(f"{room.row(0)} .badge.access-open")).to_have_attribute("title", "Open to you now")


def test_the_edit_roster_page_moves_people_in_place(room: Meeting) -> None:
    dana = room.open_page("dana")
    dana.get_by_label("More actions for Talk").click()
    dana.get_by_role("link", name="Edit Roster").click()
    selected = dana.locator("form:has(input[name=op][value=remove])")

    selected.locator("label.check", has_text="quinn").get_by_role("checkbox").check()
    selected.get_by_role("button", name="Remove").click()

    expect(dana.locator("#activity-roster")).to_contain_text("Current: Custom (1)")
    expect(dana.locator("form:has(input[name=op][value=add]) label.check")).to_have_text(["quinn quinn"])
    dana.get_by_role("link", name="Back to the meeting").click()
    expect(dana.locator(room.row(0))).to_contain_text("Custom (1)")


# -- restart and reconnection (S19) ------------------------------------------------------------------


def test_pages_reconnect_after_a_restart_and_keep_the_run_state(room: Meeting) -> None:
    talk = room.meeting.activities[0]
    dana, pat = room.open_page("dana"), room.open_page("pat")
    click_control(dana, room.row(0), "Start")
    expect(pat.locator(room.panel(0))).to_be_visible(timeout=LIVE_MS)
    pat.evaluate(
        """window.__pill = [];
        new MutationObserver(() => window.__pill.push(document.getElementById('live-pill').textContent))
            .observe(document.getElementById('live-pill'), {childList: true, characterData: true, subtree: true});"""
    )
    room.server.stop()
    down = time.monotonic()

    def paused_during_the_gap(db: Database) -> None:
        # A change committed while the server is down stands in for one its last moments missed.
        def write() -> object:
            return run_control.control(get_activity(room.meeting.id, talk), "pause", User.get(User.login == "dana"), False)

        db.write_sync(write)

    with second_handle(room.db_path) as db:
        paused_during_the_gap(db)
        elapsed = activity_row(db, talk).elapsed_seconds
    assert elapsed >= time.monotonic() - down  # the downtime counts in the timer
    room.server.start()

    for page in (pat, dana):
        expect(page.locator("#live-pill")).to_have_text("Connected", timeout=12000)
    assert "Reconnecting…" in pat.evaluate("window.__pill")
    expect(pat.locator(room.panel(0)).get_by_text("This activity is paused.")).to_be_visible(timeout=LIVE_MS)
    expect(pat.locator(f"{room.row(0)} .badge.state")).to_have_text("Paused")

    response = room.post("dana", room.meeting.activity_url(0, "control"), {"action": "resume"})

    assert response.status_code == 303
    expect(pat.locator(f"{room.row(0)} .badge.state")).to_have_text("Running", timeout=LIVE_MS)
    expect(pat.locator(room.panel(0)).get_by_text("This activity is paused.")).to_be_hidden()
    assert same_document(pat)
    with second_handle(room.db_path) as db:
        assert activity_row(db, talk).state == "running"


class Outage:
    """The page's event stream answered 503 (as a proxy does while the server restarts) while the
    rest of the site works; ``attempts`` counts the stream requests refused meanwhile."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.attempts = 0
        self.on = False
        page.route("**/events?*", self._handle)

    def _handle(self, route: Route) -> None:
        if not self.on:
            route.continue_()
            return
        self.attempts += 1
        route.fulfill(status=503, body="Decidero is busy. Please try again in a moment.")


def fake_clock(page: Page) -> None:
    """A paused clock: the page's timers run only when the test moves time on."""
    page.clock.install()
    page.clock.pause_at(time.time() * 1000)
    page.add_init_script("document.addEventListener('htmx:sseError', () => { window.__errors = (window.__errors || 0) + 1; })")


def pump_until(page: Page, predicate: Callable[[], bool], message: str, timeout: float = LIVE_MS / 1000) -> None:
    """Wait for state the test sees through Playwright's callbacks (routes, responses), which only
    run while Playwright is called."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {message}"
        page.wait_for_timeout(50)


def stream_errors(page: Page) -> int:
    return int(page.evaluate("window.__errors || 0"))


def crowd_out(room: Meeting, login: str) -> list[RawStream]:
    """Ten more streams of the same session: the server closes the page's, the oldest (SPEC §4.14)."""
    path = f"{room.meeting.url}/events"
    return [open_stream(room.server.url, path, room.people[login].cookie) for _ in range(10)]


def test_reconnecting_waits_at_most_30_s_between_attempts_and_never_gives_up(room: Meeting) -> None:
    outage: list[Outage] = []

    def refuse_from_the_start(page: Page) -> None:
        fake_clock(page)
        outage.append(Outage(page))
        outage[0].on = True

    pat = room.open_page("pat", before=refuse_from_the_start, connected=False)
    pill = pat.locator("#live-pill")
    expect(pill).to_have_text("Reconnecting…")

    pat.clock.run_for(10_100)  # more than 10 s disconnected
    expect(pill).to_have_text("Disconnected")
    for _ in range(15):  # 7½ minutes: the waits have long reached their cap
        errors = stream_errors(pat)
        pat.clock.run_for(30_000)
        pat.wait_for_function("n => (window.__errors || 0) > n", arg=errors)
    assert outage[0].attempts >= 16
    expect(pill).to_have_text("Disconnected")

    outage[0].on = False
    pat.clock.run_for(30_000)

    expect(pill).to_have_text("Connected")
    assert same_document(pat)


def test_while_disconnected_the_room_refetches_its_regions_every_15_s(room: Meeting) -> None:
    outage: list[Outage] = []

    def prepare(page: Page) -> None:
        fake_clock(page)
        outage.append(Outage(page))

    pat = room.open_page("pat", before=prepare)
    refetches: list[int] = []  # statuses of the answers
    asked: list[Request] = []
    pat.on("request", lambda r: asked.append(r) if _is_refetch(r, room) else None)
    pat.on("response", lambda r: refetches.append(r.status) if _is_refetch(r.request, room) else None)
    outage[0].on = True
    extra = crowd_out(room, "pat")
    expect(pat.locator("#live-pill")).to_have_text("Reconnecting…", timeout=LIVE_MS)
    pump_until(pat, lambda: outage[0].attempts >= 1, "a refused reconnection")

    room.post("dana", room.meeting.activity_url(0, "control"), {"action": "start"})  # missed by pat's stream
    pat.clock.run_for(10_100)

    expect(pat.locator("#live-pill")).to_have_text("Disconnected")
    expect(pat.locator(room.panel(0))).to_be_visible(timeout=LIVE_MS)
    expect(pat.locator(f"{room.row(0)} .badge.state")).to_have_text("Running")
    pump_until(pat, lambda: refetches == [200], "the first re-fetch")

    pat.clock.run_for(15_000)  # nothing changed since: the next re-fetch is a 204
    pump_until(pat, lambda: refetches == [200, 204], "the second re-fetch")

    outage[0].on = False
    pat.clock.run_for(30_000)
    expect(pat.locator("#live-pill")).to_have_text("Connected", timeout=LIVE_MS)
    before = len(asked)
    pat.clock.run_for(60_000)
    pat.evaluate("0")  # a round trip, so a request those minutes caused would have been seen
    assert len(asked) == before  # connected again: no more re-fetching
    assert same_document(pat)
    for stream in extra:
        stream.close()


def _is_refetch(request: Request, room: Meeting) -> bool:
    return request.url.split("?")[0].endswith(room.meeting.url) and request.headers.get("hx-request") == "true"


def test_a_reconnect_too_far_behind_for_a_replay_refetches_the_regions_without_reloading(room: Meeting) -> None:
    talk = room.meeting.activities[0]
    pat = room.open_page("pat")
    expect(pat.locator(room.panel(0))).to_be_hidden()

    def missed(db: Database) -> None:  # committed, never announced: only a resync can bring it
        def write() -> None:
            for _ in range(501):
                event_log.record(room.meeting.id, "meeting_updated", "Details changed.")
            run_control.control(get_activity(room.meeting.id, talk), "start", User.get(User.login == "dana"), False)

        db.write_sync(write)

    on_file(room.db_path, missed)
    extra = crowd_out(room, "pat")

    expect(pat.locator(room.panel(0))).to_be_visible(timeout=12000)
    expect(pat.locator(f"{room.row(0)} .badge.state")).to_have_text("Running")
    expect(pat.locator("#live-pill")).to_have_text("Connected")
    assert same_document(pat)
    for stream in extra:
        stream.close()


@pytest.mark.parametrize("script_first", [True, False], ids=["script-first", "connection-first"])
def test_a_room_reached_by_a_boosted_link_stays_live(
    room: Meeting, browser: Browser, contexts: list[BrowserContext], script_first: bool
) -> None:
    context = browser.new_context(base_url=room.server.url)
    context.set_default_timeout(5000)
    contexts.append(context)
    context.add_cookies([{"name": "decidero_session", "value": room.people["pat"].cookie, "url": room.server.url}])
    pat = context.new_page()
    held: list[Route] = []
    if not script_first:  # a slow network: the room connects before its script arrives
        pat.route("**/static/js/meeting.js", lambda route: held.append(route))
    pat.goto("/dashboard")
    pat.evaluate("window.__sameDocument = true")

    with pat.expect_request(lambda r: "/events?" in r.url):
        pat.locator(f"a.meeting-title[href='{room.meeting.url}']").click()
    for route in held:
        route.continue_()

    expect(pat.locator("#live-pill")).to_have_text("Connected")
    room.post("dana", room.meeting.activity_url(0, "control"), {"action": "start"})
    expect(pat.locator(room.panel(0))).to_be_visible(timeout=LIVE_MS)
    assert same_document(pat)  # boosted: the same document throughout


# -- what the facilitator is told (SPEC §4.6, §6) -----------------------------------------------------


def test_the_facilitator_is_told_what_each_run_control_did(room: Meeting) -> None:
    dana = room.open_page("dana")

    for label, message in (
        ("Start", "Activity started."),
        ("Pause", "Activity paused."),
        ("Resume", "Activity resumed."),
        ("Stop", "Activity stopped."),
    ):
        click_control(dana, room.row(0), label)
        expect(dana.locator("#flash .flash-message")).to_have_text(message)
    assert same_document(dana)


# -- without JavaScript (SPEC §1 progressive enhancement) ---------------------------------------------


def test_the_room_works_without_javascript(room: Meeting) -> None:
    dana, pat = room.open_page("dana", javascript=False), room.open_page("pat", javascript=False)
    row = room.row(0)

    click_control(dana, row, "Start")

    expect(dana).to_have_url(re.compile(re.escape(room.meeting.url) + r"(\?flash=[^&]+)?$"))
    expect(dana.locator(f"{row} .badge.state")).to_have_text("Running")
    expect(dana.locator(".notice", has_text="Activity started.")).to_be_visible()
    pat.reload()
    expect(pat.locator(room.panel(0))).to_be_visible()
    expect(pat.locator(room.panel(0))).to_contain_text("Say hello.")

    click_control(dana, row, "Stop")

    expect(dana.locator(f"{row} .badge.state")).to_have_text("Stopped")
    expect(dana.locator(".notice", has_text="Activity stopped.")).to_be_visible()
    pat.reload()
    expect(pat.locator(room.panel(0))).to_be_hidden()

    row_action(dana, room.row(1), "Move Vote up")

    expect(dana.locator("#agenda .row-title")).to_have_text(["1. Vote", "2. Talk"])
