"""Brainstorming over HTTP (SPEC §4.8, S5, S6): submitting, replies, every refusal, idempotent
submits, edit and delete own, moderation, anonymity, config locks, results."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest
from account_helpers import page_error, run_coroutine
from conftest import base_env
from helpers_brainstorming import (
    StoredIdea,
    board_rows,
    control,
    empty_state,
    form_error,
    seed_brainstorm,
    seed_ideas,
    stored,
    unwrap,
)
from helpers_meetings import Person, SeededMeeting, add_people, shift_segment, soup, text_of
from starlette.testclient import TestClient

from decidero.activities.brainstorming.board import PAGE_SIZE
from decidero.app import create_app
from decidero.meetings import agenda, run_control
from decidero.meetings.models import Activity, MeetingEvent
from decidero.platform.db import Database
from decidero.platform.models import User

NOT_ASSIGNED = "You are not assigned to this activity."
NO_ACCESS = "You do not have access to this meeting."
ROLES = {"owner": "facilitator", "pat": "participant", "quinn": "participant", "rita": "participant", "outsider": "participant"}


@dataclass
class Board:
    """A meeting with brainstorming rounds, and one browser (TestClient) per person."""

    client: TestClient
    meeting: SeededMeeting
    people: dict[str, Person]

    @property
    def db(self) -> Database:
        return self.client.app.state.services.db  # type: ignore[attr-defined,no-any-return]

    def aid(self, index: int = 0) -> str:
        return self.meeting.activities[index]

    def as_(self, login: str, htmx: bool = False, **headers: str) -> TestClient:
        person = self.people[login]
        extra = {"HX-Request": "true"} if htmx else {}
        return TestClient(
            self.client.app, follow_redirects=False, cookies=person.cookies, headers={**person.headers, **extra, **headers}
        )

    def submit(self, login: str, content: str, key: str = "", parent: str = "", index: int = 0, htmx: bool = False, **headers: str) -> httpx.Response:
        data = {"content": content, "client_token": key or f"{login}-{content}"[:100]}
        if parent:
            data["parent"] = parent
        return self.as_(login, htmx, **headers).post(f"{self.meeting.url}/activities/{self.aid(index)}/ideas", data=data)

    def act(self, login: str, label: str, action: str, data: dict[str, str] | None = None, index: int = 0, htmx: bool = False) -> httpx.Response:
        url = f"{self.meeting.url}/activities/{self.aid(index)}/ideas/{label}/{action}"
        return self.as_(login, htmx).post(url, data=data or {})

    def page(self, login: str) -> httpx.Response:
        response = self.as_(login).get(self.meeting.url)
        assert response.status_code == 200, response.text[:300]
        return response

    def rows(self, login: str, index: int = 0) -> list[tuple[str, str, str]]:
        return [(r.label, r.text, r.author) for r in board_rows(self.page(login), self.aid(index))]

    def panel_html(self, login: str, index: int = 0) -> str:
        return str(soup(self.page(login)).select_one(f"#panel-{self.aid(index)}"))

    def stored(self, index: int = 0) -> list[tuple[str, str, str | None]]:
        return [(i.label, i.content, i.author) for i in stored(self.db, self.aid(index))]

    def set_config(self, index: int = 0, **config: object) -> None:
        def write() -> None:
            activity = Activity.get_by_id(self.aid(index))
            activity.config = {**activity.config, **config}
            activity.save()

        self.db.write_sync(write)

    def save_setting(self, key: str, value: str) -> None:
        run_coroutine(self.client.app.state.services.settings.save(key, value, None))  # type: ignore[attr-defined]


def make_board(client: TestClient, rounds: list[tuple[str, dict[str, object]]] | None = None, start: bool = True) -> Board:
    db: Database = client.app.state.services.db  # type: ignore[attr-defined]
    people = add_people(db, ROLES)
    meeting = seed_brainstorm(db, "owner", ["pat", "quinn", "rita"], rounds=rounds)
    board = Board(client, meeting, people)
    if start:
        control(db, board.aid(), "start")
    return board


@pytest.fixture
def board(client: TestClient) -> Board:
    return make_board(client, [("Ideas", {"allow_comments": True})])


# -- submitting -----------------------------------------------------------------------------------


def test_participant_submits_an_idea_shown_with_number_and_name(board: Board) -> None:
    response = board.submit("pat", "  Idea A  ")

    assert response.status_code == 303
    assert response.headers["location"] == f"{board.meeting.url}?activity={board.aid()}"
    assert board.rows("quinn") == [("1", "Idea A", "pat")]
    assert board.rows("owner") == [("1", "Idea A", "pat")]
    assert board.stored() == [("1", "Idea A", "pat")]


def test_an_idea_sent_as_a_json_list_is_refused_not_stored_as_its_repr(board: Board) -> None:
    url = f"{board.meeting.url}/activities/{board.aid()}/ideas"

    response = board.as_("pat").post(url, json={"content": ["a", {"b": 1}], "client_token": "json-list"})

    assert response.status_code == 400
    assert page_error(response) == "The field “content” must be text."
    assert board.stored() == []


def test_an_idea_loses_its_bidi_override_marks(board: Board) -> None:
    assert board.submit("pat", "Pay \u202eredro\u202c now \u2067x\u2069").status_code == 303

    assert board.stored() == [("1", "Pay redro now x", "pat")]


def test_board_shows_the_prompt_live_note_and_empty_state(client: TestClient) -> None:
    board = make_board(client, [("Ideas", {"prompt": "How do we grow?"})])
    page = soup(board.page("pat"))
    panel = page.select_one(f"#panel-{board.aid()}")

    assert "How do we grow?" in text_of(panel.select_one(".prompt"))
    assert "Brainstorming is live. Share your ideas with the group." in text_of(panel)
    assert "Ideas use your profile display name unless this round is anonymous." in text_of(panel)
    textarea = panel.select_one("textarea[name=content]")
    assert textarea["placeholder"] == "Share an idea…" and textarea["maxlength"] == "500"
    assert text_of(panel.select_one("form[data-idea-form] button[type=submit]")) == "Submit Idea"
    assert [text_of(th) for th in panel.select("table.ideas th")] == ["#", "Idea", "Author", "Time"]
    assert empty_state(board.page("pat"), board.aid())
    board.submit("pat", "First")
    assert not empty_state(board.page("pat"), board.aid())


def test_ideas_are_listed_newest_first_with_replies_nested_in_order(board: Board) -> None:
    board.submit("pat", "Idea A")
    board.submit("quinn", "Idea B")
    board.submit("quinn", "+1", parent="1")
    board.submit("rita", "me too", parent="1.1")  # a reply to a comment attaches to the idea

    assert board.rows("owner") == [("2", "Idea B", "quinn"), ("1", "Idea A", "pat"), ("1.1", "+1", "quinn"), ("1.2", "me too", "rita")]


def test_the_author_name_comes_from_the_profile_never_the_request(board: Board) -> None:
    response = board.as_("pat").post(
        f"{board.meeting.url}/activities/{board.aid()}/ideas",
        data={"content": "Mine", "client_token": "k", "author": "Somebody Else", "author_name": "Somebody Else"},
    )

    assert response.status_code == 303
    assert board.rows("quinn") == [("1", "Mine", "pat")]


def test_html_and_script_in_ideas_stay_inert_text(board: Board) -> None:
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    board.submit("pat", evil)

    panel = soup(board.page("quinn")).select_one(f"#panel-{board.aid()}")
    cell = panel.select_one("tr.idea-row .idea-text")
    assert text_of(cell) == evil
    assert cell.find("script") is None and cell.find("img") is None


# -- bad input: nothing stored, the reason beside the textarea --------------------------------------


@pytest.mark.parametrize("content", ["", "   ", "\n\t \n"])
def test_empty_or_whitespace_ideas_are_refused(board: Board, content: str) -> None:
    response = board.submit("pat", content, htmx=True)

    assert response.status_code == 422
    assert form_error(response) == "Write something before submitting."
    assert board.stored() == []


def test_an_idea_over_the_character_limit_is_refused_and_kept(board: Board) -> None:
    text = "x" * 501
    response = board.submit("pat", text)

    assert response.status_code == 422
    assert form_error(response) == "Ideas are limited to 500 characters."
    assert text_of(soup(response).select_one("textarea[name=content]")) == text  # kept, without JavaScript
    assert board.submit("pat", "x" * 500).status_code == 303
    assert [label for label, *_ in board.stored()] == ["1"]


def test_the_activity_character_limit_applies_and_shows_in_the_textarea(client: TestClient) -> None:
    board = make_board(client, [("Ideas", {"char_limit": 100})])

    assert form_error(board.submit("pat", "y" * 101, htmx=True)) == "Ideas are limited to 100 characters."
    textarea = soup(board.page("pat")).select_one(f"#panel-{board.aid()} textarea[name=content]")
    assert textarea["maxlength"] == "100"


def test_a_blank_limit_follows_the_runtime_setting_at_the_next_submit(board: Board) -> None:
    board.save_setting("brainstorming.idea_character_limit", "100")

    assert form_error(board.submit("pat", "z" * 150, htmx=True)) == "Ideas are limited to 100 characters."
    textarea = soup(board.page("pat")).select_one(f"#panel-{board.aid()} textarea[name=content]")
    assert textarea["maxlength"] == "100"
    board.save_setting("brainstorming.max_ideas_per_user", "1")
    assert board.submit("pat", "one").status_code == 303
    assert form_error(board.submit("pat", "two", htmx=True)) == "You can submit up to 1 ideas for this brainstorming session."


def test_the_cap_counts_ideas_comments_and_hidden_ones_but_not_deleted_ones(client: TestClient) -> None:
    board = make_board(client, [("Ideas", {"allow_comments": True, "max_ideas_per_user": 2})])
    board.submit("pat", "Idea")
    board.submit("pat", "Comment", parent="1")
    cap = "You can submit up to 2 ideas for this brainstorming session."

    assert form_error(board.submit("pat", "Third", htmx=True)) == cap
    assert board.act("owner", "1.1", "hide").status_code == 303
    assert form_error(board.submit("pat", "Third again", htmx=True)) == cap
    assert board.act("owner", "1.1", "delete").status_code == 303
    assert board.submit("pat", "Third at last").status_code == 303
    assert board.submit("quinn", "Others are not affected").status_code == 303
    assert [label for label, *_ in board.stored()] == ["1", "2", "3"]


def test_a_reply_when_comments_are_off_is_refused(client: TestClient) -> None:
    board = make_board(client, [("Ideas", {"allow_comments": False})])
    board.submit("pat", "Idea")

    response = board.submit("quinn", "+1", parent="1", htmx=True)

    assert response.status_code == 422
    assert form_error(response) == "Subcomments are not allowed for this activity."
    assert board.stored() == [("1", "Idea", "pat")]
    assert "Reply" not in [a for r in board_rows(board.page("quinn"), board.aid()) for a in r.actions]


def test_a_reply_to_an_idea_of_another_activity_is_refused(client: TestClient) -> None:
    board = make_board(client, [("Ideas", {"allow_comments": True}), ("More", {"allow_comments": True})])
    control(board.db, board.aid(1), "start")
    board.submit("pat", "Elsewhere one", index=1)
    board.submit("pat", "Elsewhere two", index=1)
    board.submit("pat", "Here")

    for parent in ("2", "99", "abc", "1.x"):
        response = board.submit("quinn", f"reply to {parent}", parent=parent, htmx=True)
        assert response.status_code == 422
        assert form_error(response) == "Parent idea not found in this activity."
    assert board.stored() == [("1", "Here", "pat")]


@pytest.mark.parametrize("parent", ["99999999999999999999999", "1.99999999999999999999999", "²", "1.²", "٣", "1.1.1", "-1", "1."])
def test_a_reply_to_something_that_is_not_an_idea_number_is_refused_without_a_500(board: Board, parent: str) -> None:
    board.submit("pat", "Idea")

    response = board.submit("quinn", "reply", parent=parent, htmx=True)

    assert response.status_code == 422
    assert form_error(response) == "Parent idea not found in this activity."
    assert board.stored() == [("1", "Idea", "pat")]


@pytest.mark.parametrize("label", ["99999999999999999999999", "1.99999999999999999999999", "²", "٣", "1.²", "1.1.1"])
@pytest.mark.parametrize(("login", "action"), [("pat", "edit"), ("pat", "delete"), ("owner", "hide"), ("owner", "unhide"), ("owner", "delete")])
def test_acting_on_something_that_is_not_an_idea_number_is_a_404(board: Board, label: str, login: str, action: str) -> None:
    board.submit("pat", "Idea")

    response = board.act(login, label, action, {"content": "changed"})

    assert response.status_code == 404
    assert page_error(response) == "Idea not found in this activity."
    assert stored(board.db, board.aid()) == [StoredIdea("1", "Idea", "pat", "pat", False, False)]


def test_a_json_submit_with_broken_unicode_is_stored_readable(board: Board) -> None:
    url = f"{board.meeting.url}/activities/{board.aid()}/ideas"
    body = b'{"content": "half \\ud800 a character", "client_token": "json-1"}'

    response = board.as_("pat").post(url, content=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 303
    assert board.stored() == [("1", "half ? a character", "pat")]


def test_a_reply_to_a_hidden_idea_is_refused_for_participants(board: Board) -> None:
    board.submit("pat", "Idea")
    board.act("owner", "1", "hide")

    assert form_error(board.submit("quinn", "+1", parent="1", htmx=True)) == "Parent idea not found in this activity."
    assert board.submit("owner", "note for the facilitators", parent="1").status_code == 303


# -- who and when ------------------------------------------------------------------------------------


def test_a_participant_outside_the_sub_roster_gets_403(board: Board) -> None:
    board.submit("quinn", "Before the roster changed")

    def narrow() -> None:
        activity = Activity.get_by_id(board.aid())
        run_control.set_sub_roster(activity, [board.people["pat"].user_id], User.get(User.login == "owner"), False)

    board.db.write_sync(narrow)

    refusals = [
        board.submit("quinn", "Let me in"),
        board.submit("quinn", "A reply", parent="1"),
        board.act("quinn", "1", "edit", {"content": "Changed"}),
        board.act("quinn", "1", "delete"),
    ]
    for response in refusals:
        assert response.status_code == 403
        assert page_error(response) == NOT_ASSIGNED
    assert board.stored() == [("1", "Before the roster changed", "quinn")]
    assert board.submit("pat", "In scope").status_code == 303


def test_a_non_member_gets_403(board: Board) -> None:
    response = board.submit("outsider", "Hello")

    assert response.status_code == 403
    assert page_error(response) == NO_ACCESS
    assert board.stored() == []


def test_participants_submit_only_while_the_activity_runs(client: TestClient) -> None:
    board = make_board(client, start=False)

    def refused_with(message: str) -> None:
        response = board.submit("pat", f"try {message}")
        assert response.status_code == 409
        assert page_error(response) == message

    refused_with("This activity is not open yet.")
    control(board.db, board.aid(), "start")
    control(board.db, board.aid(), "pause")
    refused_with("This activity is paused.")
    control(board.db, board.aid(), "resume")
    assert board.submit("pat", "now").status_code == 303
    control(board.db, board.aid(), "stop")
    refused_with("This activity is not open yet.")
    assert board.stored() == [("1", "now", "pat")]


def test_input_locks_when_time_is_up(board: Board) -> None:
    board.submit("pat", "In time")

    def limit() -> None:
        Activity.update(time_limit_minutes=1).where(Activity.id == board.aid()).execute()

    board.db.write_sync(limit)
    shift_segment(board.db, board.aid(), 61)

    refusals = [
        board.submit("pat", "too late"),
        board.submit("owner", "too late"),
        board.submit("quinn", "late reply", parent="1"),
        board.act("pat", "1", "edit", {"content": "late edit"}),
        board.act("pat", "1", "delete"),
    ]
    for response in refusals:
        assert response.status_code == 409 and page_error(response) == "Time is up."
    assert board.stored() == [("1", "In time", "pat")]


def test_facilitators_seed_ideas_before_the_start_but_not_while_paused(client: TestClient) -> None:
    board = make_board(client, start=False)

    assert board.submit("owner", "Seed idea").status_code == 303
    control(board.db, board.aid(), "start")
    control(board.db, board.aid(), "pause")
    response = board.submit("owner", "While paused")
    assert response.status_code == 409 and page_error(response) == "This activity is paused."
    assert board.stored() == [("1", "Seed idea", "owner")]


def test_htmx_refusals_are_shown_in_the_flash_area(client: TestClient) -> None:
    board = make_board(client, start=False)

    response = board.submit("pat", "early", htmx=True)

    assert response.status_code == 409
    assert response.headers["HX-Retarget"] == "#flash"
    assert text_of(soup(response).select_one(".flash-message")) == "This activity is not open yet."


# -- idempotent submits --------------------------------------------------------------------------------


@pytest.mark.both_backends
def test_the_same_key_twice_stores_one_idea_and_answers_the_same(board: Board) -> None:
    first = board.submit("pat", "Only once", key="key-1", htmx=True)
    second = board.submit("pat", "Only once", key="key-1", htmx=True)

    assert board.stored() == [("1", "Only once", "pat")]
    rows = [unwrap(r).select_one("tbody.idea-group")["id"] for r in (first, second)]
    assert rows[0] == rows[1]
    assert board.submit("pat", "Only once", key="key-1").status_code == 303
    assert board.stored() == [("1", "Only once", "pat")]


@pytest.mark.both_backends
def test_the_same_key_with_different_content_is_refused_with_409(board: Board) -> None:
    board.submit("pat", "Original", key="key-2")

    response = board.submit("pat", "Changed", key="key-2")

    assert response.status_code == 409
    assert page_error(response) == "Idempotency key was already used with a different request payload."
    assert board.stored() == [("1", "Original", "pat")]


def test_the_same_key_for_a_reply_to_another_idea_is_refused_with_409(board: Board) -> None:
    board.submit("pat", "One")
    board.submit("pat", "Two")
    board.submit("quinn", "+1", key="reply-key", parent="1")

    response = board.submit("quinn", "+1", key="reply-key", parent="2", htmx=True)

    assert response.status_code == 409
    assert text_of(soup(response).select_one(".flash-message")) == "Idempotency key was already used with a different request payload."
    assert board.stored() == [("1", "One", "pat"), ("1.1", "+1", "quinn"), ("2", "Two", "pat")]


def test_a_retry_that_arrives_after_a_pause_still_gets_the_first_result(board: Board) -> None:
    first = board.submit("pat", "Sent just in time", key="late-retry", htmx=True)
    control(board.db, board.aid(), "pause")

    retry = board.submit("pat", "Sent just in time", key="late-retry", htmx=True)

    assert retry.status_code == first.status_code == 200
    assert [r.label for r in board_rows(retry)] == [r.label for r in board_rows(first)] == ["1"]
    assert board.stored() == [("1", "Sent just in time", "pat")]
    assert page_error(board.submit("pat", "Sent just in time", key="another-key")) == "This activity is paused."


def test_an_overlong_submission_key_is_refused_with_a_message(board: Board) -> None:
    response = board.submit("pat", "Idea", key="k" * 129)

    assert response.status_code == 400
    assert page_error(response) == "Idempotency keys are at most 128 characters."
    assert board.stored() == []
    assert board.submit("pat", "Idea", key="k" * 128).status_code == 303


@pytest.mark.both_backends
def test_the_idempotency_header_is_accepted_and_scoped_per_user(board: Board) -> None:
    header = {"X-Idempotency-Key": "shared-key"}
    board.submit("pat", "A", key="ignored-1", **header)
    board.submit("pat", "A", key="ignored-2", **header)
    board.submit("quinn", "B", key="ignored-3", **header)

    assert board.stored() == [("1", "A", "pat"), ("2", "B", "quinn")]


def test_each_render_of_the_composer_carries_a_fresh_key(board: Board) -> None:
    def key_of(html: httpx.Response) -> str:
        return str(soup(html).select_one(f"#idea-form-{board.aid()} input[name=client_token]")["value"])

    first, second = key_of(board.page("pat")), key_of(board.page("pat"))
    after_submit = key_of(board.submit("pat", "x", key=first, htmx=True))

    assert len({first, second, after_submit}) == 3
    assert len(first) == 36


# -- edit and delete own -----------------------------------------------------------------------------


def test_only_the_author_sees_edit_and_delete_on_their_idea(board: Board) -> None:
    board.submit("pat", "Mine")

    assert {"Edit", "Delete"} <= set(board_rows(board.page("pat"), board.aid())[0].actions)
    assert not {"Edit", "Delete"} & set(board_rows(board.page("quinn"), board.aid())[0].actions)
    assert "Edit" not in board_rows(board.page("owner"), board.aid())[0].actions


def test_the_author_edits_their_idea_which_shows_edited(board: Board) -> None:
    board.submit("pat", "Draft")

    response = board.act("pat", "1", "edit", {"content": "Final"})

    assert response.status_code == 303
    row = board_rows(board.page("quinn"), board.aid())[0]
    assert (row.text, row.edited) == ("Final", True)
    assert "(edited)" in board.panel_html("quinn")


def test_an_edit_follows_the_submit_rules(board: Board) -> None:
    board.submit("pat", "Draft")

    too_long = board.act("pat", "1", "edit", {"content": "e" * 501}, htmx=True)
    empty = board.act("pat", "1", "edit", {"content": " "}, htmx=True)

    assert too_long.status_code == 422 and form_error(too_long) == "Ideas are limited to 500 characters."
    assert too_long.headers["HX-Retarget"].startswith("#edit-form-")
    assert empty.status_code == 422 and form_error(empty) == "Write something before submitting."
    assert board.stored() == [("1", "Draft", "pat")]


def test_editing_someone_elses_idea_is_forbidden(board: Board) -> None:
    board.submit("pat", "Pat's idea")

    for login in ("quinn", "owner"):
        response = board.act(login, "1", "edit", {"content": "hijacked"})
        assert response.status_code == 403
        assert page_error(response) == "You can only edit your own ideas."
    assert board.stored() == [("1", "Pat's idea", "pat")]


def test_edits_and_deletes_need_a_running_activity_and_a_visible_idea(board: Board) -> None:
    board.submit("pat", "One")
    board.submit("pat", "Two")
    control(board.db, board.aid(), "pause")

    assert page_error(board.act("pat", "1", "edit", {"content": "x"})) == "This activity is paused."
    assert page_error(board.act("pat", "1", "delete")) == "This activity is paused."
    assert page_error(board.submit("quinn", "reply", parent="1")) == "This activity is paused."
    control(board.db, board.aid(), "stop")
    assert page_error(board.act("pat", "1", "edit", {"content": "x"})) == "This activity is not open yet."
    assert page_error(board.act("pat", "1", "delete")) == "This activity is not open yet."
    control(board.db, board.aid(), "start")
    board.act("owner", "2", "hide")
    response = board.act("pat", "2", "edit", {"content": "sneaky"})
    assert response.status_code == 409 and page_error(response) == "Hidden ideas cannot be edited."
    assert board.act("pat", "7", "edit", {"content": "x"}).status_code == 404
    assert [c for _, c, _ in board.stored()] == ["One", "Two"]


def test_the_author_deletes_their_idea_with_its_comments(board: Board) -> None:
    board.submit("pat", "Going")
    board.submit("quinn", "reply", parent="1")
    board.submit("pat", "Staying")

    assert board.act("quinn", "1", "delete").status_code == 403
    assert page_error(board.act("quinn", "1", "delete")) == "You can only delete your own ideas."
    assert board.act("pat", "1", "delete").status_code == 303

    assert board.rows("quinn") == [("2", "Staying", "pat")]
    assert board.stored() == [("2", "Staying", "pat")]


def test_numbers_are_never_reused_after_a_delete(board: Board) -> None:
    board.submit("pat", "One")
    board.submit("pat", "Two")
    board.act("pat", "2", "delete")
    board.submit("pat", "Three")

    assert [label for label, *_ in board.stored()] == ["1", "3"]


# -- moderation ----------------------------------------------------------------------------------------


def test_a_hidden_idea_leaves_participant_views_and_stays_greyed_for_facilitators(board: Board) -> None:
    board.submit("pat", "Off topic")
    board.submit("quinn", "reply", parent="1")
    board.submit("quinn", "On topic")

    assert board.act("owner", "1", "hide").status_code == 303

    assert board.rows("quinn") == [("2", "On topic", "quinn")]
    assert board.rows("pat") == [("2", "On topic", "quinn")]
    facilitator_rows = board_rows(board.page("owner"), board.aid())
    hidden = next(r for r in facilitator_rows if r.label == "1")
    assert hidden.hidden and "Unhide" in hidden.actions
    assert "Hidden" in text_of(soup(board.page("owner")).select_one("#idea-group-1"))
    assert board.act("owner", "1", "unhide").status_code == 303
    assert board.rows("quinn") == [("2", "On topic", "quinn"), ("1", "Off topic", "pat"), ("1.1", "reply", "quinn")]


def test_moderation_is_for_facilitators_at_any_time(board: Board) -> None:
    board.submit("pat", "Idea")

    for action in ("hide", "unhide"):
        response = board.act("pat", "1", action)
        assert response.status_code == 403
        assert page_error(response) == "Only facilitators can control meeting activities."
    control(board.db, board.aid(), "stop")
    assert board.act("owner", "1", "hide").status_code == 303
    assert board.act("owner", "1", "delete").status_code == 303
    assert board.stored() == []


def test_moderation_by_htmx_answers_with_the_changed_row(board: Board) -> None:
    board.submit("pat", "Idea")

    hidden = board.act("owner", "1", "hide", htmx=True)
    deleted = board.act("owner", "1", "delete", htmx=True)

    assert hidden.status_code == 200
    assert board_rows(hidden)[0].hidden and "Hidden" in text_of(unwrap(hidden))
    assert 'hx-swap-oob="delete"' in deleted.text


def test_every_change_is_in_the_activity_log_without_authors(board: Board) -> None:
    board.submit("pat", "Idea")
    board.submit("quinn", "reply", parent="1")
    board.act("pat", "1", "edit", {"content": "Better idea"})
    board.act("owner", "1.1", "hide")
    board.act("pat", "1", "delete")

    lines = [text_of(li) for li in soup(board.as_("owner").get(f"{board.meeting.url}/log")).select("#log-rows li")]

    idea_lines = [re.sub(r"^\[[\d:]+\] ", "", line) for line in lines if "“Ideas”." in line and "started" not in line]
    assert idea_lines == [
        "An idea was deleted in “Ideas”.",
        "A comment was hidden in “Ideas”.",
        "An idea was edited in “Ideas”.",
        "A comment was added in “Ideas”.",
        "An idea was submitted in “Ideas”.",
    ]


# -- anonymity ----------------------------------------------------------------------------------------


def test_an_anonymous_round_never_reveals_the_author(client: TestClient) -> None:
    board = make_board(client, [("Ideas", {"anonymous": True, "allow_comments": True})])
    pat = board.people["pat"]
    board.submit("pat", "Secret idea")
    board.submit("pat", "Secret comment", parent="1")
    board.act("pat", "1", "edit", {"content": "Secret idea, edited"})

    for login in ("owner", "quinn", "pat"):
        panel = board.panel_html(login)
        assert [r.author for r in board_rows(board.page(login), board.aid())] == ["Anonymous", "Anonymous"]
        assert pat.user_id not in panel and "pat" not in panel.lower().replace("path", "")
        assert soup(panel).select_one("tr.idea-row .avatar.anonymous") is not None
    assert "This round is anonymous" in board.panel_html("quinn")
    assert {"Edit", "Delete"} <= set(board_rows(board.page("pat"), board.aid())[0].actions)
    assert "Edit" not in board_rows(board.page("quinn"), board.aid())[0].actions

    results = board.as_("owner").get(f"{board.meeting.url}/activities/{board.aid()}/results")
    csv_text = board.as_("owner").get(f"{board.meeting.url}/activities/{board.aid()}/results.csv").text
    log = board.as_("owner").get(f"{board.meeting.url}/log")
    for text in (results.text, csv_text, str(soup(log).select_one("#log-rows"))):
        assert pat.user_id not in text and "pat" not in text.lower().replace("path", "")
    assert "Anonymous" in csv_text
    events = board.db.read_sync(
        lambda: [(e.actor_id, e.payload_json, e.summary) for e in MeetingEvent.select().where(MeetingEvent.type.startswith("idea_"))]
    )
    assert events and all(actor is None and pat.user_id not in payload + summary for actor, payload, summary in events)
    assert [i.author_name for i in stored(board.db, board.aid())] == ["", ""]
    assert [i.author for i in stored(board.db, board.aid())] == ["pat", "pat"]  # kept for caps and edit-own


def test_htmx_answers_in_an_anonymous_round_name_nobody(client: TestClient) -> None:
    board = make_board(client, [("Ideas", {"anonymous": True, "allow_comments": True})])
    pat = board.people["pat"]

    answers = [
        board.submit("pat", "Secret", htmx=True),
        board.submit("pat", "Secret reply", parent="1", htmx=True),
        board.act("pat", "1", "edit", {"content": "Secret, edited"}, htmx=True),
        board.act("owner", "1", "hide", htmx=True),
        board.act("owner", "1", "unhide", htmx=True),
        board.act("owner", "1.1", "delete", htmx=True),
    ]

    for answer in answers:
        assert answer.status_code == 200, answer.text[:300]
        assert pat.user_id not in answer.text and not re.search(r"\bpat\b", answer.text), answer.text
        assert {r.author for r in board_rows(answer)} <= {"Anonymous"}
    assert "Edit" in board_rows(answers[0])[0].actions  # the author's own answer keeps their controls


def test_an_anonymous_round_leaves_no_author_in_the_logs(tmp_path: Path) -> None:
    with TestClient(create_app(base_env(tmp_path, LOG_LEVEL="INFO"), cwd=tmp_path), follow_redirects=False) as client:
        board = make_board(client, [("Secret", {"anonymous": True, "allow_comments": True}), ("Named", {})])
        control(board.db, board.aid(1), "start")
        board.submit("pat", "Secret idea")
        board.submit("owner", "A facilitator's secret idea")
        board.submit("quinn", "Secret reply", parent="1")
        board.act("pat", "1", "edit", {"content": "Secret idea, edited"})
        board.act("quinn", "1", "edit", {"content": "not mine"})  # even a refusal would say whose it is
        board.act("owner", "1.1", "hide")
        board.act("pat", "1", "delete")
        board.submit("pat", "Signed idea", index=1)

    lines = (tmp_path / "logs" / "app.log").read_text().splitlines()
    secret = [line for line in lines if f"/activities/{board.aid()}/ideas" in line]
    assert len(secret) == 7
    assert all(" user=- " in line for line in secret), secret
    assert not any("audit" in line for line in secret)
    named = [line for line in lines if f"/activities/{board.aid(1)}/ideas" in line]
    assert len(named) == 1 and " user=pat " in named[0]  # other rounds stay attributed


def test_anonymity_locks_once_ideas_exist_while_other_settings_stay_editable(board: Board) -> None:
    owner = board.as_("owner")
    url = f"{board.meeting.url}/activities/{board.aid()}/edit"
    fields = {"type": "brainstorming", "title": "Ideas", "brainstorming_config": "1", "allow_comments": "on"}
    assert owner.post(url, data={**fields, "anonymous": "on"}).status_code == 303
    board.set_config(anonymous=False)
    board.submit("pat", "Now there is an idea")

    refused = owner.post(url, data={**fields, "anonymous": "on"})
    allowed = owner.post(url, data={**fields, "prompt": "New prompt", "char_limit": "300"})

    assert refused.status_code == 409
    assert page_error(refused) == "Anonymity cannot be changed after ideas have been submitted."
    assert allowed.status_code == 303
    config = board.db.read_sync(lambda: Activity.get_by_id(board.aid()).config)
    assert (config["anonymous"], config["prompt"], config["char_limit"]) == (False, "New prompt", 300)
    form = soup(owner.get(url))
    assert form.select_one("input[type=checkbox][disabled]") is not None
    assert "Anonymity cannot be changed after ideas have been submitted." in text_of(form.select_one(".type-config"))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("char_limit", "49", "Character limit must be blank or a whole number between 50 and 5000."),
        ("char_limit", "5001", "Character limit must be blank or a whole number between 50 and 5000."),
        ("max_ideas_per_user", "0", "Max ideas per person must be blank or a whole number between 1 and 1000."),
        ("max_ideas_per_user", "many", "Max ideas per person must be blank or a whole number between 1 and 1000."),
        ("max_ideas_per_user", "٣", "Max ideas per person must be blank or a whole number between 1 and 1000."),
        ("char_limit", "9" * 30, "Character limit must be blank or a whole number between 50 and 5000."),
        ("prompt", "p" * 1001, "Prompt must be at most 1000 characters."),
    ],
)
def test_config_errors_show_beside_their_field(board: Board, field: str, value: str, message: str) -> None:
    url = f"{board.meeting.url}/activities/{board.aid()}/edit"
    response = board.as_("owner").post(url, data={"type": "brainstorming", "title": "Ideas", "brainstorming_config": "1", field: value})

    assert response.status_code == 422
    box = soup(response).select_one(f"[name={field}]").find_parent(class_="field")
    assert text_of(box.select_one(".error")) == message


def test_a_new_round_takes_its_defaults_from_the_runtime_settings(board: Board) -> None:
    def added_config() -> dict[str, object]:
        response = board.as_("owner").post(f"{board.meeting.url}/activities", data={"type": "brainstorming", "title": "Another"})
        assert response.status_code == 303
        return dict(board.db.read_sync(lambda: agenda.ordered(board.meeting.id)[-1].config))

    built_in = added_config()  # nothing saved yet: the declared defaults
    assert (built_in["anonymous"], built_in["allow_comments"], built_in["auto_jump"]) == (False, False, True)
    board.save_setting("brainstorming.default_maintain_anonymity", "true")
    board.save_setting("brainstorming.default_allow_subcomments", "true")
    board.save_setting("brainstorming.default_auto_jump_new_ideas", "false")

    config = added_config()

    assert (config["anonymous"], config["allow_comments"], config["auto_jump"]) == (True, True, False)
    assert config["char_limit"] is None and config["max_ideas_per_user"] is None
    newest = board.db.read_sync(lambda: agenda.ordered(board.meeting.id)[-1].id)
    control(board.db, newest, "start")
    panel = soup(board.page("pat")).select_one(f"#panel-{newest}")
    assert panel.select_one(f"#ideas-{newest}")["data-auto-jump"] == "0"
    assert "This round is anonymous" in text_of(panel)


# -- results, counts, deletion --------------------------------------------------------------------------


def test_results_list_visible_ideas_with_comments_in_number_order(board: Board) -> None:
    board.submit("pat", "One")
    board.submit("quinn", "Two")
    board.submit("rita", "on one", parent="1")
    board.act("owner", "2", "hide")
    url = f"{board.meeting.url}/activities/{board.aid()}/results"

    page = soup(board.as_("owner").get(url))
    assert [text_of(td) for td in page.select("#results td.num")] == ["1", "1.1"]
    refused = board.as_("pat").get(url)
    assert refused.status_code == 403
    control(board.db, board.aid(), "stop")
    board.as_("owner").post(f"{board.meeting.url}/activities/{board.aid()}/publish", data={"publish": "1"})
    assert [text_of(td) for td in soup(board.as_("pat").get(url)).select("#results .idea-text")] == ["One", "on one"]
    csv_response = board.as_("pat").get(url + ".csv")
    assert csv_response.headers["content-disposition"] == f'attachment; filename="{board.aid()}_results.csv"'
    assert csv_response.text.splitlines()[0] == "number,parent_number,content,author,created_at,edited"
    assert [line.split(",")[:4] for line in csv_response.text.splitlines()[1:]] == [["1", "", "One", "pat"], ["1.1", "1", "on one", "rita"]]


def test_the_agenda_transfer_count_is_the_visible_top_level_ideas(board: Board) -> None:
    board.submit("pat", "One")
    board.submit("pat", "Two")
    board.submit("quinn", "reply", parent="1")
    board.act("owner", "2", "hide")

    row = soup(board.page("owner")).select_one(f"#row-{board.aid()}")
    assert "Transfer Ideas (1)" in text_of(row)


def test_deleting_the_activity_removes_its_ideas(board: Board) -> None:
    board.submit("pat", "One")
    control(board.db, board.aid(), "stop")

    response = board.as_("owner").post(f"{board.meeting.url}/activities/{board.aid()}/delete", data={})

    assert response.status_code == 303
    assert board.stored() == []


def test_the_meeting_page_renders_ideas_for_a_javascript_free_reload(board: Board) -> None:
    board.submit("pat", "One", key="k-1")
    board.submit("quinn", "Reply", parent="1", key="k-2")

    page = soup(board.page("rita"))
    form = page.select_one(f"#panel-{board.aid()} form[data-idea-form]")
    assert form["method"] == "post" and form["action"].endswith(f"/activities/{board.aid()}/ideas")
    link = page.select_one("#idea-group-1 a.reply-link")
    assert link is not None and page.select("form[data-idea-form]") == [form]  # one form, not one per row
    replying = soup(board.as_("rita").get(urljoin(board.meeting.url, str(link["href"]))))
    reply = replying.select_one("#idea-1 form[data-idea-form]")
    assert reply is not None and reply.select_one("input[name=parent]")["value"] == "1"
    assert json.loads(json.dumps(board.rows("rita"))) == [["1", "One", "pat"], ["1.1", "Reply", "quinn"]]


# -- a big board, a page at a time (issue 19) ------------------------------------------------------


def numbers_on(html: str | httpx.Response, activity_id: str) -> list[int]:
    """The idea numbers of the board's groups, top to bottom (comments left out)."""
    return [int(g["data-number"]) for g in soup(html).select(f"#ideas-{activity_id} > tbody.idea-group")]


def more_link(html: str | httpx.Response, activity_id: str) -> dict[str, str]:
    link = soup(html).select_one(f"#more-{activity_id} a")
    assert link is not None, "no Show earlier link"
    return {"text": text_of(link), "href": str(link["href"]), "hx-get": str(link["hx-get"])}


def test_a_board_of_10000_ideas_renders_one_page_and_show_earlier_works_without_javascript(board: Board) -> None:
    newest = seed_ideas(board.db, board.aid(), "pat", 10_000)

    page = board.page("rita")

    assert numbers_on(page, board.aid()) == list(range(newest, newest - PAGE_SIZE, -1))
    link = more_link(page, board.aid())
    assert link["text"] == f"Show {PAGE_SIZE} earlier ideas"
    assert f"{10_000 - PAGE_SIZE:,} not shown" in text_of(soup(page).select_one(f"#more-{board.aid()}"))
    assert len(page.content) < 300_000
    earlier = board.as_("rita").get(link["href"])
    assert earlier.status_code == 200
    assert numbers_on(earlier, board.aid()) == list(range(newest - PAGE_SIZE, newest - 2 * PAGE_SIZE, -1))
    assert more_link(earlier, board.aid())["href"].endswith(f"before={newest - 2 * PAGE_SIZE + 1}#board-{board.aid()}")
    back = soup(earlier).select_one(f"#board-{board.aid()} .board-summary a")
    assert back is not None and text_of(back) == "Back to the newest ideas"


def test_show_earlier_by_htmx_answers_the_next_page_for_appending(board: Board) -> None:
    newest = seed_ideas(board.db, board.aid(), "pat", 10_000)
    link = more_link(board.page("quinn"), board.aid())

    fragment = board.as_("quinn", htmx=True).get(link["hx-get"])

    assert fragment.status_code == 200
    assert numbers_on(fragment, board.aid()) == list(range(newest - PAGE_SIZE, newest - 2 * PAGE_SIZE, -1))
    assert more_link(fragment, board.aid())["hx-get"].endswith(f"?before={newest - 2 * PAGE_SIZE + 1}")
    plain = board.as_("quinn").get(link["hx-get"])  # the fragment's URL without htmx: the meeting page
    assert plain.status_code == 303 and plain.headers["location"].endswith(f"activity={board.aid()}&before={newest - PAGE_SIZE + 1}")


def test_the_last_page_has_no_show_earlier_link(board: Board) -> None:
    seed_ideas(board.db, board.aid(), "pat", PAGE_SIZE + 3)
    link = more_link(board.page("rita"), board.aid())
    assert link["text"] == "Show 3 earlier ideas"

    last = board.as_("rita").get(link["href"])

    assert numbers_on(last, board.aid()) == [3, 2, 1]
    assert soup(last).select_one(f"#more-{board.aid()} a") is None


def test_each_page_carries_the_comments_of_its_own_ideas(board: Board) -> None:
    newest = seed_ideas(board.db, board.aid(), "pat", PAGE_SIZE + 3)
    board.submit("quinn", "on the oldest", parent="1")
    board.submit("rita", "on the newest", parent=str(newest))

    first = board.rows("owner")
    link = more_link(board.page("owner"), board.aid())
    earlier = [(r.label, r.text, r.author) for r in board_rows(board.as_("owner").get(link["href"]), board.aid())]

    assert first[:2] == [(str(newest), f"Idea {newest}", "pat"), (f"{newest}.1", "on the newest", "rita")]
    assert all(label != "1.1" for label, _, _ in first)
    assert earlier[-2:] == [("1", "Idea 1", "pat"), ("1.1", "on the oldest", "quinn")]
    assert all(label != f"{newest}.1" for label, _, _ in earlier)


def test_oldest_first_is_remembered_per_user_and_meeting(board: Board) -> None:
    seed_ideas(board.db, board.aid(), "pat", 120)
    url = f"{board.meeting.url}/activities/{board.aid()}/ideas/order"

    chosen = board.as_("rita").post(url, data={"order": "oldest"})

    assert chosen.status_code == 303
    assert numbers_on(board.page("rita"), board.aid())[:3] == [1, 2, 3]
    assert more_link(board.page("rita"), board.aid())["text"] == f"Show {PAGE_SIZE} later ideas"
    assert numbers_on(board.page("quinn"), board.aid())[:3] == [120, 119, 118]  # others keep theirs
    assert board.as_("rita").post(url, data={"order": "sideways"}).status_code == 400
    swapped = board.as_("rita", htmx=True).post(url, data={"order": "newest"})
    assert swapped.status_code == 200 and numbers_on(swapped, board.aid())[:3] == [120, 119, 118]


@pytest.mark.both_backends
def test_a_facilitator_searches_a_big_board_on_the_server(board: Board) -> None:
    seed_ideas(board.db, board.aid(), "pat", 2_000)
    board.submit("quinn", "A needle in the haystack")
    board.submit("rita", "Hay", key="k-hay")
    board.submit("rita", "with a NEEDLE too", parent="1999", key="k-reply")

    found = board.as_("owner").get(board.meeting.url, params={"activity": board.aid(), "q": "needle"})

    assert numbers_on(found, board.aid()) == [2001, 1999]
    assert "2 ideas match “needle”." in text_of(soup(found).select_one(f"#board-{board.aid()} .board-summary"))
    assert soup(board.page("pat")).select_one(f"#search-{board.aid()}") is None  # a facilitator's tool
    fragment = board.as_("owner", htmx=True).get(f"{board.meeting.url}/activities/{board.aid()}/ideas", params={"q": "needle"})
    assert numbers_on(fragment, board.aid()) == [2001, 1999]


def test_a_board_has_one_reply_form_and_one_moderation_form_however_many_ideas(board: Board) -> None:
    seed_ideas(board.db, board.aid(), "pat", 300)

    facilitator = soup(board.page("owner"))

    assert len(facilitator.select(f"#panel-{board.aid()} tr.idea-row")) == PAGE_SIZE
    assert [f.get("id") for f in facilitator.select(f"#panel-{board.aid()} form.moderate")] == [f"moderate-{board.aid()}"]
    assert len(facilitator.select(f"button[form=moderate-{board.aid()}]")) == 2 * PAGE_SIZE
    assert len(facilitator.select(f"#panel-{board.aid()} form[data-idea-form]")) == 1  # the composer
    assert len(facilitator.select(f"#reply-template-{board.aid()}")) == 1


def test_hiding_an_idea_off_the_page_keeps_the_numbering_and_the_count(board: Board) -> None:
    seed_ideas(board.db, board.aid(), "pat", PAGE_SIZE + 10)

    assert board.act("owner", "1", "hide").status_code == 303

    assert numbers_on(board.page("quinn"), board.aid())[0] == PAGE_SIZE + 10
    assert "Transfer Ideas (59)" in text_of(soup(board.page("owner")).select_one(f"#row-{board.aid()}"))
    last = board.as_("quinn").get(more_link(board.page("quinn"), board.aid())["href"])
    assert numbers_on(last, board.aid()) == list(range(10, 1, -1))  # 1 is hidden, none renumbered
