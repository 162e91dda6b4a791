"""Meetings in a real browser against a real server (SPEC S4.1–3, S20.2)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import PASSWORD, LiveServer, base_env
from meeting_helpers import password_hash
from playwright.sync_api import Browser, Page, expect

from decidero.meetings import lifecycle as meetings
from decidero.platform.accounts import create_user
from decidero.platform.db import Database
from decidero.schema import migrate


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[LiveServer, str]]:
    """A server holding fac (facilitator), p01–p03, and fac's meeting "Retro" nobody has joined."""
    database = Database(tmp_path / "decidero.db")
    hashed = password_hash()

    def seed() -> str:
        fac = create_user(login="fac", password_hash=hashed, role="facilitator", first_name="Fay")
        for login in ("p01", "p02", "p03"):
            create_user(login=login, password_hash=hashed, first_name=login.upper())
        meeting, _ = meetings.create_meeting(fac, meetings.Details("Retro", "", None, 60), [])
        return str(meeting.id)

    try:
        migrate(database)
        retro = database.write_sync(seed)
    finally:
        database.close()
    live = LiveServer(cwd=tmp_path, env=base_env(tmp_path))
    live.start()
    yield live, retro
    live.stop()


def _sign_in(page: Page, base: str, login: str) -> None:
    page.goto(base + "/login")
    page.get_by_label("Login or email").fill(login)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(base + "/dashboard")


def test_a_facilitator_creates_a_meeting_with_two_participants(page: Page, server: tuple[LiveServer, str]) -> None:
    live, _ = server
    _sign_in(page, live.url, "fac")
    page.get_by_role("link", name="DESIGN YOURSELF").click()
    page.get_by_label("Title", exact=True).fill("Q3 Planning")
    page.get_by_label("Scheduled start (UTC)").fill("2026-03-01 10:00")
    page.get_by_label("Activity title").fill("Ideas")
    page.get_by_label("Search the directory").fill("p0")
    results = page.locator("#directory label")
    expect(results).to_have_count(3)
    results.filter(has_text="P01").get_by_role("checkbox").check()
    results.filter(has_text="P02").get_by_role("checkbox").check()
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator("#selected-participants li")).to_have_text([re.compile("P01"), re.compile("P02")])
    expect(page.get_by_label("Title", exact=True)).to_have_value("Q3 Planning")
    page.get_by_role("button", name="Create Meeting").click()

    expect(page.get_by_text("Meeting created successfully.")).to_be_visible()
    row = page.locator("#meeting-rows tbody tr", has_text="Q3 Planning")
    expect(row.locator(".status")).to_have_text("Never started")
    expect(row.locator(".owner-name")).to_have_text("Fay")
    expect(row.locator(".meeting-id")).to_have_text(re.compile(r"^MTG\d{8}-0002$"))


def test_a_participant_joins_by_a_lower_case_code_without_javascript(
    browser: Browser, server: tuple[LiveServer, str]
) -> None:
    live, retro = server
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        _sign_in(page, live.url, "p03")
        expect(page.get_by_text("You do not have any meetings yet.")).to_be_visible()
        page.get_by_label("Meeting code").fill(retro.lower())
        page.get_by_role("button", name="Join").click()
        expect(page).to_have_url(live.url + f"/meeting/{retro}")
        expect(page.get_by_role("heading", name="Retro")).to_be_visible()
        page.goto(live.url + "/dashboard")
        row = page.locator("#meeting-rows tbody tr", has_text="Retro")
        expect(row.locator(".actions a, .actions button")).to_have_text(["Enter meeting"])
    finally:
        context.close()
