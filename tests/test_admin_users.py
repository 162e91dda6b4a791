"""Manage Users over HTTP (SPEC §2.1, §4.2, S3)."""

from __future__ import annotations

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
    soup,
    user,
    user_id,
)
from conftest import PASSWORD, csrf_token, post_form, register, sign_in
from helpers_brainstorming import DEFAULT_CONFIG, board_rows
from helpers_meetings import add_people
from starlette.testclient import TestClient
from voting_helpers import client_opener, results_rows, seed_poll

from decidero.meetings import agenda
from decidero.meetings.models import Meeting, MeetingMember
from decidero.platform.models import User

NEW_PASSWORD = "Fresh-Passw0rd!"


def _other_browser(client: TestClient) -> TestClient:
    """A second person on the same server (the app's lifespan is already running)."""
    return TestClient(client.app, follow_redirects=False)


def _signed_in(client: TestClient, login: str, password: str = PASSWORD) -> TestClient:
    other = _other_browser(client)
    assert sign_in(other, login, password).status_code == 303
    return other


def _act(client: TestClient, login: str, action: str, **data: str) -> httpx.Response:
    return post_form(client, f"/admin/users/{user_id(client, login)}/{action}", data, page="/admin/users")


def _rows(client: TestClient, query: str = "") -> dict[str, dict[str, str]]:
    """The Manage Users table as the admin reads it: login → column values."""
    page = soup(client.get("/admin/users" + (f"?q={query}" if query else "")))
    headers = [th.get_text(strip=True) for th in page.select("#user-rows thead th")]
    rows = {}
    for tr in page.select("#user-rows tbody tr"):
        cells = dict(zip(headers, tr.find_all("td"), strict=True))
        role_select = cells["Role"].select_one("select option[selected]")
        rows[cells["Login"].get_text(strip=True)] = {
            "Email": cells["Email"].get_text(strip=True),
            "First": cells["First"].get_text(strip=True),
            "Role": role_select.get_text(strip=True) if role_select else cells["Role"].get_text(" ", strip=True),
            "Status": cells["Status"].get_text(strip=True),
            "Role locked": "yes" if cells["Role"].select_one("select") is None else "no",
        }
    return rows


def _batch(client: TestClient, **fields: str) -> httpx.Response:
    data = {"prefix": "p", "start": "1", "end": "3", "password": "TempPass123!", "role": "participant", **fields}
    return post_form(client, "/admin/users/batch/pattern", data, page="/admin/users")


def _batch_result(response: httpx.Response) -> list[str]:
    return [p.get_text(strip=True) for p in soup(response).select("#batch-result p")]


@pytest.fixture
def cohort(admin_client: TestClient) -> TestClient:
    """boss (super admin) signed in, with p01–p03 created as participants."""
    assert _batch(admin_client).status_code == 200
    return admin_client


# -- who may manage users -----------------------------------------------------------------------


ADMIN_POSTS = ["role", "reset-password", "activate", "deactivate", "delete"]


@pytest.mark.parametrize("role", ["participant", "facilitator"])
def test_non_admins_get_403_on_every_manage_users_route(cohort: TestClient, role: str) -> None:
    if role == "facilitator":
        _act(cohort, "p01", "role", role="facilitator")
    p01 = _signed_in(cohort, "p01", "TempPass123!")
    post_form(p01, "/profile/password", {"current_password": "TempPass123!", "new_password": PASSWORD, "confirm_password": PASSWORD}, page="/profile/password")
    target = user_id(cohort, "p02")
    assert p01.get("/admin/users").status_code == 403
    assert p01.get("/admin/users", headers={"HX-Request": "true"}).status_code == 403
    for action in ADMIN_POSTS:
        response = post_form(p01, f"/admin/users/{target}/{action}", {"role": "admin", "password": NEW_PASSWORD})
        assert response.status_code == 403, action
        assert page_error(response) == "Only administrators can manage users."
    for kind in ("pattern", "emails"):
        response = post_form(p01, f"/admin/users/batch/{kind}", {"prefix": "x", "emails": "x@example.org", "password": PASSWORD})
        assert response.status_code == 403, kind
    assert logins(cohort) == ["boss", "p01", "p02", "p03"]
    assert user(cohort, "p02").is_active  # type: ignore[union-attr]
    assert user(cohort, "p02").role == "participant"  # type: ignore[union-attr]


def test_an_admin_can_manage_users(cohort: TestClient) -> None:
    _act(cohort, "p01", "role", role="facilitator")
    _act(cohort, "p01", "role", role="admin")
    admin = _signed_in(cohort, "p01", "TempPass123!")
    post_form(admin, "/profile/password", {"current_password": "TempPass123!", "new_password": PASSWORD, "confirm_password": PASSWORD}, page="/profile/password")
    assert admin.get("/admin/users").status_code == 200
    assert _act(admin, "p02", "role", role="facilitator").status_code == 303
    assert user(cohort, "p02").role == "facilitator"  # type: ignore[union-attr]


def test_signed_out_visitors_are_sent_to_login(client: TestClient) -> None:
    response = client.get("/admin/users")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=%2Fadmin%2Fusers")


# -- the table ----------------------------------------------------------------------------------


def test_the_table_lists_users_by_role_then_login_with_the_super_admin_locked(cohort: TestClient) -> None:
    _act(cohort, "p03", "role", role="facilitator")
    rows = _rows(cohort)
    assert list(rows) == ["boss", "p03", "p01", "p02"]
    assert rows["boss"]["Role locked"] == "yes"
    assert "super admin" in rows["boss"]["Role"]
    assert rows["p03"] == {"Email": "", "First": "p03", "Role": "facilitator", "Status": "Active", "Role locked": "no"}
    boss_row = soup(cohort.get("/admin/users")).select_one('tr[data-login="boss"]')
    assert boss_row is not None and not boss_row.select("form")


def test_the_filter_matches_login_email_or_name(cohort: TestClient) -> None:
    register(cohort, "zed", first_name="Zelda", email="zed@corp.example")
    assert list(_rows(cohort, "p0")) == ["p01", "p02", "p03"]
    assert list(_rows(cohort, "CORP")) == ["zed"]
    assert list(_rows(cohort, "zeld")) == ["zed"]
    assert list(_rows(cohort, "nomatch")) == []
    fragment = cohort.get("/admin/users?q=p02", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    table = soup(fragment)
    assert table.find("html") is None
    assert [tr["data-login"] for tr in table.select("#user-rows tbody tr")] == ["p02"]


def _order(client: TestClient, query: str) -> list[str]:
    return [str(tr["data-login"]) for tr in soup(client.get(f"/admin/users?{query}")).select("#user-rows tbody tr")]


def _header_links(client: TestClient, query: str) -> dict[str, tuple[str, dict[str, str]]]:
    """Column → (its aria-sort, the query its link asks for)."""
    headers = soup(client.get(f"/admin/users?{query}")).select("#user-rows thead th")
    return {
        th.get_text(strip=True): (str(th.get("aria-sort", "")), _query(str(th.a["href"])))
        for th in headers
        if th.a is not None
    }


def test_the_headers_sort_the_table_both_ways(cohort: TestClient) -> None:
    register(cohort, "zed", first_name="Ann", last_name="Young", email="a@corp.example")
    register(cohort, "amy", first_name="Zoe", last_name="Able", email="z@corp.example")
    _act(cohort, "p02", "deactivate")
    assert _order(cohort, "") == ["boss", "amy", "p01", "p02", "p03", "zed"]
    assert _order(cohort, "sort=login&dir=desc") == ["zed", "p03", "p02", "p01", "boss", "amy"]
    assert _order(cohort, "sort=email")[:2] == ["zed", "amy"]  # users without an email come last
    assert _order(cohort, "sort=email&dir=desc")[:2] == ["amy", "zed"]
    assert _order(cohort, "sort=first") == ["boss", "zed", "p01", "p02", "p03", "amy"]  # ignoring case
    assert _order(cohort, "sort=last")[-2:] == ["amy", "zed"]
    assert _order(cohort, "sort=status")[-1] == "p02"
    assert _order(cohort, "sort=status&dir=desc")[0] == "p02"
    assert _order(cohort, "sort=role&dir=desc") == ["amy", "p01", "p02", "p03", "zed", "boss"]
    assert _order(cohort, "sort=nonsense&dir=desc") == _order(cohort, "")
    assert _order(cohort, "q=corp&sort=login") == ["amy", "zed"]


def test_a_header_link_sorts_by_its_column_then_reverses_it(cohort: TestClient) -> None:
    default = _header_links(cohort, "")
    assert list(default) == ["Login", "Email", "First", "Last", "Role", "Status"]
    assert default["Role"] == ("ascending", {"sort": "role", "dir": "desc"})
    assert default["Login"] == ("", {"sort": "login", "dir": "asc"})
    by_login = _header_links(cohort, "q=p0&sort=login&dir=asc")
    assert by_login["Login"] == ("ascending", {"q": "p0", "sort": "login", "dir": "desc"})
    assert by_login["Role"][0] == ""
    assert _header_links(cohort, "sort=login&dir=desc")["Login"] == ("descending", {"sort": "login", "dir": "asc"})
    page = soup(cohort.get("/admin/users?q=p0&sort=login&dir=desc"))
    kept = {str(i["name"]): str(i["value"]) for i in page.select("form[role=search] input[name]")}
    assert kept == {"q": "p0", "sort": "login", "dir": "desc"}  # filtering keeps the chosen order


# -- roles --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "role", "message"),
    [
        ("p01", "super_admin", "Role super_admin cannot be assigned."),
        ("p01", "admin", "Participant must be promoted to facilitator before admin."),
        ("boss", "participant", "Super admin role cannot be changed."),
    ],
)
def test_role_changes_are_refused_with_the_rule(cohort: TestClient, target: str, role: str, message: str) -> None:
    before = user(cohort, target).role  # type: ignore[union-attr]
    response = _act(cohort, target, "role", role=role)
    assert response.status_code == 403
    assert page_error(response) == message
    assert user(cohort, target).role == before  # type: ignore[union-attr]


def test_an_admin_cannot_change_their_own_role_or_the_super_admins(cohort: TestClient) -> None:
    _act(cohort, "p01", "role", role="facilitator")
    _act(cohort, "p01", "role", role="admin")
    admin = _signed_in(cohort, "p01", "TempPass123!")
    post_form(admin, "/profile/password", {"current_password": "TempPass123!", "new_password": PASSWORD, "confirm_password": PASSWORD}, page="/profile/password")
    own = _act(admin, "p01", "role", role="facilitator")
    assert (own.status_code, page_error(own)) == (403, "You cannot change your own role.")
    boss = _act(admin, "boss", "role", role="admin")
    assert (boss.status_code, page_error(boss)) == (403, "Super admin role cannot be changed.")
    assert user(cohort, "p01").role == "admin"  # type: ignore[union-attr]


def test_promotion_then_straight_demotion(cohort: TestClient) -> None:
    assert _act(cohort, "p01", "role", role="facilitator").status_code == 303
    assert _act(cohort, "p01", "role", role="admin").status_code == 303
    assert _rows(cohort)["p01"]["Role"] == "admin"
    assert _act(cohort, "p01", "role", role="participant").status_code == 303
    assert _rows(cohort)["p01"]["Role"] == "participant"


def test_an_unknown_role_is_refused(cohort: TestClient) -> None:
    response = _act(cohort, "p01", "role", role="emperor")
    assert response.status_code == 400
    assert user(cohort, "p01").role == "participant"  # type: ignore[union-attr]


def test_a_role_change_applies_on_the_users_next_click(cohort: TestClient) -> None:
    p01 = _signed_in(cohort, "p01", "TempPass123!")
    post_form(p01, "/profile/password", {"current_password": "TempPass123!", "new_password": PASSWORD, "confirm_password": PASSWORD}, page="/profile/password")
    assert soup(p01.get("/dashboard")).select_one(".quick-actions") is None
    _act(cohort, "p01", "role", role="facilitator")
    actions = soup(p01.get("/dashboard")).select_one(".quick-actions")
    assert actions is not None
    assert "MANAGE USERS" not in actions.get_text()
    assert "DESIGN YOURSELF" in actions.get_text()


def test_an_unknown_user_is_not_found(cohort: TestClient) -> None:
    response = post_form(cohort, "/admin/users/USR-NOBODYX-001/role", {"role": "facilitator"})
    assert response.status_code == 404


# -- password reset -----------------------------------------------------------------------------


def _query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def test_a_reset_password_replaces_the_old_one_and_must_be_changed_first(cohort: TestClient) -> None:
    p03 = _signed_in(cohort, "p03", "TempPass123!")
    post_form(p03, "/profile/password", {"current_password": "TempPass123!", "new_password": PASSWORD, "confirm_password": PASSWORD}, page="/profile/password")
    assert p03.get("/dashboard").status_code == 200
    assert _act(cohort, "p03", "reset-password", password=NEW_PASSWORD).status_code == 303

    # the open session has ended
    assert _query(p03.get("/dashboard").headers["location"])["message"] == "session_expired"
    assert live_sessions(cohort, "p03") == 0
    assert sign_in(p03, "p03", PASSWORD).status_code == 401

    token = csrf_token(p03, "/login")
    signed_in = p03.post("/login", data={"login": "p03", "password": NEW_PASSWORD, "csrf_token": token, "next": "/profile?tab=a&x=1"})
    assert signed_in.status_code == 303
    first_stop = signed_in.headers["location"]
    assert urlsplit(first_stop).path == "/profile/password"
    assert _query(first_stop) == {"next": "/profile?tab=a&x=1"}
    for path in ("/dashboard", "/profile", "/admin/users"):
        detour = p03.get(path)
        assert detour.status_code == 303
        assert urlsplit(detour.headers["location"]).path == "/profile/password"
    page = p03.get(first_stop)
    assert notice(page) == "You must choose a new password before continuing."
    changed = p03.post(
        "/profile/password",
        data={
            "csrf_token": csrf_token(p03, first_stop),
            "next": "/profile?tab=a&x=1",
            "current_password": NEW_PASSWORD,
            "new_password": "Chosen-Passw0rd!",
            "confirm_password": "Chosen-Passw0rd!",
        },
    )
    assert changed.status_code == 303
    assert changed.headers["location"] == "/profile?tab=a&x=1"
    assert p03.get("/dashboard").status_code == 200
    assert not user(cohort, "p03").must_change_password  # type: ignore[union-attr]


def test_the_reset_form_defaults_to_the_default_password(cohort: TestClient) -> None:
    assert _act(cohort, "p02", "reset-password", password="").status_code == 303
    assert sign_in(_other_browser(cohort), "p02", "TempPass123!").status_code == 303


def test_a_weak_reset_password_is_refused(cohort: TestClient) -> None:
    response = _act(cohort, "p02", "reset-password", password="weak")
    assert response.status_code == 422
    assert "Password must be at least 8 characters long" in page_error(response)
    assert sign_in(_other_browser(cohort), "p02", "TempPass123!").status_code == 303


# -- deactivation and deletion ------------------------------------------------------------------


def test_deactivation_ends_the_session_and_blocks_sign_in_until_reactivated(cohort: TestClient) -> None:
    p02 = _signed_in(cohort, "p02", "TempPass123!")
    assert _act(cohort, "p02", "deactivate").status_code == 303
    assert _rows(cohort)["p02"]["Status"] == "Inactive"
    assert _query(p02.get("/profile/password").headers["location"])["message"] == "session_expired"
    refused = sign_in(p02, "p02", "TempPass123!")
    assert page_error(refused) == "This account is deactivated. Contact an administrator."
    assert _act(cohort, "p02", "activate").status_code == 303
    assert _rows(cohort)["p02"]["Status"] == "Active"
    assert sign_in(p02, "p02", "TempPass123!").status_code == 303


def test_deletion_leaves_a_tombstone_and_frees_login_and_email(admin_client: TestClient) -> None:
    register(admin_client, "pat", first_name="Patricia", email="pat@example.org")
    pat = _signed_in(admin_client, "pat")
    pat_id = user_id(admin_client, "pat")
    response = _act(admin_client, "pat", "delete", page="/admin/users")
    assert response.status_code == 303
    assert "pat" not in _rows(admin_client)
    assert _query(pat.get("/dashboard").headers["location"])["message"] == "session_expired"
    assert sign_in(pat, "pat").status_code == 401
    tombstone = database(admin_client).read_sync(lambda: User.get_by_id(pat_id))
    assert (tombstone.login, tombstone.email, tombstone.password_hash) == (None, None, None)
    assert tombstone.is_deleted and tombstone.display_name == "Patricia"
    assert register(admin_client, "PAT", email="pat@example.org").status_code == 303
    assert user_id(admin_client, "pat") != pat_id


def _add_brainstorming(client: TestClient, meeting_id: str) -> str:
    def write() -> str:
        meeting = Meeting.get_by_id(meeting_id)
        common = {"title": "Ideas", "instructions": "", "time_limit_minutes": None, "auto_stop": False}
        activity, _ = agenda.add_activity(meeting, "brainstorming", common, dict(DEFAULT_CONFIG), meeting.owner_id)
        return str(activity.id)

    return database(client).write_sync(write)


def test_deletion_keeps_ideas_and_votes_under_the_last_display_name(client: TestClient) -> None:
    """S3.4: p02 is deleted; what p02 contributed to a meeting stays, under p02's name."""
    db = database(client)
    poll = seed_poll(db, client_opener(client))
    ideas = _add_brainstorming(client, poll.meeting.id)
    admin = add_people(db, {"adm": "admin"})["adm"]
    for activity in (poll.vote, ideas):
        poll.control("start", activity)
    submitted = poll.post("pat", f"/meeting/{{mid}}/activities/{ideas}/ideas", {"content": "Idea A", "client_token": "pat-a"})
    assert submitted.status_code == 303
    assert poll.vote_as("pat", {"A": 2, "B": 1}).status_code == 303
    pat_id = poll.people["pat"].user_id

    admin_browser = client_opener(client)(admin)
    deleted = admin_browser.post(f"/admin/users/{pat_id}/delete", data={})

    assert deleted.status_code == 303
    assert "pat" not in _rows(admin_browser)
    assert poll.get("pat").status_code == 303  # pat's session ended with the account
    room = poll.get("owner")
    assert [(row.text, row.author) for row in board_rows(room, ideas)] == [("Idea A", "pat")]
    assert results_rows(room, poll.vote)[:2] == [["1", "A", "2", "1"], ["2", "B", "1", "1"]]
    assert poll.allocation("pat") == {"A": 2, "B": 1}
    assert "pat" not in [m.user.login for m in db.read_sync(lambda: list(MeetingMember.select().join(User)))]


def test_deletion_is_confirmed_with_the_login(cohort: TestClient) -> None:
    response = post_form(cohort, f"/admin/users/{user_id(cohort, 'p02')}/delete", headers={"HX-Request": "true"}, page="/admin/users")
    assert response.status_code == 200
    assert notice(response) == "User p02 deleted."


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ("delete", "Super admin cannot be deleted."),
        ("reset-password", "Super admin password cannot be reset."),
        ("deactivate", "Super admin cannot be deactivated."),
    ],
)
def test_the_super_admin_is_immutable(cohort: TestClient, action: str, message: str) -> None:
    response = _act(cohort, "boss", action, password=NEW_PASSWORD)
    assert response.status_code == 403
    assert page_error(response) == message
    boss = user(cohort, "boss")
    assert boss is not None and boss.is_active and not boss.must_change_password
    assert cohort.get("/dashboard").status_code == 200


@pytest.mark.parametrize(
    ("action", "message"),
    [("delete", "You cannot delete your own account."), ("deactivate", "You cannot deactivate your own account.")],
)
def test_an_admin_cannot_remove_themselves(cohort: TestClient, action: str, message: str) -> None:
    _act(cohort, "p01", "role", role="facilitator")
    _act(cohort, "p01", "role", role="admin")
    admin = _signed_in(cohort, "p01", "TempPass123!")
    post_form(admin, "/profile/password", {"current_password": "TempPass123!", "new_password": PASSWORD, "confirm_password": PASSWORD}, page="/profile/password")
    response = _act(admin, "p01", action)
    assert (response.status_code, page_error(response)) == (403, message)
    assert admin.get("/admin/users").status_code == 200


# -- batch creation -----------------------------------------------------------------------------


def test_a_pattern_batch_creates_users_who_must_change_their_password(admin_client: TestClient) -> None:
    response = _batch(admin_client)
    assert response.status_code == 200
    assert _batch_result(response) == ["Created 3: p01, p02, p03"]
    rows = _rows(admin_client)
    assert [login for login in rows if login.startswith("p")] == ["p01", "p02", "p03"]
    assert {rows[f"p0{n}"]["Role"] for n in (1, 2, 3)} == {"participant"}
    first = sign_in(_other_browser(admin_client), "p01", "TempPass123!")
    assert urlsplit(first.headers["location"]).path == "/profile/password"


def test_repeating_a_batch_skips_everyone(cohort: TestClient) -> None:
    response = _batch(cohort)
    assert _batch_result(response) == [
        "Created 0",
        "Skipped 3: p01 (already exists), p02 (already exists), p03 (already exists)",
    ]
    assert logins(cohort) == ["boss", "p01", "p02", "p03"]


def test_batch_options_shape_logins_emails_and_names(admin_client: TestClient) -> None:
    response = _batch(admin_client, prefix="Team_", start="99", end="100", role="facilitator", email_domain="@Example.org", first_name="Guest", last_name="Smith")
    assert _batch_result(response) == ["Created 2: team_099, team_100"]
    member = user(admin_client, "team_100")
    assert member is not None
    assert (member.email, member.first_name, member.last_name, member.role) == ("team_100@example.org", "Guest", "Smith", "facilitator")
    assert member.id.startswith("USR-SMITHXG-")


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"start": "5", "end": "3"}, "end", "End must be greater than or equal to Start."),
        ({"start": "1", "end": "501"}, "end", "A batch can create at most 500 users."),
        ({"start": "0", "end": "500"}, "end", "A batch can create at most 500 users."),
        ({"start": "-1"}, "start", "Enter a whole number of at least 0."),
        ({"end": "0"}, "end", "Enter a whole number of at least 1."),
        ({"end": "many"}, "end", "Enter a whole number of at least 1."),
        ({"prefix": "bad prefix"}, "prefix", "Prefix may use letters, digits and . _ @ + - (1–40 characters)."),
        ({"password": "weakpass"}, "password", "Password must contain at least one uppercase letter"),
    ],
)
def test_a_bad_batch_shows_the_message_beside_the_field_and_creates_nothing(
    admin_client: TestClient, fields: dict[str, str], field: str, message: str
) -> None:
    response = _batch(admin_client, **fields)
    assert response.status_code == 422
    error = field_error(response, field)
    assert error is not None and message in error
    assert logins(admin_client) == ["boss"]


def test_a_weak_batch_password_lists_every_broken_rule(admin_client: TestClient) -> None:
    response = _batch(admin_client, password="short")
    error = field_error(response, "password") or ""
    for rule in ("at least 8 characters", "uppercase letter", "number", "special character"):
        assert rule in error
    assert logins(admin_client) == ["boss"]


def test_a_batch_of_exactly_500_users_is_allowed(admin_client: TestClient) -> None:
    response = _batch(admin_client, prefix="u", start="1", end="500")
    assert _batch_result(response)[0].startswith("Created 500: u001, u002")
    assert len(logins(admin_client)) == 501


@pytest.mark.parametrize("kind", ["pattern", "emails"])
def test_a_batch_cannot_create_admins(admin_client: TestClient, kind: str) -> None:
    data = {"prefix": "p", "start": "1", "end": "2", "emails": "a@example.org", "password": "TempPass123!", "role": "admin"}
    response = post_form(admin_client, f"/admin/users/batch/{kind}", data, page="/admin/users")
    assert response.status_code == 400
    assert page_error(response) == "Batch creation can only create participants or facilitators."
    assert logins(admin_client) == ["boss"]


def test_an_email_batch_creates_updates_and_skips(admin_client: TestClient) -> None:
    register(admin_client, "carol@example.org")  # a login that is an address, with no email yet
    register(admin_client, "dave", email="dave@example.org")
    emails = "New.One@Example.org; not-an-email\nnew2@example.org, carol@example.org;dave@example.org,,"
    data = {"emails": emails, "password": "TempPass123!", "role": "facilitator"}
    response = post_form(admin_client, "/admin/users/batch/emails", data, page="/admin/users")
    assert response.status_code == 200
    assert _batch_result(response) == [
        "Created 2: new.one@example.org, new2@example.org",
        "Updated 1: carol@example.org",
        "Skipped 2: not-an-email (invalid email), dave@example.org (already exists)",
    ]
    created = user(admin_client, "new.one@example.org")
    assert created is not None
    assert (created.email, created.first_name, created.role, created.must_change_password) == (
        "new.one@example.org",
        "new.one@example.org",
        "facilitator",
        True,
    )
    assert user(admin_client, "carol@example.org").email == "carol@example.org"  # type: ignore[union-attr]
    assert user(admin_client, "carol@example.org").role == "participant"  # type: ignore[union-attr]
    again = post_form(admin_client, "/admin/users/batch/emails", data, page="/admin/users")
    assert _batch_result(again)[0] == "Created 0"


def test_an_email_batch_over_500_addresses_is_refused_and_creates_nothing(admin_client: TestClient) -> None:
    emails = "\n".join(f"u{n}@example.org" for n in range(501))
    data = {"emails": emails, "password": "TempPass123!", "role": "participant"}
    response = post_form(admin_client, "/admin/users/batch/emails", data, page="/admin/users")
    assert response.status_code == 422
    assert field_error(response, "emails") == "A batch can create at most 500 users."
    assert field_value(response, "emails") == emails
    assert logins(admin_client) == ["boss"]


def test_an_empty_email_batch_is_refused(admin_client: TestClient) -> None:
    data = {"emails": " ;, \n", "password": "TempPass123!", "role": "participant"}
    response = post_form(admin_client, "/admin/users/batch/emails", data, page="/admin/users")
    assert response.status_code == 422
    assert field_error(response, "emails") == "Enter at least one email address."
