"""Joining by code, invite link and QR code (SPEC §4.5, S2.4, S20.1–4)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlsplit

import pytest
from account_helpers import database, page_error, set_setting, soup
from conftest import PASSWORD, csrf_token
from meeting_helpers import flash, make_user, person, post, roles_in, seed_meeting, signed_out
from starlette.testclient import TestClient

from decidero.meetings.models import MeetingEvent
from decidero.meetings.routes.meetings import qr_svg

SVG = "{http://www.w3.org/2000/svg}svg"


@pytest.fixture
def cast(client: TestClient) -> TestClient:
    make_user(client, "fac", "facilitator", first_name="Fay")
    make_user(client, "p01")
    make_user(client, "p02", first_name="Pat")
    return client


def _join(browser: TestClient, code: str) -> tuple[int, str]:
    response = post(browser, "/join", {"code": code})
    if response.status_code == 303:
        return 303, response.headers["location"]
    return response.status_code, page_error(response)


def test_joining_by_a_lower_case_code_lands_in_the_meeting_as_a_participant(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac")
    p02 = person(cast, "p02")
    assert _join(p02, f"  {meeting_id.lower()} ") == (303, f"/meeting/{meeting_id}")
    assert roles_in(cast, meeting_id) == {"fac": "owner", "p02": "participant"}
    assert p02.get(f"/meeting/{meeting_id}").status_code == 200
    summaries = database(cast).read_sync(
        lambda: [e.summary for e in MeetingEvent.select().where(MeetingEvent.type == "roster_changed")]
    )
    assert summaries == ["Pat joined the meeting."]


def test_members_pass_straight_through(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac", participants=["p01"])
    for login in ("fac", "p01"):
        assert _join(person(cast, login), meeting_id) == (303, f"/meeting/{meeting_id}")
    assert roles_in(cast, meeting_id) == {"fac": "owner", "p01": "participant"}


def test_the_dashboard_join_box_posts_to_join(cast: TestClient) -> None:
    form = soup(person(cast, "p02").get("/dashboard")).select_one("form[action='/join']")
    assert form is not None and form.select_one("input[name=code]") is not None


def test_join_refusals(cast: TestClient) -> None:
    archived = seed_meeting(cast, "fac", title="Old")
    closed = seed_meeting(cast, "fac", title="Closed")
    fac = person(cast, "fac")
    post(fac, f"/meeting/{archived}/archive", {"confirmed": "1"})
    post(fac, f"/meeting/{closed}/open-join", {"open_join": "0"})
    p02 = person(cast, "p02")
    assert _join(p02, "MTG20990101-0001") == (404, "No meeting found with that code.")
    assert _join(p02, "") == (404, "No meeting found with that code.")
    assert _join(p02, archived) == (403, "This meeting is archived.")
    assert _join(p02, closed) == (403, "This meeting is not accepting new participants. Ask the facilitator to add you.")
    refused = post(p02, "/join", {"code": closed.lower()})
    assert soup(refused).select_one("input[name=code]")["value"] == closed.lower()  # type: ignore[index]
    assert roles_in(cast, closed) == {"fac": "owner"}


def test_a_full_meeting_refuses_joins(cast: TestClient) -> None:
    set_setting(cast, "meetings.max_participants", "1")
    meeting_id = seed_meeting(cast, "fac", participants=["p01"])
    assert _join(person(cast, "p02"), meeting_id) == (409, "This meeting is full (limit 1 participants).")
    assert person(cast, "p02").get(f"/join/{meeting_id}").status_code == 409


def test_open_join_is_switched_by_facilitators_and_turns_codes_and_links_away(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac", participants=["p01"])
    refused = post(person(cast, "p01"), f"/meeting/{meeting_id}/open-join", {"open_join": "0"})
    assert refused.status_code == 403
    fac = person(cast, "fac")
    switched = post(fac, f"/meeting/{meeting_id}/open-join", {"open_join": "0"})
    assert "Open join is off." in flash(fac.get(switched.headers["location"]))
    link = person(cast, "p02").get(f"/join/{meeting_id}")
    assert link.status_code == 403
    assert page_error(link) == "This meeting is not accepting new participants. Ask the facilitator to add you."
    post(fac, f"/meeting/{meeting_id}/open-join", {"open_join": "1"})
    assert _join(person(cast, "p02"), meeting_id) == (303, f"/meeting/{meeting_id}")
    kinds = database(cast).read_sync(
        lambda: [e.payload.get("change") for e in MeetingEvent.select().where(MeetingEvent.type == "meeting_updated")]
    )
    assert kinds[-2:] == ["open_join", "open_join"]


def test_signed_out_visitors_to_the_join_page_sign_in_first(cast: TestClient) -> None:
    visitor = signed_out(cast)
    response = visitor.get("/join")
    assert response.status_code == 303
    assert parse_qs(urlsplit(response.headers["location"]).query)["next"] == ["/join"]


def test_the_invite_link_takes_a_signed_out_visitor_through_login_into_the_meeting(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac")
    visitor = signed_out(cast)
    first = visitor.get(f"/join/{meeting_id}")
    assert first.status_code == 303
    login_page = first.headers["location"]
    assert urlsplit(login_page).path == "/login"
    next_path = parse_qs(urlsplit(login_page).query)["next"][0]
    assert next_path == f"/join/{meeting_id}"
    form = soup(visitor.get(login_page)).select_one("input[name=next]")
    assert form is not None and form["value"] == next_path
    signed_in = visitor.post(
        "/login", data={"login": "p02", "password": PASSWORD, "next": next_path, "csrf_token": csrf_token(visitor, login_page)}
    )
    assert signed_in.headers["location"] == f"/join/{meeting_id}"
    joined = visitor.get(signed_in.headers["location"])
    assert joined.status_code == 303
    assert joined.headers["location"] == f"/meeting/{meeting_id}"
    assert roles_in(cast, meeting_id) == {"fac": "owner", "p02": "participant"}
    assert visitor.get(joined.headers["location"]).status_code == 200


def test_the_invite_panel_shows_the_code_the_absolute_link_and_the_qr_code(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac")
    fac = person(cast, "fac")
    page = soup(fac.get(f"/meeting/{meeting_id}/invite"))
    assert page.select_one("#invite-code").get_text(strip=True) == meeting_id  # type: ignore[union-attr]
    link = page.select_one("#invite-url")
    assert link is not None and link["value"] == f"http://testserver/join/{meeting_id}"
    assert page.select_one("button[data-copy='#invite-url']") is not None
    qr = page.select_one("img.qr")
    assert qr is not None and qr["src"] == f"/meeting/{meeting_id}/qr.svg"
    present = page.select_one(f"a[href='/meeting/{meeting_id}/invite?present=1']")
    assert present is not None and present.get_text() == "Present"
    projected = soup(fac.get(f"/meeting/{meeting_id}/invite?present=1"))
    assert projected.select_one(".topbar") is None
    assert projected.select_one("#invite-code").get_text(strip=True) == meeting_id  # type: ignore[union-attr]
    assert projected.select_one("img.qr") is not None


def test_the_invite_link_follows_the_host_and_scheme_of_the_request(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac")
    fac = person(cast, "fac")
    page = soup(fac.get(f"/meeting/{meeting_id}/invite", headers={"Host": "decidero.example.org"}))
    assert page.select_one("#invite-url")["value"] == f"http://decidero.example.org/join/{meeting_id}"  # type: ignore[index]


def test_the_qr_code_is_an_svg_of_the_invite_link_shown_on_the_panel(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac")
    fac = person(cast, "fac")
    shown = str(soup(fac.get(f"/meeting/{meeting_id}/invite")).select_one("#invite-url")["value"])  # type: ignore[index]
    response = fac.get(f"/meeting/{meeting_id}/qr.svg")
    # segno cannot decode, so compare with a fresh rendering of the link the panel shows
    assert response.content == qr_svg(shown, f"Invite to {meeting_id}")
    assert response.content != qr_svg(shown + "x", f"Invite to {meeting_id}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    root = ET.fromstring(response.content)  # noqa: S314 - our own server's output
    assert root.tag == SVG
    assert int(float(root.attrib["width"])) >= 21 * 8  # at least a version-1 symbol at scale 8
    assert any(el.tag.endswith("path") for el in root.iter())
    title = root.find("{http://www.w3.org/2000/svg}title")
    assert title is not None and title.text == f"Invite to {meeting_id}"


def test_only_facilitators_see_the_invite_panel_and_qr(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac", participants=["p01"])
    p01 = person(cast, "p01")
    for path in ("invite", "qr.svg"):
        assert p01.get(f"/meeting/{meeting_id}/{path}").status_code == 403
        assert person(cast, "p02").get(f"/meeting/{meeting_id}/{path}").status_code == 403
