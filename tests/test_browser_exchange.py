"""Export and import in a real browser (SPEC S16.3–4): the dashboard's Export downloads the zip,
IMPORT MEETING uploads it, with and without JavaScript, and a file that is no zip is refused beside
the field."""

from __future__ import annotations

import io
import json
import re
import zipfile
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

IMPORTED = re.compile(r"^Retro \(Imported \d{4}-\d{2}-\d{2}\)$")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    """A server holding fac (facilitator) and fac's meeting "Retro" with a discussion."""
    database = Database(tmp_path / "decidero.db")
    hashed = password_hash()

    def seed() -> None:
        fac = create_user(login="fac", password_hash=hashed, role="facilitator", first_name="Fay")
        plan = [meetings.PlannedActivity("discussion", "Talk", "What went well?")]
        meetings.create_meeting(fac, meetings.Details("Retro", "", None, 45), plan)

    try:
        migrate(database)
        database.write_sync(seed)
    finally:
        database.close()
    live = LiveServer(cwd=tmp_path, env=base_env(tmp_path))
    live.start()
    yield live
    live.stop()


def _sign_in(page: Page, base: str, login: str) -> None:
    page.goto(base + "/login")
    page.get_by_label("Login or email").fill(login)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(base + "/dashboard")


def _export_and_import(page: Page, base: str, tmp_path: Path) -> None:
    _sign_in(page, base, "fac")
    row = page.locator("#meeting-rows tbody tr", has_text="Retro")
    with page.expect_download() as download:
        row.get_by_role("link", name="Export").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert re.fullmatch(r"meeting_MTG\d{8}-[0-9A-Z]{4}_\d{8}T\d{6}Z\.zip", saved.name)
    with zipfile.ZipFile(io.BytesIO(saved.read_bytes())) as archive:
        assert json.loads(archive.read("meeting.json"))["activities"][0]["title"] == "Talk"
    expect(page).to_have_url(base + "/dashboard")  # the download left the page as it was

    page.get_by_role("link", name="IMPORT MEETING").click()
    page.get_by_label(re.compile("Export file")).set_input_files(saved)
    page.get_by_role("button", name="Import Meeting").click()

    expect(page.get_by_text(re.compile(r"Meeting imported as “Retro \(Imported"))).to_be_visible()
    titles = page.locator("#meeting-rows tbody tr .meeting-title, #meeting-rows tbody tr td:first-child")
    expect(titles.filter(has_text=IMPORTED)).not_to_have_count(0)


def test_export_then_import_from_the_dashboard(page: Page, server: LiveServer, tmp_path: Path) -> None:
    _export_and_import(page, server.url, tmp_path)


def test_export_then_import_without_javascript(browser: Browser, server: LiveServer, tmp_path: Path) -> None:
    context = browser.new_context(java_script_enabled=False, accept_downloads=True)
    try:
        _export_and_import(context.new_page(), server.url, tmp_path)
    finally:
        context.close()


def test_a_file_that_is_not_a_zip_is_refused_beside_the_field(page: Page, server: LiveServer, tmp_path: Path) -> None:
    notes = tmp_path / "notes.zip"
    notes.write_text("these are my meeting notes")
    _sign_in(page, server.url, "fac")
    page.goto(server.url + "/meeting/import")
    page.get_by_label(re.compile("Export file")).set_input_files(notes)
    page.get_by_role("button", name="Import Meeting").click()

    expect(page.locator("#e-bundle")).to_contain_text("Invalid zip file")
    expect(page.get_by_label(re.compile("Export file"))).to_have_attribute("aria-invalid", "true")
    page.goto(server.url + "/dashboard")
    expect(page.locator("#meeting-rows tbody tr")).to_have_count(1)


def test_a_file_over_the_limit_is_refused_before_it_is_sent(page: Page, server: LiveServer, tmp_path: Path) -> None:
    big = tmp_path / "big.zip"
    with big.open("wb") as handle:
        handle.truncate(21 * 1024 * 1024)
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url) if request.method == "POST" else None)
    _sign_in(page, server.url, "fac")
    page.goto(server.url + "/meeting/import")
    field = page.get_by_label(re.compile("Export file"))
    field.set_input_files(big)
    page.get_by_role("button", name="Import Meeting").click()

    assert field.evaluate("input => input.validationMessage") == "The upload is too large."
    expect(page).to_have_url(server.url + "/meeting/import")
    assert not [url for url in sent if url.endswith("/meeting/import")]
