"""Settings, exclusivity, guest join and the AI designer in real browsers against a real server
(SPEC S13, S17, S20.4, S22). The AI provider is the fake OpenAI-compatible server of the test
process; nothing reaches the internet."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from conftest import LiveServer, running_server
from fake_openai import API_KEY, CHAT_TOKENS, MODEL, VALID_AGENDA, FakeProvider, as_json, running_fake_provider
from helpers_brainstorming import control, seed_brainstorm
from helpers_meetings import Person, add_people, row_action, second_handle, seed_meeting
from playwright.sync_api import Browser, Page, expect

from decidero.meetings import agenda
from decidero.meetings.models import Meeting
from decidero.platform.db import Database
from decidero.platform.runtime_settings import KEYS

LIVE_MS = 5000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with running_server(tmp_path_factory.mktemp("settings-browser")) as running:
        yield running


@dataclass
class Site:
    server: LiveServer
    db: Database
    people: dict[str, Person]
    browser: Browser

    def open(self, login: str | None, path: str) -> Page:
        context = self.browser.new_context()
        if login is not None:
            context.add_cookies([{"name": "decidero_session", "value": self.people[login].cookie, "url": self.server.url}])
        page = context.new_page()
        page.goto(self.server.url + path)
        return page


@pytest.fixture
def site(server: LiveServer, browser: Browser) -> Iterator[Site]:
    with second_handle(Path(server.cwd) / "decidero.db") as db:
        people = add_people(db, {"boss": "super_admin", "fac": "facilitator", "pat": "participant", "quinn": "participant"})
        yield Site(server, db, people, browser)
        for context in browser.contexts:
            context.close()
        reset_settings(server, people["boss"])


def reset_settings(server: LiveServer, admin: Person) -> None:
    """Every setting back to its default: the server is shared by this module's tests."""
    with httpx.Client(base_url=server.url, cookies=admin.cookies, headers=admin.headers) as http:
        for key in KEYS:
            assert http.post(f"/settings/{key.key}/reset").status_code == 303


def save_setting(page: Page, label: str, value: str) -> None:
    field = page.get_by_label(label, exact=False)
    if field.evaluate("e => e.tagName") == "SELECT":
        field.select_option(value)
    else:
        field.fill(value)
    page.get_by_role("button", name="Save settings").last.click()


# -- S17: a saved setting applies to the very next request ----------------------------------------


def test_an_admin_lowers_the_idea_limit_and_the_next_long_idea_is_refused(site: Site) -> None:
    meeting = seed_brainstorm(site.db, "fac", ["pat"])
    control(site.db, meeting.activities[0], "start", actor="fac")
    pat = site.open("pat", meeting.url)
    composer = pat.locator(f"#panel-{meeting.activities[0]} form.idea-form").first
    expect(composer.locator("textarea")).to_have_attribute("maxlength", "500")  # rendered before the change

    admin = site.open("boss", "/settings")
    save_setting(admin, "Idea character limit", "100")
    expect(admin.get_by_role("status")).to_have_text("Settings saved. They apply from the next request.")
    label = admin.locator("label[for='s-brainstorming-idea_character_limit']")
    expect(label).to_contain_text("Changed from the default")

    composer.locator("textarea").fill("z" * 150)
    composer.get_by_role("button", name="Submit Idea").click()
    expect(pat.get_by_text("Ideas are limited to 100 characters.")).to_be_visible()
    pat.reload()
    expect(pat.locator(f"#panel-{meeting.activities[0]} textarea").first).to_have_attribute("maxlength", "100")

    admin.locator("#setting-brainstorming-idea_character_limit").get_by_role("button", name=re.compile(r"^Reset to default")).click()
    expect(admin.get_by_label("Idea character limit", exact=False)).to_have_value("500")
    expect(label).not_to_contain_text("Changed from the default")
    save_setting(admin, "Idea character limit", "49")
    expect(admin.locator("#e-brainstorming-idea_character_limit")).to_have_text("Must be a whole number between 50 and 5000.")
    expect(admin.get_by_label("Idea character limit", exact=False)).to_have_value("49")


def test_a_facilitator_sees_locks_and_a_participant_lands_on_the_dashboard(site: Site) -> None:
    fac = site.open("fac", "/dashboard")
    fac.get_by_role("link", name="SETTINGS", exact=True).click()
    expect(fac).to_have_url(site.server.url + "/settings")
    expect(fac.get_by_label("Idea character limit", exact=False)).to_be_editable()
    fac.get_by_role("link", name="Security").click()
    lifetime = fac.get_by_label("Session lifetime minutes", exact=False)
    expect(lifetime).to_be_disabled()
    expect(fac.locator("label[for='s-auth-session_lifetime_minutes'] svg.icon")).to_have_count(1)  # the lock
    expect(fac.locator("label[for='s-auth-session_lifetime_minutes'] .sr-only")).to_have_text("(Locked: administrators only)")
    expect(fac.get_by_role("button", name="Save settings")).to_have_count(0)  # nothing on this tab is theirs to change
    pat = site.open("pat", "/settings")
    expect(pat).to_have_url(site.server.url + "/dashboard")


# -- S13: exclusivity, switched on with no restart -----------------------------------------------


def test_with_exclusivity_on_an_overlapping_start_shows_the_collision(site: Site) -> None:
    meeting = seed_meeting(site.db, "fac", ["pat", "quinn"], activities=[("Ideas", {}), ("Vote", {})])
    fac = site.open("fac", meeting.url)
    row_action(fac, f"#row-{meeting.activities[0]}", "Start")
    row_action(fac, f"#row-{meeting.activities[1]}", "Start")
    expect(fac.get_by_text("2 activities · 2 active")).to_be_visible(timeout=LIVE_MS)
    row_action(fac, f"#row-{meeting.activities[1]}", "Stop")

    admin = site.open("boss", "/settings?tab=meetings")
    save_setting(admin, "Activity participant exclusivity", "true")
    expect(admin.get_by_role("status")).to_contain_text("Settings saved")

    row_action(fac, f"#row-{meeting.activities[1]}", "Start")
    collision = fac.locator(".collision")
    expect(collision.locator("strong")).to_have_text("Participant Collision Detected!")
    expect(collision.locator("li")).to_have_text(["pat is already in “Ideas”", "quinn is already in “Ideas”"])
    collision.get_by_role("button", name="Cancel").click()
    expect(collision).to_have_count(0)
    expect(fac.get_by_text("2 activities · 1 active")).to_be_visible()


# -- S20.4: guest join --------------------------------------------------------------------------


def test_a_guest_joins_by_invite_link_submits_an_idea_and_is_kept_inside(site: Site) -> None:
    meeting = seed_brainstorm(site.db, "fac", ["pat"])
    control(site.db, meeting.activities[0], "start", actor="fac")
    admin = site.open("boss", "/settings?tab=meetings")
    save_setting(admin, "Allow guest join", "true")
    expect(admin.get_by_role("status")).to_contain_text("Settings saved")

    guest = site.open(None, f"/join/{meeting.id}")
    guest.get_by_label("Your name").fill("Visitor")
    guest.get_by_role("button", name="Join as guest").click()
    expect(guest).to_have_url(site.server.url + meeting.url)
    expect(guest.locator(".topbar .badge.guest")).to_have_text("guest")
    expect(guest.locator("#live-pill")).to_have_text("Connected", timeout=LIVE_MS)
    composer = guest.locator(f"#panel-{meeting.activities[0]} form.idea-form").first
    composer.locator("textarea").fill("A guest's idea")
    composer.get_by_role("button", name="Submit Idea").click()
    fac = site.open("fac", meeting.url)
    expect(fac.get_by_text("A guest's idea")).to_be_visible(timeout=LIVE_MS)
    expect(fac.locator("#presence li", has_text="Visitor").locator(".badge.guest")).to_have_text("guest")

    response = guest.goto(site.server.url + "/profile/password")
    assert response is not None and response.status == 403
    expect(guest.get_by_text("Guests can only take part in the meeting they joined.")).to_be_visible()


# -- S22: the AI designer ------------------------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with running_fake_provider() as provider:
        yield provider


def test_the_designer_streams_a_reply_and_fills_the_meeting_creator(site: Site, fake: FakeProvider) -> None:
    fac = site.open("fac", "/dashboard")
    expect(fac.get_by_role("link", name="DESIGN WITH AI")).to_have_count(0)
    fac.goto(site.server.url + "/designer")
    expect(fac.get_by_text("The AI meeting designer is not configured.", exact=False)).to_be_visible()

    admin = site.open("boss", "/settings?tab=ai")
    admin.get_by_label("Endpoint URL", exact=False).fill(fake.url)
    admin.get_by_label("API key", exact=False).fill(API_KEY)
    admin.get_by_label("Model", exact=True).fill(MODEL)
    admin.get_by_role("button", name="Save settings").last.click()
    expect(admin.get_by_role("status")).to_contain_text("Settings saved")
    assert API_KEY not in admin.content()
    admin.get_by_role("button", name="Test connection").click()
    expect(admin.get_by_role("status")).to_contain_text(f"Connection OK (model {MODEL}, ")

    fake.hold_after = 3  # the stream pauses mid-reply: what the page shows then arrived token by token
    fac.goto(site.server.url + "/dashboard")
    fac.get_by_role("link", name="DESIGN WITH AI").click()
    fac.get_by_label("Your message").fill("Plan a retro for 8 people")
    fac.get_by_role("button", name="Send").click()
    reply = fac.locator(".bubble.assistant .reply-text").last
    expect(reply).to_have_text("".join(CHAT_TOKENS[:3]), timeout=LIVE_MS)
    expect(fac.locator(".bubble.assistant").last).to_have_attribute("aria-busy", "true")
    fake.release()
    expect(reply).to_have_text("".join(CHAT_TOKENS), timeout=LIVE_MS)
    expect(fac.locator(".bubble.assistant").last).not_to_have_attribute("aria-busy", "true")

    fake.answers = ["Sure! Here it is.", as_json(VALID_AGENDA)]  # prose first: one corrective retry
    fac.get_by_role("button", name="Generate agenda").click()
    preview = fac.locator("#agenda-preview")
    expect(preview.locator("h2")).to_have_text("Team Retro")
    expect(preview.locator(".rationale").first).to_have_text("Why: Why Collect ideas: it fits the goal.")
    preview.get_by_role("button", name="Edit in Meeting Creator").click()

    expect(fac).to_have_url(re.compile(r"/meeting/create\?draft=[0-9a-f]{32}$"))
    expect(fac.get_by_label("Title", exact=True)).to_have_value("Team Retro")
    titles = fac.locator("input[name=activity_title]")
    expect(titles).to_have_count(3)
    expect(titles.nth(1)).to_have_value("Pick favourites")
    fac.get_by_role("button", name="Create Meeting").last.click()
    expect(fac.get_by_text("Meeting created successfully.")).to_be_visible()

    created = site.db.read_sync(lambda: Meeting.get(Meeting.title == "Team Retro"))
    activities = site.db.read_sync(lambda: agenda.ordered(created.id))
    assert [o["label"] for o in activities[1].config["options"]] == ["Speed", "Quality", "Fun"]
