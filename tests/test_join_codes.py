"""Short join codes and invites that survive registration (issue 17, "Easy joining")."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from account_helpers import database, soup
from conftest import PASSWORD, csrf_token
from meeting_helpers import make_user, person, post, seed_meeting, signed_out
from starlette.testclient import TestClient

from decidero.meetings import lifecycle
from decidero.meetings.access import access_for
from decidero.meetings.ids import new_join_code
from decidero.meetings.models import Meeting
from decidero.platform.models import User
from decidero.schema import STEPS, migrate


@pytest.fixture
def cast(client: TestClient) -> TestClient:
    make_user(client, "fac", "facilitator", first_name="Fay")
    make_user(client, "p01")
    return client


def code_of(client: TestClient, meeting_id: str) -> str | None:
    return database(client).read_sync(lambda: Meeting.get_by_id(meeting_id).join_code)


def test_every_new_meeting_gets_a_6_digit_code_unique_among_live_meetings(cast: TestClient) -> None:
    codes = [code_of(cast, seed_meeting(cast, "fac", title=f"M{i}")) for i in range(20)]
    assert all(code is not None and len(code) == 6 and code.isdigit() for code in codes)
    assert len(set(codes)) == len(codes)


def test_joining_by_the_short_code_typed_with_a_space_lands_in_the_meeting(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac")
    code = code_of(cast, meeting_id)
    assert code is not None
    response = post(person(cast, "p01"), "/join", {"code": f" {code[:3]} {code[3:]} "})
    assert (response.status_code, response.headers["location"]) == (303, f"/meeting/{meeting_id}")


def test_the_meeting_id_still_works_and_a_wrong_code_is_refused(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac")
    assert post(person(cast, "p01"), "/join", {"code": meeting_id.lower()}).status_code == 303
    taken = {code_of(cast, meeting_id)}
    unused = next(c for c in (f"{n:06d}" for n in range(1000)) if c not in taken)
    refused = post(person(cast, "p01"), "/join", {"code": unused})
    assert refused.status_code == 404
    assert "No meeting found with that code." in refused.text


def test_an_archived_meetings_code_is_free_and_restoring_gives_it_a_fresh_one_if_taken(cast: TestClient) -> None:
    old = seed_meeting(cast, "fac", title="Old")
    db = database(cast)
    fac = db.read_sync(lambda: User.get(User.login == "fac"))
    db.write_sync(lambda: lifecycle.archive(access_for(old, fac)))
    code = code_of(cast, old)
    assert post(person(cast, "p01"), "/join", {"code": code or ""}).status_code == 404  # archived: not by code
    new = seed_meeting(cast, "fac", title="New")
    db.write_sync(lambda: Meeting.update(join_code=code).where(Meeting.id == new).execute())  # the same code, now live
    db.write_sync(lambda: lifecycle.restore(access_for(old, fac)))
    assert code_of(cast, old) not in (None, code)
    assert code_of(cast, new) == code


def test_facilitators_regenerate_the_code_and_the_old_one_stops_working(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac")
    before = code_of(cast, meeting_id)
    facilitator = person(cast, "fac")
    response = post(facilitator, f"/meeting/{meeting_id}/join-code", page=f"/meeting/{meeting_id}/invite")
    assert response.status_code == 303
    after = code_of(cast, meeting_id)
    assert after and after != before
    invite = soup(facilitator.get(f"/meeting/{meeting_id}/invite"))
    assert invite.select_one("#join-code").get_text(strip=True).replace(" ", "") == after  # type: ignore[union-attr]
    assert post(person(cast, "p01"), "/join", {"code": before or ""}).status_code == 404
    refused = post(person(cast, "p01"), f"/meeting/{meeting_id}/join-code")
    assert refused.status_code == 403 and code_of(cast, meeting_id) == after


def test_the_presenter_view_shows_the_code_large(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac")
    page = soup(person(cast, "fac").get(f"/meeting/{meeting_id}/invite?present=1"))
    assert page.select_one("#join-code").get_text(strip=True).replace(" ", "") == code_of(cast, meeting_id)  # type: ignore[union-attr]


def test_the_migration_gives_existing_meetings_a_code(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac")
    db = database(cast)
    db.write_sync(lambda: Meeting.update(join_code=None).where(Meeting.id == meeting_id).execute())
    step = next(fn for number, fn in STEPS if fn.__name__ == "_join_codes")
    db.write_sync(lambda: step(db.peewee))
    assert (code_of(cast, meeting_id) or "").isdigit()
    assert migrate(db) >= max(number for number, _ in STEPS)
    assert db.write_sync(lambda: new_join_code()) != code_of(cast, meeting_id)


def test_an_invite_survives_registration_and_the_pages_say_which_meeting(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac", title="Q3 Planning")
    visitor = signed_out(cast)
    to_login = visitor.get(f"/join/{meeting_id}")
    login_page = visitor.get(to_login.headers["location"])
    assert "You are joining “Q3 Planning”." in login_page.text
    register_link = soup(login_page).select_one("main a[href^='/register?next=']")
    assert register_link is not None
    register_page = visitor.get(str(register_link["href"]))
    assert "You are joining “Q3 Planning”." in register_page.text
    token = csrf_token(visitor, str(register_link["href"]))
    fields = {"login": "newbie", "password": PASSWORD, "confirm_password": PASSWORD, "csrf_token": token}
    registered = visitor.post("/register", data={**fields, "next": f"/join/{meeting_id}"})
    assert registered.status_code == 303
    login_url = registered.headers["location"]
    assert parse_qs(urlsplit(login_url).query)["next"] == [f"/join/{meeting_id}"]
    assert "You are joining “Q3 Planning”." in visitor.get(login_url).text
    signed_in = visitor.post("/login", data={"login": "newbie", "password": PASSWORD, "csrf_token": csrf_token(visitor, login_url), "next": f"/join/{meeting_id}"})
    assert signed_in.headers["location"] == f"/join/{meeting_id}"
    assert visitor.get(f"/join/{meeting_id}").headers["location"] == f"/meeting/{meeting_id}"


def test_the_sign_in_page_names_no_meeting_for_other_targets(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac", title="Secret plans")
    assert "Secret plans" not in signed_out(cast).get(f"/login?next=/meeting/{meeting_id}").text
    assert "You are joining" not in signed_out(cast).get("/login?next=/join/NOPE").text
