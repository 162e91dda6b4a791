"""Guest join (SPEC §4.1 guest join, §4.5, S20.4): the name-only form, the guest account it creates,
what a guest may reach, the per-address limit, and the admin's clean-up."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from account_helpers import database, field_error, page_error, set_setting, soup
from conftest import csrf_token
from helpers_brainstorming import DEFAULT_CONFIG
from meeting_helpers import get_user, make_user, person, post, roles_in, seed_meeting, signed_out
from starlette.testclient import TestClient

from decidero.activities.brainstorming.models import Idea
from decidero.meetings import agenda, run_control
from decidero.meetings.models import Meeting
from decidero.platform.models import User, UserSession, utcnow
from decidero.platform.ratelimit import CreationLimiter

CONFINED = "Guests can only take part in the meeting they joined."
NAME_MESSAGE = "Display name must be 1–100 characters."


@pytest.fixture
def cast(client: TestClient) -> TestClient:
    make_user(client, "boss", "super_admin")
    make_user(client, "fac", "facilitator", first_name="Fay")
    make_user(client, "p01")
    set_setting(client, "meetings.allow_guest_join", "true")
    return client


def join_as_guest(client: TestClient, path: str, **fields: str) -> tuple[TestClient, httpx.Response]:
    """A fresh browser filling in the guest form on ``path`` (``/join`` or ``/join/<id>``)."""
    visitor = signed_out(client)
    data = {"csrf_token": csrf_token(visitor, path), **fields}
    return visitor, visitor.post(path, data=data)


def guests(client: TestClient) -> list[tuple[str, str, str]]:
    return database(client).read_sync(
        lambda: [(u.login, u.display_name, u.role) for u in User.select().where(User.is_guest == True, User.is_deleted == False).order_by(User.created_at)]  # noqa: E712
    )


def test_the_invite_link_offers_a_name_only_form_when_guest_join_is_on(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac")

    page = signed_out(cast).get(f"/join/{meeting_id}")

    assert page.status_code == 200
    form = soup(page).select_one("form#guest-join")
    assert form is not None and form["action"] == f"/join/{meeting_id}"
    assert {str(i["name"]) for i in form.select("input[name]")} == {"csrf_token", "name", "email"}
    sign_in = soup(page).select_one("#join a[href^='/login']")
    assert sign_in is not None and parse_qs(urlsplit(str(sign_in["href"])).query)["next"] == [f"/join/{meeting_id}"]


def test_with_guest_join_off_visitors_sign_in_and_no_account_is_created(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac")
    set_setting(cast, "meetings.allow_guest_join", "false")
    visitor = signed_out(cast)

    assert visitor.get(f"/join/{meeting_id}").headers["location"].startswith("/login?next=%2Fjoin%2F")
    assert visitor.get("/join").headers["location"].startswith("/login?next=%2Fjoin")
    posted = visitor.post(f"/join/{meeting_id}", data={"csrf_token": csrf_token(visitor), "name": "Visitor"})
    assert posted.status_code == 303 and posted.headers["location"].startswith("/login?")
    assert guests(cast) == []


def test_a_guest_joins_by_invite_link_and_lands_in_the_meeting_as_a_participant(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac")

    guest, response = join_as_guest(cast, f"/join/{meeting_id}", name="Visitor")

    assert response.status_code == 303
    assert response.headers["location"] == f"/meeting/{meeting_id}"
    assert "decidero_session=" in response.headers["set-cookie"]
    assert guests(cast) == [("visitor", "Visitor", "participant")]
    assert roles_in(cast, meeting_id) == {"fac": "owner", "visitor": "participant"}
    room = guest.get(f"/meeting/{meeting_id}")
    assert room.status_code == 200
    assert soup(room).select_one(".topbar .badge.guest") is not None
    roster = soup(person(cast, "fac").get(f"/meeting/{meeting_id}/roster"))
    row = roster.select_one("li[data-login='visitor']")
    assert row is not None and row.select_one(".badge.guest").get_text() == "guest"  # type: ignore[union-attr]


def test_a_guest_joins_by_code_on_the_join_page_with_an_email(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac")

    _, response = join_as_guest(cast, "/join", code=f" {meeting_id.lower()} ", name="Dana Ø", email="Dana.X@Example.org")

    assert response.headers["location"] == f"/meeting/{meeting_id}"
    dana = get_user(cast, "dana.x")
    assert (dana.email, dana.display_name, dana.is_guest) == ("dana.x@example.org", "Dana Ø", True)


def test_guest_logins_are_slugs_and_take_a_number_on_collision(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac")
    for name in ("Visitor", "Visitor", "visitor", "Zoë Ürsel-Smith!", "李", "Al"):
        assert join_as_guest(cast, f"/join/{meeting_id}", name=name)[1].status_code == 303

    logins = [login for login, _, _ in guests(cast)]

    assert logins == ["visitor", "visitor_0001", "visitor_0002", "zoe_ursel-smith", "guest", "guest_al"]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": ""}, "name", NAME_MESSAGE),
        ({"name": "   "}, "name", NAME_MESSAGE),
        ({"name": "x" * 101}, "name", NAME_MESSAGE),
        ({"name": "\x00\x01\x1b\u202e\x7f"}, "name", NAME_MESSAGE),
        ({"name": "Visitor", "email": "not-an-email"}, "email", "Enter a valid email address."),
        ({"name": "Visitor", "email": "p01@example.org"}, "email", "User with email p01@example.org already exists."),
    ],
    ids=["empty", "blank", "too long", "control characters only", "bad email", "taken email"],
)
def test_a_bad_guest_form_is_refused_beside_the_field_and_creates_nothing(
    cast: TestClient, fields: dict[str, str], field: str, message: str
) -> None:
    make_user(cast, "owner2", "facilitator", email="p01@example.org")
    meeting_id = seed_meeting(cast, "fac")

    _, response = join_as_guest(cast, f"/join/{meeting_id}", **fields)

    assert response.status_code == 422
    assert field_error(response, field) == message
    assert guests(cast) == []
    assert roles_in(cast, meeting_id) == {"fac": "owner"}


def test_a_refused_join_leaves_no_guest_account_behind(cast: TestClient) -> None:
    set_setting(cast, "meetings.max_participants", "1")
    full = seed_meeting(cast, "fac", title="Full", participants=["p01"])
    closed = seed_meeting(cast, "fac", title="Closed")
    archived = seed_meeting(cast, "fac", title="Archived")
    fac = person(cast, "fac")
    post(fac, f"/meeting/{closed}/open-join", {"open_join": "0"})
    post(fac, f"/meeting/{archived}/archive", {"confirmed": "1"})

    outcomes = [join_as_guest(cast, "/join", code=code, name="Visitor")[1] for code in ("MTG20990101-0001", full, closed, archived)]

    assert [(r.status_code, page_error(r)) for r in outcomes] == [
        (404, "No meeting found with that code."),
        (409, "This meeting is full (limit 1 participants)."),
        (403, "This meeting is not accepting new participants. Ask the facilitator to add you."),
        (403, "This meeting is archived."),
    ]
    assert guests(cast) == []
    assert field_error(outcomes[0], "name") is None and soup(outcomes[0]).select_one("#f-name")["value"] == "Visitor"  # type: ignore[index]


def test_guest_join_works_while_self_registration_is_closed(cast: TestClient) -> None:
    """Guest join has its own switch: an admin who turns it on wants guests, registration or not."""
    set_setting(cast, "auth.allow_self_registration", "false")
    meeting_id = seed_meeting(cast, "fac")

    assert join_as_guest(cast, f"/join/{meeting_id}", name="Visitor")[1].status_code == 303


# -- what a guest may reach ---------------------------------------------------------------------


@pytest.fixture
def guest(cast: TestClient) -> tuple[TestClient, str]:
    meeting_id = seed_meeting(cast, "fac")
    browser, response = join_as_guest(cast, f"/join/{meeting_id}", name="Visitor")
    assert response.status_code == 303
    return browser, meeting_id


def test_the_dashboard_sends_a_guest_into_their_meeting(guest: tuple[TestClient, str]) -> None:
    browser, meeting_id = guest

    assert browser.get("/dashboard").headers["location"] == f"/meeting/{meeting_id}"
    assert browser.get("/").headers["location"] == "/dashboard"


@pytest.mark.parametrize(
    "path",
    ["/profile", "/profile/password", "/admin/users", "/settings", "/dashboard/meetings", "/meeting/create", "/designer"],
)
def test_a_guest_gets_403_outside_their_meeting(guest: tuple[TestClient, str], path: str) -> None:
    browser, _ = guest

    response = browser.get(path)

    assert response.status_code == 403
    assert page_error(response) in (CONFINED, "Only facilitators and administrators can create meetings.")


def test_a_guest_cannot_post_outside_their_meeting(cast: TestClient, guest: tuple[TestClient, str]) -> None:
    browser, _ = guest
    token = csrf_token(browser, f"/meeting/{guest[1]}")
    for path, data in (("/profile/password", {"current_password": "x", "new_password": "Newpass1!", "confirm_password": "Newpass1!"}), ("/profile", {"display_name": "Mallory"})):
        response = browser.post(path, data={"csrf_token": token, **data})
        assert response.status_code == 403 and page_error(response) == CONFINED
    assert get_user(cast, "visitor").display_name == "Visitor"


def test_a_guest_cannot_open_or_join_another_meeting(cast: TestClient, guest: tuple[TestClient, str]) -> None:
    browser, _ = guest
    other = seed_meeting(cast, "fac", title="Other")

    assert browser.get(f"/meeting/{other}").status_code == 403
    assert browser.get(f"/meeting/{other}/events").status_code == 403
    joined = browser.get(f"/join/{other}")
    assert (joined.status_code, page_error(joined)) == (403, CONFINED)
    by_code = post(browser, "/join", {"code": other}, page="/join")
    assert (by_code.status_code, page_error(by_code)) == (403, CONFINED)
    assert roles_in(cast, other) == {"fac": "owner"}


def start_brainstorm(cast: TestClient, meeting_id: str) -> str:
    def add_and_start() -> str:
        owner = User.get(User.login == "fac")
        common = {"title": "Ideas", "instructions": "", "time_limit_minutes": None, "auto_stop": False}
        activity, _ = agenda.add_activity(Meeting.get_by_id(meeting_id), "brainstorming", common, dict(DEFAULT_CONFIG), owner.id)
        run_control.control(activity, "start", owner, exclusivity=False)
        return str(activity.id)

    return database(cast).write_sync(add_and_start)


def submit_idea(browser: TestClient, meeting_id: str, activity_id: str, content: str) -> httpx.Response:
    token = csrf_token(browser, f"/meeting/{meeting_id}")
    data = {"csrf_token": token, "content": content, "client_token": content}
    return browser.post(f"/meeting/{meeting_id}/activities/{activity_id}/ideas", data=data)


def ideas(cast: TestClient) -> list[tuple[str, str]]:
    return database(cast).read_sync(lambda: [(i.content, i.author_name) for i in Idea.select()])


def test_a_guest_takes_part_like_a_participant(cast: TestClient, guest: tuple[TestClient, str]) -> None:
    browser, meeting_id = guest
    activity_id = start_brainstorm(cast, meeting_id)

    assert submit_idea(browser, meeting_id, activity_id, "From a guest").status_code == 303

    assert ideas(cast) == [("From a guest", "Visitor")]
    board = soup(person(cast, "fac").get(f"/meeting/{meeting_id}"))
    assert "From a guest" in board.get_text()


# -- limits and clean-up ------------------------------------------------------------------------


def test_guest_creation_is_limited_per_address(cast: TestClient) -> None:
    cast.app.state.services.guest_limiter = CreationLimiter(2, 600)  # type: ignore[attr-defined]
    meeting_id = seed_meeting(cast, "fac")
    assert [join_as_guest(cast, f"/join/{meeting_id}", name=f"G{n}")[1].status_code for n in range(2)] == [303, 303]

    _, refused = join_as_guest(cast, f"/join/{meeting_id}", name="G3")

    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert page_error(refused) == "Too many guests joined from this address. Please wait before trying again."
    assert len(guests(cast)) == 2


def test_the_limiter_frees_a_slot_when_the_window_passes() -> None:
    now = [0.0]
    limiter = CreationLimiter(1, 60, clock=lambda: now[0])
    assert limiter.take("1.2.3.4") == 0
    assert limiter.take("1.2.3.4") == 60
    assert limiter.take("5.6.7.8") == 0
    now[0] = 60.5
    assert limiter.take("1.2.3.4") == 0


def _age(cast: TestClient, login: str, days: int) -> None:
    cast_db = database(cast)
    cast_db.write_sync(lambda: User.update(created_at=utcnow() - timedelta(days=days)).where(User.login == login).execute())


def test_an_admin_removes_guests_older_than_n_days_and_their_ideas_stay(cast: TestClient, guest: tuple[TestClient, str]) -> None:
    browser, meeting_id = guest
    join_as_guest(cast, f"/join/{meeting_id}", name="Newcomer")
    submit_idea(browser, meeting_id, start_brainstorm(cast, meeting_id), "Kept after removal")
    _age(cast, "visitor", 10)
    old = get_user(cast, "visitor")
    boss = person(cast, "boss")

    response = post(boss, "/admin/users/guests/remove", {"days": "7"}, page="/admin/users")

    assert response.status_code == 200
    assert "Removed 1 guest older than 7 days." in soup(response).select_one("#manage-users .notice").get_text()  # type: ignore[union-attr]
    assert [login for login, _, _ in guests(cast)] == ["newcomer"]
    tomb = database(cast).read_sync(lambda: User.get_by_id(old.id))
    assert (tomb.login, tomb.is_deleted, tomb.display_name) == (None, True, "Visitor")
    assert browser.get(f"/meeting/{meeting_id}").headers["location"].startswith("/login")
    assert roles_in(cast, meeting_id) == {"fac": "owner", "newcomer": "participant"}
    assert ideas(cast) == [("Kept after removal", "Visitor")]
    assert "Kept after removal" in soup(person(cast, "fac").get(f"/meeting/{meeting_id}")).get_text()
    revoked = database(cast).read_sync(lambda: UserSession.select().where(UserSession.user == old.id, UserSession.revoked == False).count())  # noqa: E712
    assert revoked == 0


@pytest.mark.parametrize("days", ["", "abc", "-1", "٣", "3651"])
def test_removing_guests_needs_a_whole_number_of_days(cast: TestClient, guest: tuple[TestClient, str], days: str) -> None:
    response = post(person(cast, "boss"), "/admin/users/guests/remove", {"days": days}, page="/admin/users")

    assert response.status_code == 422
    assert field_error(response, "days") == "Enter a whole number of days from 0 to 3650."
    assert len(guests(cast)) == 1


def test_only_admins_remove_guests(cast: TestClient, guest: tuple[TestClient, str]) -> None:
    response = post(person(cast, "fac"), "/admin/users/guests/remove", {"days": "0"})

    assert response.status_code == 403
    assert len(guests(cast)) == 1


def test_an_admin_password_reset_makes_a_guest_a_normal_account(cast: TestClient, guest: tuple[TestClient, str]) -> None:
    visitor = get_user(cast, "visitor")

    post(person(cast, "boss"), f"/admin/users/{visitor.id}/reset-password", {"password": "Handed0ver!"}, page="/admin/users")

    assert get_user(cast, "visitor").is_guest is False
    assert guests(cast) == []
