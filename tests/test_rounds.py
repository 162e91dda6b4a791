"""Second rounds (issue 14): "Run again as round 2" on a stopped vote, ranking or categorization, and
the rounds side by side on the results page."""

from __future__ import annotations

import pytest
from convergence_helpers import Workshop, board_on_page, message_of, seed_workshop
from helpers_meetings import soup, text_of
from starlette.testclient import TestClient
from voting_helpers import client_opener

from decidero.activities.ballots.models import VoteAllocation
from decidero.meetings import provenance
from decidero.meetings.models import Activity, ActivityRosterEntry


@pytest.fixture
def shop(client: TestClient) -> Workshop:
    return seed_workshop(client.app.state.services.db, client_opener(client))  # type: ignore[attr-defined]


def vote_as(shop: Workshop, login: str, activity: str, counts: dict[int, int]) -> None:
    response = shop.as_(login).post(shop.url(activity, "votes"), data={f"opt-{n}": str(c) for n, c in counts.items()})
    assert response.status_code == 303, response.text[:300]


def agenda_buttons(shop: Workshop, activity: str) -> list[str]:
    row = soup(shop.as_("fac").get(shop.meeting.url)).select_one(f"#row-{activity}")
    return [text_of(b) for b in row.select("button")] if row else []


@pytest.fixture
def vote(shop: Workshop) -> str:
    """ "Vote" on A, B, C (3 dots, 2 per option), for pat only, voted and stopped."""
    activity = shop.add("voting", "Vote", {"options": ["A", "B", "C"], "max_votes": 3, "max_per_option": 2})

    def only_pat() -> None:
        ActivityRosterEntry.create(activity=activity, user=shop.people["pat"].user_id)
        Activity.update(roster_mode="custom").where(Activity.id == activity).execute()

    shop.db.write_sync(only_pat)
    shop.control(activity, "start")
    vote_as(shop, "pat", activity, {1: 2, 2: 1})
    shop.control(activity, "stop")
    return activity


def test_a_stopped_vote_runs_again_as_a_fresh_round_right_after_it(shop: Workshop, vote: str) -> None:
    later = shop.add("discussion", "Wrap-up")
    assert "Run again as round 2" in agenda_buttons(shop, vote)

    response = shop.post("fac", vote, "round")

    assert response.status_code == 303
    (first, _, _), (fresh, kind, title), (last, _, _) = shop.agenda()
    assert (first, kind, title, last) == (vote, "voting", "Vote (round 2)", later)
    before, after = shop.activity(vote), shop.activity(fresh)
    assert [o["label"] for o in after.config["options"]] == ["A", "B", "C"]
    assert {k: v for k, v in after.config.items() if k != "options"} == {k: v for k, v in before.config.items() if k != "options"}
    assert (after.state, after.started_at, after.roster_mode) == ("not_started", None, "custom")
    assert shop.db.read_sync(lambda: VoteAllocation.select().where(VoteAllocation.activity == fresh).count()) == 0
    assert shop.db.read_sync(lambda: VoteAllocation.select().where(VoteAllocation.activity == vote).count()) == 2  # round 1 stays
    assert "Run again as round 2" not in agenda_buttons(shop, vote)  # a round is followed once
    shop.control(fresh, "start")
    shop.control(fresh, "stop")
    assert "Run again as round 3" in agenda_buttons(shop, fresh)


def test_results_show_both_rounds_side_by_side_with_the_change(shop: Workshop, vote: str) -> None:
    shop.post("fac", vote, "round")
    fresh = shop.agenda()[1][0]
    shop.control(fresh, "start")
    vote_as(shop, "pat", fresh, {2: 2, 3: 1})
    shop.control(fresh, "stop")

    for page_of in (fresh, vote):
        table = soup(shop.as_("fac").get(shop.url(page_of, "results"))).select_one(".rounds-table")
        assert table is not None
        assert [text_of(th) for th in table.select("thead th")][:3] == ["Option", "Round 1" + (" (this page)" if page_of == vote else ""), "Round 2" + (" (this page)" if page_of == fresh else "")]
        rows = [[text_of(td) for td in tr.select("td")] for tr in table.select("tbody tr")]
        assert sorted(rows) == [["A", "2", "0", "-2"], ["B", "1", "2", "+1"], ["C", "0", "1", "+1"]]
    chain = shop.db.read_sync(lambda: provenance.chain(fresh, f"{fresh}:opt-1"))
    assert chain == ["option “A” in “Vote”"]


def test_participants_see_only_published_rounds(shop: Workshop, vote: str) -> None:
    shop.post("fac", vote, "round")
    fresh = shop.agenda()[1][0]
    shop.control(fresh, "start")
    shop.control(fresh, "stop")
    shop.post("fac", fresh, "publish", {"publish": "1"})

    page = shop.as_("pat").get(shop.url(fresh, "results"))
    assert page.status_code == 200 and soup(page).select(".rounds-table") == []
    shop.post("fac", vote, "publish", {"publish": "1"})
    assert soup(shop.as_("pat").get(shop.url(fresh, "results"))).select(".rounds-table")


def test_a_round_is_refused_while_running_for_brainstorming_and_a_second_time(shop: Workshop, vote: str) -> None:
    ideas = shop.add("brainstorming", "Ideas")
    shop.control(ideas, "start")
    shop.control(ideas, "stop")
    live = shop.add("voting", "Live", {"options": ["A"]})
    shop.control(live, "start")

    cases = [
        (ideas, 400, "This activity type cannot run a second round."),
        (live, 409, "Stop the activity before running it again."),
    ]
    for activity, status, message in cases:
        response = shop.post("fac", activity, "round")
        assert (response.status_code, message_of(response)) == (status, message)
    assert shop.post("fac", vote, "round").status_code == 303
    twice = shop.post("fac", vote, "round")
    assert (twice.status_code, message_of(twice)) == (409, "Round 2 of “Vote” already exists.")
    participant = shop.post("pat", vote, "round")
    assert (participant.status_code, message_of(participant)) == (403, "Only facilitators can control meeting activities.")
    assert [title for _, _, title in shop.agenda()].count("Vote (round 2)") == 1


def test_a_board_runs_again_with_every_idea_back_in_unsorted_and_the_buckets_compared(shop: Workshop) -> None:
    sort = shop.add("categorization", "Sort", {"items": ["Hall", "Roof", "Food"], "buckets": ["Venues", "Other"]})
    shop.control(sort, "start")
    for text, bucket in (("Hall", "Venues"), ("Roof", "Venues"), ("Food", "Other")):
        item = shop.item(sort, text)
        shop.post("fac", sort, "board/move", {"item": item.id, "bucket": shop.bucket(sort, bucket)})
    shop.post("fac", sort, "board/buckets", {"title": "Later"})
    shop.control(sort, "stop")

    assert shop.post("fac", sort, "round").status_code == 303
    fresh = shop.agenda()[1][0]
    shop.control(fresh, "start")
    assert shop.board(fresh) == [("Unsorted Ideas", ["Hall", "Roof", "Food"]), ("Venues", []), ("Other", []), ("Later", [])]
    item = shop.item(fresh, "Roof")
    shop.post("fac", fresh, "board/move", {"item": item.id, "bucket": shop.bucket(fresh, "Later")})
    shop.control(fresh, "stop")

    page = shop.as_("fac").get(shop.url(fresh, "results"))
    rows = [[text_of(td) for td in tr.select("td")] for tr in soup(page).select(".rounds-table tbody tr")]
    assert rows == [["Unsorted Ideas", "0", "2", "+2"], ["Venues", "2", "0", "-2"], ["Other", "1", "0", "-1"], ["Later", "0", "1", "+1"]]
    assert board_on_page(shop.as_("fac").get(f"{shop.meeting.url}?activity={fresh}"), fresh)[3] == ("Later", ["Roof"])
