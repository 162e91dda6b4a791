"""Meeting export and import (SPEC §4.13, S16): the zip and its schema, who may do either, the new
meeting an import makes (title, owner, ids, people, every activity stopped), the round trip of every
activity type, and every bad upload refused with its message and nothing created."""

from __future__ import annotations

import copy
import io
import json
import re
import zipfile
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import pytest
from convergence_helpers import Workshop, seed_workshop
from helpers_meetings import soup, text_of
from starlette.testclient import TestClient
from voting_helpers import client_opener

from decidero.activities.ballots.models import Ranking, VoteAllocation
from decidero.activities.brainstorming.models import Idea
from decidero.activities.categorization.models import BoardItem
from decidero.meetings.models import Activity, Meeting, MeetingMember, Provenance
from decidero.platform.models import User

ZIP_NAME = re.compile(r'attachment; filename="meeting_(MTG\d{8}-[0-9A-Z]{4})_\d{8}T\d{6}Z\.zip"')


@pytest.fixture
def shop(client: TestClient) -> Workshop:
    return seed_workshop(client.app.state.services.db, client_opener(client))  # type: ignore[attr-defined]


# -- helpers ----------------------------------------------------------------------------------------


def export_zip(shop: Workshop, meeting_id: str, login: str = "fac") -> bytes:
    response = shop.as_(login).get(f"/meeting/{meeting_id}/export")
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"] == "application/zip"
    found = ZIP_NAME.fullmatch(response.headers["content-disposition"])
    assert found is not None and found.group(1) == meeting_id
    return response.content


def unzip(raw: bytes) -> dict[str, Any]:
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        return dict(json.loads(archive.read("meeting.json")))


def zipped(files: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, body in files.items():
            archive.writestr(name, body)
    return buffer.getvalue()


def with_json(data: dict[str, Any]) -> bytes:
    return zipped({"meeting.json": json.dumps(data)})


def upload(shop: Workshop, raw: bytes, login: str = "fac", token: str = "") -> httpx.Response:
    return shop.as_(login).post(
        "/meeting/import", data={"form_token": token}, files={"bundle": ("meeting.zip", raw, "application/zip")}
    )


def imported_id(shop: Workshop, response: httpx.Response) -> str:
    assert response.status_code == 303, response.text[:1500]
    assert response.headers["location"].startswith("/dashboard?flash=")
    ids = shop.db.read_sync(lambda: [m.id for m in Meeting.select().order_by(Meeting.created_at, Meeting.id)])
    return str(ids[-1])


def comparable(data: dict[str, Any]) -> dict[str, Any]:
    """An export without what an import may change: ids (the meeting id they all start with), the
    title, the export and import times and the schedule (SPEC §4.13)."""
    meeting_id = data["meeting"]["id"]
    plain = json.loads(json.dumps(data).replace(meeting_id, "MTG"))
    del plain["exported_at"]
    for key in ("id", "title", "created_at", "updated_at", "scheduled_start"):
        del plain["meeting"][key]
    return dict(plain)


def round_trip(shop: Workshop) -> tuple[dict[str, Any], dict[str, Any]]:
    """Export, import as the same facilitator, export again: both exports."""
    first = export_zip(shop, shop.meeting.id)
    new_id = imported_id(shop, upload(shop, first))
    return unzip(first), unzip(export_zip(shop, new_id))


def counts(shop: Workshop) -> tuple[int, ...]:
    """Rows an import could leave behind."""

    def read() -> tuple[int, ...]:
        return tuple(model.select().count() for model in (Meeting, Activity, User, Idea, VoteAllocation, MeetingMember))

    return shop.db.read_sync(read)


def error_of(response: httpx.Response) -> str:
    """The refusal as the user reads it: beside the file field, or the error page's message."""
    page = soup(response)
    node = page.select_one("#e-bundle") or page.select_one(".error-message")
    assert node is not None, response.text[:1500]
    detail = node.select_one("small")
    if detail is not None:
        detail.extract()
    return text_of(node)


# -- the zip and who may use it -----------------------------------------------------------------------


def test_an_export_is_a_zip_of_meeting_json_and_the_schema_it_follows(shop: Workshop) -> None:
    ideas = shop.add("brainstorming", "Ideas", {"allow_comments": True})
    shop.control(ideas, "start")
    shop.idea("pat", ideas, "Cheap hall")

    raw = export_zip(shop, shop.meeting.id)

    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        assert sorted(archive.namelist()) == ["meeting.json", "schema.json"]
        schema = json.loads(archive.read("schema.json"))
    data = unzip(raw)
    assert (data["format"], data["version"]) == ("decidero-meeting", 1)
    assert list(data) == [
        "format", "version", "exported_at", "meeting", "owner", "cofacilitators", "participants", "contributors",
        "activities", "provenance", "transfer_drafts",
    ]
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(data, schema, cls=jsonschema.Draft202012Validator)
    assert data["owner"]["user_id"] == shop.people["fac"].user_id
    assert [p["login"] for p in data["participants"]] == ["pat", "quinn"]
    assert [p["login"] for p in data["cofacilitators"]] == ["cofac"]
    assert data["activities"][0]["content"]["ideas"][0]["content"] == "Cheap hall"


def test_only_meeting_facilitators_may_export(shop: Workshop) -> None:
    assert shop.as_("cofac").get(f"/meeting/{shop.meeting.id}/export").status_code == 200
    assert shop.as_("pat").get(f"/meeting/{shop.meeting.id}/export").status_code == 403
    assert shop.as_("outsider").get(f"/meeting/{shop.meeting.id}/export").status_code == 403


def test_participants_cannot_import(shop: Workshop) -> None:
    raw = export_zip(shop, shop.meeting.id)
    before = counts(shop)

    assert shop.as_("pat").get("/meeting/import").status_code == 403
    assert upload(shop, raw, login="pat").status_code == 403
    assert counts(shop) == before


def test_s16_an_import_is_a_new_meeting_owned_by_the_importer_with_every_activity_stopped(shop: Workshop) -> None:
    ideas = shop.add("brainstorming", "Ideas")
    talk = shop.add("discussion", "Talk")
    later = shop.add("discussion", "Later")
    shop.control(ideas, "start")
    shop.idea("pat", ideas, "Cheap hall")
    shop.control(talk, "start")
    shop.control(talk, "pause")
    raw = export_zip(shop, shop.meeting.id)

    response = upload(shop, raw, login="cofac")
    new_id = imported_id(shop, response)

    meeting = shop.db.read_sync(lambda: Meeting.get_by_id(new_id))
    assert new_id != shop.meeting.id
    assert re.fullmatch(r"Q3 Planning \(Imported \d{4}-\d{2}-\d{2}\)", meeting.title)
    assert meeting.owner_id == shop.people["cofac"].user_id
    assert meeting.duration_minutes == 60 and meeting.scheduled_start is not None
    activities = shop.db.read_sync(lambda: list(Activity.select().where(Activity.meeting == new_id).order_by(Activity.position)))
    assert [(a.id, a.title, a.state) for a in activities] == [
        (ideas.replace(shop.meeting.id, new_id), "Ideas", "stopped"),
        (talk.replace(shop.meeting.id, new_id), "Talk", "stopped"),
        (later.replace(shop.meeting.id, new_id), "Later", "not_started"),
    ]
    assert all(a.segment_started_at is None for a in activities)
    members = shop.db.read_sync(lambda: {(m.user_id, m.role) for m in MeetingMember.select().where(MeetingMember.meeting == new_id)})
    # The old owner is re-linked as a co-facilitator; the participants are rostered again.
    assert members == {
        (shop.people["fac"].user_id, "cofacilitator"), (shop.people["pat"].user_id, "participant"),
        (shop.people["quinn"].user_id, "participant"),
    }
    dashboard = shop.as_("cofac").get(response.headers["location"])
    assert f"Meeting imported as “{meeting.title}”." in dashboard.text
    # The original is untouched, still running.
    assert shop.activity(ideas).state == "running"


def test_a_second_import_the_same_day_numbers_the_title(shop: Workshop) -> None:
    raw = export_zip(shop, shop.meeting.id)
    titles = []
    for _ in range(3):
        new_id = imported_id(shop, upload(shop, raw))
        titles.append(shop.db.read_sync(lambda new_id=new_id: Meeting.get_by_id(new_id).title))

    base = titles[0]
    assert titles == [base, f"{base} 2", f"{base} 3"]


def test_a_retried_import_with_the_same_form_token_creates_one_meeting(shop: Workshop) -> None:
    raw = export_zip(shop, shop.meeting.id)
    first = imported_id(shop, upload(shop, raw, token="import-once"))
    before = counts(shop)

    again = upload(shop, raw, token="import-once")

    assert again.status_code == 303
    assert counts(shop) == before
    assert imported_id(shop, again) == first


def test_people_unknown_here_keep_their_names_on_contributions_and_are_not_rostered(shop: Workshop) -> None:
    ideas = shop.add("brainstorming", "Ideas")
    vote = shop.add("voting", "Vote", {"options": ["A", "B"], "max_votes": 2, "max_per_option": 2})
    shop.control(ideas, "start")
    shop.idea("pat", ideas, "Cheap hall")
    shop.control(ideas, "stop")
    shop.control(vote, "start")
    shop.as_("pat").post(shop.url(vote, "votes"), data={"opt-1": "2"})
    shop.control(vote, "stop")
    data = unzip(export_zip(shop, shop.meeting.id))
    stranger = next(p for p in data["participants"] if p["login"] == "pat")
    stranger.update(login="stranger", email="stranger@elsewhere.example", display_name="Sam Stranger")
    data["participants"][0]["email"] = "QUINN@example.test"  # quinn is re-linked by login even so

    new_id = imported_id(shop, upload(shop, with_json(data)))

    members = shop.db.read_sync(lambda: {m.user_id for m in MeetingMember.select().where(MeetingMember.meeting == new_id)})
    assert shop.people["quinn"].user_id in members and shop.people["pat"].user_id not in members
    idea = shop.db.read_sync(lambda: Idea.get(Idea.activity == ideas.replace(shop.meeting.id, new_id)))
    assert idea.author_name == "pat"  # the name it was submitted under
    assert idea.author_id not in (None, shop.people["pat"].user_id)
    stand_in = shop.db.read_sync(lambda: User.get_by_id(idea.author_id))
    assert (stand_in.display_name, stand_in.login, stand_in.email, stand_in.is_active) == ("Sam Stranger", None, None, False)
    dots = shop.db.read_sync(lambda: [(v.user_id, v.count) for v in VoteAllocation.select().where(VoteAllocation.activity == vote.replace(shop.meeting.id, new_id))])
    assert dots == [(stand_in.id, 2)]  # the totals survive


def test_an_anonymous_round_leaves_without_its_authors(shop: Workshop) -> None:
    ideas = shop.add("brainstorming", "Ideas", {"anonymous": True, "allow_comments": True})
    shop.control(ideas, "start")
    shop.idea("pat", ideas, "Secret")
    shop.idea("quinn", ideas, "Also secret", parent="1")

    raw = export_zip(shop, shop.meeting.id)

    data = unzip(raw)
    assert [(i["author_id"], i["author_name"]) for i in data["activities"][0]["content"]["ideas"]] == [(None, ""), (None, "")]
    # Beside the roster, nothing in the file names either author.
    data["participants"] = []
    assert shop.people["pat"].user_id not in json.dumps(data)
    assert shop.people["quinn"].user_id not in json.dumps(data)


# -- round trip, one activity type each ------------------------------------------------------------


def test_round_trip_brainstorming_with_comments(shop: Workshop) -> None:
    ideas = shop.add("brainstorming", "Ideas", {"allow_comments": True, "prompt": "Where do we meet?"})
    shop.control(ideas, "start")
    for login, text in (("pat", "Cheap hall"), ("quinn", "Rooftop"), ("pat", "Catering")):
        shop.idea(login, ideas, text)
    shop.idea("quinn", ideas, "near the station", parent="1")
    shop.idea("pat", ideas, "book early", parent="1")
    assert shop.post("fac", ideas, "ideas/2/hide").status_code == 303
    shop.control(ideas, "stop")
    shop.post("fac", ideas, "publish", {"publish": "1"})

    first, second = round_trip(shop)

    assert comparable(second) == comparable(first)
    ideas_out = second["activities"][0]["content"]["ideas"]
    assert [(i["number"], i["sub"], i["content"], i["hidden"]) for i in ideas_out] == [
        (1, 0, "Cheap hall", False), (1, 1, "near the station", False), (1, 2, "book early", False),
        (2, 0, "Rooftop", True), (3, 0, "Catering", False),
    ]
    assert second["activities"][0]["results_published"] is True


def test_round_trip_dot_voting_with_votes(shop: Workshop) -> None:
    vote = shop.add("voting", "Vote", {"options": ["Alpha", "Beta", "Gamma"], "max_votes": 5, "max_per_option": 5})
    shop.control(vote, "start")
    shop.as_("pat").post(shop.url(vote, "votes"), data={"opt-2": "3", "opt-1": "1"})
    shop.as_("quinn").post(shop.url(vote, "votes"), data={"opt-2": "1", "opt-3": "2"})
    shop.control(vote, "stop")

    first, second = round_trip(shop)

    assert comparable(second) == comparable(first)
    new_vote = second["activities"][0]["id"]
    results = shop.as_("fac").get(f"/meeting/{second['meeting']['id']}/activities/{new_vote}/results.csv")
    assert results.text.splitlines()[1:] == ["1,Beta,4,2", "2,Gamma,2,1", "3,Alpha,1,1"]


def test_round_trip_a_second_round_keeps_its_link(shop: Workshop) -> None:
    vote = shop.add("voting", "Vote", {"options": ["Alpha", "Beta"], "max_votes": 2, "max_per_option": 2})
    shop.control(vote, "start")
    shop.as_("pat").post(shop.url(vote, "votes"), data={"opt-2": "2"})
    shop.control(vote, "stop")
    assert shop.post("fac", vote, "round").status_code == 303

    first, second = round_trip(shop)

    assert comparable(second) == comparable(first)
    assert second["activities"][1]["round"] == {"previous_id": second["activities"][0]["id"], "number": 2}
    assert [p["activity_id"] for p in second["provenance"]] == [second["activities"][1]["id"]] * 2


def test_round_trip_rank_order_with_rankings(shop: Workshop) -> None:
    rank = shop.add("rank_order_voting", "Rank", {"ideas": ["X", "Y", "Z"], "randomize_order": False})
    shop.control(rank, "start")
    shop.as_("pat").post(shop.url(rank, "ranking"), data={"order": "opt-3 opt-1 opt-2"})
    shop.as_("quinn").post(shop.url(rank, "ranking"), data={"order": "opt-3 opt-2 opt-1"})
    shop.control(rank, "stop")

    first, second = round_trip(shop)

    assert comparable(second) == comparable(first)
    new_rank = second["activities"][0]["id"]
    assert shop.db.read_sync(lambda: Ranking.select().where(Ranking.activity == new_rank).count()) == 2
    csv = shop.as_("fac").get(f"/meeting/{second['meeting']['id']}/activities/{new_rank}/results.csv")
    assert [line.split(",")[1] for line in csv.text.splitlines()[1:]] == ["Z", "X", "Y"]


def test_round_trip_categorization_with_buckets(shop: Workshop) -> None:
    sort = shop.add("categorization", "Sort", {"items": ["Cheap hall", "Rooftop", "Catering"], "buckets": ["Venues", "Food"]})
    shop.control(sort, "start")
    for text, bucket in (("Cheap hall", "Venues"), ("Catering", "Food")):
        data = {"item": shop.item(sort, text).id, "bucket": shop.bucket(sort, bucket)}
        assert shop.post("fac", sort, "board/move", data).status_code == 303
    assert shop.post("fac", sort, "board/buckets", {"title": "Risk"}).status_code == 303
    assert shop.post("fac", sort, "board/lock", {"locked": "1"}).status_code == 303
    shop.control(sort, "stop")

    first, second = round_trip(shop)

    assert comparable(second) == comparable(first)
    board = second["activities"][0]["content"]["board"]
    assert board["locked"] is True
    assert [b["title"] for b in board["buckets"]] == ["Unsorted Ideas", "Venues", "Food", "Risk"]
    assert [a["operation"] for a in board["audit"]][:1] == ["seed"] and len(board["audit"]) >= 4
    # New items on the imported board take numbers after the imported ones (ids are never reused).
    new_sort = second["activities"][0]["id"]
    assert shop.db.read_sync(lambda: BoardItem.select().where(BoardItem.activity == new_sort).count()) == 3


def test_an_imported_board_that_never_ran_starts_with_its_seed_and_takes_new_numbers_after_it(shop: Workshop) -> None:
    sort = shop.add("categorization", "Sort", {"items": ["Cheap hall", "Rooftop"], "buckets": ["Venues"]})
    new_id = imported_id(shop, upload(shop, export_zip(shop, shop.meeting.id)))
    new_sort = sort.replace(shop.meeting.id, new_id)
    imported = Workshop(shop.db, type(shop.meeting)(new_id, [new_sort]), shop.people, shop.opener)

    imported.control(new_sort, "start")
    assert imported.post("fac", new_sort, "board/buckets", {"title": "Food"}).status_code == 303

    assert imported.board(new_sort) == [("Unsorted Ideas", ["Cheap hall", "Rooftop"]), ("Venues", []), ("Food", [])]
    items = shop.db.read_sync(lambda: sorted(i.id for i in BoardItem.select().where(BoardItem.activity == new_sort)))
    assert items == [f"{new_sort}:item-1", f"{new_sort}:item-2"]
    assert imported.bucket(new_sort, "Food") == f"{new_sort}:bucket-2"


def test_round_trip_discussion(shop: Workshop) -> None:
    talk = shop.add("discussion", "Talk")
    shop.add("discussion", "Wrap-up")
    shop.control(talk, "start")
    shop.control(talk, "stop")

    first, second = round_trip(shop)

    assert comparable(second) == comparable(first)
    assert [(a["title"], a["state"], a["content"]) for a in second["activities"]] == [
        ("Talk", "stopped", {}), ("Wrap-up", "not_started", {})
    ]


def test_round_trip_a_transferred_item_keeps_its_provenance_and_the_draft(shop: Workshop) -> None:
    ideas = shop.add("brainstorming", "Ideas", {"allow_comments": True})
    shop.control(ideas, "start")
    shop.idea("pat", ideas, "Cheap hall")
    shop.idea("quinn", ideas, "Rooftop")
    shop.control(ideas, "stop")
    page = soup(shop.as_("fac").get(shop.url(ideas, "transfer")))
    # The draft's rows as the form sends them (texts and their source tokens), into a new dot vote.
    fields = {str(n["name"]): str(n.get("value", n.get_text())) for n in page.select("#transfer-form textarea, #transfer-form input[type=hidden]")}
    fields.update(target_type="voting", target_title="Vote", mode="new")
    assert shop.as_("fac").post(shop.url(ideas, "transfer/commit"), data={**fields, "commit": "new"}).status_code == 303
    vote = shop.agenda()[1][0]
    fields["item-1"] = "Cheap hall downtown"
    assert shop.as_("fac").post(shop.url(ideas, "transfer/draft"), data={**fields, "action": "save"}).status_code == 303

    first, second = round_trip(shop)

    assert comparable(second) == comparable(first)
    new_id = second["meeting"]["id"]
    rows = shop.db.read_sync(lambda: list(Provenance.select().where(Provenance.meeting_id == new_id)))
    assert sorted((r.activity_id, r.source_activity_id, r.source_label) for r in rows) == [
        (vote.replace(shop.meeting.id, new_id), ideas.replace(shop.meeting.id, new_id), "idea #1"),
        (vote.replace(shop.meeting.id, new_id), ideas.replace(shop.meeting.id, new_id), "idea #2"),
    ]
    assert [d["data"]["rows"][0]["text"] for d in second["transfer_drafts"]] == ["Cheap hall downtown"]
    # The restored draft opens on the imported donor with the edit in it.
    draft = shop.as_("fac").get(f"/meeting/{new_id}/activities/{ideas.replace(shop.meeting.id, new_id)}/transfer")
    assert draft.status_code == 200
    assert [text_of(t) for t in soup(draft).select(".transfer-row textarea")][:2] == ["Cheap hall downtown", "Rooftop"]


# -- bad input: SPEC's message, nothing created, never a 500 ------------------------------------------


@pytest.fixture
def exported(shop: Workshop) -> dict[str, Any]:
    """A meeting with a vote, exported: the base that the bad bundles below spoil."""
    vote = shop.add("voting", "Vote", {"options": ["Alpha", "Beta"], "max_votes": 2, "max_per_option": 2})
    shop.control(vote, "start")
    shop.as_("pat").post(shop.url(vote, "votes"), data={"opt-1": "2"})
    shop.control(vote, "stop")
    return unzip(export_zip(shop, shop.meeting.id))


def refused(shop: Workshop, raw: bytes, message: str, status: int = 422) -> httpx.Response:
    before = counts(shop)
    response = upload(shop, raw)
    assert response.status_code == status, response.text[:1500]
    assert error_of(response) == message
    assert counts(shop) == before
    return response


def test_a_file_that_is_not_a_zip_is_refused(shop: Workshop) -> None:
    response = refused(shop, b"name,idea\nAda,More coffee\n", "Invalid zip file")
    assert soup(response).select_one("#import-form input[type=file][aria-invalid=true]") is not None


def test_a_missing_or_empty_file_is_refused(shop: Workshop) -> None:
    refused(shop, b"", "Import file is missing or empty.")
    before = counts(shop)
    response = shop.as_("fac").post("/meeting/import", data={"form_token": ""})
    assert response.status_code == 422 and error_of(response) == "Import file is missing or empty."
    assert counts(shop) == before


def test_a_zip_bomb_is_refused_by_its_uncompressed_size(shop: Workshop) -> None:
    bomb = zipped({"meeting.json": b" " * (70 * 1024 * 1024)})  # 70 MB of spaces deflate to about 70 KB

    assert len(bomb) < 1024 * 1024
    refused(shop, bomb, "The upload is too large.", 413)


def test_a_zip_of_many_entries_is_refused(exported: dict[str, Any], shop: Workshop) -> None:
    files: dict[str, bytes | str] = {f"notes/{n}.txt": b"" for n in range(5000)}
    refused(shop, zipped({"meeting.json": json.dumps(exported), **files}), "The upload is too large.", 413)


@pytest.mark.parametrize("name", ["../meeting.json", "/etc/meeting.json", "notes/../../evil.txt", "C:/evil.txt", "notes\\..\\evil.txt"])
def test_path_traversal_names_are_refused(exported: dict[str, Any], shop: Workshop, name: str) -> None:
    refused(shop, zipped({"meeting.json": json.dumps(exported), name: b"x"}), "Invalid zip file")


def test_a_zip_without_meeting_json_is_refused(shop: Workshop) -> None:
    refused(shop, zipped({"export.csv": "a,b\n"}), "Meeting bundle is missing a JSON export")


def test_meeting_json_that_is_not_json_is_refused(shop: Workshop) -> None:
    refused(shop, zipped({"meeting.json": '{"format": "decidero-meeting", "version": 1,'}), "Invalid JSON export")


def test_meeting_json_that_fails_the_schema_is_refused(exported: dict[str, Any], shop: Workshop) -> None:
    spoiled = copy.deepcopy(exported)
    spoiled["activities"][0]["content"]["votes"][0]["count"] = "lots"

    response = refused(shop, with_json(spoiled), "Invalid JSON export")

    assert "activities[0].content.votes[0].count" in text_of(soup(response).select_one("#e-bundle small"))


def test_a_time_that_is_no_date_fails_the_schema(exported: dict[str, Any], shop: Workshop) -> None:
    spoiled = copy.deepcopy(exported)
    spoiled["activities"][0]["content"]["votes"][0]["updated_at"] = "2026-13-45T25:00:00Z"
    refused(shop, with_json(spoiled), "Invalid JSON export")


def test_two_exported_people_matching_one_account_keep_their_ballots_apart(exported: dict[str, Any], shop: Workshop) -> None:
    data = copy.deepcopy(exported)
    pat = next(p for p in data["participants"] if p["login"] == "pat")
    twin = {**pat, "user_id": "USR-TWINXXP-001", "login": None, "display_name": "Pat's twin"}
    data["participants"].append(twin)
    vote = data["activities"][0]
    vote["content"]["votes"].append({**vote["content"]["votes"][0], "user_id": twin["user_id"]})

    new_id = imported_id(shop, upload(shop, with_json(data)))

    new_vote = vote["id"].replace(shop.meeting.id, new_id)
    voters = shop.db.read_sync(lambda: sorted(v.user_id for v in VoteAllocation.select().where(VoteAllocation.activity == new_vote)))
    assert len(voters) == 2 and shop.people["pat"].user_id in voters


def test_a_config_of_the_wrong_shape_fails_the_schema(exported: dict[str, Any], shop: Workshop) -> None:
    spoiled = copy.deepcopy(exported)
    spoiled["activities"][0]["config"]["options"] = 7

    response = refused(shop, with_json(spoiled), "Invalid JSON export")

    assert "activities[0].config.options" in text_of(soup(response).select_one("#e-bundle small"))


def test_an_unknown_activity_type_fails_the_schema(exported: dict[str, Any], shop: Workshop) -> None:
    spoiled = copy.deepcopy(exported)
    spoiled["activities"][0]["type"] = "poker"
    refused(shop, with_json(spoiled), "Invalid JSON export")


def test_an_unsupported_version_is_refused(exported: dict[str, Any], shop: Workshop) -> None:
    refused(shop, with_json({**exported, "version": 2}), "Unsupported export version.")


def test_a_50_mb_upload_is_refused_before_it_is_read(shop: Workshop) -> None:
    before = counts(shop)
    body = b"\0" * (50 * 1024 * 1024)

    response = upload(shop, body)

    assert response.status_code == 413
    assert error_of(response) == "The upload is too large."
    assert counts(shop) == before


def test_a_50_mb_upload_without_a_length_is_cut_off_at_the_cap(shop: Workshop) -> None:
    before = counts(shop)
    chunk = b"\0" * (1024 * 1024)

    def stream() -> Iterator[bytes]:
        for _ in range(50):
            yield chunk

    response = shop.as_("fac").post("/meeting/import", content=stream(), headers={"Content-Type": "application/zip"})

    assert response.status_code == 413
    assert error_of(response) == "The upload is too large."
    assert counts(shop) == before


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda d: d["activities"][0]["content"]["votes"][0].update(option_id="MTG20200101-0001-RANKVT-0001:opt-1"), id="vote-option-of-another-meeting"),
        pytest.param(lambda d: d["activities"][0].update(id="MTG20200101-0001-RANKVT-0001"), id="activity-of-another-meeting"),
        pytest.param(lambda d: d["activities"][0]["content"]["votes"][0].update(user_id="USR-NOBODYX-001"), id="voter-not-listed"),
        pytest.param(lambda d: d["activities"][0].update(round={"previous_id": d["activities"][0]["id"] + "9", "number": 2}), id="round-after-missing-activity"),
        pytest.param(lambda d: d["provenance"].append({
            "activity_id": "MTG20200101-0001-RANKVT-0001", "ref": "MTG20200101-0001-RANKVT-0001:opt-1",
            "source_meeting_id": "x", "source_activity_id": "x", "source_title": "x", "source_ref": "x", "source_label": "x",
            "source_text": "x", "parts": [], "created_at": "2026-01-01T00:00:00Z",
        }), id="provenance-outside"),
    ],
)
def test_ids_pointing_outside_the_bundle_are_refused(exported: dict[str, Any], shop: Workshop, spoil: Any) -> None:
    spoiled = copy.deepcopy(exported)
    spoil(spoiled)
    refused(shop, with_json(spoiled), "Invalid JSON export")


# -- the dashboard tile and the form -------------------------------------------------------------------


def test_the_dashboard_tile_leads_to_a_form_that_works_without_javascript(shop: Workshop) -> None:
    dashboard = shop.as_("fac").get("/dashboard")
    tile = soup(dashboard).select_one('.quick-actions a[href="/meeting/import"]')
    assert tile is not None and text_of(tile) == "IMPORT MEETING"

    page = shop.as_("fac").get("/meeting/import")

    form = soup(page).select_one("#import-form")
    assert page.status_code == 200 and form is not None
    assert (form["method"], form["action"], form["enctype"]) == ("post", "/meeting/import", "multipart/form-data")
    assert form.select_one("input[type=file][name=bundle]") is not None
    assert form.select_one("input[name=csrf_token]") is not None
    assert soup(shop.as_("pat").get("/dashboard")).select_one('a[href="/meeting/import"]') is None
