"""Dot voting and rank-order voting over HTTP: config, submissions, every refusal, visibility of
results on every surface, publishing and the CSV (SPEC §4.6 locks, §4.9, §4.10, §4.13, S7, S8, S15)."""

from __future__ import annotations

import csv
import io

import httpx
import pytest
from account_helpers import field_error, page_error
from helpers_meetings import shift_segment, text_of
from starlette.testclient import TestClient
from voting_helpers import (
    Poll,
    add_voting,
    ballot,
    chosen_dots,
    client_opener,
    has_totals,
    notices,
    page_of,
    progress,
    results_rows,
    seed_poll,
)

from decidero.meetings import event_log
from decidero.meetings.models import Activity, MeetingEvent
from decidero.meetings.room import load_room, panel_values

VOTES_LOCKED = "Voting settings are locked because votes already exist for this activity: options, total dots, dots per option."
RANKINGS_LOCKED = "Ranking settings are locked because rankings already exist for this activity: ideas."
HIDDEN = "Votes are hidden until the facilitator reveals the results."
LIVE = "Results update live as votes are recorded."


@pytest.fixture
def poll(client: TestClient) -> Poll:
    return seed_poll(client.app.state.services.db, client_opener(client))  # type: ignore[attr-defined]


@pytest.fixture
def running(poll: Poll) -> Poll:
    poll.control("start", poll.vote)
    poll.control("start", poll.rank)
    return poll


def _edit(poll: Poll, activity: str, **fields: str) -> httpx.Response:
    kind = "voting" if activity == poll.vote else "rank_order_voting"
    data = {"type": kind, "title": "Vote" if kind == "voting" else "Rank", "config_form": kind, **fields}
    return poll.post("owner", f"/meeting/{{mid}}/activities/{activity}/edit", data)


def _config(poll: Poll, activity: str) -> dict[str, object]:
    return poll.db.read_sync(lambda: Activity.get_by_id(activity).config)


# -- config (SPEC §4.9, §4.10, §4.6 locks) --------------------------------------------------------


@pytest.mark.parametrize(
    ("which", "field", "text", "message"),
    [
        ("vote", "options", "Alpha\nbeta\n  BETA  ", 'Duplicate vote option: "BETA". Each option must be unique.'),
        ("rank", "ideas", "One\nTwo\n two", 'Duplicate idea: "two". Each idea must be unique.'),
        ("vote", "options", "x" * 201, "Each option must be 1–200 characters."),
        ("rank", "ideas", "\n".join(f"Idea {i}" for i in range(101)), "At most 100 ideas are allowed."),
    ],
)
def test_bad_option_lists_are_refused_beside_the_field_and_keep_the_text(
    poll: Poll, which: str, field: str, text: str, message: str
) -> None:
    activity = poll.vote if which == "vote" else poll.rank
    before = _config(poll, activity)

    response = _edit(poll, activity, **{field: text})

    assert response.status_code == 422
    assert field_error(response, field) == message
    assert text_of(page_of(response).select_one(f"textarea[name={field}]")) == text.strip()
    assert _config(poll, activity) == before


@pytest.mark.parametrize(("total", "per_option"), [("3", "4"), ("10", "10"), ("5", "0")])
def test_dots_per_option_must_be_1_to_9_and_at_most_the_total(poll: Poll, total: str, per_option: str) -> None:
    response = _edit(poll, poll.vote, options="A\nB", max_votes=total, max_per_option=per_option)

    assert response.status_code == 422
    assert field_error(response, "max_per_option") == (
        "Dots per option must be between 1 and 9 and no more than the total dots."
    )


@pytest.mark.parametrize("digits", ["²", "٣", "３"])
def test_dot_limits_in_unicode_digits_are_refused_beside_the_field(poll: Poll, digits: str) -> None:
    before = _config(poll, poll.vote)

    total = _edit(poll, poll.vote, options="A\nB", max_votes=digits, max_per_option="1")
    per_option = _edit(poll, poll.vote, options="A\nB", max_votes="5", max_per_option=digits)

    assert (total.status_code, per_option.status_code) == (422, 422)
    assert field_error(total, "max_votes") == "Total dots must be a whole number from 1 to 99."
    assert field_error(per_option, "max_per_option") == (
        "Dots per option must be between 1 and 9 and no more than the total dots."
    )
    assert _config(poll, poll.vote) == before


def test_total_dots_must_be_1_to_99(poll: Poll) -> None:
    response = _edit(poll, poll.vote, options="A", max_votes="100", max_per_option="2")

    assert field_error(response, "max_votes") == "Total dots must be a whole number from 1 to 99."


def test_option_ids_stay_stable_and_are_never_reused(poll: Poll) -> None:
    assert _edit(poll, poll.vote, options="A\nC\nD", max_votes="3", max_per_option="2").status_code == 303
    assert _edit(poll, poll.vote, options="A\nC\nD\nE\nB", max_votes="3", max_per_option="2").status_code == 303

    options = {o["label"]: o["id"].rsplit(":", 1)[1] for o in _config(poll, poll.vote)["options"]}  # type: ignore[attr-defined]
    assert options == {"A": "opt-1", "C": "opt-3", "D": "opt-4", "E": "opt-5", "B": "opt-6"}


def test_settings_saved_from_the_form_are_what_the_panel_uses(poll: Poll) -> None:
    response = _edit(
        poll, poll.vote, options=" Tea \n\nCoffee", max_votes="4", max_per_option="1",
        results_visibility="live", randomize_participant_order="on",
    )

    assert response.status_code == 303
    config = _config(poll, poll.vote)
    assert [o["label"] for o in config["options"]] == ["Tea", "Coffee"]  # type: ignore[attr-defined]
    assert (config["max_votes"], config["max_per_option"], config["allow_retract"]) == (4, 1, False)
    assert (config["show_results_immediately"], config["randomize_participant_order"]) == (True, True)


@pytest.mark.parametrize(
    ("which", "config", "message"),
    [
        ("vote", {"options": []}, "No options yet. Add choices before starting voting."),
        ("rank", {"ideas": [{"id": "x", "label": "Only one"}]}, "Add at least two ideas before starting rank-order voting."),
    ],
)
def test_starting_without_enough_options_is_refused(poll: Poll, which: str, config: dict[str, object], message: str) -> None:
    activity = poll.vote if which == "vote" else poll.rank
    poll.configure(activity, **config)

    response = poll.post("owner", f"/meeting/{{mid}}/activities/{activity}/control", {"action": "start"})

    assert response.status_code == 409
    assert page_error(response) == message
    assert poll.db.read_sync(lambda: Activity.get_by_id(activity).state) == "not_started"


def test_facilitators_see_the_missing_options_in_the_panel_with_an_edit_link(poll: Poll) -> None:
    poll.configure(poll.vote, options=[])

    panel = page_of(poll.get("owner")).select_one(f"#panel-{poll.vote}")

    assert panel is not None
    assert "No options yet. Add choices before starting voting." in text_of(panel)
    assert panel.find("a", string="Edit options") is not None


def test_vote_settings_lock_once_votes_exist(running: Poll) -> None:
    poll = running
    assert poll.vote_as("pat", {"A": 1}).status_code == 303
    before = _config(poll, poll.vote)

    changed = _edit(poll, poll.vote, options="A\nB\nC\nD\nE", max_votes="3", max_per_option="2")
    form = page_of(poll.get("owner", "/meeting/{mid}/activities/{vote}/edit"))
    retitled = _edit(poll, poll.vote, title="Vote now", results_visibility="live", allow_retract="on")

    assert changed.status_code == 409
    assert page_error(changed) == VOTES_LOCKED
    assert VOTES_LOCKED in [text_of(n) for n in form.select(".notice")]
    assert all(form.select_one(f"[name={name}]").has_attr("disabled") for name in ("options", "max_votes", "max_per_option"))  # type: ignore[union-attr]
    assert not form.select_one("[name=allow_retract]").has_attr("disabled")  # type: ignore[union-attr]
    assert retitled.status_code == 303
    after = _config(poll, poll.vote)
    assert after["options"] == before["options"] and after["show_results_immediately"] is True


def test_rank_settings_lock_once_rankings_exist(running: Poll) -> None:
    poll = running
    assert poll.rank_as("pat", ["X", "Y", "Z"]).status_code == 303

    response = _edit(poll, poll.rank, ideas="X\nY")

    assert response.status_code == 409
    assert page_error(response) == RANKINGS_LOCKED
    assert [o["label"] for o in _config(poll, poll.rank)["ideas"]] == ["X", "Y", "Z"]  # type: ignore[attr-defined]


# -- dot voting (S7) ------------------------------------------------------------------------------


def test_s7_a_participant_allocates_submits_and_sees_no_totals(running: Poll) -> None:
    poll = running
    first = poll.get("pat")
    assert "Remaining picks: 3" in text_of(ballot(first, poll.vote))
    assert "You've cast 0 of your 3 votes." in text_of(ballot(first, poll.vote))
    assert HIDDEN in notices(first)

    response = poll.vote_as("pat", {"A": 2, "B": 1})
    shown = poll.as_("pat").get(response.headers["location"])

    assert response.status_code == 303
    assert "Your votes were submitted." in notices(shown)
    assert "Remaining picks: 0" in text_of(ballot(shown, poll.vote))
    assert poll.allocation("pat") == {"A": 2, "B": 1}

    assert poll.vote_as("pat", {"A": 1, "B": 1}).status_code == 303
    page = poll.get("pat")
    assert chosen_dots(page, poll.vote) == {"A": 1, "B": 1, "C": 0, "D": 0}
    assert "Remaining picks: 1" in text_of(ballot(page, poll.vote))
    assert not has_totals(page)

    facilitator = poll.get("owner")
    assert results_rows(facilitator, poll.vote) == [["1", "A", "1", "1"], ["1", "B", "1", "1"], ["3", "C", "0", "0"], ["3", "D", "0", "0"]]
    assert progress(facilitator, poll.vote) == "1 of 3 participants have voted"
    assert progress(page, poll.vote) == "1 of 3 participants have voted"


def test_the_dot_rail_offers_0_to_the_per_option_cap(running: Poll) -> None:
    rails = ballot(running.get("pat"), running.vote).select("fieldset.dot-option")

    assert [text_of(r.find("legend")) for r in rails] == ["A", "B", "C", "D"]
    assert [[str(i["value"]) for i in r.select("input[type=radio]")] for r in rails] == [["0", "1", "2"]] * 4


def test_shuffled_options_are_ordered_per_participant_and_stable(running: Poll) -> None:
    poll = running
    poll.configure(poll.vote, options=[{"id": f"{poll.vote}:opt-{i}", "label": f"Option {i}"} for i in range(1, 13)],
                   randomize_participant_order=True)

    def order(login: str) -> list[str]:
        return [text_of(r.find("legend")) for r in ballot(poll.get(login), poll.vote).select("fieldset.dot-option")]

    assert order("pat") == order("pat")
    assert order("pat") != order("quinn")
    assert sorted(order("pat")) == sorted(f"Option {i}" for i in range(1, 13))


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"opt-1": "2", "opt-2": "2"}, 409, "Vote limit reached for this activity."),
        ({"opt-1": "3"}, 409, "Vote limit reached for this option."),
        ({"opt-1": "-1"}, 409, "Vote limit reached for this option."),
        ({"opt-1": "two"}, 409, "Vote limit reached for this option."),
        ({"opt-1": "\u00b2"}, 409, "Vote limit reached for this option."),
        ({"opt-9": "1"}, 400, "Selected option is not valid for this activity."),
        ({"opt-x": "1"}, 400, "Selected option is not valid for this activity."),
    ],
    ids=["over-total", "over-cap", "negative", "not-a-number", "superscript-digit", "unknown-option", "malformed-option"],
)
@pytest.mark.both_backends
def test_bad_allocations_are_refused_and_store_nothing(running: Poll, fields: dict[str, str], status: int, message: str) -> None:
    poll = running
    assert poll.vote_as("pat", {"C": 1}).status_code == 303
    events = poll.events("votes_changed")

    response = poll.post("pat", "/meeting/{mid}/activities/{vote}/votes", {**fields, "key": "k-bad"})

    assert response.status_code == status
    assert page_error(response) == message
    assert poll.allocation("pat") == {"C": 1}
    assert poll.events("votes_changed") == events


def test_an_htmx_refusal_shows_in_the_ballot_and_keeps_the_choices(running: Poll) -> None:
    response = running.post(
        "pat", "/meeting/{mid}/activities/{vote}/votes", {"opt-1": "2", "opt-2": "2"}, **{"HX-Request": "true"}
    )

    assert response.status_code == 409
    assert response.headers["HX-Retarget"] == f"#ballot-msg-{running.vote}"
    assert text_of(page_of(response).select_one(".error")) == "Vote limit reached for this activity."


@pytest.mark.both_backends
def test_without_retraction_counts_cannot_go_down_but_results_show_after_submitting(running: Poll) -> None:
    poll = running
    poll.configure(poll.vote, allow_retract=False)
    assert not has_totals(poll.get("pat"))
    assert poll.vote_as("pat", {"A": 2}).status_code == 303

    events = poll.events("votes_changed")

    lowered = poll.vote_as("pat", {"A": 1, "B": 1})
    assert (poll.allocation("pat"), poll.events("votes_changed")) == ({"A": 2}, events), "the refusal stored nothing"
    raised = poll.vote_as("pat", {"A": 2, "B": 1})

    assert lowered.status_code == 409
    assert page_error(lowered) == "Vote retraction is not enabled."
    assert raised.status_code == 303
    assert poll.allocation("pat") == {"A": 2, "B": 1}
    page = poll.get("pat")
    assert results_rows(page, poll.vote)[0] == ["1", "A", "2", "1"]
    rails = ballot(page, poll.vote).select("fieldset.dot-option")
    assert [str(r["value"]) for r in rails[0].select("input[disabled]")] == ["0", "1"]
    assert not has_totals(poll.get("quinn")), "someone who has not voted sees no totals"


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ("not_started", "This activity is not open for voting."),
        ("paused", "This activity is paused."),
        ("stopped", "This activity is not open for voting."),
        ("time_up", "Time is up."),
    ],
)
def test_voting_and_ranking_only_while_running(poll: Poll, state: str, message: str) -> None:
    if state != "not_started":
        for activity in (poll.vote, poll.rank):
            poll.control("start", activity)
    if state in ("paused", "stopped"):
        for activity in (poll.vote, poll.rank):
            poll.control("pause" if state == "paused" else "stop", activity)
    if state == "time_up":
        for activity in (poll.vote, poll.rank):
            poll.db.write_sync(lambda a=activity: Activity.update(time_limit_minutes=1).where(Activity.id == a).execute())
            shift_segment(poll.db, activity, 61)

    responses = [poll.vote_as("pat", {"A": 1}), poll.rank_as("pat", ["X", "Y", "Z"]),
                 poll.post("pat", "/meeting/{mid}/activities/{rank}/ranking/reset")]

    assert [r.status_code for r in responses] == [409, 409, 409]
    assert [page_error(r) for r in responses] == [message] * 3
    assert poll.allocation("pat") == {} and poll.ranking("pat") is None


def test_people_outside_the_activity_or_the_meeting_cannot_vote(running: Poll) -> None:
    poll = running
    roster = poll.post("owner", "/meeting/{mid}/activities/{vote}/roster", {"op": "remove", "user": poll.people["rae"].user_id})
    assert roster.status_code == 303

    excluded = poll.vote_as("rae", {"A": 1})
    outsider = poll.vote_as("outsider", {"A": 1})
    outsider_rank = poll.rank_as("outsider", ["X", "Y", "Z"])

    assert (excluded.status_code, page_error(excluded)) == (403, "You are not assigned to this activity.")
    assert (outsider.status_code, page_error(outsider)) == (403, "You do not have access to this meeting.")
    assert outsider_rank.status_code == 403
    assert poll.allocation("rae") == {} and poll.allocation("outsider") == {}
    assert progress(poll.get("owner"), poll.vote) == "0 of 2 participants have voted"


def test_people_outside_the_ranking_cannot_rank_or_reset(running: Poll) -> None:
    poll = running
    rae = poll.people["rae"].user_id
    assert poll.post("owner", "/meeting/{mid}/activities/{rank}/roster", {"op": "remove", "user": rae}).status_code == 303
    events = poll.events("rankings_changed")

    ranked = poll.rank_as("rae", ["X", "Y", "Z"])
    reset = poll.post("rae", "/meeting/{mid}/activities/{rank}/ranking/reset")
    for_rae = poll.post("owner", "/meeting/{mid}/activities/{rank}/ranking", {"order": "opt-1 opt-2 opt-3", "for": rae})
    outsider = poll.rank_as("outsider", ["X", "Y", "Z"])

    assert [(r.status_code, page_error(r)) for r in (ranked, reset, for_rae)] == [
        (403, "You are not assigned to this activity.")
    ] * 3
    assert (outsider.status_code, page_error(outsider)) == (403, "You do not have access to this meeting.")
    assert poll.ranking("rae") is None and poll.ranking("outsider") is None
    assert poll.events("rankings_changed") == events
    assert progress(poll.get("owner"), poll.rank) == "Submitted rankings: 0/2"


def test_unknown_activities_and_other_types_are_not_found(running: Poll) -> None:
    poll = running
    wrong_type = poll.post("pat", "/meeting/{mid}/activities/{rank}/votes", {"opt-1": "1"})
    unknown = poll.post("pat", "/meeting/{mid}/activities/{mid}-RANKVT-0099/votes", {"opt-1": "1"})

    assert (wrong_type.status_code, unknown.status_code) == (404, 404)


@pytest.mark.both_backends
def test_a_retried_submission_with_the_same_key_is_stored_once(running: Poll) -> None:
    poll = running
    first = poll.vote_as("pat", {"A": 2}, key="retry-1")
    again = poll.vote_as("pat", {"A": 2}, key="retry-1")
    assert (first.status_code, again.status_code) == (303, 303)
    assert poll.events("votes_changed") == 1

    assert poll.vote_as("pat", {"B": 1}, key="retry-2").status_code == 303
    late = poll.vote_as("pat", {"A": 2}, key="retry-1")
    reused = poll.vote_as("pat", {"C": 1}, key="retry-1")

    assert late.status_code == 303
    assert poll.allocation("pat") == {"B": 1}, "a late retry does not undo a newer allocation"
    assert reused.status_code == 409
    assert page_error(reused) == "Idempotency key was already used with a different request payload."


def test_facilitators_vote_too_without_counting_as_participants(running: Poll) -> None:
    poll = running
    assert poll.vote_as("owner", {"D": 2}).status_code == 303

    page = poll.get("owner")

    assert results_rows(page, poll.vote)[0] == ["1", "D", "2", "1"]
    assert progress(page, poll.vote) == "0 of 3 participants have voted"


def test_facilitators_record_votes_for_someone_in_the_room_clearly_marked(running: Poll) -> None:
    poll = running
    quinn = poll.people["quinn"].user_id
    form = poll.get("owner", f"/meeting/{{mid}}/activities/{{vote}}/ballot?for={quinn}")
    assert "Recording votes on behalf of quinn, who is in the room." in notices(form)

    response = poll.vote_as("owner", {"B": 2}, **{"for": quinn})
    mine = poll.get("quinn")
    pat_tries = poll.vote_as("pat", {"B": 1}, **{"for": quinn})

    assert response.status_code == 303
    assert poll.allocation("quinn") == {"B": 2} and poll.allocation("owner") == {}
    assert "A facilitator (owner) recorded these votes on your behalf." in notices(mine)
    assert chosen_dots(mine, poll.vote)["B"] == 2
    assert (pat_tries.status_code, page_error(pat_tries)) == (403, "Only facilitators can record votes on behalf of someone.")
    assert poll.allocation("quinn") == {"B": 2}


def test_facilitators_record_rankings_for_someone_in_the_room_clearly_marked(running: Poll) -> None:
    poll = running
    quinn = poll.people["quinn"].user_id
    form = ballot(poll.get("owner", f"/meeting/{{mid}}/activities/{{rank}}/ballot?for={quinn}"), poll.rank)
    assert "Recording ranking on behalf of quinn, who is in the room." in [text_of(n) for n in form.select(".notice")]
    assert form.select_one("form.rank-ballot input[name=for]")["value"] == quinn  # type: ignore[index]

    response = poll.post("owner", "/meeting/{mid}/activities/{rank}/ranking", {"order": "opt-3 opt-1 opt-2", "for": quinn})
    pat_tries = poll.post("pat", "/meeting/{mid}/activities/{rank}/ranking", {"order": "opt-1 opt-2 opt-3", "for": quinn})
    stranger = poll.post("owner", "/meeting/{mid}/activities/{rank}/ranking",
                         {"order": "opt-1 opt-2 opt-3", "for": poll.people["outsider"].user_id})

    assert response.status_code == 303
    assert poll.ranking("quinn") == ["Z", "X", "Y"] and poll.ranking("owner") is None
    assert (pat_tries.status_code, page_error(pat_tries)) == (403, "Only facilitators can record votes on behalf of someone.")
    assert (stranger.status_code, page_error(stranger)) == (400, "That person is not a participant of this meeting.")
    assert poll.ranking("quinn") == ["Z", "X", "Y"]
    mine = ballot(poll.get("quinn"), poll.rank)
    assert "A facilitator (owner) recorded this ranking on your behalf." in [text_of(n) for n in mine.select(".notice")]
    assert [text_of(li.select_one(".rank-label")) for li in mine.select("li")] == ["Z", "X", "Y"]
    results = page_of(poll.get("owner", "/meeting/{mid}/activities/{rank}/results"))
    assert text_of(results.select_one(".recorded-for")) == "Recorded by a facilitator for people in the room: quinn"
    log = poll.db.read_sync(
        lambda: [e.summary for e in MeetingEvent.select().where(MeetingEvent.type == "rankings_changed").order_by(MeetingEvent.id)]
    )
    assert log == ["owner recorded a ranking on behalf of a participant in “Rank”."]

    assert poll.rank_as("quinn", ["X", "Y", "Z"]).status_code == 303  # quinn's own ranking replaces it
    assert not [n for n in ballot(poll.get("quinn"), poll.rank).select(".notice.recorded-by")]
    assert page_of(poll.get("owner", "/meeting/{mid}/activities/{rank}/results")).select_one(".recorded-for") is None
    assert poll.post("owner", "/meeting/{mid}/activities/{rank}/ranking", {"order": "opt-2 opt-1 opt-3", "for": quinn}).status_code == 303
    reset = poll.post("owner", "/meeting/{mid}/activities/{rank}/ranking/reset", {"for": quinn})
    assert reset.status_code == 303 and poll.ranking("quinn") is None


def test_anonymous_results_count_ballots_recorded_for_others_without_names(running: Poll) -> None:
    poll = running
    poll.configure(poll.vote, anonymous=True)
    for login in ("quinn", "rae"):
        assert poll.vote_as("owner", {"A": 1}, key=f"k-{login}", **{"for": poll.people[login].user_id}).status_code == 303

    note = page_of(poll.get("owner", "/meeting/{mid}/activities/{vote}/results")).select_one(".recorded-for")

    assert text_of(note) == "2 ballots were recorded by a facilitator for people in the room."


def test_the_ballot_fragment_is_the_voters_own(running: Poll) -> None:
    poll = running
    assert poll.vote_as("pat", {"C": 2}).status_code == 303

    fragment = poll.get("pat", "/meeting/{mid}/activities/{vote}/ballot", **{"HX-Request": "true"})

    assert fragment.status_code == 200
    assert chosen_dots(fragment, poll.vote)["C"] == 2
    assert page_of(fragment).select_one(f"#progress-{poll.vote}")["hx-swap-oob"] == "true"  # type: ignore[index]
    assert not has_totals(fragment)


# -- rank-order voting (S8) -----------------------------------------------------------------------


@pytest.mark.both_backends
def test_s8_rankings_count_and_results_break_ties_by_name(running: Poll) -> None:
    poll = running
    first = poll.rank_as("pat", ["Y", "X", "Z"])
    shown = poll.as_("pat").get(first.headers["location"])
    assert "Your ranking was saved." in notices(shown)
    assert [text_of(li.select_one(".rank-label")) for li in ballot(shown, poll.rank).select("li")] == ["Y", "X", "Z"]
    assert poll.rank_as("quinn", ["X", "Y", "Z"]).status_code == 303

    assert progress(poll.get("rae"), poll.rank) == "Submitted rankings: 2/3"
    results = poll.get("owner", "/meeting/{mid}/activities/{rank}/results")
    assert text_of(page_of(results).select_one(".rank-results h2, .rank-results h3")) == "Rank Order Results"
    assert [th.get_text(strip=True) for th in page_of(results).select("thead th")] == [
        "Rank", "Idea", "Borda Score", "Avg Rank", "Top Choice %", "Rankings"
    ]
    assert results_rows(results, poll.rank) == [
        ["1", "X", "3", "1.50", "50.0%", "2"],
        ["1", "Y", "3", "1.50", "50.0%", "2"],
        ["3", "Z", "0", "3.00", "0.0%", "2"],
    ]

    reset = poll.post("pat", "/meeting/{mid}/activities/{rank}/ranking/reset")
    assert reset.status_code == 303
    assert poll.ranking("pat") is None
    assert progress(poll.get("owner"), poll.rank) == "Submitted rankings: 1/3"


def test_the_no_js_form_ranks_by_position_selects(running: Poll) -> None:
    poll = running
    page = poll.get("pat")
    selects = [str(s["name"]) for s in ballot(page, poll.rank).select("select.rank-select")]
    assert sorted(selects) == ["rank-opt-1", "rank-opt-2", "rank-opt-3"]

    response = poll.post("pat", "/meeting/{mid}/activities/{rank}/ranking", {"rank-opt-1": "3", "rank-opt-2": "1", "rank-opt-3": "2"})

    assert response.status_code == 303
    assert poll.ranking("pat") == ["Y", "Z", "X"]


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"order": "opt-2 opt-1"}, 400, "Ranking must include every idea exactly once."),
        ({"order": "opt-1 opt-1 opt-2"}, 400, "Ranking includes duplicate ideas."),
        ({"order": "opt-1 opt-2 opt-3 opt-9"}, 400, "Ranking contains invalid ideas for this activity."),
        ({"rank-opt-1": "1", "rank-opt-2": "1", "rank-opt-3": "2"}, 400, "Ranking must include every idea exactly once."),
        ({"rank-opt-1": "1", "rank-opt-2": "2"}, 400, "Ranking must include every idea exactly once."),
        ({"rank-opt-1": "1", "rank-opt-2": "2", "rank-opt-3": "\u00b3"}, 400, "Ranking must include every idea exactly once."),
        ({"rank-opt-1": "1", "rank-opt-2": "2", "rank-opt-7": "3"}, 400, "Ranking contains invalid ideas for this activity."),
        ({}, 400, "Ranking must include every idea exactly once."),
    ],
    ids=["partial", "duplicate", "unknown", "same-position", "missing-select", "superscript-position", "unknown-select", "empty"],
)
def test_bad_rankings_are_refused_and_store_nothing(running: Poll, fields: dict[str, str], status: int, message: str) -> None:
    poll = running
    assert poll.rank_as("pat", ["Z", "Y", "X"]).status_code == 303
    events = poll.events("rankings_changed")

    response = poll.post("pat", "/meeting/{mid}/activities/{rank}/ranking", fields)

    assert response.status_code == status
    assert page_error(response) == message
    assert poll.ranking("pat") == ["Z", "Y", "X"]
    assert poll.events("rankings_changed") == events


def test_reset_can_be_switched_off(running: Poll) -> None:
    poll = running
    poll.configure(poll.rank, allow_reset=False)
    assert poll.rank_as("pat", ["X", "Y", "Z"]).status_code == 303
    assert ballot(poll.get("pat"), poll.rank).select_one("form.rank-reset") is None

    response = poll.post("pat", "/meeting/{mid}/activities/{rank}/ranking/reset")

    assert (response.status_code, page_error(response)) == (409, "Ranking reset is disabled for this activity.")
    assert poll.ranking("pat") == ["X", "Y", "Z"]


def test_ranking_an_activity_without_ideas_is_refused(running: Poll) -> None:
    poll = running
    poll.configure(poll.rank, ideas=[])

    response = poll.rank_as("pat", ["X", "Y", "Z"])

    assert (response.status_code, page_error(response)) == (409, "Rank-order voting has no configured ideas.")


# -- who sees totals (SPEC §4.9 "Who sees totals", §4.13 publishing, S15) ---------------------------


def _surfaces(poll: Poll, login: str, activity: str) -> dict[str, bool]:
    """Whether totals reach ``login`` through each surface: page, ballot fragment, results page, CSV."""
    page = poll.get(login)
    fragment = poll.get(login, f"/meeting/{{mid}}/activities/{activity}/ballot", **{"HX-Request": "true"})
    results = poll.get(login, f"/meeting/{{mid}}/activities/{activity}/results")
    export = poll.get(login, f"/meeting/{{mid}}/activities/{activity}/results.csv")
    return {
        "page": bool(results_rows(page, activity)),
        "fragment": fragment.status_code == 200 and has_totals(fragment),
        "results": results.status_code == 200 and has_totals(results),
        "csv": export.status_code == 200,
    }


NONE = {"page": False, "fragment": False, "results": False, "csv": False}
ALL = {"page": True, "fragment": True, "results": True, "csv": True}
STOPPED_ALL = {"page": False, "fragment": True, "results": True, "csv": True}


@pytest.mark.parametrize(
    ("case", "config", "stop", "publish", "voter", "other"),
    [
        ("hidden", {}, False, False, NONE, NONE),
        ("live", {"results_visibility": "live"}, False, False, ALL, ALL),
        ("after-submit", {"results_visibility": "after_submit"}, False, False, ALL, NONE),
        ("no-retraction", {"allow_retract": False}, False, False, ALL, NONE),
        ("stopped-live", {"results_visibility": "live"}, True, False, NONE, NONE),
        ("published-running", {}, False, True, NONE, NONE),
        ("published-after-stop", {}, True, True, STOPPED_ALL, STOPPED_ALL),
    ],
)
def test_participants_see_totals_only_when_allowed_on_every_surface(
    running: Poll, case: str, config: dict[str, object], stop: bool, publish: bool, voter: dict[str, bool], other: dict[str, bool]
) -> None:
    poll = running
    poll.configure(poll.vote, **config)
    assert poll.vote_as("pat", {"A": 2}).status_code == 303
    if stop:
        poll.control("stop", poll.vote)
    if publish:
        poll.publish(poll.vote)

    assert _surfaces(poll, "pat", poll.vote) == voter
    assert _surfaces(poll, "quinn", poll.vote) == other
    assert _surfaces(poll, "owner", poll.vote) == ALL


def test_the_results_page_follows_the_meeting_stream_from_the_moment_it_was_rendered(running: Poll) -> None:
    poll = running
    assert poll.vote_as("pat", {"A": 1}).status_code == 303
    latest = poll.db.read_sync(lambda: event_log.latest_id(poll.meeting.id))

    page = page_of(poll.get("owner", "/meeting/{mid}/activities/{vote}/results"))

    live = page.select_one("#results-page")
    assert live is not None and live["sse-connect"] == f"/meeting/{poll.meeting.id}/events?since={latest}"
    sink = page.select_one("#results-sink")
    assert sink is not None and sink["sse-swap"] == "votes_changed,rankings_changed"
    body = page.select_one(f"#results-body-{poll.vote}")
    assert body is not None and body["hx-get"] == f"/meeting/{poll.meeting.id}/activities/{poll.vote}/results"
    assert "sse:activity_state" in str(body["hx-trigger"]) and "sse:results_published" in str(body["hx-trigger"])
    assert body.select_one(f"#results-{poll.vote}") is not None and body.select_one(f"#progress-{poll.vote}") is not None


@pytest.mark.parametrize("login", ["pat", "quinn", "outsider"])
def test_a_results_refresh_that_is_no_longer_allowed_replaces_the_totals_with_the_reason(running: Poll, login: str) -> None:
    poll = running
    poll.configure(poll.vote, results_visibility="live", show_results_immediately=True)
    assert poll.vote_as("pat", {"A": 2}).status_code == 303
    assert has_totals(poll.get("quinn", "/meeting/{mid}/activities/{vote}/results", **{"HX-Request": "true"}))
    poll.control("stop", poll.vote)

    refresh = poll.get(login, "/meeting/{mid}/activities/{vote}/results", **{"HX-Request": "true"})
    owner = poll.get("owner", "/meeting/{mid}/activities/{vote}/results", **{"HX-Request": "true"})

    expected = HIDDEN if login != "outsider" else "You do not have access to this meeting."
    assert refresh.status_code == 403
    assert "HX-Retarget" not in refresh.headers, "the reason replaces the results block itself"
    assert [text_of(n) for n in page_of(refresh).select(".notice")] == [expected]
    assert not has_totals(refresh)
    assert owner.status_code == 200 and results_rows(owner, poll.vote)[0] == ["1", "A", "2", "1"]


def test_hidden_results_say_why(running: Poll) -> None:
    poll = running

    response = poll.get("pat", "/meeting/{mid}/activities/{vote}/results")
    export = poll.get("pat", "/meeting/{mid}/activities/{vote}/results.csv")

    assert (response.status_code, page_error(response)) == (403, HIDDEN)
    assert export.status_code == 403 and "A,2" not in export.text


def test_s15_publishing_after_stop_offers_results_and_unpublishing_hides_them(running: Poll) -> None:
    poll = running
    assert poll.vote_as("pat", {"A": 2, "B": 1}).status_code == 303
    poll.control("stop", poll.vote)
    assert page_of(poll.get("pat")).find(lambda tag: tag.name == "a" and tag.get_text(strip=True) == "Results: Vote") is None

    poll.publish(poll.vote)
    link = page_of(poll.get("pat")).find(lambda tag: tag.name == "a" and tag.get_text(strip=True) == "Results: Vote")
    results = poll.get("pat", "/meeting/{mid}/activities/{vote}/results")
    export = poll.get("pat", "/meeting/{mid}/activities/{vote}/results.csv")

    assert link is not None
    assert results_rows(results, poll.vote)[:2] == [["1", "A", "2", "1"], ["2", "B", "1", "1"]]
    assert page_of(results).select_one("svg.bar-chart") is not None
    assert page_of(results).select_one(".not-voted") is None, "participants do not see who has not voted"
    assert export.text.splitlines()[0] == "rank,option,dots,voters"

    poll.publish(poll.vote, on=False)
    assert poll.get("pat", "/meeting/{mid}/activities/{vote}/results").status_code == 403
    assert page_of(poll.get("pat")).find(lambda tag: tag.name == "a" and tag.get_text(strip=True) == "Results: Vote") is None


@pytest.mark.parametrize("which", ["vote", "rank"])
def test_published_results_reach_participants_outside_the_sub_roster(running: Poll, which: str) -> None:
    poll = running
    activity = poll.vote if which == "vote" else poll.rank
    rae = poll.people["rae"].user_id
    assert poll.post("owner", f"/meeting/{{mid}}/activities/{activity}/roster", {"op": "remove", "user": rae}).status_code == 303
    poll.control("stop", activity)
    before = poll.get("rae", f"/meeting/{{mid}}/activities/{activity}/results")

    poll.publish(activity)
    results = poll.get("rae", f"/meeting/{{mid}}/activities/{activity}/results")
    export = poll.get("rae", f"/meeting/{{mid}}/activities/{activity}/results.csv")

    assert (before.status_code, page_error(before)) == (403, "You are not assigned to this activity.")
    assert results.status_code == 200 and has_totals(results)
    assert export.status_code == 200
    assert export.text.splitlines()[0] in ("rank,option,dots,voters", "rank,idea,borda_score,avg_rank,rank_variance,top_choice_share,rankings")


def test_facilitators_see_who_has_not_voted_or_only_how_many_when_anonymous(running: Poll) -> None:
    poll = running
    assert poll.vote_as("pat", {"A": 1}).status_code == 303

    named = page_of(poll.get("owner", "/meeting/{mid}/activities/{vote}/results")).select_one(".not-voted")
    poll.configure(poll.vote, anonymous=True)
    counted = page_of(poll.get("owner", "/meeting/{mid}/activities/{vote}/results")).select_one(".not-voted")

    assert [text_of(li) for li in named.select("li")] == ["quinn", "rae"]  # type: ignore[union-attr]
    assert text_of(counted) == "2 of 3 participants have not voted yet."
    assert counted.select("li") == []  # type: ignore[union-attr]


def test_a_vote_that_has_not_started_is_a_hidden_empty_panel_for_participants(poll: Poll) -> None:
    """Nothing of its ballot or results is read for a participant's page (a crowd joining while a
    vote waits further down the agenda would read them once each); facilitators see the panel."""

    def panels(login: str) -> dict[str, dict[str, object]]:
        user_id = poll.people[login].user_id

        def read() -> dict[str, dict[str, object]]:
            state = load_room(poll.meeting.id)
            audience = state.audience_key(user_id, login == "owner")
            return {a.id: panel_values(state, a, audience, user_id, {}) for a in state.activities}

        return poll.db.read_sync(read)

    participant, facilitator = panels("pat")[poll.vote], panels("owner")[poll.vote]
    assert (participant["visible"], participant["panel_extra"]) == (False, {})
    assert facilitator["visible"] and {"results", "ballot"} <= set(facilitator["panel_extra"])  # type: ignore[arg-type]
    page = page_of(poll.get("pat"))
    assert page.select_one(f"#panel-{poll.vote}").has_attr("hidden")  # type: ignore[union-attr]
    assert page.select_one(f"#panel-{poll.vote} form") is None

    poll.control("start", poll.vote)
    started = panels("pat")[poll.vote]
    assert started["visible"] and {"results", "ballot"} <= set(started["panel_extra"])  # type: ignore[arg-type]


# -- CSV (SPEC §4.13) -----------------------------------------------------------------------------


def test_the_csv_is_utf8_rfc4180_with_formula_cells_neutralised(poll: Poll) -> None:
    activity = add_voting(
        poll.db, poll.meeting.id, "voting", "Risky",
        {"options": ["=SUM(A1)", "+1", "-x", "@me", 'Say "hi", then leave', "Café"], "max_votes": 3, "max_per_option": 1},
    )
    poll.control("start", activity)
    fields = {"opt-1": "1", "opt-5": "1", "opt-6": "1", "key": "k"}
    assert poll.post("pat", f"/meeting/{{mid}}/activities/{activity}/votes", fields).status_code == 303

    response = poll.get("owner", f"/meeting/{{mid}}/activities/{activity}/results.csv")

    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == f'attachment; filename="{activity}_results.csv"'
    assert '"Say ""hi"", then leave"' in response.content.decode("utf-8")
    assert response.content.endswith(b"\r\n")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8"))))
    assert rows[0] == ["rank", "option", "dots", "voters"]
    assert rows[1:4] == [["1", "'=SUM(A1)", "1", "1"], ["1", "Café", "1", "1"], ["1", 'Say "hi", then leave', "1", "1"]]
    assert {r[1] for r in rows[4:]} == {"'+1", "'-x", "'@me"}


def test_the_rank_order_csv_has_its_own_columns(running: Poll) -> None:
    poll = running
    assert poll.rank_as("pat", ["Y", "X", "Z"]).status_code == 303
    assert poll.rank_as("quinn", ["X", "Y", "Z"]).status_code == 303

    rows = list(csv.reader(io.StringIO(poll.get("owner", "/meeting/{mid}/activities/{rank}/results.csv").text)))

    assert rows == [
        ["rank", "idea", "borda_score", "avg_rank", "rank_variance", "top_choice_share", "rankings"],
        ["1", "X", "3", "1.50", "0.25", "50.0", "2"],
        ["1", "Y", "3", "1.50", "0.25", "50.0", "2"],
        ["3", "Z", "0", "3.00", "0.00", "0.0", "2"],
    ]


def test_deleting_the_activity_removes_its_votes(running: Poll) -> None:
    poll = running
    assert poll.vote_as("pat", {"A": 1}, key="k1").status_code == 303
    poll.control("stop", poll.vote)

    response = poll.post("owner", "/meeting/{mid}/activities/{vote}/delete")

    assert response.status_code == 303
    assert poll.allocation("pat") == {}
