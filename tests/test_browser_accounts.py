"""Accounts in a real browser against a real server (SPEC S1, S2, §4.1 sessions)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from account_helpers import run_coroutine
from conftest import PASSWORD, LiveServer, base_env, register
from playwright.sync_api import Browser, Page, expect

from decidero.platform.db import Database
from decidero.platform.runtime_settings import RuntimeSettings
from decidero.schema import migrate

LOCKOUT_SECONDS = 3
SCREENSHOTS = Path("/tmp")


def _seeded_server(tmp_path: Path, settings: dict[str, str]) -> LiveServer:
    """A server whose database already holds runtime settings, as an admin would have saved them."""
    database = Database(tmp_path / "decidero.db")
    try:
        migrate(database)
        runtime = RuntimeSettings(database)
        for key, value in settings.items():
            run_coroutine(runtime.save(key, value, None))
    finally:
        database.close()
    server = LiveServer(cwd=tmp_path, env=base_env(tmp_path))
    server.start()
    return server


@pytest.fixture
def short_lockout_server(tmp_path: Path) -> Iterator[LiveServer]:
    server = _seeded_server(tmp_path, {"security.login_rate_limit_lockout_seconds": str(LOCKOUT_SECONDS)})
    yield server
    server.stop()


def _register(page: Page, login: str, password: str = PASSWORD) -> None:
    page.get_by_label("Login", exact=True).fill(login)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Confirm password").fill(password)
    page.get_by_role("button", name="Register").click()


def _sign_in(page: Page, login: str, password: str = PASSWORD) -> None:
    """Fill and send the form, and wait for the server's answer (the page's script posts it)."""
    page.get_by_label("Login or email").fill(login)
    page.get_by_label("Password").fill(password)
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/login")):
        page.get_by_role("button", name="Sign in").click()


def _assert_htmx_sends_the_current_token(page: Page) -> None:
    """Signing in or out changes the token's binding: htmx's header must carry the new one."""
    header = json.loads(page.locator("body").get_attribute("hx-headers") or "{}")["X-CSRF-Token"]
    assert header == page.locator('form[action="/logout"] input[name="csrf_token"]').get_attribute("value")


def test_first_user_bootstraps_as_super_admin_and_the_next_is_a_participant(
    page: Page, browser: Browser, live_server: LiveServer
) -> None:
    page.goto(live_server.url + "/")
    expect(page).to_have_url(live_server.url + "/login")
    expect(page.get_by_text("FIRST-TIME SETUP REQUIRED")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "decidero-login.png"), full_page=True)
    page.get_by_role("link", name="Register the first account").click()
    expect(page).to_have_url(live_server.url + "/register")
    _register(page, "boss")
    expect(page.get_by_text("User registered successfully. Please log in.")).to_be_visible()
    expect(page).to_have_url(live_server.url + "/login?message=registered")
    expect(page.get_by_text("FIRST-TIME SETUP REQUIRED")).to_have_count(0)

    _sign_in(page, "boss")
    expect(page).to_have_url(live_server.url + "/dashboard")
    _assert_htmx_sends_the_current_token(page)
    page.get_by_role("link", name="MANAGE USERS", exact=True).click()
    expect(page).to_have_url(live_server.url + "/admin/users")
    boss_row = page.locator('tr[data-login="boss"]')
    expect(boss_row).to_contain_text("super admin")
    expect(boss_row.locator("select")).to_have_count(0)

    alice = browser.new_context().new_page()
    alice.goto(live_server.url + "/register")
    _register(alice, "alice")
    expect(alice.get_by_text("User registered successfully. Please log in.")).to_be_visible()
    _sign_in(alice, "alice")
    expect(alice).to_have_url(live_server.url + "/dashboard")
    expect(alice.get_by_role("heading", name="Welcome, alice")).to_be_visible()
    expect(alice.get_by_role("link", name="MANAGE USERS", exact=True)).to_have_count(0)
    expect(alice.get_by_role("link", name="Manage users", exact=True)).to_have_count(0)
    alice.context.close()

    page.reload()
    alice_row = page.locator('tr[data-login="alice"]')
    expect(alice_row.get_by_label("Role of alice")).to_have_value("participant")
    page.screenshot(path=str(SCREENSHOTS / "decidero-admin-users.png"), full_page=True)
    alice_row.get_by_label("Role of alice").select_option("facilitator")
    with page.expect_response(lambda r: r.url.endswith("/role")) as answer:
        alice_row.get_by_role("button", name="Set role").click()
    assert answer.value.status == 200
    page.reload()
    expect(page.locator('tr[data-login="alice"]').get_by_label("Role of alice")).to_have_value("facilitator")


def test_wrong_passwords_then_lockout_then_access_again(page: Page, short_lockout_server: LiveServer) -> None:
    with short_lockout_server.client() as http:
        assert register(http, "boss").status_code == 303
    page.goto(short_lockout_server.url + "/login")
    _sign_in(page, "boss", "Wrong-Passw0rd!")
    expect(page.get_by_role("alert")).to_have_text("Incorrect username or password")
    for _ in range(7):
        _sign_in(page, "boss", "Wrong-Passw0rd!")
        expect(page.get_by_role("alert")).to_have_text("Incorrect username or password")
    _sign_in(page, "boss")
    # Even the right password waits out the lockout: the page counts down and tries again by itself.
    countdown = page.locator(".login-retry")
    expect(countdown).to_contain_text("Too many login attempts. Please wait before trying again. Retrying in")
    expect(page).to_have_url(short_lockout_server.url + "/login")
    expect(page.get_by_role("heading", name="Welcome, boss")).to_be_visible(timeout=(LOCKOUT_SECONDS + 10) * 1000)


def test_sign_out_and_a_session_that_survives_a_restart(page: Page, live_server: LiveServer) -> None:
    with live_server.client() as http:
        assert register(http, "boss").status_code == 303
    page.goto(live_server.url + "/login")
    _sign_in(page, "boss")
    expect(page).to_have_url(live_server.url + "/dashboard")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You have been signed out.")).to_be_visible()
    page.goto(live_server.url + "/dashboard")
    expect(page).to_have_url(live_server.url + "/login?next=%2Fdashboard&message=login_required")

    _sign_in(page, "boss")
    expect(page).to_have_url(live_server.url + "/dashboard")
    _assert_htmx_sends_the_current_token(page)
    live_server.restart()
    page.reload()
    expect(page).to_have_url(live_server.url + "/dashboard")
    expect(page.get_by_role("heading", name="Welcome, boss")).to_be_visible()


def test_a_click_after_the_session_ended_asks_to_sign_in_again_and_returns(page: Page, live_server: LiveServer) -> None:
    """S19.3: the next click after the session ended says so, and signing in leads back."""
    with live_server.client() as http:
        assert register(http, "boss").status_code == 303
    page.goto(live_server.url + "/login?next=/profile")
    _sign_in(page, "boss")
    expect(page).to_have_url(live_server.url + "/profile")

    # Signed out in another tab: this tab's next click (a link, boosted by htmx) finds no session.
    other_tab = page.context.new_page()
    other_tab.goto(live_server.url + "/dashboard")
    other_tab.get_by_role("button", name="Sign out").click()
    expect(other_tab.get_by_text("You have been signed out.")).to_be_visible()
    other_tab.close()
    page.get_by_role("link", name="Dashboard").click()
    expect(page.get_by_text("Your session expired. Please sign in again.")).to_be_visible()
    expect(page).to_have_url(live_server.url + "/login?next=%2Fdashboard&message=session_expired")
    _sign_in(page, "boss")
    expect(page).to_have_url(live_server.url + "/dashboard")

    # Every cookie deleted while a form is open: submitting it says the session expired, not "form expired".
    page.goto(live_server.url + "/profile")
    page.context.clear_cookies()
    page.get_by_label("Display name").fill("Late")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Your session expired. Please sign in again.")).to_be_visible()
    expect(page.get_by_text("Your form expired. Please reload the page and try again.")).to_have_count(0)
    _sign_in(page, "boss")
    expect(page).to_have_url(live_server.url + "/profile")
    expect(page.get_by_label("Display name")).to_have_value("boss")


def test_registration_and_sign_in_work_without_javascript(browser: Browser, live_server: LiveServer) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(live_server.url + "/register")
        _register(page, "plain", "short")
        expect(page.locator(".field", has=page.get_by_label("Password", exact=True)).locator(".error")).to_contain_text(
            "Password must be at least 8 characters long"
        )
        expect(page.get_by_label("Login", exact=True)).to_have_value("plain")
        _register(page, "plain")
        expect(page.get_by_text("User registered successfully. Please log in.")).to_be_visible()
        _sign_in(page, "plain")
        expect(page).to_have_url(live_server.url + "/dashboard")
        expect(page.get_by_role("heading", name="Welcome, plain")).to_be_visible()
    finally:
        context.close()
