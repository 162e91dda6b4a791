"""Meetings: create, edit in place, status, dashboard, archive/restore/delete, ownership, and who may
do what (SPEC §2.3, §4.4, S4, S16.1–2)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from account_helpers import database, field_error, field_value, page_error, set_setting, soup
from conftest import base_env, csrf_token
from meeting_helpers import (
    access,
    dashboard_rows,
    flash,
    get_user,
    make_user,
    meeting_row,
    person,
    post,
    roles_in,
    seed_meeting,
    set_state,
    signed_out,
)
from starlette.routing import Route
from starlette.testclient import TestClient

from decidero.app import create_app
from decidero.meetings import event_log
from decidero.meetings import lifecycle as meetings
from decidero.meetings.agenda import ordered
from decidero.meetings.models import Activity, Meeting, MeetingEvent, MeetingMember
from decidero.platform import user_admin

TODAY = datetime.now(UTC).strftime("%Y%m%d")


@pytest.fixture
def cast(client: TestClient) -> TestClient:
    """boss (super admin), adm (admin), fac and cof (facilitators), p01–p03 and out (participants)."""
    make_user(client, "boss", "super_admin")
    make_user(client, "adm", "admin")
    make_user(client, "fac", "facilitator", first_name="Fay")
    make_user(client, "cof", "facilitator", first_name="Cora")
    for login in ("p01", "p02", "p03", "out"):
        make_user(client, login, email=f"{login}@example.org")
    return client


def _create(browser: TestClient, **fields: str) -> tuple[str, list[str]]:
    """Fill and submit the create form; returns the redirect target and the hidden form token."""
    page = soup(browser.get("/meeting/create"))
    token = page.select_one("input[name=form_token]")["value"]  # type: ignore[index]
    data = {"title": "Q3 Planning", "duration_minutes": "60", "form_token": str(token), **fields}
    response = post(browser, "/meeting/create", data, page="/meeting/create")
    return response.headers.get("location", ""), [str(token), str(response.status_code)]


# -- create -------------------------------------------------------------------------------------


def test_meeting_ids_are_mtg_and_today_then_a_sequence(cast: TestClient) -> None:
    fac = person(cast, "fac")
    _create(fac, title="First")
    _create(fac, title="Second")
    rows = dashboard_rows(fac, "sort=title")
    assert list(rows) == [f"MTG{TODAY}-0001", f"MTG{TODAY}-0002"]
    assert [r["title"] for r in rows.values()] == ["First", "Second"]


def test_creating_a_meeting_with_agenda_and_participants_lands_on_the_dashboard(cast: TestClient) -> None:
    fac = person(cast, "fac")
    p01 = get_user(cast, "p01")
    location, _ = _create(
        fac,
        scheduled_start="2026-03-01 10:00",
        activity_type="discussion",
        activity_title="Ideas",
        activity_instructions="Say what matters",
        participant=p01.id,
        participant_logins="p02, p03@example.org",
    )
    assert location.startswith("/dashboard")
    dashboard = fac.get(location)
    assert "Meeting created successfully." in flash(dashboard)
    meeting_id = f"MTG{TODAY}-0001"
    row = dashboard_rows(fac)[meeting_id]
    assert row["title"] == "Q3 Planning"
    assert row["owner"] == "Fay"
    assert row["status"] == "Never started"
    when = soup(dashboard).select_one(f"#meeting-{meeting_id} time")
    assert when is not None and when["datetime"] == "2026-03-01T10:00:00Z"
    assert roles_in(cast, meeting_id) == {"fac": "owner", "p01": "participant", "p02": "participant", "p03": "participant"}
    activities = database(cast).read_sync(lambda: ordered(meeting_id))
    assert [(a.title, a.instructions, a.id) for a in activities] == [
        ("Ideas", "Say what matters", f"{meeting_id}-DISCUS-0001")
    ]


def test_a_double_submit_with_the_same_form_token_creates_one_meeting(cast: TestClient) -> None:
    fac = person(cast, "fac")
    token = soup(fac.get("/meeting/create")).select_one("input[name=form_token]")["value"]  # type: ignore[index]
    data = {"title": "Once", "duration_minutes": "60", "form_token": str(token)}
    first = post(fac, "/meeting/create", data, page="/meeting/create")
    second = post(fac, "/meeting/create", data, page="/meeting/create")
    assert first.status_code == second.status_code == 303
    assert list(dashboard_rows(fac)) == [f"MTG{TODAY}-0001"]
    fresh = soup(fac.get("/meeting/create")).select_one("input[name=form_token]")["value"]  # type: ignore[index]
    assert fresh != token


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("title", "", "Title must be 1–200 characters."),
        ("title", "x" * 201, "Title must be 1–200 characters."),
        ("scheduled_start", "next tuesday", "Enter a date as YYYY-MM-DD or YYYY-MM-DD HH:MM."),
        ("scheduled_start", "2026-02-30", "Enter a date as YYYY-MM-DD or YYYY-MM-DD HH:MM."),
        ("duration_minutes", "4", "Duration must be a whole number of minutes from 5 to 1440."),
        ("duration_minutes", "1441", "Duration must be a whole number of minutes from 5 to 1440."),
        ("description", "d" * 2001, "Description must be at most 2000 characters."),
    ],
)
def test_invalid_details_show_their_message_beside_the_field_and_create_nothing(
    cast: TestClient, field: str, value: str, message: str
) -> None:
    fac = person(cast, "fac")
    data = {"title": "Kept title", "duration_minutes": "60", "description": "Kept", field: value}
    response = post(fac, "/meeting/create", data, page="/meeting/create")
    assert response.status_code == 422
    assert field_error(response, field) == message
    if field != "title":
        assert field_value(response, "title") == "Kept title"
    assert dashboard_rows(fac) == {}


@pytest.mark.parametrize("start", ["2026-03-01", "2026-03-01 10:00", "2026-03-01T10:00"])
def test_scheduled_start_accepts_a_date_a_date_and_time_or_the_native_picker(start: str) -> None:
    parsed = meetings.parse_start(start)
    assert parsed is not None and parsed.date().isoformat() == "2026-03-01"


def test_agenda_rows_start_with_their_type_and_its_default_config(cast: TestClient) -> None:
    set_setting(cast, "brainstorming.default_allow_subcomments", "true")
    fac = person(cast, "fac")
    fac.post(
        "/meeting/create",
        data={
            "csrf_token": csrf_token(fac, "/meeting/create"),
            "title": "Typed",
            "activity_type": ["brainstorming", "discussion"],
            "activity_title": ["Ideas", "Talk"],
            "activity_instructions": ["", ""],
        },
    )
    meeting_id = f"MTG{TODAY}-0001"
    activities = database(cast).read_sync(lambda: ordered(meeting_id))
    assert [(a.type, a.title, a.id) for a in activities] == [
        ("brainstorming", "Ideas", f"{meeting_id}-BRAINS-0001"),
        ("discussion", "Talk", f"{meeting_id}-DISCUS-0001"),
    ]
    assert activities[0].config["allow_comments"] is True
    refused = post(fac, "/meeting/create", {"title": "T", "activity_type": "juggling", "activity_title": "X"}, page="/meeting/create")
    assert refused.status_code == 422
    assert field_error(refused, "activity_type") == "Unknown activity type 'juggling'."


def test_an_agenda_row_without_a_title_but_with_instructions_is_flagged_on_its_row(cast: TestClient) -> None:
    fac = person(cast, "fac")
    response = post(
        fac,
        "/meeting/create",
        {"title": "T", "activity_type": "discussion", "activity_title": "", "activity_instructions": "Only words"},
        page="/meeting/create",
    )
    assert response.status_code == 422
    assert field_error(response, "activity_title") == "Title must be 1–200 characters."
    assert dashboard_rows(fac) == {}


def test_the_create_form_works_without_javascript_rows_and_participant_picker(cast: TestClient) -> None:
    fac = person(cast, "fac")
    token = str(soup(fac.get("/meeting/create")).select_one("input[name=form_token]")["value"])  # type: ignore[index]
    base = {"title": "No JS", "form_token": token, "activity_type": "discussion", "activity_title": "First"}
    page = post(fac, "/meeting/create", {**base, "action": "add_row"}, page="/meeting/create")
    assert page.status_code == 200
    assert len(soup(page).select(".plan-row")) == 2
    searched = post(fac, "/meeting/create", {**base, "action": "search", "q": "p0"}, page="/meeting/create")
    picks = {str(i["value"]) for i in soup(searched).select("#directory input[name=pick]")}
    p01, p02 = get_user(cast, "p01").id, get_user(cast, "p02").id
    assert {p01, p02} <= picks
    added = fac.post(
        "/meeting/create",
        data={**base, "csrf_token": csrf_token(fac, "/meeting/create"), "action": "add_selected", "q": "p0", "pick": [p01, p02]},
    )
    selected = [li.get_text(" ", strip=True) for li in soup(added).select("#selected-participants li")]
    assert selected == ["p01 p01", "p02 p02"]
    remaining = {str(i["value"]) for i in soup(added).select("#directory input[name=pick]")}
    assert p01 not in remaining
    created = fac.post(
        "/meeting/create",
        data={**base, "csrf_token": csrf_token(fac, "/meeting/create"), "participant": [p01, p02]},
    )
    assert created.status_code == 303
    assert roles_in(cast, f"MTG{TODAY}-0001") == {"fac": "owner", "p01": "participant", "p02": "participant"}


def test_co_facilitators_chosen_at_create_must_be_facilitators(cast: TestClient) -> None:
    fac = person(cast, "fac")
    p01 = get_user(cast, "p01").id
    refused = post(fac, "/meeting/create", {"title": "T", "cofacilitator": p01}, page="/meeting/create")
    assert refused.status_code == 422
    assert "Only users with the facilitator role or higher can be co-facilitators." in refused.text
    candidates = [o.get_text() for o in soup(fac.get("/meeting/create")).select("#f-cofacilitator option")]
    assert candidates == ["adm (adm)", "boss (boss)", "Cora (cof)"]
    cof = get_user(cast, "cof").id
    ok = post(fac, "/meeting/create", {"title": "T", "cofacilitator": cof, "participant_logins": "cof"}, page="/meeting/create")
    assert ok.status_code == 303
    assert roles_in(cast, f"MTG{TODAY}-0001") == {"fac": "owner", "cof": "cofacilitator"}


def test_unknown_logins_at_create_are_reported_and_nothing_is_created(cast: TestClient) -> None:
    fac = person(cast, "fac")
    response = post(fac, "/meeting/create", {"title": "T", "participant_logins": "p01 zed"}, page="/meeting/create")
    assert response.status_code == 422
    assert field_error(response, "participant_logins") == "Not found: zed."
    assert dashboard_rows(fac) == {}


# -- edit in place ------------------------------------------------------------------------------


def test_editing_the_title_leaves_every_activity_id_unchanged(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac", activities=["Ideas", "Vote", "Rank"])
    before = [a.id for a in database(cast).read_sync(lambda: ordered(meeting_id))]
    fac = person(cast, "fac")
    page = soup(fac.get(f"/meeting/{meeting_id}/settings"))
    assert page.select_one("#agenda-editor") is not None
    assert [b.get_text() for b in page.select("#details-form button")] == ["Save", "Save and enter meeting"]
    assert page.select_one("#details-form a")["href"] == f"/meeting/{meeting_id}"  # type: ignore[index]
    response = post(fac, f"/meeting/{meeting_id}/settings", {"title": "Q3 Planning v2", "duration_minutes": "90", "action": "save"}, page=f"/meeting/{meeting_id}/settings")
    assert response.status_code == 303
    assert "Meeting details saved." in flash(fac.get(response.headers["location"]))
    after = database(cast).read_sync(lambda: ordered(meeting_id))
    assert [a.id for a in after] == before
    row = meeting_row(cast, meeting_id)
    assert row is not None and (row.title, row.duration_minutes) == ("Q3 Planning v2", 90)
    enter = post(fac, f"/meeting/{meeting_id}/settings", {"title": "Again", "action": "enter"}, page=f"/meeting/{meeting_id}/settings")
    assert enter.headers["location"] == f"/meeting/{meeting_id}"


def test_settings_errors_are_shown_beside_the_field(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac")
    fac = person(cast, "fac")
    response = post(fac, f"/meeting/{meeting_id}/settings", {"title": "Kept", "scheduled_start": "soon"}, page=f"/meeting/{meeting_id}/settings")
    assert response.status_code == 422
    assert field_error(response, "scheduled_start") == "Enter a date as YYYY-MM-DD or YYYY-MM-DD HH:MM."
    assert field_value(response, "title") == "Kept"
    assert meeting_row(cast, meeting_id).title == "Q3 Planning"  # type: ignore[union-attr]


# -- status -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("archived", "states", "status"),
    [
        (False, [], "Never started"),
        (False, ["not_started", "not_started"], "Never started"),
        (False, ["not_started", "running", "paused"], "Running"),
        (False, ["paused", "stopped"], "Paused"),
        (False, ["stopped", "not_started"], "Stopped"),
        (True, ["stopped"], "Archived"),
        (True, [], "Archived"),
    ],
)
def test_status_is_computed_from_the_activities(archived: bool, states: list[str], status: str) -> None:
    activities = [Activity(state=s, started_at=None if s == "not_started" else datetime(2026, 1, 1)) for s in states]
    assert meetings.status_of(archived, activities) == status


def test_the_dashboard_shows_the_live_status(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac", activities=["A", "B"])
    fac = person(cast, "fac")
    assert dashboard_rows(fac)[meeting_id]["status"] == "Never started"
    set_state(cast, meeting_id, 1, "running")
    assert dashboard_rows(fac)[meeting_id]["status"] == "Running"
    set_state(cast, meeting_id, 1, "paused")
    assert dashboard_rows(fac)[meeting_id]["status"] == "Paused"
    set_state(cast, meeting_id, 1, "stopped")
    assert dashboard_rows(fac)[meeting_id]["status"] == "Stopped"


# -- dashboard ----------------------------------------------------------------------------------


def test_the_dashboard_lists_my_meetings_with_role_appropriate_actions(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac", participants=["p01"], cofacilitators=["cof"])
    other = seed_meeting(cast, "cof", title="Cora's own")
    assert dashboard_rows(person(cast, "fac"))[meeting_id]["actions"] == "Enter meeting | Settings | Archive | Export | Delete"
    cof_rows = dashboard_rows(person(cast, "cof"))
    assert cof_rows[meeting_id]["actions"] == "Enter meeting | Settings | Archive | Export"
    assert set(cof_rows) == {meeting_id, other}
    p01_rows = dashboard_rows(person(cast, "p01"))
    assert p01_rows == {meeting_id: {"title": "Q3 Planning", "owner": "Fay", "status": "Never started", "actions": "Enter meeting"}}
    out = person(cast, "out")
    assert dashboard_rows(out) == {}
    assert "You do not have any meetings yet." in soup(out.get("/dashboard")).select_one("#my-meetings").get_text()  # type: ignore[union-attr]
    assert soup(out.get("/dashboard")).select_one(".quick-actions") is None


def test_the_owner_column_lists_co_facilitators_on_expand(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac", cofacilitators=["cof"])
    cell = soup(person(cast, "fac").get("/dashboard")).select_one(f"#meeting-{meeting_id} .owner details")
    assert cell is not None
    assert [li.get_text() for li in cell.select("li")] == ["Cora"]


def test_admins_get_an_all_meetings_scope(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac")
    adm = person(cast, "adm")
    assert dashboard_rows(adm) == {}
    tabs = [a.get_text() for a in soup(adm.get("/dashboard")).select(".tabs a")]
    assert tabs == ["My meetings", "All meetings", "Active", "Archived"]
    rows = dashboard_rows(adm, "scope=all")
    assert rows[meeting_id]["actions"] == "Enter meeting | Settings | Archive | Export | Delete"
    assert "All meetings" not in person(cast, "fac").get("/dashboard").text
    assert dashboard_rows(person(cast, "fac"), "scope=all") == dashboard_rows(person(cast, "fac"))


def test_quick_actions_follow_the_global_role_and_what_is_built(cast: TestClient) -> None:
    """Tiles follow the role, and a tile whose page is not served yet is not shown (no dead ends)."""

    def tiles(login: str) -> list[str]:
        return [a.get_text(strip=True) for a in soup(person(cast, login).get("/dashboard")).select(".quick-actions a")]

    def built(path: str) -> list[str]:
        served = any(isinstance(r, Route) and r.path == path for r in cast.app.routes)  # type: ignore[attr-defined]
        return [{"/meeting/import": "IMPORT MEETING", "/settings": "SETTINGS", "/designer": "DESIGN WITH AI"}[path]] if served else []

    assert tiles("boss") == ["DESIGN YOURSELF", *built("/meeting/import"), "MANAGE USERS", *built("/settings")]
    assert tiles("fac") == ["DESIGN YOURSELF", *built("/meeting/import"), *built("/settings")]
    assert tiles("p01") == []
    for key, value in (("ai.endpoint_url", "http://127.0.0.1:9/v1"), ("ai.api_key", "sk-test-1234"), ("ai.model", "m")):
        set_setting(cast, key, value)
    assert tiles("fac")[: len(built("/designer"))] == built("/designer")
    for tile in soup(person(cast, "boss").get("/dashboard")).select(".quick-actions a"):
        assert person(cast, "boss").get(str(tile["href"])).status_code != 404, tile["href"]


def test_dashboard_tabs_filter_and_sort(cast: TestClient) -> None:
    alpha = seed_meeting(cast, "fac", title="alpha", activities=["A"])
    beta = seed_meeting(cast, "fac", title="Beta", activities=["B"])
    gamma = seed_meeting(cast, "fac", title="gamma")
    set_state(cast, alpha, 1, "running")
    set_state(cast, beta, 1, "stopped")
    fac = person(cast, "fac")
    assert list(dashboard_rows(fac)) == [gamma, beta, alpha]  # newest first
    assert list(dashboard_rows(fac, "sort=title")) == [alpha, beta, gamma]
    assert list(dashboard_rows(fac, "sort=status")) == [alpha, beta, gamma]
    assert list(dashboard_rows(fac, "status=Stopped")) == [beta]
    assert post(fac, f"/meeting/{gamma}/archive", {"confirmed": "1"}).status_code == 303
    assert list(dashboard_rows(fac)) == [beta, alpha]
    assert dashboard_rows(fac, "tab=archived") == {
        gamma: {"title": "gamma", "owner": "Fay", "status": "Archived", "actions": "Enter meeting | Settings | Restore | Export | Delete"}
    }


def test_the_meeting_list_is_a_fragment_that_refreshes_itself_every_20_seconds(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac", title="alpha")
    fac = person(cast, "fac")
    listing = soup(fac.get("/dashboard?sort=title")).select_one("#meeting-list")
    assert listing is not None and listing["hx-trigger"] == "every 20s"
    assert parse_qs(urlsplit(str(listing["hx-get"])).query)["sort"] == ["title"]
    fragment = fac.get(str(listing["hx-get"]), headers={"HX-Request": "true"})
    page = soup(fragment)
    assert page.find("html") is None
    assert [str(tr["data-meeting"]) for tr in page.select("#meeting-rows tbody tr")] == [meeting_id]


# -- archive, restore, delete -------------------------------------------------------------------


def test_archive_is_refused_while_an_activity_runs_or_is_paused(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac", activities=["Ideas"])
    fac = person(cast, "fac")
    for state in ("running", "paused"):
        set_state(cast, meeting_id, 1, state)
        response = post(fac, f"/meeting/{meeting_id}/archive", {"confirmed": "1"})
        assert response.status_code == 409
        assert page_error(response) == "Stop all running activities before archiving this meeting."
        assert not meeting_row(cast, meeting_id).archived  # type: ignore[union-attr]
    assert "Archive" not in dashboard_rows(fac)[meeting_id]["actions"]


def test_an_archived_meeting_is_read_only_and_restore_brings_back_its_status(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac", participants=["p01"], activities=["Ideas"])
    set_state(cast, meeting_id, 1, "stopped")
    fac = person(cast, "fac")
    confirm = soup(fac.get(f"/meeting/{meeting_id}/archive"))
    assert confirm.select_one("h1").get_text() == "Archive Meeting?"  # type: ignore[union-attr]
    unconfirmed = post(fac, f"/meeting/{meeting_id}/archive")
    assert unconfirmed.headers["location"] == f"/meeting/{meeting_id}/archive"
    archived = post(fac, f"/meeting/{meeting_id}/archive", {"confirmed": "1"})
    assert "Meeting archived." in flash(fac.get(archived.headers["location"]))
    assert dashboard_rows(fac, "tab=archived")[meeting_id]["status"] == "Archived"
    for path, data in (
        ("settings", {"title": "Changed"}),
        ("roster/add", {"identifiers": "p02"}),
        ("roster/remove", {"identifiers": "p01"}),
        ("open-join", {"open_join": "0"}),
    ):
        refused = post(fac, f"/meeting/{meeting_id}/{path}", data)
        assert refused.status_code == 403, path
        assert page_error(refused) == "This meeting is archived. Restore it to make changes."
    assert meeting_row(cast, meeting_id).title == "Q3 Planning"  # type: ignore[union-attr]
    assert roles_in(cast, meeting_id) == {"fac": "owner", "p01": "participant"}
    assert dashboard_rows(person(cast, "p01"), "tab=archived")[meeting_id]["actions"] == "Enter meeting"
    restored = post(fac, f"/meeting/{meeting_id}/restore")
    assert restored.status_code == 303
    assert dashboard_rows(fac)[meeting_id]["status"] == "Stopped"


def test_restore_returns_a_never_started_meeting_to_never_started(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac", activities=["Ideas"])
    fac = person(cast, "fac")
    post(fac, f"/meeting/{meeting_id}/archive", {"confirmed": "1"})
    post(fac, f"/meeting/{meeting_id}/restore")
    assert dashboard_rows(fac)[meeting_id]["status"] == "Never started"


def test_the_owner_deletes_a_meeting_with_everything_in_it(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac", participants=["p01"], cofacilitators=["cof"], activities=["Ideas", "Vote"])
    keep = seed_meeting(cast, "fac", title="Keep")
    fac = person(cast, "fac")
    assert database(cast).read_sync(lambda: event_log.latest_id(meeting_id)) > 0
    confirm = soup(fac.get(f"/meeting/{meeting_id}/delete"))
    assert "Delete this meeting permanently? All activities, ideas, votes and results will be removed." in confirm.get_text()
    button = soup(fac.get("/dashboard")).select_one(f"#meeting-{meeting_id} form[hx-post$='/delete']")
    assert button is not None
    assert button["hx-confirm"] == "Delete this meeting permanently? All activities, ideas, votes and results will be removed."
    response = post(fac, f"/meeting/{meeting_id}/delete", {"confirmed": "1"})
    assert response.status_code == 303
    assert meeting_row(cast, meeting_id) is None

    def leftovers() -> tuple[int, int, int]:
        return (
            Activity.select().where(Activity.meeting == meeting_id).count(),
            MeetingMember.select().where(MeetingMember.meeting == meeting_id).count(),
            MeetingEvent.select().where(MeetingEvent.meeting_id == meeting_id).count(),
        )

    assert database(cast).read_sync(leftovers) == (0, 0, 0)
    assert list(dashboard_rows(fac)) == [keep]
    assert fac.get(f"/meeting/{meeting_id}/settings").status_code == 404


def test_only_the_owner_or_an_admin_may_delete(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac", participants=["p01"], cofacilitators=["cof"])
    refused = post(person(cast, "cof"), f"/meeting/{meeting_id}/delete", {"confirmed": "1"})
    assert refused.status_code == 403
    assert page_error(refused) == "Only the meeting owner or an administrator can delete this meeting."
    assert post(person(cast, "p01"), f"/meeting/{meeting_id}/delete", {"confirmed": "1"}).status_code == 403
    assert meeting_row(cast, meeting_id) is not None
    assert post(person(cast, "adm"), f"/meeting/{meeting_id}/delete", {"confirmed": "1"}).status_code == 303
    assert meeting_row(cast, meeting_id) is None


# -- ownership ----------------------------------------------------------------------------------


def test_ownership_passes_to_a_co_facilitator_and_the_old_owner_becomes_one(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac", participants=["p01"], cofacilitators=["cof"])
    fac = person(cast, "fac")
    refused = post(fac, f"/meeting/{meeting_id}/owner", {"user": get_user(cast, "p01").id})
    assert refused.status_code == 400
    assert page_error(refused) == "Ownership can only be transferred to a co-facilitator."
    moved = post(fac, f"/meeting/{meeting_id}/owner", {"user": get_user(cast, "cof").id})
    assert moved.status_code == 303
    assert roles_in(cast, meeting_id) == {"cof": "owner", "fac": "cofacilitator", "p01": "participant"}
    again = post(fac, f"/meeting/{meeting_id}/owner", {"user": get_user(cast, "fac").id})
    assert again.status_code == 403
    assert page_error(again) == "Co-facilitators cannot modify meeting ownership or facilitator roster."


def test_deleting_a_user_hands_their_meetings_to_the_first_co_facilitator_else_to_the_admin(cast: TestClient) -> None:
    db = database(cast)
    with_cofacs = seed_meeting(cast, "fac", cofacilitators=["cof"], participants=["p01"])
    db.write_sync(
        lambda: MeetingMember.create(meeting=with_cofacs, user=get_user(cast, "boss").id, role="cofacilitator", added_at=datetime(2099, 1, 1))
    )
    alone = seed_meeting(cast, "fac", participants=["adm"])
    joined = seed_meeting(cast, "cof", participants=["fac"])
    boss, adm = get_user(cast, "boss"), get_user(cast, "adm")
    message = db.write_sync(lambda: user_admin.delete_user(adm, get_user(cast, "fac").id))
    assert message == "User fac deleted. 1 meeting was reassigned to you."
    assert roles_in(cast, with_cofacs) == {"cof": "owner", "boss": "cofacilitator", "p01": "participant"}
    assert roles_in(cast, alone) == {"adm": "owner"}
    assert roles_in(cast, joined) == {"cof": "owner"}
    assert boss.login == "boss"


def test_deleting_a_user_through_manage_users_reports_the_reassignment(cast: TestClient) -> None:
    seed_meeting(cast, "fac")
    adm = person(cast, "adm")
    fac_id = get_user(cast, "fac").id
    response = post(adm, f"/admin/users/{fac_id}/delete", page="/admin/users", headers={"HX-Request": "true"})
    assert "User fac deleted. 1 meeting was reassigned to you." in response.text
    assert list(dashboard_rows(adm)) == [f"MTG{TODAY}-0001"]


# -- who may do what: every route × every role ---------------------------------------------------


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    who: str  # "member", "signed-in", "creator", "fac", "owner"
    data: tuple[tuple[str, str], ...] = ()


CASES = [
    Case("GET", "/dashboard", "signed-in"),
    Case("GET", "/dashboard/meetings", "signed-in"),
    Case("GET", "/meeting/create", "creator"),
    Case("POST", "/meeting/create", "creator", (("title", "New"),)),
    Case("GET", "/meeting/create/directory?q=p0", "creator"),
    Case("GET", "/join", "signed-in"),
    Case("POST", "/join", "signed-in", (("code", "{mid}"),)),
    Case("GET", "/join/{mid}", "signed-in"),
    Case("GET", "/meeting/{mid}/settings", "fac"),
    Case("POST", "/meeting/{mid}/settings", "fac", (("title", "Renamed"),)),
    Case("GET", "/meeting/{mid}/archive", "fac"),
    Case("POST", "/meeting/{mid}/archive", "fac", (("confirmed", "1"),)),
    Case("POST", "/meeting/{mid}/restore", "fac"),
    Case("GET", "/meeting/{mid}/roster", "fac"),
    Case("POST", "/meeting/{mid}/roster/add", "fac", (("identifiers", "p02"),)),
    Case("POST", "/meeting/{mid}/roster/remove", "fac", (("identifiers", "p01"),)),
    Case("GET", "/meeting/{mid}/invite", "fac"),
    Case("GET", "/meeting/{mid}/qr.svg", "fac"),
    Case("POST", "/meeting/{mid}/open-join", "fac", (("open_join", "0"),)),
    Case("GET", "/meeting/{mid}/delete", "owner"),
    Case("POST", "/meeting/{mid}/delete", "owner", (("confirmed", "1"),)),
    Case("POST", "/meeting/{mid}/facilitators/add", "owner", (("identifiers", "fac2"),)),
    Case("POST", "/meeting/{mid}/facilitators/remove", "owner", (("identifiers", "cof"),)),
    Case("POST", "/meeting/{mid}/owner", "owner", (("user", "{cof}"),)),
]
ROLES = ["owner", "cofacilitator", "participant", "non-member", "admin"]
LOGINS = {"owner": "fac", "cofacilitator": "cof", "participant": "p01", "non-member": "out", "admin": "adm"}
NO_ACCESS = "You do not have access to this meeting."


def _expected(case: Case, role: str) -> tuple[int, str]:
    """(403, message) or (0, "") when the role may act."""
    allowed = {
        "signed-in": ROLES,
        "creator": ["owner", "cofacilitator", "admin"],
        "fac": ["owner", "cofacilitator", "admin"],
        "owner": ["owner", "admin"],
    }[case.who]
    if role in allowed:
        return 0, ""
    if case.who == "creator":
        return 403, meetings.CREATORS_ONLY
    if role == "non-member":
        return 403, NO_ACCESS
    if role == "participant":
        return 403, meetings.FACILITATORS_ONLY
    return 403, meetings.DELETE_ONLY if case.path.endswith("/delete") else meetings.OWNER_ONLY


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, TestClient]]:
    directory: Path = tmp_path_factory.mktemp("matrix")
    with TestClient(create_app(base_env(directory), cwd=directory), follow_redirects=False) as app_client:
        make_user(app_client, "fac", "facilitator")
        make_user(app_client, "cof", "facilitator")
        make_user(app_client, "fac2", "facilitator")
        make_user(app_client, "adm", "admin")
        for login in ("p01", "p02", "out"):
            make_user(app_client, login)
        people = {role: person(app_client, login) for role, login in LOGINS.items()}
        people["app"] = app_client
        yield people


def _fill(text: str, meeting_id: str, world: dict[str, TestClient]) -> str:
    return text.replace("{mid}", meeting_id).replace("{cof}", get_user(world["app"], "cof").id)


def _call(browser: TestClient, case: Case, meeting_id: str, world: dict[str, TestClient], htmx: bool = False, token: str = "") -> object:
    path = _fill(case.path, meeting_id, world)
    headers = {"HX-Request": "true"} if htmx else {}
    if case.method == "GET":
        return browser.get(path, headers=headers)
    data = {k: _fill(v, meeting_id, world) for k, v in case.data}
    if case.path.endswith("/restore"):
        database(world["app"]).write_sync(lambda: Meeting.update(archived=True).where(Meeting.id == meeting_id).execute())
    return browser.post(path, data={"csrf_token": token or csrf_token(browser, "/dashboard"), **data}, headers=headers)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.method} {c.path}" for c in CASES])
def test_every_meeting_route_enforces_who_may_use_it(world: dict[str, TestClient], case: Case) -> None:
    app_client = world["app"]
    for role in ROLES:
        meeting_id = seed_meeting(app_client, "fac", participants=["p01"], cofacilitators=["cof"])
        before = roles_in(app_client, meeting_id), meeting_row(app_client, meeting_id).title  # type: ignore[union-attr]
        response = _call(world[role], case, meeting_id, world)
        status, message = _expected(case, role)
        code = response.status_code  # type: ignore[attr-defined]
        if status:
            assert code == 403, (role, code)
            assert page_error(response) == message, role  # type: ignore[arg-type]
            assert (roles_in(app_client, meeting_id), meeting_row(app_client, meeting_id).title) == before, role  # type: ignore[union-attr]
        else:
            assert code in (200, 303), (role, code, response.text[:500])  # type: ignore[attr-defined]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.method} {c.path}" for c in CASES])
def test_signed_out_visitors_are_sent_to_login_and_htmx_gets_401(world: dict[str, TestClient], case: Case) -> None:
    app_client = world["app"]
    meeting_id = seed_meeting(app_client, "fac", participants=["p01"])
    visitor = signed_out(app_client)
    token = csrf_token(visitor, "/login")
    page = _call(visitor, case, meeting_id, world, token=token)
    assert page.status_code == 303  # type: ignore[attr-defined]
    location = page.headers["location"]  # type: ignore[attr-defined]
    assert location.startswith("/login?next=")
    # A page comes back to itself after signing in; a form post to the page it was sent from.
    back = _fill(case.path, meeting_id, world) if case.method == "GET" else "/dashboard"
    assert parse_qs(urlsplit(location).query)["next"] == [back]
    fragment = _call(visitor, case, meeting_id, world, htmx=True, token=token)
    assert fragment.status_code == 401  # type: ignore[attr-defined]
    assert fragment.headers["HX-Redirect"] == location  # type: ignore[attr-defined]
    assert roles_in(app_client, meeting_id) == {"fac": "owner", "p01": "participant"}


def test_unknown_meeting_ids_give_404(cast: TestClient) -> None:
    fac = person(cast, "fac")
    for path in ("settings", "roster", "invite", "qr.svg", "archive", "delete"):
        response = fac.get(f"/meeting/MTG20990101-0001/{path}")
        assert response.status_code == 404, path
        assert page_error(response) == "Not found"
    assert post(fac, "/meeting/MTG20990101-0001/archive", {"confirmed": "1"}).status_code == 404


def test_participants_can_open_the_meeting_but_not_its_tools(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac", participants=["p01"])
    assert access(cast, meeting_id, "p01").is_participant
    p01 = person(cast, "p01")
    assert p01.get(f"/meeting/{meeting_id}/roster").status_code == 403
    assert p01.get(f"/meeting/{meeting_id}/roster", headers={"HX-Request": "true"}).status_code == 403
