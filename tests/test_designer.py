"""The AI meeting designer over HTTP (SPEC §4.16, S22) against the fake OpenAI-compatible server:
Test connection and its four error messages, the streamed chat, agenda generation with its one
corrective retry, Edit in Meeting Creator, the per-user record, and the write-only API key."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest
from account_helpers import field_error, page_error, run_coroutine, soup
from conftest import base_env, free_port
from fake_openai import (
    API_KEY,
    BAD_JSON,
    CHAT_TOKENS,
    MODEL,
    PROSE,
    TOO_MANY,
    UNKNOWN_TYPES,
    VALID_AGENDA,
    FakeProvider,
    activity,
    agenda,
    as_json,
    fenced,
    running_fake_provider,
)
from helpers_meetings import Person, add_people, text_of
from starlette.testclient import TestClient

from decidero.app import create_app
from decidero.designer import provider as provider_module
from decidero.designer.models import DesignerConversation, DesignerGeneration, DesignerMessage
from decidero.meetings import agenda as meeting_agenda
from decidero.meetings.models import Meeting
from decidero.platform.db import Database

NOT_CONFIGURED = "The AI meeting designer is not configured. Ask an administrator to set it up in Settings → AI."
UNUSABLE = "The AI returned an agenda that could not be used. Try again or adjust the conversation."
REPLY = "".join(CHAT_TOKENS)


@dataclass
class Studio:
    client: TestClient
    fake: FakeProvider
    people: dict[str, Person]
    directory: Path

    @property
    def db(self) -> Database:
        return self.client.app.state.services.db  # type: ignore[attr-defined,no-any-return]

    def as_(self, login: str, **headers: str) -> TestClient:
        person = self.people[login]
        return TestClient(self.client.app, follow_redirects=False, cookies=person.cookies, headers={**person.headers, **headers})

    def configure(self, **overrides: str) -> None:
        values = {"ai.endpoint_url": self.fake.url, "ai.api_key": API_KEY, "ai.model": MODEL, **overrides}
        for key, value in values.items():
            run_coroutine(self.client.app.state.services.settings.save(key, value, None))  # type: ignore[attr-defined]

    def say(self, text: str, login: str = "fac", conversation: str = "") -> httpx.Response:
        data = {"content": text, **({"conversation": conversation} if conversation else {})}
        return self.as_(login).post("/designer/messages", data=data)

    def conversation(self, login: str = "fac") -> str:
        """A conversation with one exchange (no JavaScript: the reply comes with the POST)."""
        response = self.say("Plan a 60-minute retrospective for 8 people.", login)
        assert response.status_code == 303, response.text[:500]
        return response.headers["location"].split("c=")[1]

    def generate(self, conversation: str, *answers: str) -> httpx.Response:
        self.fake.answers = list(answers)
        return self.as_("fac").post("/designer/generate", data={"conversation": conversation})

    def messages(self) -> list[tuple[str, str]]:
        return self.db.read_sync(lambda: [(m.role, m.content) for m in DesignerMessage.select().order_by(DesignerMessage.id)])


@pytest.fixture
def studio(tmp_path: Path) -> Iterator[Studio]:
    with running_fake_provider() as fake, TestClient(create_app(base_env(tmp_path, LOG_LEVEL="DEBUG"), cwd=tmp_path), follow_redirects=False) as client:
        people = add_people(client.app.state.services.db, {"boss": "super_admin", "fac": "facilitator", "fay": "facilitator", "pat": "participant"})  # type: ignore[attr-defined]
        yield Studio(client, fake, people, tmp_path)


@pytest.fixture
def configured(studio: Studio) -> Studio:
    studio.configure()
    return studio


# -- off unless configured (S22.1) ---------------------------------------------------------------


def test_unconfigured_the_designer_says_so_and_design_with_ai_is_hidden(studio: Studio) -> None:
    page = studio.as_("fac").get("/designer")

    assert page.status_code == 200
    assert text_of(soup(page).select_one("#not-configured")) == NOT_CONFIGURED
    assert soup(page).select_one("form[action='/designer/messages']") is None
    tiles = [text_of(a) for a in soup(studio.as_("fac").get("/dashboard")).select(".quick-actions a")]
    assert "DESIGN WITH AI" not in tiles and "SETTINGS" in tiles
    refused = studio.say("Hello")
    assert (refused.status_code, page_error(refused)) == (409, NOT_CONFIGURED)
    assert studio.fake.requests == []


def test_configured_the_dashboard_offers_design_with_ai(configured: Studio) -> None:
    tile = soup(configured.as_("fac").get("/dashboard")).select_one(".quick-actions a[href='/designer']")
    assert text_of(tile) == "DESIGN WITH AI"
    assert soup(configured.as_("pat").get("/dashboard")).select_one("a[href='/designer']") is None


def test_participants_cannot_use_the_designer(configured: Studio) -> None:
    pat = configured.as_("pat")
    for response in (pat.get("/designer"), pat.post("/designer/messages", data={"content": "hi"}), pat.get("/designer/stream?c=x")):
        assert response.status_code == 403
    assert configured.fake.requests == []


# -- Test connection ------------------------------------------------------------------------------


def connection_notice(studio: Studio) -> str:
    response = studio.as_("boss").post("/settings/ai/test", data={})
    assert response.status_code == 200
    return text_of(soup(response).select_one("#settings .notice"))


def test_test_connection_reports_ok_with_the_model_and_time(configured: Studio) -> None:
    message = connection_notice(configured)

    assert message.startswith(f"Connection OK (model {MODEL}, ") and message.endswith(" ms)")
    assert configured.fake.requests[-1]["model"] == MODEL


def test_test_connection_with_a_wrong_key(configured: Studio) -> None:
    configured.configure(**{"ai.api_key": "sk-wrong-key-000"})
    assert connection_notice(configured) == "Invalid API key — authentication failed."


def test_test_connection_with_an_unknown_model(configured: Studio) -> None:
    configured.configure(**{"ai.model": "no-such-model"})
    assert connection_notice(configured) == "Model 'no-such-model' not found at this endpoint."


def test_test_connection_that_times_out(configured: Studio, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(provider_module, "TIMEOUT", openai.Timeout(connect=10, read=0.5, write=30, pool=10))
    configured.fake.hang = True
    assert connection_notice(configured) == "Connection timed out after 0.5 s."


def test_test_connection_when_nothing_listens(configured: Studio) -> None:
    configured.configure(**{"ai.endpoint_url": f"http://127.0.0.1:{free_port()}/v1"})
    message = connection_notice(configured)
    assert message.startswith("Network error: ") and len(message) > len("Network error: ")


def test_test_connection_unconfigured_and_for_facilitators(studio: Studio) -> None:
    assert connection_notice(studio) == NOT_CONFIGURED
    refused = studio.as_("fac").post("/settings/ai/test", data={})
    assert (refused.status_code, page_error(refused)) == (403, "Only administrators can configure or test the AI provider.")


def test_only_admins_see_the_test_button(configured: Studio) -> None:
    assert soup(configured.as_("boss").get("/settings?tab=ai")).select_one("form[action='/settings/ai/test']") is not None
    assert soup(configured.as_("fac").get("/settings?tab=ai")).select_one("form[action='/settings/ai/test']") is None


# -- the chat ---------------------------------------------------------------------------------------


def sse_events(body: str) -> list[tuple[str, str]]:
    events = []
    for frame in body.replace("\r\n", "\n").split("\n\n"):
        fields = dict(line.split(": ", 1) for line in frame.splitlines() if ": " in line and not line.startswith(":"))
        if "event" in fields:
            events.append((fields["event"], fields.get("data", "")))
    return events


def test_a_message_with_htmx_answers_a_pending_reply_that_streams_token_by_token(configured: Studio) -> None:
    fac = configured.as_("fac", **{"HX-Request": "true"})

    response = fac.post("/designer/messages", data={"content": "Plan a retro"})

    assert response.status_code == 200
    bubble = soup(response).select_one("#chat .bubble.pending")
    assert bubble is not None and bubble["aria-busy"] == "true"
    stream_url = str(bubble["data-stream"])
    assert configured.fake.requests == []  # nothing asked yet: the page's stream asks
    streamed = configured.as_("fac").get(stream_url)
    assert streamed.headers["content-type"].startswith("text/event-stream")
    events = sse_events(streamed.text)
    assert [json.loads(data) for kind, data in events if kind == "token"] == CHAT_TOKENS
    assert events[-1][0] == "done"
    assert configured.messages() == [("user", "Plan a retro"), ("assistant", REPLY)]
    assert configured.fake.requests[0]["stream"] is True
    assert configured.fake.requests[0]["messages"][0]["role"] == "system"
    again = sse_events(configured.as_("fac").get(stream_url).text)
    assert again == [("done", "")] and len(configured.fake.requests) == 1  # a reply is never asked or stored twice


def test_without_javascript_the_reply_comes_with_the_post(configured: Studio) -> None:
    conversation = configured.conversation()

    page = configured.as_("fac").get(f"/designer?c={conversation}")
    bubbles = [text_of(b.select_one(".reply-text")) for b in soup(page).select(".bubble")]
    assert bubbles == ["Plan a 60-minute retrospective for 8 people.", REPLY]
    assert soup(page).select_one(".bubble.pending") is None


def test_the_conversation_goes_back_to_the_model_with_every_turn(configured: Studio) -> None:
    conversation = configured.conversation()

    configured.say("About 8 people, remote.", conversation=conversation)

    sent = configured.fake.requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert "at most two questions" in sent[0]["content"] and "rank_order_voting" in sent[0]["content"]
    assert sent[-1]["content"] == "About 8 people, remote."


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ({"ai.api_key": "sk-wrong-key-000"}, "The AI provider returned an error: Invalid API key — authentication failed."),
        ({"ai.model": "gone"}, "The AI provider returned an error: Model 'gone' not found at this endpoint."),
        ({"status": "500"}, "The AI provider returned an error: 500 The server had an error."),
    ],
    ids=["401", "404", "500"],
)
def test_a_provider_failure_in_the_chat_is_shown_and_never_a_500(configured: Studio, setup: dict[str, str], message: str) -> None:
    if "status" in setup:
        configured.fake.fail_status = int(setup["status"])
    else:
        configured.configure(**setup)
    fac = configured.as_("fac", **{"HX-Request": "true"})
    pending = soup(fac.post("/designer/messages", data={"content": "Plan a retro"})).select_one(".bubble.pending")
    assert pending is not None

    events = sse_events(configured.as_("fac").get(str(pending["data-stream"])).text)

    assert events == [("failure", json.dumps(message))]
    assert configured.messages()[-1] == ("error", message)
    page = configured.as_("fac").get("/designer")
    assert text_of(soup(page).select_one(".bubble.error .reply-text")) == message


def test_a_failed_reply_is_left_out_of_the_next_prompt(configured: Studio) -> None:
    configured.fake.fail_status = 500
    conversation = configured.conversation()
    configured.fake.fail_status = None

    configured.say("Try again", conversation=conversation)

    assert [m["role"] for m in configured.fake.requests[-1]["messages"]] == ["system", "user", "user"]


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "Write a message first."), ("\x00\x01 ", "Write a message first."), ("x" * 4001, "Messages are limited to 4000 characters.")],
    ids=["empty", "control characters", "4001 characters"],
)
def test_a_bad_message_is_refused_beside_the_field(configured: Studio, content: str, message: str) -> None:
    response = configured.say(content)

    assert response.status_code == 422
    assert field_error(response, "content") == message
    if content.strip("\x00\x01 "):
        assert text_of(soup(response).select_one("textarea[name=content]")) == content  # kept
    assert configured.messages() == [] and configured.fake.requests == []


def test_a_message_of_exactly_4000_characters_is_taken(configured: Studio) -> None:
    assert configured.say("y" * 4000).status_code == 303


def test_a_conversation_ends_after_40_turns(configured: Studio) -> None:
    conversation = configured.conversation()

    def fill() -> None:
        for n in range(39):
            DesignerMessage.create(conversation=conversation, role="user", content=f"turn {n}")
            DesignerMessage.create(conversation=conversation, role="assistant", content="ok")

    configured.db.write_sync(fill)
    before = len(configured.fake.requests)

    response = configured.say("One more", conversation=conversation)

    assert response.status_code == 422
    assert field_error(response, "content") == "This conversation has reached 40 turns. Start a new conversation."
    assert len(configured.fake.requests) == before
    assert configured.db.read_sync(lambda: DesignerMessage.select().where(DesignerMessage.role == "user").count()) == 40


# -- generating the agenda ----------------------------------------------------------------------


def preview(response: httpx.Response, studio: Studio) -> httpx.Response:
    assert response.status_code == 303, response.text[:800]
    return studio.as_("fac").get(response.headers["location"])


def generations(studio: Studio) -> list[tuple[bool, int]]:
    return studio.db.read_sync(lambda: [(g.usable, len(json.loads(g.answers_json))) for g in DesignerGeneration.select()])


@pytest.mark.parametrize("answer", [as_json(VALID_AGENDA), fenced(VALID_AGENDA)], ids=["plain", "fenced"])
def test_a_generated_agenda_shows_as_a_preview_with_rationales(configured: Studio, answer: str) -> None:
    conversation = configured.conversation()

    page = preview(configured.generate(conversation, answer), configured)

    section = soup(page).select_one("#agenda-preview")
    assert section is not None and text_of(section.select_one("h2")) == "Team Retro"
    steps = section.select("li.planned")
    assert [text_of(s.select_one(".step-title")) for s in steps] == ["Collect ideas", "Pick favourites", "Rank the themes"]
    assert [text_of(s.select_one(".badge")) for s in steps] == ["Brainstorming", "Dot Voting", "Rank Order Voting"]
    assert text_of(steps[0].select_one(".rationale")) == "Why: Why Collect ideas: it fits the goal."
    assert "options: Speed, Quality, Fun" in text_of(steps[1])
    assert text_of(section.select_one(".warnings")) == "Dropped the unknown setting “colour” of Activity 1 (“Collect ideas”)."
    assert generations(configured) == [(True, 1)]
    request = configured.fake.requests[-1]
    assert request.get("stream") is not True and "JSON" in request["messages"][-1]["content"]


@pytest.mark.parametrize("first", [PROSE, BAD_JSON, UNKNOWN_TYPES, TOO_MANY], ids=["prose", "bad json", "unknown types", "25 activities"])
def test_one_corrective_retry_carries_the_problems(configured: Studio, first: str) -> None:
    conversation = configured.conversation()

    page = preview(configured.generate(conversation, first, as_json(VALID_AGENDA)), configured)

    assert soup(page).select_one("#agenda-preview") is not None
    retry = configured.fake.requests[-1]["messages"]
    assert retry[-2] == {"role": "assistant", "content": first}
    assert retry[-1]["content"].startswith("That answer could not be used:")
    assert generations(configured) == [(True, 2)]


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (PROSE, "The answer is not valid JSON."),
        (BAD_JSON, "The answer is not valid JSON."),
        (UNKNOWN_TYPES, "Activity 1: unknown tool_type 'poll'"),
        (TOO_MANY, "The agenda must have 1 to 20 activities (it has 25)."),
        (as_json(agenda()), "The agenda must have 1 to 20 activities (it has 0)."),
        (as_json({"activities": [activity("brainstorming", "Ideas")]}), "The meeting title must be 1-200 characters."),
        (as_json(agenda(activity("brainstorming", "x" * 201))), "Activity 1: the title must be 1-200 characters."),
        (as_json(agenda(activity("brainstorming", "Ideas", duration_minutes=241))), "Activity 1: duration_minutes must be a whole number from 1 to 240."),
        (as_json(agenda(activity("brainstorming", "Ideas", instructions="i" * 2001))), "Activity 1: the instructions must be at most 2000 characters."),
        (as_json(agenda(activity("voting", "Vote", {"options": ["A", "a"]}))), 'Duplicate vote option: "a". Each option must be unique.'),
        (as_json(agenda(activity("voting", "Vote", {"max_votes": 2, "max_per_option": 3}))), "Dots per option must be between 1 and 9 and no more than the total dots."),
        (as_json(agenda(activity("brainstorming", "Ideas", {"prompt": {"nested": True}}))), "config “prompt” must be text"),
        (as_json(agenda(activity("brainstorming", "Ideas", config="loud"))), "config must be a JSON object."),
        ("[1, 2]", "The answer must be one JSON object."),
    ],
    ids=["prose", "bad json", "unknown types", "25 activities", "none", "no title", "long title", "long duration", "long instructions", "duplicate options", "dots", "nested config", "config not object", "array"],
)
def test_an_agenda_unusable_after_the_retry_gets_the_spec_message(configured: Studio, answer: str, problem: str) -> None:
    conversation = configured.conversation()
    calls = len(configured.fake.requests)

    response = configured.generate(conversation, answer, answer)

    assert response.status_code == 422
    assert page_error(response) == UNUSABLE
    assert soup(response).select_one("#agenda-preview") is None
    assert len(configured.fake.requests) == calls + 2  # the answer and exactly one retry
    assert problem in configured.fake.requests[-1]["messages"][-1]["content"]
    assert generations(configured) == [(False, 2)]


def test_generation_failures_of_the_provider_are_shown(configured: Studio) -> None:
    conversation = configured.conversation()
    configured.fake.fail_status = 500

    response = configured.generate(conversation)

    assert response.status_code == 502
    assert page_error(response) == "The AI provider returned an error: 500 The server had an error."


def test_generating_needs_a_conversation_of_ones_own(configured: Studio) -> None:
    conversation = configured.conversation("fay")
    assert configured.generate(conversation).status_code == 404
    assert configured.as_("fac").post("/designer/generate", data={"conversation": "nope"}).status_code == 404


# -- Edit in Meeting Creator (S22.4) --------------------------------------------------------------


def edit_in_creator(studio: Studio) -> httpx.Response:
    conversation = studio.conversation()
    page = preview(studio.generate(conversation, as_json(VALID_AGENDA)), studio)
    generation = soup(page).select_one("#agenda-preview input[name=generation]")
    assert generation is not None
    response = studio.as_("fac").post("/designer/use", data={"generation": str(generation["value"])})
    assert response.status_code == 303 and response.headers["location"].startswith("/meeting/create?draft=")
    return studio.as_("fac").get(response.headers["location"])


def create_form(page: httpx.Response) -> dict[str, list[str]]:
    form: dict[str, list[str]] = {}
    for node in soup(page).select("#create-form [name]"):
        if node.name == "button":
            continue
        value = node.get_text() if node.name == "textarea" else (node.select_one("option[selected]") or node).get("value", "")
        form.setdefault(str(node["name"]), []).append(str(value))
    return form


def test_edit_in_meeting_creator_prefills_the_form_and_saves_a_normal_meeting(configured: Studio) -> None:
    page = edit_in_creator(configured)
    form = create_form(page)
    assert form["title"] == ["Team Retro"] and form["duration_minutes"] == ["30"]
    assert form["activity_title"] == ["Collect ideas", "Pick favourites", "Rank the themes"]
    assert form["activity_type"] == ["brainstorming", "voting", "rank_order_voting"]
    assert configured.db.read_sync(lambda: Meeting.select().count()) == 0  # nothing until saved

    created = configured.as_("fac").post("/meeting/create", data={**form, "action": "create"})

    assert created.status_code == 303
    meeting = configured.db.read_sync(lambda: Meeting.get())
    activities = configured.db.read_sync(lambda: meeting_agenda.ordered(meeting.id))
    assert [a.title for a in activities] == ["Collect ideas", "Pick favourites", "Rank the themes"]
    assert [o["label"] for o in activities[1].config["options"]] == ["Speed", "Quality", "Fun"]
    assert (activities[1].config["max_votes"], activities[1].config["max_per_option"]) == (3, 2)
    assert activities[0].config["prompt"] == "What went well?" and activities[0].config["allow_comments"] is True
    assert [a.time_limit_minutes for a in activities] == [10, 10, 10]


def test_a_row_whose_type_changed_starts_from_that_types_defaults(configured: Studio) -> None:
    form = create_form(edit_in_creator(configured))
    form["activity_type"][1] = "rank_order_voting"

    configured.as_("fac").post("/meeting/create", data={**form, "action": "create"})

    activities = configured.db.read_sync(lambda: meeting_agenda.ordered(Meeting.get().id))
    assert activities[1].type == "rank_order_voting" and activities[1].config["ideas"] == []
    assert activities[1].time_limit_minutes is None


def test_a_draft_is_its_owners_only(configured: Studio) -> None:
    page = edit_in_creator(configured)
    draft = str(soup(page).select_one("input[name=draft]")["value"])  # type: ignore[index]

    assert configured.as_("fay").get(f"/meeting/create?draft={draft}").status_code == 404
    form = create_form(page)
    assert configured.as_("fay").post("/meeting/create", data={**form, "action": "create"}).status_code == 404
    assert configured.db.read_sync(lambda: Meeting.select().count()) == 0


# -- the record: per user, readable by that user and admins -------------------------------------


def test_a_conversation_is_readable_by_its_owner_and_admins_only(configured: Studio) -> None:
    conversation = configured.conversation()

    assert configured.as_("fay").get(f"/designer?c={conversation}").status_code == 404
    assert configured.as_("fay").post("/designer/messages", data={"content": "hi", "conversation": conversation}).status_code == 404
    assert configured.as_("fay").get(f"/designer/stream?c={conversation}").status_code == 404
    admin_view = configured.as_("boss").get(f"/designer?c={conversation}")
    assert admin_view.status_code == 200
    assert REPLY in text_of(soup(admin_view).select_one("#chat-log"))
    assert soup(admin_view).select_one("form[action='/designer/messages']") is None  # read-only
    assert configured.as_("boss").post("/designer/messages", data={"content": "hi", "conversation": conversation}).status_code == 404
    everyone = soup(configured.as_("boss").get("/designer?scope=all"))
    assert f"/designer?c={conversation}&scope=all" in [a["href"] for a in everyone.select("#conversations a")]
    assert configured.as_("fay").get("/designer?scope=all").text.count(conversation) == 0


def test_each_users_list_holds_their_own_conversations(configured: Studio) -> None:
    mine, theirs = configured.conversation("fac"), configured.conversation("fay")
    links = [a["href"] for a in soup(configured.as_("fac").get("/designer")).select("#conversations a")]
    assert f"/designer?c={mine}" in links and f"/designer?c={theirs}" not in links


# -- the API key is write-only ------------------------------------------------------------------


def test_the_api_key_is_never_rendered_logged_or_stored_in_the_record(configured: Studio) -> None:
    conversation = configured.conversation()
    configured.say(f"My key is not {API_KEY[:6]}", conversation=conversation)
    preview(configured.generate(conversation, as_json(VALID_AGENDA)), configured)
    configured.as_("boss").post("/settings", data={"tab": "ai", "ai.api_key": API_KEY, "ai.temperature": "0.5"})
    connection_notice(configured)
    pages = [
        configured.as_(login).get(path).text
        for login in ("boss", "fac")
        for path in ("/settings?tab=ai", "/designer", f"/designer?c={conversation}", "/dashboard")
    ]
    for handler in logging.getLogger("decidero").handlers:
        handler.flush()

    assert all(API_KEY not in html for html in pages)
    assert f"●●●●{API_KEY[-4:]}" in pages[0]
    files = [p for p in configured.directory.rglob("*") if p.is_file()]
    assert any(p.name == "app.log" for p in files) and any(p.name.startswith("decidero.db") for p in files)
    leaked = [p.name for p in files if API_KEY.encode() in p.read_bytes()]
    assert leaked == []
    record = configured.db.read_sync(
        lambda: [m.content for m in DesignerMessage.select()] + [g.answers_json for g in DesignerGeneration.select()]
        + [c.title for c in DesignerConversation.select()]
    )
    assert all(API_KEY not in text for text in record)
