"""The meeting room over HTTP: who may do what, agenda operations, run control, sub-rosters, timers
and the activity log (SPEC §2.3, §4.6, §4.7, §4.14, S5, S12–S14)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from account_helpers import field_error, page_error, run_coroutine
from conftest import base_env, wait_until
from helpers_meetings import (
    Person,
    SeededMeeting,
    activity_ids,
    activity_row,
    add_people,
    agenda_titles,
    row_badges,
    seed_meeting,
    shift_segment,
    snapshot,
    soup,
    text_of,
    visible_panel,
)
from starlette.testclient import TestClient

from decidero.app import create_app
from decidero.meetings import run_control
from decidero.platform.db import Database
from decidero.platform.errors import Refused
from decidero.platform.models import utcnow

FACILITATORS_ONLY = "Only facilitators can control meeting activities."
NO_ACCESS = "You do not have access to this meeting."
EXCLUSIVITY = "meetings.activity_participant_exclusivity"
ROLES = {
    "owner": "facilitator",
    "cofac": "facilitator",
    "pat": "participant",
    "quinn": "participant",
    "outsider": "facilitator",
    "admin": "admin",
}


@dataclass
class Room:
    """A meeting seeded on the app behind ``client``, and one browser (TestClient) per person."""

    client: TestClient
    meeting: SeededMeeting
    people: dict[str, Person]

    @property
    def db(self) -> Database:
        return self.client.app.state.services.db  # type: ignore[attr-defined,no-any-return]

    def as_(self, login: str, **headers: str) -> TestClient:
        person = self.people[login]
        return TestClient(
            self.client.app, follow_redirects=False, cookies=person.cookies, headers={**person.headers, **headers}
        )

    def signed_out(self, **headers: str) -> TestClient:
        browser = TestClient(self.client.app, follow_redirects=False, headers=headers)
        page = browser.get("/login")
        token = soup(page).select_one('input[name="csrf_token"]')
        assert token is not None
        browser.headers["X-CSRF-Token"] = str(token["value"])
        return browser

    def url(self, path: str) -> str:
        ids = self.meeting.activities
        return path.format(mid=self.meeting.id, a0=ids[0], a1=ids[1])

    def post(self, login: str, path: str, data: dict[str, str] | None = None, **headers: str) -> httpx.Response:
        return self.as_(login, **headers).post(self.url(path), data=data or {})

    def get(self, login: str, path: str = "/meeting/{mid}") -> httpx.Response:
        return self.as_(login).get(self.url(path))

    def state(self, index: int = 0) -> str:
        return activity_row(self.db, self.meeting.activities[index]).state

    def snapshot(self) -> list[tuple[object, ...]]:
        return snapshot(self.db, self.meeting.id)

    def control(self, action: str, index: int = 0, login: str = "owner", **data: str) -> httpx.Response:
        return self.post(login, f"/meeting/{{mid}}/activities/{{a{index}}}/control", {"action": action, **data})


@pytest.fixture
def room(client: TestClient) -> Room:
    db: Database = client.app.state.services.db  # type: ignore[attr-defined]
    people = add_people(db, ROLES)
    meeting = seed_meeting(
        db,
        "owner",
        participants=["pat", "quinn"],
        cofacilitators=["cofac"],
        activities=[("Talk", {"instructions": "Say hello."}), ("Vote", {}), ("Rank", {})],
    )
    return Room(client, meeting, people)


def save_setting(room: Room, key: str, value: str) -> None:
    """What an admin saving the setting does; it applies to the next request, with no restart."""
    # Not asyncio.run: once a Playwright test has run, this thread counts as having a running loop.
    run_coroutine(room.client.app.state.services.settings.save(key, value, None))  # type: ignore[attr-defined]


# -- the permission matrix (SPEC §2.3) ----------------------------------------------------------

FACILITATORS = frozenset({"owner", "cofac", "admin"})
MEMBERS = FACILITATORS | {"pat"}


@dataclass(frozen=True)
class RouteCase:
    name: str
    method: str
    path: str
    allowed: frozenset[str]
    data: Callable[[Room], dict[str, str]] | None = None

    @property
    def ok_status(self) -> int:
        return 200 if self.method == "GET" else 303


ROUTES = [
    RouteCase("page", "GET", "/meeting/{mid}", MEMBERS),
    RouteCase("panel", "GET", "/meeting/{mid}/activities/{a0}", MEMBERS),
    RouteCase("log", "GET", "/meeting/{mid}/log", FACILITATORS),
    RouteCase("edit-form", "GET", "/meeting/{mid}/activities/{a0}/edit", FACILITATORS),
    RouteCase("roster-page", "GET", "/meeting/{mid}/activities/{a0}/roster", FACILITATORS),
    RouteCase("add", "POST", "/meeting/{mid}/activities", FACILITATORS, lambda r: {"type": "discussion", "title": "Extra"}),
    RouteCase(
        "reorder", "POST", "/meeting/{mid}/activities/reorder", FACILITATORS,
        lambda r: {"order": " ".join(reversed(r.meeting.activities))},
    ),
    RouteCase("edit", "POST", "/meeting/{mid}/activities/{a0}/edit", FACILITATORS, lambda r: {"type": "discussion", "title": "Renamed"}),
    RouteCase("delete", "POST", "/meeting/{mid}/activities/{a1}/delete", FACILITATORS, lambda r: {}),
    RouteCase("move", "POST", "/meeting/{mid}/activities/{a1}/move", FACILITATORS, lambda r: {"direction": "up"}),
    RouteCase("control", "POST", "/meeting/{mid}/activities/{a0}/control", FACILITATORS, lambda r: {"action": "start"}),
    RouteCase("roster", "POST", "/meeting/{mid}/activities/{a0}/roster", FACILITATORS, lambda r: {"op": "remove", "user": r.people["pat"].user_id}),
    # Unpublishing: publishing needs a started activity, and these are not (the log still records it).
    RouteCase("publish", "POST", "/meeting/{mid}/activities/{a0}/publish", FACILITATORS, lambda r: {"publish": "0"}),
]
EXPECTED_REFUSAL = {"pat": FACILITATORS_ONLY, "outsider": NO_ACCESS}


def _request(browser: TestClient, case: RouteCase, room: Room) -> httpx.Response:
    if case.method == "GET":
        return browser.get(room.url(case.path))
    assert case.data is not None
    return browser.post(room.url(case.path), data=case.data(room))


@pytest.mark.parametrize("role", ["owner", "cofac", "admin", "pat", "outsider", "signed-out"])
@pytest.mark.parametrize("case", ROUTES, ids=lambda c: c.name)
def test_meeting_routes_follow_the_permission_matrix(room: Room, case: RouteCase, role: str) -> None:
    before = room.snapshot()
    page = f"http://testserver{room.meeting.url}"  # the page a form is sent from
    browser = room.signed_out(Referer=page) if role == "signed-out" else room.as_(role)

    response = _request(browser, case, room)

    after = room.snapshot()
    if role == "signed-out":
        assert response.status_code == 303
        target = urlsplit(response.headers["location"])
        assert target.path == "/login"
        back = room.url(case.path) if case.method == "GET" else room.meeting.url
        assert parse_qs(target.query) == {"next": [back], "message": ["login_required"]}
    elif role in case.allowed:
        assert response.status_code == case.ok_status, response.text[:500]
    else:
        assert response.status_code == 403
        assert page_error(response) == EXPECTED_REFUSAL[role]
    if case.method == "POST":
        if role in case.allowed:
            assert after != before, "an allowed change must change something"
        else:
            assert after == before, "a refused request must change nothing"


@pytest.mark.parametrize("case", ROUTES, ids=lambda c: c.name)
def test_signed_out_htmx_requests_get_401_with_a_login_redirect(room: Room, case: RouteCase) -> None:
    before = room.snapshot()
    page = f"http://testserver{room.meeting.url}"

    response = _request(room.signed_out(**{"HX-Request": "true", "HX-Current-URL": page}), case, room)

    assert response.status_code == 401
    target = urlsplit(response.headers["HX-Redirect"])
    assert target.path == "/login"
    back = room.url(case.path) if case.method == "GET" else room.meeting.url
    assert parse_qs(target.query)["next"] == [back]
    assert room.snapshot() == before


def test_admins_outside_the_meeting_see_the_facilitator_controls(room: Room) -> None:
    page = soup(room.get("admin"))

    assert page.select_one(f"#row-{room.meeting.activities[0]} .controls") is not None
    assert "Open log" in text_of(page.select_one("#meeting-header"))


def test_participants_see_no_agenda_controls(room: Room) -> None:
    page = soup(room.get("pat"))

    assert page.select("#agenda .controls") == []
    assert page.select_one("#agenda form.add-activity") is None
    assert "Open log" not in text_of(page.select_one("#meeting-header"))


@pytest.mark.parametrize(
    "path",
    ["/meeting/MTG20990101-ZZZZ", "/meeting/MTG20990101-ZZZZ/log", "/meeting/{mid}/activities/{mid}-DISCUS-9999"],
)
def test_unknown_meetings_and_activities_are_not_found(room: Room, path: str) -> None:
    response = room.get("owner", path)

    assert response.status_code == 404
    assert page_error(response) == "Not found"


def test_controlling_an_unknown_activity_is_not_found(room: Room) -> None:
    response = room.post("owner", "/meeting/{mid}/activities/{mid}-DISCUS-9999/control", {"action": "start"})

    assert response.status_code == 404


# -- run control (SPEC §4.6) ---------------------------------------------------------------------


@pytest.mark.parametrize("action", ["start", "pause", "stop", "extend"])
def test_participants_cannot_control_activities(room: Room, action: str) -> None:
    if action != "start":
        room.control("start")
    before = room.snapshot()

    response = room.control(action, login="pat")

    assert response.status_code == 403
    assert page_error(response) == FACILITATORS_ONLY
    assert room.snapshot() == before


def test_start_pause_resume_stop_change_the_row_for_everyone(room: Room) -> None:
    talk = room.meeting.activities[0]
    seen: list[list[str]] = []
    for action in ("start", "pause", "resume", "stop"):
        assert room.control(action).status_code == 303
        seen.append(row_badges(room.get("pat"), talk)[:1])

    assert seen == [["Running"], ["Paused"], ["Running"], ["Stopped"]]
    assert room.state() == "stopped"


def test_an_htmx_control_answers_with_the_regions_it_changed_and_that_activity_s_panel_only(room: Room) -> None:
    talk, other = room.meeting.activities[0], room.meeting.activities[1]

    response = room.post("owner", "/meeting/{mid}/activities/{a0}/control", {"action": "start"}, **{"HX-Request": "true"})

    assert response.status_code == 200
    page = soup(response)
    assert page.select_one("#agenda[hx-swap-oob]") is not None and page.select_one("#switcher[hx-swap-oob]") is not None
    assert page.select_one(f"#panel-{talk}[hx-swap-oob]")["data-state"] == "running"
    assert page.select_one(f"#panel-{other}") is None  # untouched panels (a board of thousands) are not re-rendered
    assert text_of(page.select_one("#flash .flash-message")) == "Activity started."


def test_starting_a_running_activity_is_refused_with_a_clear_message(room: Room) -> None:
    room.control("start")
    before = room.snapshot()

    response = room.control("start")

    assert response.status_code == 409
    assert page_error(response) == "This activity is already running."
    assert room.snapshot() == before


def test_several_activities_run_at_once_without_exclusivity(room: Room) -> None:
    room.control("start", 0)
    room.control("start", 1)

    page = room.get("pat")
    summary = text_of(soup(page).select_one("#agenda-summary"))
    assert summary == "Agenda · 3 activities · 2 active"
    assert visible_panel(page, room.meeting.activities[0]) is not None
    assert visible_panel(page, room.meeting.activities[1]) is not None


def test_stop_keeps_the_elapsed_time_and_start_continues_from_it(room: Room) -> None:
    talk = room.meeting.activities[0]
    room.control("start")
    shift_segment(room.db, talk, 42)
    room.control("stop")
    frozen = activity_row(room.db, talk).elapsed_seconds

    room.control("start")

    assert 42 <= frozen < 44
    restarted = activity_row(room.db, talk)
    assert restarted.state == "running" and restarted.elapsed_seconds == frozen


def test_extend_raises_the_time_limit(room: Room) -> None:
    room.post("owner", "/meeting/{mid}/activities/{a0}/edit", {"type": "discussion", "title": "Talk", "time_limit_minutes": "1"})
    room.control("start")

    assert room.control("extend", minutes="5").status_code == 303

    assert activity_row(room.db, room.meeting.activities[0]).time_limit_minutes == 6


# -- agenda operations (SPEC §4.6, S14) ---------------------------------------------------------


def test_move_up_renumbers_the_agenda_for_everyone(room: Room) -> None:
    response = room.post("owner", "/meeting/{mid}/activities/{a1}/move", {"direction": "up"})

    assert response.status_code == 303
    assert agenda_titles(room.get("pat")) == ["1. Vote", "2. Talk", "3. Rank"]


def test_reorder_with_the_full_list_sets_the_order(room: Room) -> None:
    a0, a1, a2 = room.meeting.activities

    response = room.post("owner", "/meeting/{mid}/activities/reorder", {"order": f"{a2},{a0},{a1}"})

    assert response.status_code == 303
    assert agenda_titles(room.get("owner")) == ["1. Rank", "2. Talk", "3. Vote"]


@pytest.mark.parametrize("shape", ["partial", "duplicate", "unknown", "stale"])
def test_reorder_with_a_stale_or_partial_list_is_refused_and_keeps_the_order(room: Room, shape: str) -> None:
    a0, a1, a2 = room.meeting.activities
    if shape == "stale":  # someone else deleted an activity since this page was rendered
        room.post("cofac", "/meeting/{mid}/activities/{a1}/delete")
    order = {
        "partial": [a1, a0],
        "duplicate": [a1, a1, a0, a2],
        "unknown": [a1, a0, f"{room.meeting.id}-DISCUS-9999"],
        "stale": [a2, a1, a0],
    }[shape]
    before = room.snapshot()

    response = room.post("owner", "/meeting/{mid}/activities/reorder", {"order": " ".join(order)})

    assert response.status_code == 400
    assert page_error(response) == "Agenda order must list every activity exactly once."
    assert room.snapshot() == before


def test_deleting_a_running_activity_asks_to_stop_it_first(room: Room) -> None:
    room.control("start")
    before = room.snapshot()

    response = room.post("owner", "/meeting/{mid}/activities/{a0}/delete")

    assert response.status_code == 409
    assert page_error(response) == "Cannot delete an active activity. Please stop it first."
    assert room.snapshot() == before
    assert "Stop and delete" in text_of(soup(room.get("owner")).select_one(f"#row-{room.meeting.activities[0]}"))


def test_stop_and_delete_removes_a_running_activity_for_everyone(room: Room) -> None:
    room.control("start")
    room.control("pause")

    response = room.post("owner", "/meeting/{mid}/activities/{a0}/delete", {"stop_first": "1"})

    assert response.status_code == 303
    assert agenda_titles(room.get("pat")) == ["1. Vote", "2. Rank"]
    assert activity_ids(room.db, room.meeting.id) == room.meeting.activities[1:]


def test_adding_an_activity_appends_it_to_the_agenda(room: Room) -> None:
    response = room.post("owner", "/meeting/{mid}/activities", {"type": "discussion", "title": "Wrap-up"})

    assert response.status_code == 303
    assert agenda_titles(room.get("pat"))[-1] == "4. Wrap-up"


def test_adding_an_unknown_activity_type_is_refused(room: Room) -> None:
    before = room.snapshot()

    response = room.post("owner", "/meeting/{mid}/activities", {"type": "karaoke", "title": "Sing"})

    assert response.status_code == 400
    assert page_error(response) == "Unknown activity type 'karaoke'."
    assert room.snapshot() == before


def test_editing_cannot_change_the_activity_type(room: Room) -> None:
    before = room.snapshot()

    response = room.post("owner", "/meeting/{mid}/activities/{a0}/edit", {"type": "voting", "title": "Talk"})

    assert response.status_code == 409
    assert page_error(response) == "Changing activity tool type is not supported; create a new activity instead."
    assert room.snapshot() == before


@pytest.mark.parametrize("value", ["0", "241", "abc"])
@pytest.mark.parametrize("route", ["edit", "add"])
def test_invalid_time_limits_are_shown_next_to_the_field(room: Room, value: str, route: str) -> None:
    path = "/meeting/{mid}/activities/{a0}/edit" if route == "edit" else "/meeting/{mid}/activities"
    before = room.snapshot()

    response = room.post("owner", path, {"type": "discussion", "title": "Timed", "time_limit_minutes": value})

    assert response.status_code == 422
    assert field_error(response, "time_limit_minutes") == "Time limit must be blank or a whole number of minutes from 1 to 240."
    assert soup(response).select_one("#f-title")["value"] == "Timed"  # type: ignore[index]
    assert room.snapshot() == before


def test_a_partial_edit_changes_only_the_submitted_fields(room: Room) -> None:
    talk = room.meeting.activities[0]
    full = {"common_form": "1", "type": "discussion", "title": "Talk", "instructions": "Say hello.", "time_limit_minutes": "10", "auto_stop": "on"}
    assert room.post("owner", "/meeting/{mid}/activities/{a0}/edit", full).status_code == 303

    response = room.post("owner", "/meeting/{mid}/activities/{a0}/edit", {"title": "Talk it through"})

    assert response.status_code == 303
    edited = activity_row(room.db, talk)
    assert (edited.title, edited.instructions, edited.time_limit_minutes, edited.auto_stop) == ("Talk it through", "Say hello.", 10, True)


def test_the_whole_edit_form_without_the_box_turns_auto_stop_off(room: Room) -> None:
    talk = room.meeting.activities[0]
    form = soup(room.get("owner", "/meeting/{mid}/activities/{a0}/edit")).select_one("#activity-form form")
    assert form is not None and form.select_one("input[name=common_form]") is not None
    full = {"common_form": "1", "type": "discussion", "title": "Talk", "time_limit_minutes": "10"}
    assert room.post("owner", "/meeting/{mid}/activities/{a0}/edit", {**full, "auto_stop": "on"}).status_code == 303

    assert room.post("owner", "/meeting/{mid}/activities/{a0}/edit", full).status_code == 303

    assert activity_row(room.db, talk).auto_stop is False


@pytest.mark.parametrize("direction", ["sideways", "", "UP"])
def test_an_unknown_move_direction_is_refused_and_moves_nothing(room: Room, direction: str) -> None:
    before = room.snapshot()

    response = room.post("owner", "/meeting/{mid}/activities/{a0}/move", {"direction": direction})

    assert response.status_code == 400
    assert page_error(response) == f"Unknown direction '{direction}'; use up or down."
    assert room.snapshot() == before


def test_results_cannot_be_published_before_the_activity_has_started(room: Room) -> None:
    talk = room.meeting.activities[0]
    before = room.snapshot()

    refused = room.post("owner", "/meeting/{mid}/activities/{a0}/publish", {"publish": "1"})

    assert refused.status_code == 409
    assert page_error(refused) == "Results can be published once the activity has started."
    assert room.snapshot() == before
    room.control("start")
    assert room.post("owner", "/meeting/{mid}/activities/{a0}/publish", {"publish": "1"}).status_code == 303
    assert activity_row(room.db, talk).results_published is True


def test_editing_keeps_the_activity_id_run_state_and_elapsed_time(room: Room) -> None:
    talk = room.meeting.activities[0]
    room.control("start")
    shift_segment(room.db, talk, 30)
    room.control("pause")
    paused = activity_row(room.db, talk)

    response = room.post(
        "owner", "/meeting/{mid}/activities/{a0}/edit",
        {"type": "discussion", "title": "Talk it through", "time_limit_minutes": "10"},
    )

    assert response.status_code == 303
    assert response.headers["location"] == f"/meeting/{room.meeting.id}?activity={talk}"
    edited = activity_row(room.db, talk)
    assert (edited.id, edited.state, edited.elapsed_seconds) == (talk, "paused", paused.elapsed_seconds)
    assert (edited.title, edited.time_limit_minutes, edited.instructions) == ("Talk it through", 10, "Say hello.")  # not submitted: kept
    assert agenda_titles(room.get("pat"))[0] == "1. Talk it through"


# -- persistence across restarts (SPEC §4.6, S19) -------------------------------------------------


def test_run_state_survives_a_restart_and_elapsed_time_accumulates_across_pause(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    with TestClient(create_app(env, cwd=tmp_path), follow_redirects=False) as first:
        db: Database = first.app.state.services.db  # type: ignore[attr-defined]
        people = add_people(db, {"owner": "facilitator", "pat": "participant"})
        meeting = seed_meeting(db, "owner", ["pat"])
        talk = meeting.activities[0]
        first.cookies.update(people["owner"].cookies)
        control = f"{meeting.url}/activities/{talk}/control"
        first.post(control, data={"action": "start"}, headers=people["owner"].headers)
        shift_segment(db, talk, 20)
        first.post(control, data={"action": "pause"}, headers=people["owner"].headers)
        first.post(control, data={"action": "resume"}, headers=people["owner"].headers)
        shift_segment(db, talk, 10)

    with TestClient(create_app(env, cwd=tmp_path), follow_redirects=False) as second:
        db = second.app.state.services.db  # type: ignore[attr-defined]
        second.cookies.update(people["pat"].cookies)  # sessions survive restarts too
        page = second.get(meeting.url)
        timer = soup(page).select_one(f"#row-{talk} .timer")
        assert page.status_code == 200 and timer is not None
        assert row_badges(page, talk)[0] == "Running"
        assert 30 <= float(str(timer["data-elapsed"])) < 33
        assert timer["data-running"] == "1"

        second.cookies.update(people["owner"].cookies)
        second.post(control, data={"action": "pause"}, headers=people["owner"].headers)
        assert 30 <= activity_row(db, talk).elapsed_seconds < 33


# -- sub-rosters and exclusivity (SPEC §4.7, S12, S13) --------------------------------------------


def test_a_custom_sub_roster_shows_its_size_as_the_badge(room: Room) -> None:
    talk = room.meeting.activities[0]

    response = room.post("owner", "/meeting/{mid}/activities/{a0}/roster", {"op": "remove", "user": room.people["quinn"].user_id})

    assert response.status_code == 303
    assert "Custom (1)" in row_badges(room.get("pat"), talk)
    roster_page = soup(room.get("owner", "/meeting/{mid}/activities/{a0}/roster"))
    assert "Current: Custom (1)" in text_of(roster_page.select_one("#activity-roster"))
    selected = [text_of(label) for label in roster_page.select('input[name="op"][value="remove"] ~ label')]
    assert selected == ["pat pat"]


def test_a_sub_roster_change_made_with_htmx_answers_the_roster_fragment(room: Room) -> None:
    # The Edit Roster page posts with htmx and swaps in the block it gets back. That block renders
    # alone, without the page's top-level imports: it answered 500 after committing the change.
    response = room.post(
        "owner", "/meeting/{mid}/activities/{a0}/roster", {"op": "remove", "user": room.people["quinn"].user_id}, **{"HX-Request": "true"}
    )

    assert response.status_code == 200, response.text[:300]
    fragment = soup(response)
    assert fragment.select_one("body") is None
    assert "Current: Custom (1)" in text_of(fragment.select_one("#activity-roster"))
    assert fragment.select_one('#activity-roster button[type="submit"] svg.icon') is not None


def test_excluded_participants_see_the_activity_as_not_assigned_to_them(room: Room) -> None:
    talk = room.meeting.activities[0]
    room.post("owner", "/meeting/{mid}/activities/{a0}/roster", {"op": "remove", "user": room.people["quinn"].user_id})
    room.control("start")

    quinn = room.get("quinn")
    pat = room.get("pat")

    assert visible_panel(quinn, talk) is None
    assert soup(quinn).select_one(f"#row-{talk} .badge.access-closed")["title"] == "Not assigned to you"  # type: ignore[index]
    assert visible_panel(pat, talk) is not None
    assert soup(pat).select_one(f"#row-{talk} .badge.access-open")["title"] == "Open to you now"  # type: ignore[index]


def test_assigning_someone_outside_the_meeting_is_refused(room: Room) -> None:
    before = room.snapshot()

    response = room.post("owner", "/meeting/{mid}/activities/{a0}/roster", {"op": "add", "user": room.people["outsider"].user_id})

    assert response.status_code == 400
    assert page_error(response) == "User outsider is not part of this meeting and cannot be assigned."
    assert room.snapshot() == before


def test_emptying_a_custom_sub_roster_reverts_to_all_with_a_notice(room: Room) -> None:
    talk = room.meeting.activities[0]
    room.post("owner", "/meeting/{mid}/activities/{a0}/roster", {"op": "remove", "user": room.people["quinn"].user_id})

    response = room.post("owner", "/meeting/{mid}/activities/{a0}/roster", {"op": "remove", "user": room.people["pat"].user_id})

    assert response.status_code == 303
    page = room.as_("owner").get(response.headers["location"])
    assert "Current: All" in text_of(soup(page).select_one("#activity-roster"))
    notice = text_of(soup(page).select_one("#activity-roster .notice"))
    assert notice == "Activity “Talk” now includes all participants because its custom list became empty."
    assert "All" in row_badges(room.get("pat"), talk)


def test_exclusivity_refuses_an_overlapping_start_and_lists_the_participants(room: Room) -> None:
    room.control("start", 0)
    save_setting(room, EXCLUSIVITY, "true")
    before = room.snapshot()

    response = room.control("start", 1)

    assert response.status_code == 409
    collision = soup(response).select_one(".collision")
    assert collision is not None
    assert text_of(collision.select_one("strong")) == "Participant Collision Detected!"
    assert [text_of(li) for li in collision.select("li")] == ["pat is already in “Talk”", "quinn is already in “Talk”"]
    assert soup(response).select_one(f"#main a[href='{room.meeting.url}']") is not None  # a whole page, without JS
    assert room.snapshot() == before


def test_exclusivity_refusal_for_htmx_goes_into_the_flash_region(room: Room) -> None:
    room.control("start", 0)
    save_setting(room, EXCLUSIVITY, "true")

    response = room.post("owner", "/meeting/{mid}/activities/{a1}/control", {"action": "start"}, **{"HX-Request": "true"})

    assert response.status_code == 409
    assert (response.headers["HX-Retarget"], response.headers["HX-Reswap"]) == ("#flash", "innerHTML")
    assert soup(response).select_one("body") is None
    assert text_of(soup(response).select_one(".collision strong")) == "Participant Collision Detected!"
    assert room.state(1) == "not_started"


def test_exclusivity_allows_activities_whose_rosters_do_not_overlap(room: Room) -> None:
    save_setting(room, EXCLUSIVITY, "true")
    room.post("owner", "/meeting/{mid}/activities/{a0}/roster", {"op": "remove", "user": room.people["quinn"].user_id})
    room.post("owner", "/meeting/{mid}/activities/{a1}/roster", {"op": "remove", "user": room.people["pat"].user_id})
    room.control("start", 0)

    response = room.control("start", 1)

    assert response.status_code == 303
    assert (room.state(0), room.state(1)) == ("running", "running")


def test_exclusivity_refuses_widening_a_live_roster_into_a_collision(room: Room) -> None:
    save_setting(room, EXCLUSIVITY, "true")
    room.post("owner", "/meeting/{mid}/activities/{a0}/roster", {"op": "remove", "user": room.people["quinn"].user_id})
    room.post("owner", "/meeting/{mid}/activities/{a1}/roster", {"op": "remove", "user": room.people["pat"].user_id})
    room.control("start", 0)
    room.control("start", 1)
    before = room.snapshot()

    response = room.post("owner", "/meeting/{mid}/activities/{a1}/roster", {"op": "add", "user": room.people["pat"].user_id})

    assert response.status_code == 409
    assert "pat is already in “Talk”" in text_of(soup(response).select_one(".collision"))
    assert room.snapshot() == before


# -- timers (SPEC §4.6) ---------------------------------------------------------------------------


def _limit_one_minute(room: Room, auto_stop: bool = False) -> str:
    data = {"type": "discussion", "title": "Talk", "time_limit_minutes": "1"}
    if auto_stop:
        data["auto_stop"] = "on"
    assert room.post("owner", "/meeting/{mid}/activities/{a0}/edit", data).status_code == 303
    return room.meeting.activities[0]


def test_countdown_at_zero_shows_time_is_up_and_locks_input(room: Room) -> None:
    talk = _limit_one_minute(room)
    room.control("start")
    running = activity_row(room.db, talk)
    assert not run_control.time_is_up(running, utcnow())
    run_control.check_open_for_input(running, utcnow())  # open: nothing raised

    shift_segment(room.db, talk, 61)

    expired = activity_row(room.db, talk)
    assert run_control.time_is_up(expired, utcnow())
    with pytest.raises(Refused, match=r"^Time is up\.$"):
        run_control.check_open_for_input(expired, utcnow())
    head = soup(room.get("pat")).select_one(f"#panel-head-{talk}")
    assert head is not None and head["data-time-up"] == "1"
    assert text_of(head.select_one(".time-up")) == "Time is up."
    assert text_of(head.select_one(".timer .left")) == "Time is up."


def test_countdown_shows_the_time_left(room: Room) -> None:
    talk = _limit_one_minute(room)
    room.control("start")
    shift_segment(room.db, talk, 15)

    timer = soup(room.get("pat")).select_one(f"#panel-head-{talk} .timer")

    assert timer is not None
    assert text_of(timer.select_one(".left")) in ("Time left 0:45", "Time left 0:44")


def test_paused_input_is_refused_with_the_paused_message(room: Room) -> None:
    talk = room.meeting.activities[0]
    room.control("start")
    room.control("pause")

    with pytest.raises(Refused, match=r"^This activity is paused\.$"):
        run_control.check_open_for_input(activity_row(room.db, talk), utcnow())
    head = soup(room.get("pat")).select_one(f"#panel-head-{talk}")
    assert head is not None and "This activity is paused." in text_of(head)


def test_expire_stops_an_activity_with_auto_stop(room: Room) -> None:
    talk = _limit_one_minute(room, auto_stop=True)
    room.control("start")
    shift_segment(room.db, talk, 61)

    event = room.db.write_sync(lambda: run_control.expire(talk))

    assert event is not None and event.payload == {"action": "auto_stop", "state": "stopped"}
    stopped = activity_row(room.db, talk)
    assert stopped.state == "stopped" and 60 <= stopped.elapsed_seconds < 63


def test_expire_without_auto_stop_announces_time_up_and_keeps_running(room: Room) -> None:
    talk = _limit_one_minute(room)
    room.control("start")
    assert room.db.write_sync(lambda: run_control.expire(talk)) is None  # not due yet
    shift_segment(room.db, talk, 61)

    event = room.db.write_sync(lambda: run_control.expire(talk))

    assert event is not None and event.summary == "Time is up for “Talk”."
    assert room.state() == "running"


def test_the_server_stops_an_auto_stop_activity_without_any_browser_open(room: Room) -> None:
    talk = _limit_one_minute(room, auto_stop=True)
    room.control("start")
    shift_segment(room.db, talk, 60)
    started = time.monotonic()

    wait_until(lambda: room.state() == "stopped", timeout=4, message="auto-stop")

    assert time.monotonic() - started < 2.5
    assert "stopped automatically" in text_of(soup(room.get("owner", "/meeting/{mid}/log")).select_one("#log-rows li"))


# -- activity log (SPEC §4.14) ----------------------------------------------------------------------


def test_activity_log_lists_what_happened_newest_first(room: Room) -> None:
    room.control("start")
    room.control("pause", login="cofac")
    room.post("owner", "/meeting/{mid}/activities/{a1}/move", {"direction": "up"})

    page = soup(room.get("owner", "/meeting/{mid}/log"))

    assert text_of(page.select_one("h1")) == "Recent Activity — Realtime updates for this meeting."
    lines = [text_of(li) for li in page.select("#log-rows li")]
    assert [line.split("] ", 1)[1] for line in lines[:3]] == [
        "The agenda was reordered.",
        "cofac paused “Talk”.",
        "owner started “Talk”.",
    ]
    assert all(line.startswith("[") and line[9] == "]" for line in lines)


def test_activity_log_is_for_facilitators_only(room: Room) -> None:
    response = room.get("pat", "/meeting/{mid}/log")

    assert response.status_code == 403
    assert page_error(response) == FACILITATORS_ONLY


@pytest.fixture
def many_events(room: Room) -> Iterator[Room]:
    for _ in range(55):
        room.control("start")
        room.control("stop")
    yield room


def test_activity_log_pages_hold_100_lines_with_older_pages(many_events: Room) -> None:
    room = many_events
    first = soup(room.get("owner", "/meeting/{mid}/log"))
    older = first.find("a", string="Older")
    assert len(first.select("#log-rows li")) == 100 and older is not None

    second = soup(room.as_("owner").get(str(older["href"])))

    lines = [text_of(li).split("] ", 1)[1] for li in second.select("#log-rows li")]
    assert len(lines) == 3 + 2 * 55 - 100
    assert lines[-4:] == ["owner started “Talk”.", "Activity “Rank” was added.", "Activity “Vote” was added.", "Activity “Talk” was added."]
