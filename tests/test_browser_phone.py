"""The participant-first room in real browsers (issue 17): a 390×844 phone, keyboard-only use, joining
by code and by invite link through registration, and the refusals a live page must show."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from conftest import PASSWORD, LiveServer, running_server
from helpers_brainstorming import control, seed_brainstorm
from helpers_meetings import Person, SeededMeeting, add_people, on_file, row_action
from playwright.sync_api import Browser, BrowserContext, Page, expect
from voting_helpers import add_voting

from decidero.activities.brainstorming.board import PAGE_SIZE
from decidero.activities.brainstorming.ideas import add_idea
from decidero.meetings.models import Activity
from decidero.platform.db import Database
from decidero.platform.models import User

PHONE = {"width": 390, "height": 844}
LIVE_MS = 5000
PEOPLE = {"fay": "facilitator", "pia": "participant", "pete": "participant"}
# What a finger presses: links and buttons, form controls, menu summaries, the labels of radios.
CONTROLS_SMALLER_THAN_44 = """() => {
  const inline = (el) => el.tagName === "A" && el.closest("p, small, .help, h1, td.owner, li.log-line") && !el.classList.contains("button");
  const found = [];
  document.querySelectorAll("a[href], button, select, textarea, summary, input:not([type=hidden])").forEach((el) => {
    let box = el;
    if (el.matches("input[type=radio], input[type=checkbox]")) box = el.closest("label") || el;
    if (inline(el)) return;  // a link inside a sentence (WCAG 2.5.8 exempts those)
    const r = box.getBoundingClientRect();
    if (!r.width || !r.height || getComputedStyle(box).visibility === "hidden") return;
    if (r.height < 43.5 || r.width < 43.5) found.push(`${el.tagName.toLowerCase()} "${(el.textContent || el.value || el.getAttribute("aria-label") || "").trim().slice(0, 40)}" ${Math.round(r.width)}×${Math.round(r.height)}`);
  });
  return found;
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with running_server(tmp_path_factory.mktemp("browser-phone")) as running:
        yield running


def seeded(server: LiveServer, fn: Callable[[Database, dict[str, Person]], Any]) -> tuple[Any, dict[str, Person]]:
    def write(db: Database) -> tuple[Any, dict[str, Person]]:
        people = add_people(db, PEOPLE)
        return fn(db, people), people

    return on_file(server.cwd / "decidero.db", write)


def opener(server: LiveServer, browser: Browser, contexts: list[BrowserContext], people: dict[str, Person]) -> Callable[..., Page]:
    def open_page(login: str | None, url: str, viewport: dict[str, int] | None = None, connected: bool = True) -> Page:
        context = browser.new_context(base_url=server.url, viewport=viewport or {"width": 1280, "height": 900})  # type: ignore[arg-type]
        context.set_default_timeout(5000)
        contexts.append(context)
        if login:
            context.add_cookies([{"name": "decidero_session", "value": people[login].cookie, "url": server.url}])
        page = context.new_page()
        page.goto(url)
        if connected and login:
            expect(page.locator("#live-pill")).to_have_text("Connected")
        return page

    return open_page


def board(server: LiveServer, ideas: int = 12) -> tuple[SeededMeeting, dict[str, Person]]:
    """A running brainstorm with ``ideas`` ideas and a dot vote not started yet."""

    def make(db: Database, people: dict[str, Person]) -> SeededMeeting:
        meeting = seed_brainstorm(db, "fay", ["pia", "pete"], rounds=[("Ideas", {})])
        meeting.activities.append(add_voting(db, meeting.id, "voting", "Vote", {"options": ["Red", "Green", "Blue"]}))
        control(db, meeting.activities[0], "start", actor="fay")

        def write() -> None:
            pia = User.get(User.login == "pia")
            for n in range(ideas):
                add_idea(Activity.get_by_id(meeting.activities[0]), f"Idea number {n} with a few words", pia, "pia")

        db.write_sync(write)
        return meeting

    return seeded(server, make)


def in_first_screen(page: Page, selector: str) -> None:
    """Wait (no timing) until the element's top is inside the viewport the person is looking at."""
    page.wait_for_function(
        "(s) => { const r = document.querySelector(s).getBoundingClientRect(); return r.top >= 0 && r.top < innerHeight - 80; }",
        arg=selector,
        timeout=LIVE_MS,
    )


# -- the phone ----------------------------------------------------------------------------------------


def test_on_a_phone_the_live_activity_comes_first_and_the_agenda_is_one_line(server: LiveServer, browser: Browser, contexts: list[BrowserContext]) -> None:
    meeting, people = board(server)
    pia = opener(server, browser, contexts, people)("pia", meeting.url, PHONE)

    in_first_screen(pia, f"#panel-{meeting.activities[0]}")
    fold = pia.locator("#agenda-fold")
    expect(fold).not_to_have_attribute("open", "")
    expect(fold.locator("summary")).to_have_text("Agenda · 2 activities · 1 active")
    expect(pia.locator("#agenda")).to_be_hidden()
    fold.locator("summary").click()
    expect(pia.locator("#agenda")).to_be_visible()


def test_on_a_phone_an_empty_board_says_so_across_the_row(server: LiveServer, browser: Browser, contexts: list[BrowserContext]) -> None:
    meeting, people = board(server, ideas=0)
    pia = opener(server, browser, contexts, people)("pia", meeting.url, PHONE)

    empty = pia.locator(f"#ideas-empty-{meeting.activities[0]} td.empty")
    expect(empty).to_have_text("No ideas yet. Be the first to share!")
    cell, table = empty.bounding_box(), pia.locator(f"#ideas-{meeting.activities[0]}").bounding_box()
    assert cell is not None and table is not None
    # Not squeezed into the 2.5 rem number column, one word per line.
    assert cell["width"] > 0.9 * table["width"], (cell, table)


def test_on_a_phone_the_facilitators_board_with_its_search_fits_the_screen(server: LiveServer, browser: Browser, contexts: list[BrowserContext]) -> None:
    meeting, people = board(server)
    fay = opener(server, browser, contexts, people)("fay", meeting.url, PHONE)

    expect(fay.get_by_role("button", name="Search")).to_be_visible()
    assert fay.evaluate("document.documentElement.scrollWidth - innerWidth") <= 0


def test_after_the_facilitator_starts_an_activity_the_phone_shows_it_on_the_first_screen(
    server: LiveServer, browser: Browser, contexts: list[BrowserContext]
) -> None:
    meeting, people = board(server, ideas=25)
    open_page = opener(server, browser, contexts, people)
    fay = open_page("fay", meeting.url)
    pia = open_page("pia", meeting.url, PHONE)
    pia.mouse.wheel(0, 3000)  # reading the ideas far down the board
    pia.wait_for_function("() => scrollY > 1000")

    row_action(fay, f"#row-{meeting.activities[1]}", "Start")

    vote = f"#panel-{meeting.activities[1]}"
    expect(pia.locator(vote)).to_be_visible(timeout=LIVE_MS)
    in_first_screen(pia, vote)
    expect(pia.locator(f"{vote} .opened-cue")).to_have_text("Now open")
    expect(pia.locator("#announcer")).to_contain_text("“Vote” is open now.", timeout=LIVE_MS)


def test_every_control_on_the_phone_is_at_least_44_px(server: LiveServer, browser: Browser, contexts: list[BrowserContext]) -> None:
    meeting, people = board(server, ideas=PAGE_SIZE + 2)  # a paged board: order, search, Show earlier
    control_ids = meeting.activities[1]
    on_file(server.cwd / "decidero.db", lambda db: control(db, control_ids, "start", actor="fay"))
    open_page = opener(server, browser, contexts, people)
    for login in ("pia", "fay"):
        page = open_page(login, meeting.url, PHONE)
        for summary in page.locator("details > summary").all():
            if summary.is_visible():
                summary.click()  # the agenda, every More menu, Reply and Edit forms
        ideas = meeting.url + f"?activity={meeting.activities[0]}"
        for url in (meeting.url + f"?activity={meeting.activities[1]}", meeting.url, ideas, "/dashboard", f"{meeting.url}/log"):
            if url != meeting.url:
                page.goto(url)
            if url == ideas:
                expect(page.get_by_role("link", name="Show 2 earlier ideas")).to_be_visible()
                for summary in page.locator(f"#panel-{meeting.activities[0]} details > summary").all()[:3]:
                    summary.click()  # a few of the author's Edit forms
            small = page.evaluate(CONTROLS_SMALLER_THAN_44)
            assert small == [], f"{login} on {url}: {small}"


# -- keyboard ------------------------------------------------------------------------------------------


def test_a_keyboard_only_participant_reaches_move_up_in_five_tabs(server: LiveServer, browser: Browser, contexts: list[BrowserContext]) -> None:
    def make(db: Database, people: dict[str, Person]) -> SeededMeeting:
        meeting = seed_brainstorm(db, "fay", ["pia"], rounds=[("Ideas", {})])
        meeting.activities.append(add_voting(db, meeting.id, "rank_order_voting", "Rank", {"ideas": ["X", "Y", "Z"]}))
        control(db, meeting.activities[1], "start", actor="fay")
        return meeting

    meeting, people = seeded(server, make)
    pia = opener(server, browser, contexts, people)("pia", meeting.url)
    expect(pia.locator(f"#panel-{meeting.activities[1]} [data-move='up']").first).to_be_visible()

    tabs = 0
    while tabs < 5:
        pia.keyboard.press("Tab")
        tabs += 1
        focused = pia.evaluate("() => [document.activeElement.textContent.trim(), document.activeElement.className]")
        if focused[0] == "Skip to the live activity":
            pia.keyboard.press("Enter")
        if focused[0] == "Move up":
            break
    assert pia.evaluate("() => document.activeElement.dataset.move") == "up", f"not reached in {tabs} Tab presses"


# -- joining -----------------------------------------------------------------------------------------


def test_invite_link_register_sign_in_lands_in_the_meeting(server: LiveServer, browser: Browser, contexts: list[BrowserContext]) -> None:
    meeting, people = seeded(server, lambda db, people: seed_brainstorm(db, "fay", [], rounds=[("Ideas", {})]))
    page = opener(server, browser, contexts, people)(None, f"/join/{meeting.id}", PHONE)

    expect(page.locator(".joining")).to_contain_text("You are joining")
    page.locator("main").get_by_role("link", name="Register", exact=True).click()
    expect(page.locator(".joining")).to_contain_text("You are joining")
    page.get_by_label("Login", exact=True).fill("newcomer")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Confirm password").fill(PASSWORD)
    page.get_by_role("button", name="Register").click()

    expect(page.get_by_text("User registered successfully. Please log in.")).to_be_visible()
    expect(page.locator(".joining")).to_contain_text("You are joining")
    page.get_by_label("Login or email").fill("newcomer")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(re.compile(rf"/meeting/{meeting.id}$"))
    expect(page.locator("#live-pill")).to_have_text("Connected")


def test_joining_by_the_6_digit_code_from_the_dashboard(server: LiveServer, browser: Browser, contexts: list[BrowserContext]) -> None:
    meeting, people = seeded(server, lambda db, people: seed_brainstorm(db, "fay", [], rounds=[("Ideas", {})]))
    fay = opener(server, browser, contexts, people)("fay", f"{meeting.url}/invite", connected=False)
    if not fay.locator("#join-code").count():  # seeded without one (as before codes existed): make one
        fay.on("dialog", lambda dialog: dialog.accept())
        fay.get_by_role("button", name="Make a join code").click()
    code = (fay.locator("#join-code").text_content() or "").replace(" ", "")
    assert re.fullmatch(r"\d{6}", code)

    pete = opener(server, browser, contexts, people)("pete", "/dashboard", PHONE, connected=False)
    pete.get_by_label("Meeting code").fill(f"{code[:3]} {code[3:]}")
    pete.get_by_role("button", name="Join").click()
    expect(pete).to_have_url(re.compile(rf"/meeting/{meeting.id}$"))


# -- refusals on a live page ---------------------------------------------------------------------------


def test_pausing_a_brainstorm_shows_only_the_paused_message(server: LiveServer, browser: Browser, contexts: list[BrowserContext]) -> None:
    meeting, people = board(server, ideas=1)
    open_page = opener(server, browser, contexts, people)
    fay, pia = open_page("fay", meeting.url), open_page("pia", meeting.url)
    panel = pia.locator(f"#panel-{meeting.activities[0]}")
    expect(panel.get_by_text("Brainstorming is live. Share your ideas with the group.")).to_be_visible()

    row_action(fay, f"#row-{meeting.activities[0]}", "Pause")

    expect(panel.get_by_text("This activity is paused.")).to_be_visible(timeout=LIVE_MS)
    expect(panel.get_by_text("Brainstorming is live. Share your ideas with the group.")).to_be_hidden()
    row_action(fay, f"#row-{meeting.activities[0]}", "Resume")
    expect(panel.get_by_text("Brainstorming is live. Share your ideas with the group.")).to_be_visible(timeout=LIVE_MS)


def test_a_participant_removed_from_a_running_vote_is_told_and_waits_for_the_right_round(
    server: LiveServer, browser: Browser, contexts: list[BrowserContext]
) -> None:
    def make(db: Database, people: dict[str, Person]) -> SeededMeeting:
        meeting = seed_brainstorm(db, "fay", ["pia", "pete"], rounds=[("Ideas", {})])
        meeting.activities.append(add_voting(db, meeting.id, "voting", "Vote", {"options": ["Red", "Green"]}))
        control(db, meeting.activities[1], "start", actor="fay")
        return meeting

    meeting, people = seeded(server, make)
    pia = opener(server, browser, contexts, people)("pia", meeting.url, PHONE)
    expect(pia.locator(f"#panel-{meeting.activities[1]}")).to_be_visible()

    fay = people["fay"]
    with httpx.Client(base_url=server.url, cookies=fay.cookies, headers=fay.headers, timeout=10) as client:
        removed = client.post(f"{meeting.url}/activities/{meeting.activities[1]}/roster", data={"op": "remove", "user": people["pia"].user_id})
    assert removed.status_code == 303

    expect(pia.get_by_text("You are no longer assigned to this activity.")).to_be_visible(timeout=LIVE_MS)
    expect(pia.locator("#switcher .waiting")).to_have_text("You're not in this voting round. We'll bring you in when it is your turn.")
    expect(pia.get_by_text("The facilitator will open the brainstorming board when ready.")).to_have_count(0)


def test_a_refused_no_js_vote_keeps_the_choices_and_leads_back(server: LiveServer, browser: Browser, contexts: list[BrowserContext]) -> None:
    def make(db: Database, people: dict[str, Person]) -> SeededMeeting:
        meeting = seed_brainstorm(db, "fay", ["pia"], rounds=[("Ideas", {})])
        meeting.activities.append(add_voting(db, meeting.id, "voting", "Vote", {"options": ["Red", "Green"], "max_votes": 1, "max_per_option": 1}))
        control(db, meeting.activities[1], "start", actor="fay")
        return meeting

    meeting, people = seeded(server, make)
    context = browser.new_context(base_url=server.url, java_script_enabled=False)
    contexts.append(context)
    context.add_cookies([{"name": "decidero_session", "value": people["pia"].cookie, "url": server.url}])
    page = context.new_page()
    page.goto(meeting.url)
    ballot = page.locator(f"#ballot-{meeting.activities[1]}")
    for option in ("Red", "Green"):
        ballot.locator("fieldset", has_text=option).locator("label.dot", has_text="1").click()
    ballot.get_by_role("button", name="Submit votes").click()

    expect(page.get_by_text("Vote limit reached for this activity.")).to_be_visible()
    for option in ("Red", "Green"):
        expect(page.locator("fieldset", has_text=option).locator("input[value='1']")).to_be_checked()
    page.get_by_role("link", name="Back to the meeting").click()
    expect(page).to_have_url(re.compile(rf"/meeting/{meeting.id}\?activity="))
