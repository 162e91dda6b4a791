"""Every refusal visible and every page a way back; the facilitator affordances issue 17 found wrong.
(Tied ranks: ``test_vote_results``; the live ones: ``test_browser_phone``.)"""

from __future__ import annotations

import pytest
from account_helpers import database, soup
from helpers_meetings import add_people, text_of
from meeting_helpers import make_user, person, post, seed_meeting
from starlette.testclient import TestClient
from voting_helpers import Poll, client_opener, option_ids, seed_poll

from decidero.meetings import lifecycle
from decidero.meetings.access import access_for
from decidero.meetings.models import Activity
from decidero.platform.models import User

GLYPHS = "⏸🔒▶■✖✕↑↓⠿"


@pytest.fixture
def poll(client: TestClient) -> Poll:
    running = seed_poll(database(client), client_opener(client))
    running.control("start", running.vote)
    running.control("start", running.rank)
    return running


# -- refusals ---------------------------------------------------------------------------------------


def test_a_refused_role_change_shows_the_stored_role_and_the_reason(admin_client: TestClient) -> None:
    make_user(admin_client, "p01")
    uid = database(admin_client).read_sync(lambda: User.get(User.login == "p01").id)
    response = post(admin_client, f"/admin/users/{uid}/role", {"role": "admin"}, page="/admin/users", headers={"HX-Request": "true"})

    assert response.status_code == 403
    page = soup(response)
    assert text_of(page.select_one("#user-notice")) == "Participant must be promoted to facilitator before admin."
    assert "Saved." not in response.text
    chosen = page.select_one(f"#role-{uid} option[selected]")
    assert chosen is not None and chosen["value"] == "participant"  # the select reverts


def test_a_refused_no_js_vote_keeps_the_choices_beside_the_reason_with_a_way_back(poll: Poll) -> None:
    response = poll.vote_as("pat", {"A": 2, "B": 2})  # 4 dots of 3

    assert response.status_code == 409
    page = soup(response)
    assert text_of(page.select_one(f"#ballot-msg-{poll.vote}")) == "Vote limit reached for this activity."
    checked = {text_of(f.find("legend")): f.select_one("input[checked]")["value"] for f in page.select("fieldset.dot-option")}  # type: ignore[index]
    assert checked == {"A": "2", "B": "2", "C": "0", "D": "0"}
    assert page.select_one(f"a[href='/meeting/{poll.meeting.id}?activity={poll.vote}']") is not None
    assert poll.allocation("pat") == {}


def test_a_refused_no_js_ranking_keeps_the_order_beside_the_reason(poll: Poll) -> None:
    # Pat's list is shuffled per person (by ids that carry today's date), and tied ranks keep it.
    ballot = poll.get("pat", "/meeting/{mid}/activities/{rank}/ballot")
    shown = [text_of(li.select_one(".rank-label")) for li in soup(ballot).select(".rank-item")]
    fields = {f"rank-{option}": position for option, position in zip(option_ids(["X", "Y", "Z"]), ("3", "1", "1"), strict=True)}
    response = poll.post("pat", "/meeting/{mid}/activities/{rank}/ranking", fields)

    assert response.status_code == 400
    page = soup(response)
    assert text_of(page.select_one(f"#ballot-msg-{poll.rank}")) == "Ranking must include every idea exactly once."
    assert sorted(shown) == ["X", "Y", "Z"]
    assert [text_of(li.select_one(".rank-label")) for li in page.select(".rank-item")] == [*(o for o in shown if o != "X"), "X"]
    assert page.select_one(f"a[href='/meeting/{poll.meeting.id}?activity={poll.rank}']") is not None
    assert poll.ranking("pat") is None


def test_a_participant_left_out_of_a_running_vote_is_told_which_round(poll: Poll) -> None:
    poll.control("stop", poll.rank)
    rae = poll.people["rae"].user_id
    assert poll.post("owner", "/meeting/{mid}/activities/{vote}/roster", {"op": "remove", "user": rae}).status_code == 303

    page = soup(poll.get("rae"))
    waiting = text_of(page.select_one("#switcher .waiting"))
    assert waiting == "You're not in this voting round. We'll bring you in when it is your turn."
    assert "brainstorming" not in waiting


# -- facilitator affordances ----------------------------------------------------------------------


def test_participants_get_a_results_action_once_something_is_published(poll: Poll) -> None:
    def actions(login: str) -> list[str]:
        row = soup(poll.get(login, "/dashboard")).select_one(f"#meeting-{poll.meeting.id} td.actions")
        return [text_of(a) for a in row.select("a, button")]  # type: ignore[union-attr]

    poll.control("stop", poll.vote)
    assert actions("pat") == ["Enter meeting"]
    poll.publish(poll.vote)
    assert actions("pat") == ["Enter meeting", "Results"]
    link = soup(poll.get("pat", "/dashboard")).find("a", string="Results")
    assert poll.as_("pat").get(str(link["href"])).status_code == 200  # type: ignore[index]


def test_stopped_activities_show_no_time_left(poll: Poll) -> None:
    poll.configure(poll.vote)

    def write() -> None:
        Activity.update(time_limit_minutes=5).where(Activity.id == poll.vote).execute()

    poll.db.write_sync(write)
    assert "Time left" in text_of(soup(poll.get("owner")).select_one(f"#row-{poll.vote} .timer"))
    poll.control("stop", poll.vote)
    assert "Time left" not in text_of(soup(poll.get("owner")).select_one(f"#row-{poll.vote} .timer"))


def test_agenda_rows_show_one_primary_action_and_the_rest_under_more(poll: Poll) -> None:
    page = soup(poll.get("owner"))
    for activity, primary in ((poll.vote, "Stop"), (poll.rank, "Stop")):
        controls = page.select_one(f"#row-{activity} .controls")
        outside = [text_of(b) for b in controls.select("button, a") if not b.find_parent("details", class_="menu")]  # type: ignore[union-attr]
        assert outside == [primary]
        assert text_of(controls.select_one("details.menu > summary")) == "More"  # type: ignore[union-attr]
    poll.control("stop", poll.vote)
    controls = soup(poll.get("owner")).select_one(f"#row-{poll.vote} .controls")
    assert [text_of(b) for b in controls.select("button, a") if not b.find_parent("details", class_="menu")] == ["Results"]  # type: ignore[union-attr]


def test_adding_an_activity_offers_brainstorming_first(client: TestClient) -> None:
    make_user(client, "fac", "facilitator")
    meeting_id = seed_meeting(client, "fac")
    facilitator = person(client, "fac")
    for page, select in ((f"/meeting/{meeting_id}", "#new-type"), (f"/meeting/{meeting_id}/settings", "#editor-type"), ("/meeting/create", "select[name=activity_type]")):
        chosen = soup(facilitator.get(page)).select_one(f"{select} option[selected]")
        assert chosen is not None and chosen["value"] == "brainstorming", page


def test_the_active_tab_points_to_archived_meetings_when_only_those_exist(client: TestClient) -> None:
    make_user(client, "fac", "facilitator")
    meeting_id = seed_meeting(client, "fac")
    fac = database(client).read_sync(lambda: User.get(User.login == "fac"))
    facilitator = person(client, "fac")
    assert "Create your first meeting" not in facilitator.get("/dashboard").text
    database(client).write_sync(lambda: lifecycle.archive(access_for(meeting_id, fac)))

    empty = soup(facilitator.get("/dashboard")).select_one("#meeting-list .empty")
    assert empty is not None and empty.get_text() == "No active meetings. Your earlier meetings are under Archived."
    assert empty.a is not None and "tab=archived" in str(empty.a["href"])
    assert "You do not have any meetings yet." not in facilitator.get("/dashboard").text


def test_an_empty_dashboard_invites_a_facilitator_to_create_a_first_meeting(client: TestClient) -> None:
    make_user(client, "fac", "facilitator")
    make_user(client, "p01")
    links = soup(person(client, "fac").get("/dashboard")).select(".first-step a[href='/meeting/create']")
    assert [text_of(a) for a in links] == ["Create your first meeting"]
    assert "Create your first meeting" not in person(client, "p01").get("/dashboard").text


def test_a_new_meeting_suggests_its_first_steps(client: TestClient) -> None:
    make_user(client, "fac", "facilitator")
    meeting_id = seed_meeting(client, "fac")
    steps = text_of(soup(person(client, "fac").get(f"/meeting/{meeting_id}")).select_one("#first-steps"))
    assert "Add the first activity" in steps and "Invite people" in steps


def test_the_log_filters_by_kind_and_leaves_joins_out_by_default(poll: Poll) -> None:
    zed = add_people(poll.db, {"zed": "participant"})["zed"]  # type: ignore[arg-type]
    assert poll.opener(zed).post("/join", data={"code": poll.meeting.id}).status_code == 303
    poll.vote_as("pat", {"A": 1})

    def lines(kind: str = "") -> list[str]:
        page = soup(poll.get("owner", "/meeting/{mid}/log" + (f"?kind={kind}" if kind else "")))
        return [text_of(li) for li in page.select("#log-rows li[data-event]")]

    everything = lines("all")
    assert any("Votes were submitted" in line for line in lines("contributions"))
    assert not any("started" in line for line in lines("contributions"))
    assert any("started" in line for line in lines("control"))
    assert set(lines()) == set(lines("contributions")) | set(lines("control"))
    assert any(line.endswith("zed joined the meeting.") for line in lines("joins"))
    assert set(lines("joins")) == set(everything) - set(lines())


def test_pages_use_no_glyphs_that_render_as_boxes(poll: Poll) -> None:
    poll.control("pause", poll.rank)
    for login, path in (("owner", "/meeting/{mid}"), ("pat", "/meeting/{mid}"), ("owner", "/meeting/{mid}/activities/{rank}/ballot"), ("owner", "/dashboard")):
        text = poll.get(login, path).text
        assert not [g for g in GLYPHS if g in text], (login, path)
