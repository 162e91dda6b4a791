"""Registration, sign-in, sessions, CSRF and the login rate limit over HTTP (SPEC §4.0, §4.1, S1, S2)."""

from __future__ import annotations

import asyncio
import os
import threading
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from account_helpers import (
    database,
    field_error,
    field_value,
    live_sessions,
    logins,
    notice,
    page_error,
    set_setting,
    soup,
    user,
    user_id,
)
from conftest import (
    PASSWORD,
    LiveServer,
    base_env,
    csrf_token,
    post_form,
    register,
    sign_in,
    sign_up_and_in,
)
from peewee import OperationalError
from starlette.testclient import TestClient

from decidero.app import create_app
from decidero.platform import middleware
from decidero.platform.errors import Refused
from decidero.platform.models import UserSession, utcnow
from decidero.platform.passwords import DUMMY_HASH, HASH_NICENESS, Hasher
from decidero.platform.ratelimit import LoginLimiter

CSRF_MESSAGE = "Your form expired. Please reload the page and try again."
TOO_MANY = "Too many login attempts. Please wait before trying again."
INCORRECT = "Incorrect username or password"
EXPIRED = "Your session expired. Please sign in again."


def _register_form(client: TestClient, **fields: str) -> httpx.Response:
    data = {"login": "alice", "password": PASSWORD, "confirm_password": PASSWORD, **fields}
    return client.post("/register", data={"csrf_token": csrf_token(client, "/register"), **data})


def _login(client: TestClient, login: str, password: str = PASSWORD, **extra: str) -> httpx.Response:
    token = csrf_token(client, "/login")
    return client.post("/login", data={"login": login, "password": password, "csrf_token": token, **extra})


def _query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


# -- registration -------------------------------------------------------------------------------


def test_registration_returns_to_login_with_the_success_message(client: TestClient) -> None:
    response = _register_form(client)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?message=registered"
    assert notice(client.get(response.headers["location"])) == "User registered successfully. Please log in."


def test_first_account_is_super_admin_and_later_ones_participants(client: TestClient) -> None:
    register(client, "boss")
    register(client, "alice")
    register(client, "bob")
    roles = {login: user(client, login).role for login in ("boss", "alice", "bob")}  # type: ignore[union-attr]
    assert roles == {"boss": "super_admin", "alice": "participant", "bob": "participant"}


def test_setup_banner_shows_until_an_admin_exists(client: TestClient) -> None:
    home = client.get("/")
    assert home.status_code == 303
    assert home.headers["location"] == "/login"
    banner = soup(client.get("/login")).select_one(".banner.setup")
    assert banner is not None
    assert "FIRST-TIME SETUP REQUIRED" in banner.get_text()
    assert banner.select_one('a[href="/register"]') is not None
    register(client, "boss")
    assert "FIRST-TIME SETUP REQUIRED" not in client.get("/login").text


@pytest.mark.parametrize("second", ["ALICE", "Alice", " alice "])
def test_a_duplicate_login_is_refused_ignoring_case(client: TestClient, second: str) -> None:
    register(client, "alice")
    response = _register_form(client, login=second)
    assert response.status_code == 422
    assert field_error(response, "login") == "User with login alice already exists."
    assert logins(client) == ["alice"]


def test_a_duplicate_email_is_refused_ignoring_case(client: TestClient) -> None:
    register(client, "alice", email="Alice@Example.org")
    response = _register_form(client, login="alice2", email="alice@EXAMPLE.ORG")
    assert response.status_code == 422
    assert field_error(response, "email") == "User with email alice@example.org already exists."
    assert logins(client) == ["alice"]


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short", "Password must be at least 8 characters long"),
        ("alllowercase1!", "Password must contain at least one uppercase letter"),
        ("ALLUPPERCASE1!", "Password must contain at least one lowercase letter"),
        ("NoDigits!!", "Password must contain at least one number"),
        ("NoSpecial11", "Password must contain at least one special character"),
        ("Aa1!" + "x" * 125, "Password must be at most 128 characters long"),
    ],
)
def test_each_password_rule_shows_its_message_beside_the_field(client: TestClient, password: str, message: str) -> None:
    response = _register_form(client, password=password, confirm_password=password, first_name="Al")
    assert response.status_code == 422
    error = field_error(response, "password")
    assert error is not None and message in error
    assert field_value(response, "login") == "alice"
    assert field_value(response, "first_name") == "Al"
    assert password not in response.text
    assert logins(client) == []


def test_a_password_of_exactly_128_characters_is_accepted(client: TestClient) -> None:
    password = "Aa1!" + "x" * 124
    assert _register_form(client, password=password, confirm_password=password).status_code == 303


def test_mismatched_confirmation_is_refused_beside_the_confirm_field(client: TestClient) -> None:
    response = _register_form(client, confirm_password="Passw0rd?")
    assert response.status_code == 422
    assert field_error(response, "confirm_password") == "Passwords do not match."
    assert logins(client) == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("login", "ab", "Login must be 3–50 characters using letters, digits and . _ @ + -"),
        ("login", "x" * 51, "Login must be 3–50 characters using letters, digits and . _ @ + -"),
        ("login", "bad login", "Login must be 3–50 characters using letters, digits and . _ @ + -"),
        ("login", "semi;colon", "Login must be 3–50 characters using letters, digits and . _ @ + -"),
        ("login", "<script>", "Login must be 3–50 characters using letters, digits and . _ @ + -"),
        ("email", "not-an-email", "Enter a valid email address."),
        ("email", "a@b", "Enter a valid email address."),
        ("email", "a@" + "b" * 250 + ".org", "Enter a valid email address."),
        ("first_name", "F" * 101, "First name must be at most 100 characters."),
        ("last_name", "L" * 101, "Last name must be at most 100 characters."),
        ("organisation", "O" * 201, "Organisation must be at most 200 characters."),
    ],
)
def test_bad_fields_are_refused_beside_the_field(client: TestClient, field: str, value: str, message: str) -> None:
    response = _register_form(client, **{field: value})
    assert response.status_code == 422
    assert field_error(response, field) == message
    assert logins(client) == []


def test_text_is_trimmed_and_control_characters_dropped(client: TestClient) -> None:
    response = _register_form(client, login="  Alice.B ", first_name=" Al\x07ice\x00 ", organisation="\tACME ")
    assert response.status_code == 303
    alice = user(client, "alice.b")
    assert alice is not None
    assert (alice.first_name, alice.display_name, alice.organisation) == ("Alice", "Alice", "ACME")


def test_display_name_falls_back_to_the_login(client: TestClient) -> None:
    register(client, "nofirst")
    assert user(client, "nofirst").display_name == "nofirst"  # type: ignore[union-attr]


def test_self_registration_can_be_closed_once_an_admin_exists(client: TestClient) -> None:
    set_setting(client, "auth.allow_self_registration", "false")
    assert register(client, "boss").status_code == 303  # bootstrap ignores the setting
    response = _register_form(client, login="late")
    assert response.status_code == 403
    assert page_error(response) == "Self-registration is closed. Ask an administrator for an account."
    assert logins(client) == ["boss"]


def test_json_registration_answers_json(client: TestClient) -> None:
    token = csrf_token(client, "/register")
    headers = {"X-CSRF-Token": token}
    created = client.post("/api/auth/register", json={"login": "Api", "password": PASSWORD, "confirm_password": PASSWORD}, headers=headers)
    assert created.status_code == 201
    assert created.json() == {"id": user_id(client, "api"), "login": "api", "role": "super_admin"}
    refused = client.post("/api/auth/register", json={"login": "api", "password": "short", "confirm_password": "short"}, headers=headers)
    assert refused.status_code == 422
    errors = refused.json()["errors"]
    assert "Password must be at least 8 characters long" in errors["password"]
    duplicate = client.post("/api/auth/register", json={"login": "API", "password": PASSWORD, "confirm_password": PASSWORD}, headers=headers)
    assert duplicate.status_code == 422
    assert duplicate.json() == {"errors": {"login": "User with login api already exists."}}


def test_the_api_path_also_takes_a_plain_form(client: TestClient) -> None:
    token = csrf_token(client, "/register")
    form = {"login": "formapi", "password": PASSWORD, "confirm_password": PASSWORD, "csrf_token": token}
    assert client.post("/api/auth/register", data=form).status_code == 201
    browser = client.post("/api/auth/register", data={**form, "login": "formapi2"}, headers={"Accept": "text/html"})
    assert browser.status_code == 303
    assert logins(client) == ["formapi", "formapi2"]


def test_simultaneous_first_registrations_yield_exactly_one_super_admin(live_server: LiveServer) -> None:
    clients = [live_server.client() for _ in range(6)]
    tokens = [csrf_token(c, "/register") for c in clients]
    start = threading.Barrier(len(clients))
    results: list[httpx.Response] = []

    def go(index: int) -> None:
        body = {"login": f"first{index}", "password": PASSWORD, "confirm_password": PASSWORD}
        start.wait()
        results.append(clients[index].post("/api/auth/register", json=body, headers={"X-CSRF-Token": tokens[index]}))

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for c in clients:
        c.close()
    assert [r.status_code for r in results] == [201] * len(clients)
    roles = sorted(r.json()["role"] for r in results)
    assert roles == ["participant"] * (len(clients) - 1) + ["super_admin"]


# -- CSRF ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "", "0" * 64, "forged"])
def test_a_form_without_a_valid_token_is_refused_and_stores_nothing(client: TestClient, token: str | None) -> None:
    client.get("/register")
    data = {"login": "alice", "password": PASSWORD, "confirm_password": PASSWORD}
    if token is not None:
        data["csrf_token"] = token
    response = client.post("/register", data=data)
    assert response.status_code == 403
    assert page_error(response) == CSRF_MESSAGE
    assert logins(client) == []


def test_a_token_from_another_visitor_is_refused(client: TestClient) -> None:
    other_token = csrf_token(client, "/register")
    client.cookies.clear()
    client.get("/register")
    data = {"login": "alice", "password": PASSWORD, "confirm_password": PASSWORD, "csrf_token": other_token}
    assert client.post("/register", data=data).status_code == 403
    assert logins(client) == []


def test_the_htmx_header_token_is_accepted(client: TestClient) -> None:
    token = csrf_token(client, "/register")
    data = {"login": "alice", "password": PASSWORD, "confirm_password": PASSWORD}
    response = client.post("/register", data=data, headers={"X-CSRF-Token": token, "HX-Request": "true"})
    assert response.status_code == 204
    assert response.headers["hx-redirect"] == "/login?message=registered"
    assert logins(client) == ["alice"]


def test_a_bad_htmx_header_token_is_refused(client: TestClient) -> None:
    client.get("/register")
    data = {"login": "alice", "password": PASSWORD, "confirm_password": PASSWORD}
    response = client.post("/register", data=data, headers={"X-CSRF-Token": "nope", "HX-Request": "true"})
    assert response.status_code == 403
    assert CSRF_MESSAGE in response.text
    assert logins(client) == []


def test_sign_in_without_a_token_is_refused(client: TestClient) -> None:
    register(client, "alice")
    response = client.post("/login", data={"login": "alice", "password": PASSWORD})
    assert response.status_code == 403
    assert "decidero_session" not in response.cookies


def test_the_pre_login_token_stops_working_after_sign_in(client: TestClient) -> None:
    register(client, "alice")
    old_token = csrf_token(client, "/login")
    assert sign_in(client, "alice").status_code == 303
    response = client.post("/profile", data={"csrf_token": old_token, "display_name": "Hacked"})
    assert response.status_code == 403
    assert user(client, "alice").display_name == "alice"  # type: ignore[union-attr]


# -- sign in ------------------------------------------------------------------------------------


def test_sign_in_by_login_or_email_in_any_case(client: TestClient) -> None:
    register(client, "carol", email="Carol@Example.org")
    for identifier in ("carol", "CAROL", "carol@example.org", "CAROL@EXAMPLE.ORG", "  Carol "):
        client.cookies.clear()
        response = _login(client, identifier)
        assert response.status_code == 303, identifier
        assert response.headers["location"] == "/dashboard"
        assert client.get("/dashboard").status_code == 200


def test_surrounding_whitespace_of_a_password_is_ignored(client: TestClient) -> None:
    register(client, "alice", password=f"  {PASSWORD} ")
    assert _login(client, "alice", PASSWORD).status_code == 303
    client.cookies.delete("decidero_session")
    assert _login(client, "alice", f"{PASSWORD}  ").status_code == 303


@pytest.mark.parametrize(("login", "password"), [("alice", "Wrong-Passw0rd!"), ("nobody", PASSWORD), ("", "")])
def test_a_wrong_password_or_unknown_user_is_refused_alike(client: TestClient, login: str, password: str) -> None:
    register(client, "alice")
    response = _login(client, login, password)
    assert response.status_code == 401
    assert page_error(response) == INCORRECT
    assert "decidero_session" not in response.cookies
    assert field_value(response, "login") == login
    assert 'value="' + password not in response.text or not password


def test_a_deactivated_account_is_told_so_only_with_the_right_password(admin_client: TestClient) -> None:
    register(admin_client, "pat")
    post_form(admin_client, f"/admin/users/{user_id(admin_client, 'pat')}/deactivate")
    admin_client.cookies.clear()
    refused = _login(admin_client, "pat")
    assert refused.status_code == 403
    assert page_error(refused) == "This account is deactivated. Contact an administrator."
    assert "decidero_session" not in refused.cookies
    wrong = _login(admin_client, "pat", "Wrong-Passw0rd!")
    assert page_error(wrong) == INCORRECT


@pytest.mark.parametrize(
    "target",
    ["https://evil.example", "//evil.example", "/\\evil.example", "/\t/evil.example", "/\n/evil.example", "javascript:alert(1)", "dashboard"],
)
def test_foreign_next_targets_are_ignored(client: TestClient, target: str) -> None:
    register(client, "alice")
    response = _login(client, "alice", next=target)
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard"


def test_a_local_next_target_is_honoured(client: TestClient) -> None:
    register(client, "alice")
    redirected = client.get("/profile?tab=1")
    assert redirected.status_code == 303
    location = redirected.headers["location"]
    assert _query(location) == {"next": "/profile?tab=1", "message": "login_required"}
    login_page = client.get(location)
    assert soup(login_page).select_one('input[name="next"]')["value"] == "/profile?tab=1"  # type: ignore[index]
    response = _login(client, "alice", next="/profile?tab=1")
    assert response.headers["location"] == "/profile?tab=1"


def test_signed_in_visits_to_login_go_to_the_dashboard(client: TestClient) -> None:
    sign_up_and_in(client, "alice")
    assert client.get("/login").headers["location"] == "/dashboard"
    assert client.get("/").headers["location"] == "/dashboard"


# -- sessions and cookies -----------------------------------------------------------------------


def _set_cookie(response: httpx.Response, name: str) -> str:
    header = next(h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}="))
    return header


def test_session_cookie_is_http_only_lax_and_not_secure_by_default(client: TestClient) -> None:
    register(client, "alice")
    header = _set_cookie(_login(client, "alice"), "decidero_session")
    attributes = {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}
    assert {"httponly", "samesite", "path", "max-age"} <= attributes
    assert "SameSite=lax" in header or "SameSite=Lax" in header
    assert "Max-Age=172800" in header
    assert "secure" not in attributes


def test_secure_cookies_setting_marks_every_cookie_secure(tmp_path: Path) -> None:
    app = create_app(base_env(tmp_path, DECIDERO_SECURE_COOKIES="true"), cwd=tmp_path)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        presession = _set_cookie(client.get("/register"), "decidero_presession")
        assert "Secure" in presession
        register(client, "alice")
        header = _set_cookie(_login(client, "alice"), "decidero_session")
        assert "Secure" in header and "HttpOnly" in header


def test_a_forged_cookie_counts_as_signed_out_with_the_expired_notice(client: TestClient) -> None:
    client.cookies.set("decidero_session", "forged.value")
    response = client.get("/dashboard")
    assert response.status_code == 303
    assert _query(response.headers["location"]) == {"next": "/dashboard", "message": "session_expired"}
    assert notice(client.get(response.headers["location"])) == EXPIRED


def test_an_expired_session_is_refused(client: TestClient) -> None:
    sign_up_and_in(client, "alice")
    assert client.get("/dashboard").status_code == 200

    def age_sessions() -> None:
        UserSession.update(created_at=utcnow() - timedelta(minutes=2881)).execute()

    database(client).write_sync(age_sessions)
    response = client.get("/dashboard")
    assert response.status_code == 303
    assert _query(response.headers["location"])["message"] == "session_expired"


def test_logout_revokes_the_session_on_the_server(client: TestClient) -> None:
    sign_up_and_in(client, "alice")
    stolen = client.cookies["decidero_session"]
    response = post_form(client, "/logout")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?message=logged_out"
    assert live_sessions(client, "alice") == 0
    client.cookies.set("decidero_session", stolen)
    replay = client.get("/dashboard")
    assert replay.status_code == 303
    assert _query(replay.headers["location"])["message"] == "session_expired"


def _end_sessions(client: TestClient) -> None:
    database(client).write_sync(lambda: UserSession.update(revoked=True).execute())


def test_a_form_sent_after_the_session_ended_leads_to_sign_in(client: TestClient) -> None:
    sign_up_and_in(client, "alice")
    token = csrf_token(client, "/profile")
    _end_sessions(client)
    data = {"csrf_token": token, "display_name": "Late"}
    response = client.post("/profile", data=data, headers={"Referer": "http://testserver/profile?tab=2"})
    assert response.status_code == 303
    assert _query(response.headers["location"]) == {"next": "/profile?tab=2", "message": "session_expired"}
    assert user(client, "alice").display_name == "alice"  # type: ignore[union-attr]


def test_an_htmx_post_after_the_session_ended_gets_401_with_hx_redirect(client: TestClient) -> None:
    sign_up_and_in(client, "alice")
    token = csrf_token(client, "/profile")
    _end_sessions(client)
    headers = {"HX-Request": "true", "X-CSRF-Token": token, "HX-Current-URL": "http://testserver/profile"}
    response = client.post("/profile", data={"display_name": "Late"}, headers=headers)
    assert response.status_code == 401
    assert _query(response.headers["hx-redirect"]) == {"next": "/profile", "message": "session_expired"}
    foreign = {**headers, "HX-Current-URL": "https://evil.example/steal"}
    elsewhere = client.post("/profile", data={"display_name": "Late"}, headers=foreign)
    assert _query(elsewhere.headers["hx-redirect"])["next"] == "/dashboard"


def _age_sessions(client: TestClient) -> None:
    """Past the session lifetime (2880 minutes by default)."""
    database(client).write_sync(lambda: UserSession.update(created_at=utcnow() - timedelta(minutes=2881)).execute())


def _delete_cookies(client: TestClient) -> None:
    """The browser lost every cookie (cleared by the user, or a private window closed)."""
    client.cookies.clear()


SESSION_ENDINGS = {"revoked": _end_sessions, "past its lifetime": _age_sessions, "cookie deleted": _delete_cookies}


@pytest.mark.parametrize("ending", SESSION_ENDINGS)
def test_a_plain_form_sent_after_the_session_ended_says_the_session_expired(client: TestClient, ending: str) -> None:
    sign_up_and_in(client, "alice")
    token = csrf_token(client, "/profile")
    SESSION_ENDINGS[ending](client)
    response = client.post("/profile", data={"csrf_token": token, "display_name": "Late"}, headers={"Referer": "http://testserver/profile"})
    assert response.status_code == 303
    assert _query(response.headers["location"]) == {"next": "/profile", "message": "session_expired"}
    login_page = client.get(response.headers["location"])
    assert notice(login_page) == EXPIRED
    assert CSRF_MESSAGE not in login_page.text
    assert user(client, "alice").display_name == "alice"  # type: ignore[union-attr]
    assert _login(client, "alice", next="/profile").headers["location"] == "/profile"


@pytest.mark.parametrize("ending", SESSION_ENDINGS)
def test_an_htmx_post_sent_after_the_session_ended_says_the_session_expired(client: TestClient, ending: str) -> None:
    sign_up_and_in(client, "alice")
    token = csrf_token(client, "/profile")
    SESSION_ENDINGS[ending](client)
    headers = {"HX-Request": "true", "X-CSRF-Token": token, "HX-Current-URL": "http://testserver/profile"}
    response = client.post("/profile", data={"display_name": "Late"}, headers=headers)
    assert response.status_code == 401
    assert _query(response.headers["hx-redirect"]) == {"next": "/profile", "message": "session_expired"}
    assert user(client, "alice").display_name == "alice"  # type: ignore[union-attr]


@pytest.mark.parametrize("ending", SESSION_ENDINGS)
def test_a_page_opened_after_the_session_ended_says_the_session_expired(client: TestClient, ending: str) -> None:
    sign_up_and_in(client, "alice")
    token = csrf_token(client, "/dashboard")
    SESSION_ENDINGS[ending](client)
    # A click in the page: htmx (hx-boost) sends the page's token along with every request.
    boosted = client.get("/profile", headers={"HX-Request": "true", "HX-Boosted": "true", "X-CSRF-Token": token})
    assert boosted.status_code == 401
    assert _query(boosted.headers["hx-redirect"]) == {"next": "/profile", "message": "session_expired"}
    fragment = client.get("/admin/users?q=a", headers={"HX-Request": "true", "X-CSRF-Token": token})
    assert fragment.status_code == 401
    assert _query(fragment.headers["hx-redirect"]) == {"next": "/admin/users?q=a", "message": "session_expired"}


def test_a_typed_address_after_the_cookie_is_gone_simply_asks_to_sign_in(client: TestClient) -> None:
    """Nothing in such a request shows there was a session, so it is an ordinary signed-out visit."""
    sign_up_and_in(client, "alice")
    _delete_cookies(client)
    response = client.get("/profile")
    assert _query(response.headers["location"]) == {"next": "/profile", "message": "login_required"}


def test_a_stale_token_with_a_live_session_is_still_a_form_expired_refusal(client: TestClient) -> None:
    sign_up_and_in(client, "alice")
    old_token = csrf_token(client, "/profile")
    assert sign_in(client, "alice").status_code == 303  # a new session: the old page's token is stale
    response = client.post("/profile", data={"csrf_token": old_token, "display_name": "Late"})
    assert response.status_code == 403
    assert page_error(response) == CSRF_MESSAGE
    assert user(client, "alice").display_name == "alice"  # type: ignore[union-attr]


def test_signed_out_page_requests_redirect_to_login(client: TestClient) -> None:
    for path in ("/dashboard", "/profile", "/profile/password", "/admin/users"):
        response = client.get(path)
        assert response.status_code == 303, path
        assert _query(response.headers["location"]) == {"next": path, "message": "login_required"}
    assert notice(client.get("/login?next=/dashboard&message=login_required")) == "Please sign in to continue."


def test_signed_out_htmx_requests_get_401_with_hx_redirect(client: TestClient) -> None:
    response = client.get("/dashboard", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert _query(response.headers["hx-redirect"]) == {"next": "/dashboard", "message": "login_required"}


def test_an_unknown_page_is_the_not_found_page_inside_the_layout(client: TestClient) -> None:
    sign_up_and_in(client, "alice")
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert page_error(response) == "Not found"
    menu = soup(response).select_one("nav.usermenu")
    assert menu is not None and "alice" in menu.get_text(" ")
    assert menu.select_one('form[action="/logout"] button') is not None
    swap = client.get("/no-such-page", headers={"HX-Request": "true"})
    assert (swap.status_code, swap.headers["hx-retarget"]) == (404, "#flash")
    assert "Not found" in soup(swap).get_text(" ")


def test_a_wrong_method_is_refused_with_a_page_not_a_crash(client: TestClient) -> None:
    sign_up_and_in(client, "alice")
    response = post_form(client, "/dashboard")
    assert response.status_code == 405
    assert page_error(response) == "Method not allowed"


def test_pages_carry_the_security_headers(client: TestClient) -> None:
    response = client.get("/login")
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "'unsafe-eval'" not in csp
    assert "script-src" not in csp or "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]


def test_signed_in_pages_are_not_cached(client: TestClient) -> None:
    sign_up_and_in(client, "alice")
    for path in ("/dashboard", "/profile", "/admin/users"):
        assert client.get(path).headers["cache-control"] == "no-store", path


def test_a_body_over_one_mebibyte_is_refused(client: TestClient) -> None:
    token = csrf_token(client, "/register")
    data = {"login": "alice", "password": PASSWORD, "confirm_password": PASSWORD, "csrf_token": token, "about": "x" * (1024 * 1024)}
    response = client.post("/register", data=data)
    assert response.status_code == 413
    assert page_error(response) == "The upload is too large."
    assert logins(client) == []


def test_a_database_failure_while_checking_the_session_is_busy_not_signed_out(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    sign_up_and_in(client, "alice")

    def locked(*args: object) -> None:
        raise OperationalError("database is locked")

    monkeypatch.setattr(middleware, "find_session", locked)
    response = client.get("/dashboard")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert page_error(response) == "Decidero is busy. Please try again in a moment."


# -- login rate limit ---------------------------------------------------------------------------


def _fail(client: TestClient, login: str, times: int) -> None:
    token = csrf_token(client, "/login")
    for _ in range(times):
        response = client.post("/login", data={"login": login, "password": "Wrong-Passw0rd!", "csrf_token": token})
        assert response.status_code == 401


def _assert_locked(response: httpx.Response, longest: int) -> None:
    assert response.status_code == 429
    assert 1 <= int(response.headers["retry-after"]) <= longest
    assert page_error(response) == TOO_MANY
    assert "decidero_session" not in response.cookies


def test_eight_failures_lock_the_username_even_for_the_right_password(client: TestClient) -> None:
    register(client, "alice")
    _fail(client, "alice", 8)
    _assert_locked(_login(client, "alice"), 60)
    _assert_locked(_login(client, "ALICE"), 60)


def test_a_locked_account_stays_locked_when_signing_in_with_its_email(client: TestClient) -> None:
    register(client, "alice", email="alice@example.org")
    _fail(client, "alice", 8)

    _assert_locked(_login(client, "alice@example.org"), 60)
    _assert_locked(_login(client, "ALICE@example.org"), 60)


def test_alternating_login_and_email_gives_no_extra_guesses(client: TestClient) -> None:
    register(client, "alice", email="alice@example.org")
    _fail(client, "alice", 4)
    _fail(client, "alice@example.org", 4)

    _assert_locked(_login(client, "alice"), 60)


class _Clock:
    """The limiter's clock, moved by the test instead of by waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _stopped_clock(client: TestClient) -> _Clock:
    clock = _Clock()
    client.app.state.services.limiter = LoginLimiter(clock=clock)  # type: ignore[attr-defined]
    return clock


def test_a_lockout_counts_down_in_retry_after_and_ends_after_its_lockout_time(client: TestClient) -> None:
    register(client, "alice")
    clock = _stopped_clock(client)
    _fail(client, "alice", 8)
    assert _login(client, "alice").headers["retry-after"] == "60"
    clock.now += 59.5
    locked = _login(client, "alice")
    _assert_locked(locked, 1)
    assert locked.headers["retry-after"] == "1"
    clock.now += 0.5
    assert _login(client, "alice").status_code == 303


def test_a_shorter_lockout_setting_applies_to_the_next_attempt(client: TestClient) -> None:
    register(client, "alice")
    clock = _stopped_clock(client)
    set_setting(client, "security.login_rate_limit_lockout_seconds", "5")
    _fail(client, "alice", 8)
    assert _login(client, "alice").headers["retry-after"] == "5"
    clock.now += 5
    assert _login(client, "alice").status_code == 303


def test_failures_older_than_the_window_no_longer_count(client: TestClient) -> None:
    register(client, "alice")
    clock = _stopped_clock(client)
    _fail(client, "alice", 7)
    clock.now += 60
    _fail(client, "alice", 7)  # seven in the current window: not yet locked
    assert _login(client, "alice").status_code == 303


def test_seven_failures_do_not_lock(client: TestClient) -> None:
    register(client, "alice")
    _fail(client, "alice", 7)
    assert _login(client, "alice").status_code == 303


def test_success_clears_the_username_counter_but_not_the_address_counter(client: TestClient) -> None:
    register(client, "alice")
    register(client, "bob")
    set_setting(client, "security.login_rate_limit_max_failures_per_ip", "12")
    _fail(client, "alice", 7)
    assert _login(client, "alice").status_code == 303
    client.cookies.delete("decidero_session")
    _fail(client, "alice", 4)  # 4 since the success: the username is not locked, the address has 11
    _fail(client, "nobody", 1)  # the twelfth failure from this address
    _assert_locked(_login(client, "bob"), 60)


def test_forty_failures_from_one_address_lock_every_username(client: TestClient) -> None:
    register(client, "alice")
    token = csrf_token(client, "/login")
    for n in range(40):
        response = client.post("/login", data={"login": f"guess{n}", "password": "Wrong-Passw0rd!", "csrf_token": token})
        assert response.status_code == 401
    _assert_locked(_login(client, "alice"), 60)


def test_the_rate_limit_can_be_switched_off(client: TestClient) -> None:
    register(client, "alice")
    set_setting(client, "security.login_rate_limit_enabled", "false")
    _fail(client, "alice", 9)
    assert _login(client, "alice").status_code == 303


# -- a crowd signing in (issue 19) -----------------------------------------------------------------


def test_the_hashing_pool_refuses_past_its_bound_instead_of_queueing() -> None:
    hasher = Hasher(threads=1, waiting_per_thread=1)  # one hashing, one waiting

    async def crowd() -> list[object]:
        return await asyncio.gather(*(hasher.verify("Wrong-Passw0rd!", DUMMY_HASH) for _ in range(3)), return_exceptions=True)

    try:
        first, second, third = asyncio.run(crowd())
    finally:
        hasher.close()
    assert first is False and second is False
    assert isinstance(third, Refused) and third.status == 503 and third.headers == {"Retry-After": "1"}
    assert hasher.in_flight == 0


def test_hashing_threads_asked_to_yield_run_below_the_event_loops_priority() -> None:
    """On SQLite the app hashes at a lower priority: scrypt keeps cores busy outside the interpreter
    lock, and at normal priority a crowd signing in left the event loop waiting for a core."""
    before = set(threading.enumerate())
    hasher = Hasher(threads=1, niceness=HASH_NICENESS)
    try:
        assert asyncio.run(hasher.verify("Wrong-Passw0rd!", DUMMY_HASH)) is False
        started = [t for t in threading.enumerate() if t not in before and t.name.startswith("hash")]
        niceness = [os.getpriority(os.PRIO_PROCESS, t.native_id or 0) for t in started]
    finally:
        hasher.close()
    assert niceness and min(niceness) > os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_sign_in_while_every_hashing_slot_is_taken_answers_503_and_keeps_the_login(client: TestClient) -> None:
    register(client, "boss")
    hasher: Hasher = client.app.state.services.hasher  # type: ignore[attr-defined]
    hasher.in_flight = hasher.capacity  # a crowd is hashing: every slot taken

    try:
        response = sign_in(client, "boss")
        registering = register(client, "second", first_name="Sam")
    finally:
        hasher.in_flight = 0

    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    assert page_error(response) == "Decidero is busy. Please try again in a moment."
    assert field_value(response, "login") == "boss"
    assert registering.status_code == 503  # registration says so, and keeps what was typed
    assert field_error(registering, "password") == "Decidero is busy. Please try again in a moment."
    assert field_value(registering, "first_name") == "Sam"
    assert sign_in(client, "boss").status_code == 303  # a slot is free again
