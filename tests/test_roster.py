"""Meeting roster and co-facilitators (SPEC §2.2, §4.4 Roster, S12.3–4)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from account_helpers import database, field_error, page_error, set_setting, soup
from meeting_helpers import flash, get_user, make_user, person, post, roles_in, seed_meeting
from starlette.testclient import TestClient

from decidero.meetings import roster
from decidero.meetings.access import access_for
from decidero.meetings.models import Activity, ActivityRosterEntry, MeetingEvent
from decidero.platform.db import WRITER_THREAD


@pytest.fixture
def cast(client: TestClient) -> TestClient:
    make_user(client, "adm", "admin")
    make_user(client, "fac", "facilitator", first_name="Fay")
    make_user(client, "cof", "facilitator", first_name="Cora")
    make_user(client, "fac2", "facilitator", first_name="Finn")
    for login in ("p01", "p02", "p03", "p04"):
        make_user(client, login, email=f"{login}@example.org")
    return client


def _roster(browser: TestClient, meeting_id: str) -> dict[str, list[str]]:
    page = soup(browser.get(f"/meeting/{meeting_id}/roster"))
    return {
        "participants": [str(li["data-login"]) for li in page.select("#participant-list li")],
        "cofacilitators": [str(li["data-login"]) for li in page.select("#cofacilitator-list li")],
        "owner": [page.select_one("#owner").get_text(strip=True)],  # type: ignore[union-attr]
    }


def _events(client: TestClient, meeting_id: str) -> list[tuple[str, str]]:
    rows = database(client).read_sync(
        lambda: list(MeetingEvent.select().where(MeetingEvent.meeting_id == meeting_id).order_by(MeetingEvent.id))
    )
    return [(e.type, e.summary) for e in rows]


# -- participants -------------------------------------------------------------------------------


def test_adding_by_login_or_email_reports_each_outcome(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac", participants=["p03"])
    fac = person(cast, "fac")
    response = post(fac, f"/meeting/{meeting_id}/roster/add", {"identifiers": "p01, p02@example.org\np03 zed fac"})
    assert response.status_code == 303
    assert flash(fac.get(response.headers["location"])) == ["Added 2. Already in meeting: p03, fac. Not found: zed."]
    assert _roster(fac, meeting_id)["participants"] == ["p01", "p02", "p03"]
    assert ("roster_changed", "Fay added p01 and p02 to the meeting.") in _events(cast, meeting_id)


@pytest.mark.parametrize("number", ["²", "٣", "３"])
def test_a_directory_page_number_in_unicode_digits_shows_the_first_page(cast: TestClient, number: str) -> None:
    meeting_id = seed_meeting(cast, "fac")
    fac = person(cast, "fac")

    on_roster = fac.get(f"/meeting/{meeting_id}/roster?q=p0&page={number}")
    on_create = fac.get(f"/meeting/create/directory?q=p0&page={number}")

    assert (on_roster.status_code, on_create.status_code) == (200, 200)
    ids = [get_user(cast, login).id for login in ("p01", "p02", "p03", "p04")]
    assert [str(i["value"]) for i in soup(on_roster).select("#directory input[name=user]")] == ids
    assert [str(i["value"]) for i in soup(on_create).select("#directory input[name=pick]")] == ids


@contextmanager
def writer_statements() -> Iterator[list[str]]:
    """The SQL statements the single writer runs meanwhile (Peewee logs each one at DEBUG)."""
    seen: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.threadName.startswith(WRITER_THREAD):
                seen.append(str(record.msg))

    logger, handler = logging.getLogger("peewee"), Collect()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield seen
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_more_than_2000_names_in_one_request_are_refused_beside_the_field(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac")
    fac = person(cast, "fac")
    typed = "p01 " + " ".join(f"zed{n:05d}" for n in range(2000))

    response = post(fac, f"/meeting/{meeting_id}/roster/add", {"identifiers": typed})

    assert response.status_code == 422
    assert field_error(response, "identifiers") == "Enter at most 2,000 logins or emails at a time (this list has 2,001)."
    assert soup(response).select_one("textarea[name=identifiers]").get_text() == typed  # type: ignore[union-attr]
    assert _roster(fac, meeting_id)["participants"] == []


def test_a_long_list_of_unknown_names_is_reported_in_a_short_notice(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac", participants=["p03"])
    fac = person(cast, "fac")
    unknown = [f"zed{n:05d}" for n in range(1500)]

    response = post(fac, f"/meeting/{meeting_id}/roster/add", {"identifiers": " ".join(["p01", "p03", *unknown])})

    assert response.status_code == 303
    assert len(response.headers["location"]) < 1000
    expected = "Added 1. Already in meeting: p03. Not found: zed00000, zed00001, zed00002, zed00003, zed00004 and 1,495 more."
    assert flash(fac.get(response.headers["location"])) == [expected]
    assert _roster(fac, meeting_id)["participants"] == ["p01", "p03"]


def test_the_writer_touches_only_the_people_found_not_every_name_typed(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac")
    fac = person(cast, "fac")
    typed = " ".join(["p01", "p02@example.org", *(f"zed{n:05d}" for n in range(1500))])
    token = soup(fac.get(f"/meeting/{meeting_id}/roster")).select_one("input[name=csrf_token]")["value"]  # type: ignore[index]

    with writer_statements() as statements:
        response = fac.post(f"/meeting/{meeting_id}/roster/add", data={"csrf_token": token, "identifiers": typed})

    assert response.status_code == 303
    assert _roster(fac, meeting_id)["participants"] == ["p01", "p02"]
    # Resolving 1,502 names happened on a reader; the write is a handful of statements, not one per name.
    assert 0 < len(statements) < 25, statements[:30]


def test_the_create_form_refuses_more_than_2000_names_beside_the_field(cast: TestClient) -> None:
    fac = person(cast, "fac")
    typed = " ".join(f"zed{n:05d}" for n in range(2001))

    response = post(fac, "/meeting/create", {"title": "Big", "participant_logins": typed}, page="/meeting/create")

    assert response.status_code == 422
    assert field_error(response, "participant_logins") == "Enter at most 2,000 logins or emails at a time (this list has 2,001)."


def test_the_create_form_names_a_few_unknown_logins_and_counts_the_rest(cast: TestClient) -> None:
    fac = person(cast, "fac")
    typed = " ".join(["p01", *(f"zed{n:05d}" for n in range(40))])

    response = post(fac, "/meeting/create", {"title": "Big", "participant_logins": typed}, page="/meeting/create")

    assert response.status_code == 422
    assert field_error(response, "participant_logins") == "Not found: zed00000, zed00001, zed00002, zed00003, zed00004 and 35 more."


def test_adding_from_the_directory_multi_select(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac", participants=["p03"])
    fac = person(cast, "fac")
    page = soup(fac.get(f"/meeting/{meeting_id}/roster?q=p0"))
    offered = [str(i["value"]) for i in page.select("#directory input[name=user]")]
    ids = {login: get_user(cast, login).id for login in ("p01", "p02", "p03", "p04")}
    assert offered == [ids["p01"], ids["p02"], ids["p04"]]  # members are not offered
    response = fac.post(
        f"/meeting/{meeting_id}/roster/add",
        data={"csrf_token": page.select_one("input[name=csrf_token]")["value"], "user": [ids["p01"], ids["p04"]]},  # type: ignore[index]
    )
    assert response.status_code == 303
    assert _roster(fac, meeting_id)["participants"] == ["p01", "p03", "p04"]
    page = soup(fac.get(f"/meeting/{meeting_id}/roster?q=example"))
    everyone = {"csrf_token": page.select_one("input[name=csrf_token]")["value"], "all": "1"}  # type: ignore[index]
    everyone["result"] = [str(i["value"]) for i in page.select("#directory input[name=result]")]  # type: ignore[assignment]
    select_all = fac.post(f"/meeting/{meeting_id}/roster/add", data=everyone)
    assert flash(fac.get(select_all.headers["location"])) == ["Added 1."]
    assert _roster(fac, meeting_id)["participants"] == ["p01", "p02", "p03", "p04"]


def test_repeating_an_add_reports_already_in_meeting_and_changes_nothing(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac")
    fac = person(cast, "fac")
    post(fac, f"/meeting/{meeting_id}/roster/add", {"identifiers": "p01"})
    before = len(_events(cast, meeting_id))
    again = post(fac, f"/meeting/{meeting_id}/roster/add", {"identifiers": "p01"})
    assert flash(fac.get(again.headers["location"])) == ["Already in meeting: p01."]
    assert len(_events(cast, meeting_id)) == before


def test_removing_participants_reports_and_ends_their_access(cast: TestClient) -> None:
    # Their open streams end with access_revoked: tests/test_stream_access.py.
    meeting_id = seed_meeting(cast, "fac", participants=["p01", "p02"], cofacilitators=["cof"])
    fac = person(cast, "fac")
    p01 = person(cast, "p01")
    assert p01.get(f"/meeting/{meeting_id}").status_code == 200
    response = post(fac, f"/meeting/{meeting_id}/roster/remove", {"identifiers": "p01 cof zed"})
    assert flash(fac.get(response.headers["location"])) == ["Removed 1. Not found: zed. Not a participant: cof."]
    assert roles_in(cast, meeting_id) == {"fac": "owner", "cof": "cofacilitator", "p02": "participant"}
    refused = p01.get(f"/meeting/{meeting_id}")
    assert refused.status_code == 403
    assert page_error(refused) == "You do not have access to this meeting."


def test_the_roster_page_lists_participants_with_capacity(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac", participants=["p02", "p01"], cofacilitators=["cof"])
    fac = person(cast, "fac")
    assert _roster(fac, meeting_id) == {"participants": ["p01", "p02"], "cofacilitators": ["cof"], "owner": ["Fay"]}
    heading = soup(fac.get(f"/meeting/{meeting_id}/roster")).select_one("#participants h2")
    assert heading is not None and heading.get_text(strip=True) == "Participants (2 / 2000)"


def test_capacity_refuses_adds_beyond_the_limit(cast: TestClient) -> None:
    set_setting(cast, "meetings.max_participants", "2")
    meeting_id = seed_meeting(cast, "fac", participants=["p01"])
    fac = person(cast, "fac")
    refused = post(fac, f"/meeting/{meeting_id}/roster/add", {"identifiers": "p02 p03"})
    assert refused.status_code == 409
    assert page_error(refused) == "This meeting is full (limit 2 participants)."
    assert _roster(fac, meeting_id)["participants"] == ["p01"]
    assert post(fac, f"/meeting/{meeting_id}/roster/add", {"identifiers": "p02"}).status_code == 303
    assert _roster(fac, meeting_id)["participants"] == ["p01", "p02"]
    # co-facilitators do not count against participant capacity
    assert post(fac, f"/meeting/{meeting_id}/facilitators/add", {"identifiers": "cof"}).status_code == 303


def test_removing_a_participant_clears_sub_rosters_and_an_emptied_custom_list_reverts_to_all(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac", participants=["p01", "p02", "p03"], activities=["Ideas", "Vote"])
    db = database(cast)
    ideas, vote = (a.id for a in db.read_sync(lambda: list(Activity.select().order_by(Activity.position))))
    p01, p03 = get_user(cast, "p01").id, get_user(cast, "p03").id

    def customise() -> None:
        for activity_id, people in ((ideas, [p01, p03]), (vote, [p03])):
            Activity.update(roster_mode="custom").where(Activity.id == activity_id).execute()
            ActivityRosterEntry.insert_many([{"activity": activity_id, "user": u} for u in people]).execute()

    db.write_sync(customise)
    fac = person(cast, "fac")
    response = post(fac, f"/meeting/{meeting_id}/roster/remove", {"identifiers": "p03"})
    assert flash(fac.get(response.headers["location"])) == [
        "Removed 1.",
        "Activity “Vote” now includes all participants because its custom list became empty.",
    ]

    def state() -> dict[str, tuple[str, list[str]]]:
        out = {}
        for activity in Activity.select().order_by(Activity.position):
            entries = ActivityRosterEntry.select().where(ActivityRosterEntry.activity == activity.id)
            out[activity.title] = (activity.roster_mode, sorted(e.user_id for e in entries))
        return out

    assert db.read_sync(state) == {"Ideas": ("custom", [p01]), "Vote": ("all", [])}
    summaries = [summary for kind, summary in _events(cast, meeting_id) if kind == "activity_roster"]
    assert summaries == ["The participants of “Ideas” changed to Custom (1).", "The participants of “Vote” changed to All."]


# -- co-facilitators ----------------------------------------------------------------------------


def test_co_facilitators_must_have_the_facilitator_role(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac")
    fac = person(cast, "fac")
    refused = post(fac, f"/meeting/{meeting_id}/facilitators/add", {"identifiers": "p01"})
    assert refused.status_code == 400
    assert page_error(refused) == "Only users with the facilitator role or higher can be co-facilitators."
    assert roles_in(cast, meeting_id) == {"fac": "owner"}
    offered = [o.get_text() for o in soup(fac.get(f"/meeting/{meeting_id}/roster")).select("#f-cofacilitator option")]
    assert offered == ["adm (adm)", "Cora (cof)", "Finn (fac2)"]


def test_adding_a_participant_as_co_facilitator_moves_them_off_the_participant_roster(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac", participants=["fac2", "p01"], activities=["Ideas"])
    db = database(cast)
    ideas = db.read_sync(lambda: Activity.get(Activity.meeting == meeting_id).id)
    fac2 = get_user(cast, "fac2").id

    def customise() -> None:
        Activity.update(roster_mode="custom").where(Activity.id == ideas).execute()
        ActivityRosterEntry.create(activity=ideas, user=fac2)

    db.write_sync(customise)
    fac = person(cast, "fac")
    response = fac.post(
        f"/meeting/{meeting_id}/facilitators/add",
        data={"csrf_token": soup(fac.get(f"/meeting/{meeting_id}/roster")).select_one("input[name=csrf_token]")["value"], "user": [fac2]},  # type: ignore[index]
    )
    assert flash(fac.get(response.headers["location"])) == [
        "Added 1.",
        "Activity “Ideas” now includes all participants because its custom list became empty.",
    ]
    assert roles_in(cast, meeting_id) == {"fac": "owner", "fac2": "cofacilitator", "p01": "participant"}
    assert _roster(fac, meeting_id)["cofacilitators"] == ["fac2"]
    assert database(cast).read_sync(lambda: access_for(meeting_id, get_user(cast, "fac2")).is_facilitator)


def test_co_facilitators_cannot_manage_co_facilitators_or_ownership(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac", cofacilitators=["cof"], participants=["p01"])
    cof = person(cast, "cof")
    page = soup(cof.get(f"/meeting/{meeting_id}/roster"))
    assert page.select("#cofacilitators form") == []
    assert "Only the owner or an administrator can change co-facilitators or ownership." in page.get_text()
    message = "Co-facilitators cannot modify meeting ownership or facilitator roster."
    for path, data in (
        ("facilitators/add", {"identifiers": "fac2"}),
        ("facilitators/remove", {"identifiers": "cof"}),
        ("owner", {"user": get_user(cast, "cof").id}),
    ):
        response = post(cof, f"/meeting/{meeting_id}/{path}", data)
        assert response.status_code == 403, path
        assert page_error(response) == message
    assert roles_in(cast, meeting_id) == {"fac": "owner", "cof": "cofacilitator", "p01": "participant"}
    # …but they do manage the participant roster
    assert post(cof, f"/meeting/{meeting_id}/roster/add", {"identifiers": "p02"}).status_code == 303


def test_the_owner_and_admins_add_and_remove_co_facilitators(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac")
    fac = person(cast, "fac")
    added = post(fac, f"/meeting/{meeting_id}/facilitators/add", {"identifiers": "cof fac2"})
    assert flash(fac.get(added.headers["location"])) == ["Added 2."]
    adm = person(cast, "adm")
    removed = post(adm, f"/meeting/{meeting_id}/facilitators/remove", {"identifiers": "fac2 p01"})
    assert flash(adm.get(removed.headers["location"])) == ["Removed 1. Not a co-facilitator: p01."]
    assert roles_in(cast, meeting_id) == {"fac": "owner", "cof": "cofacilitator"}
    assert person(cast, "fac2").get(f"/meeting/{meeting_id}/roster").status_code == 403
    summaries = [s for kind, s in _events(cast, meeting_id) if kind == "meeting_updated"]
    assert summaries[-2:] == ["Fay made Cora and Finn co-facilitator.", "adm removed Finn as co-facilitator."]


# -- directory ----------------------------------------------------------------------------------


def test_directory_search_needs_two_characters_and_pages_by_25(cast: TestClient) -> None:
    for number in range(30):
        make_user(cast, f"team{number:02d}", first_name=f"Member {number:02d}")
    assert database(cast).read_sync(lambda: roster.search_directory("t")).too_short
    first = database(cast).read_sync(lambda: roster.search_directory("TEAM"))
    assert (len(first.users), first.pages, first.total) == (25, 2, 30)
    second = database(cast).read_sync(lambda: roster.search_directory("team", 2))
    assert [u.login for u in second.users] == [f"team{n}" for n in range(25, 30)]
    by_email = database(cast).read_sync(lambda: roster.search_directory("p02@example"))
    assert [u.login for u in by_email.users] == ["p02"]
    by_name = database(cast).read_sync(lambda: roster.search_directory("member 07"))
    assert [u.login for u in by_name.users] == ["team07"]


def test_directory_search_is_an_htmx_fragment_on_the_roster_page(cast: TestClient) -> None:
    meeting_id = seed_meeting(cast, "fac")
    fac = person(cast, "fac")
    fragment = fac.get(f"/meeting/{meeting_id}/roster?q=p0", headers={"HX-Request": "true"})
    page = soup(fragment)
    assert page.find("html") is None
    assert page.select_one("div#directory") is not None
    assert [li.get_text(" ", strip=True) for li in page.select("li")][:1] == ["p01 p01 · p01@example.org"]
    short = soup(fac.get(f"/meeting/{meeting_id}/roster?q=p", headers={"HX-Request": "true"}))
    assert short.get_text(strip=True) == "Type at least 2 characters."


def test_deleted_users_leave_the_directory_and_every_roster(cast: TestClient) -> None:
    from decidero.platform import user_admin

    meeting_id = seed_meeting(cast, "fac", participants=["p01", "p02"])
    adm = get_user(cast, "adm")
    database(cast).write_sync(lambda: user_admin.delete_user(adm, get_user(cast, "p01").id))
    assert roles_in(cast, meeting_id) == {"fac": "owner", "p02": "participant"}
    found = database(cast).read_sync(lambda: roster.search_directory("p0"))
    assert [u.login for u in found.users] == ["p02", "p03", "p04"]
