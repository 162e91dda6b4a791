"""Categorization, "Bucketing - Facilitator" (SPEC §4.11, S11): the live board, its rules and
refusals, its audit, two facilitators on one board, and its results and CSV."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from convergence_helpers import Workshop, board_on_page, bucket_counts, message_of, seed_workshop
from helpers_live import ThreadedServer, open_stream
from helpers_meetings import soup, text_of
from starlette.testclient import TestClient
from voting_helpers import client_opener, http_opener

from decidero.activities.categorization.models import BoardItem

ITEMS = ["Cheap hall", "Rooftop", "Catering", "Insurance"]


@pytest.fixture
def shop(client: TestClient) -> Workshop:
    return seed_workshop(client.app.state.services.db, client_opener(client))  # type: ignore[attr-defined]


@pytest.fixture
def sort(shop: Workshop) -> str:
    """ "Sort": four ideas and the buckets Cost and Risk, started."""
    activity = shop.add("categorization", "Sort", {"items": ITEMS, "buckets": ["Cost", "Risk"]})
    shop.control(activity, "start")
    return activity


def move(shop: Workshop, activity: str, text: str, bucket: str, login: str = "fac", htmx: bool = False) -> httpx.Response:
    """The Move to… form as the facilitator's page renders it: where the item was seen, and its revision."""
    item = shop.item(activity, text)
    data = {"item": item.id, "bucket": shop.bucket(activity, bucket), "from": item.bucket_id, "rev": str(item.revision)}
    return shop.post(login, activity, "board/move", data, htmx=htmx)


def page(shop: Workshop, login: str, activity: str) -> httpx.Response:
    response = shop.as_(login).get(f"{shop.meeting.url}?activity={activity}")
    assert response.status_code == 200
    return response


# -- the board ----------------------------------------------------------------------------------------


def test_s11_starting_seeds_the_board_with_every_idea_in_unsorted_ideas_first(shop: Workshop, sort: str) -> None:
    html = page(shop, "fac", sort)

    assert board_on_page(html, sort) == [("Unsorted Ideas", ITEMS), ("Cost", []), ("Risk", [])]
    assert bucket_counts(html, sort) == ["Unsorted Ideas 4 items", "Cost 0 items", "Risk 0 items"]
    banner = text_of(soup(html).select_one(f"#board-{sort.replace(':', '--')} .live-mode"))
    assert banner == "Facilitator-live mode is active. Buckets and assignments update for everyone in real time."
    assert text_of(soup(html).select_one(f"#panel-{sort} .bucket-pane h3")) == "Open bucket contents: Unsorted Ideas (4)"


def test_s11_a_move_to_a_bucket_shows_on_the_participants_read_only_board(shop: Workshop, sort: str) -> None:
    response = move(shop, sort, "Cheap hall", "Cost")

    assert response.status_code == 303
    item = shop.item(sort, "Cheap hall")
    assert response.headers["location"] == f"{shop.meeting.url}?activity={sort}#item-{item.id.replace(':', '--')}"
    html = page(shop, "pat", sort)
    assert board_on_page(html, sort) == [("Unsorted Ideas", ITEMS[1:]), ("Cost", ["Cheap hall"]), ("Risk", [])]
    assert bucket_counts(html, sort)[1] == "Cost 1 item"
    assert soup(html).select(f"#panel-{sort} form") == []  # watching only: no control at all


def test_s11_buckets_are_renamed_added_reordered_and_deleted_with_their_ideas_back_in_unsorted(shop: Workshop, sort: str) -> None:
    move(shop, sort, "Cheap hall", "Cost")
    risk, cost = shop.bucket(sort, "Risk"), shop.bucket(sort, "Cost")

    assert shop.post("fac", sort, "board/buckets/edit", {"bucket": risk, "title": "Risks", "description": "What can go wrong"}).status_code == 303
    assert shop.post("fac", sort, "board/buckets", {"title": "Other"}).status_code == 303
    other = shop.bucket(sort, "Other")
    assert shop.post("fac", sort, "board/reorder", {"bucket": other, "direction": "up"}).status_code == 303
    assert [title for title, _ in shop.board(sort)] == ["Unsorted Ideas", "Cost", "Other", "Risks"]

    assert shop.post("fac", sort, "board/buckets/delete", {"bucket": cost}).status_code == 303

    assert shop.board(sort) == [("Unsorted Ideas", [*ITEMS[1:], "Cheap hall"]), ("Other", []), ("Risks", [])]


def test_s11_unsorted_ideas_cannot_be_renamed_moved_or_deleted(shop: Workshop, sort: str) -> None:
    unsorted = shop.bucket(sort, "Unsorted Ideas")
    refusals = {
        "board/buckets/edit": ({"bucket": unsorted, "title": "Inbox"}, "UNSORTED bucket cannot be renamed."),
        "board/buckets/delete": ({"bucket": unsorted}, "UNSORTED bucket cannot be deleted."),
        "board/reorder": ({"bucket": unsorted, "direction": "down"}, "UNSORTED bucket cannot be moved."),
    }
    for action, (data, message) in refusals.items():
        response = shop.post("fac", sort, action, data)
        assert (response.status_code, message_of(response)) == (400, message), action
    assert [title for title, _ in shop.board(sort)] == ["Unsorted Ideas", "Cost", "Risk"]
    # Describing it is fine.
    assert shop.post("fac", sort, "board/buckets/edit", {"bucket": unsorted, "title": "Unsorted Ideas", "description": "New ones"}).status_code == 303


def test_ideas_are_added_edited_reordered_and_deleted(shop: Workshop, sort: str) -> None:
    assert shop.post("fac", sort, "board/items", {"text": "Parking"}).status_code == 303
    parking = shop.item(sort, "Parking")
    assert shop.post("fac", sort, "board/items/edit", {"item": parking.id, "text": "Parking lot"}).status_code == 303
    assert shop.post("fac", sort, "board/reorder", {"item": parking.id, "direction": "up", "rev": "0"}).status_code == 303
    assert shop.post("fac", sort, "board/items/delete", {"item": shop.item(sort, "Rooftop").id}).status_code == 303

    assert shop.board(sort)[0] == ("Unsorted Ideas", ["Cheap hall", "Catering", "Parking lot", "Insurance"])


# -- refusals --------------------------------------------------------------------------------------------


def board_changes(shop: Workshop, activity: str) -> dict[str, dict[str, str]]:
    """One well-formed request per board route."""
    item, bucket = shop.item(activity, "Rooftop"), shop.bucket(activity, "Cost")
    return {
        "board/buckets": {"title": "New"},
        "board/buckets/edit": {"bucket": bucket, "title": "Costs"},
        "board/buckets/delete": {"bucket": bucket},
        "board/items": {"text": "New idea"},
        "board/items/edit": {"item": item.id, "text": "Roof"},
        "board/items/delete": {"item": item.id},
        "board/move": {"item": item.id, "bucket": bucket, "from": item.bucket_id, "rev": "0"},
        "board/reorder": {"item": item.id, "direction": "up"},
        "board/lock": {"locked": "1"},
    }


def test_participants_get_only_facilitators_can_manage_buckets_and_nothing_changes(shop: Workshop, sort: str) -> None:
    before = shop.board(sort)

    for action, data in board_changes(shop, sort).items():
        response = shop.post("pat", sort, action, data)
        assert (response.status_code, message_of(response)) == (403, "Only facilitators can manage buckets."), action
        htmx = shop.post("pat", sort, action, data, htmx=True)
        assert (htmx.status_code, message_of(htmx)) == (403, "Only facilitators can manage buckets."), action

    assert shop.board(sort) == before
    assert shop.audit(sort) == []
    outsider = shop.post("outsider", sort, "board/items", {"text": "Hi"})
    assert (outsider.status_code, message_of(outsider)) == (403, "You do not have access to this meeting.")


def test_s11_a_locked_board_refuses_every_change_even_from_facilitators(shop: Workshop, sort: str) -> None:
    assert shop.post("fac", sort, "board/lock", {"locked": "1"}).status_code == 303
    before = shop.board(sort)

    for action, data in board_changes(shop, sort).items():
        if action == "board/lock":
            continue
        response = shop.post("cofac", sort, action, data)
        assert (response.status_code, message_of(response)) == (409, "This board is locked. Unlock it to make changes."), action

    assert shop.board(sort) == before
    assert shop.post("fac", sort, "board/lock", {"locked": "0"}).status_code == 303
    assert move(shop, sort, "Rooftop", "Cost").status_code == 303
    assert [a[0] for a in shop.audit(sort)] == ["lock", "unlock", "move_item"]


@pytest.mark.parametrize("state", ["not_started", "stopped"])
def test_a_board_that_is_not_live_refuses_changes(shop: Workshop, state: str) -> None:
    activity = shop.add("categorization", "Sort", {"items": ITEMS, "buckets": ["Cost"]})
    if state == "stopped":
        shop.control(activity, "start")
        shop.control(activity, "stop")
    response = shop.post("fac", activity, "board/items", {"text": "Late idea"})

    assert (response.status_code, message_of(response)) == (409, "This activity is not open for categorization.")


def test_a_paused_board_still_takes_the_facilitators_changes(shop: Workshop, sort: str) -> None:
    shop.control(sort, "pause")

    assert move(shop, sort, "Rooftop", "Risk").status_code == 303


def test_ids_of_another_activity_are_refused(shop: Workshop, sort: str) -> None:
    other = shop.add("categorization", "Other board", {"items": ["Elsewhere"], "buckets": ["Far"]})
    shop.control(other, "start")
    foreign_item, foreign_bucket = shop.item(other, "Elsewhere"), shop.bucket(other, "Far")
    mine = shop.item(sort, "Rooftop")

    cases = [
        ("board/move", {"item": foreign_item.id, "bucket": shop.bucket(sort, "Cost")}, "Item not found in this activity."),
        ("board/move", {"item": mine.id, "bucket": foreign_bucket}, "Bucket not found in this activity."),
        ("board/items/edit", {"item": foreign_item.id, "text": "Mine now"}, "Item not found in this activity."),
        ("board/buckets/delete", {"bucket": foreign_bucket}, "Bucket not found in this activity."),
        ("board/move", {"item": "nonsense", "bucket": "nonsense"}, "Item not found in this activity."),
    ]
    for action, data, message in cases:
        response = shop.post("fac", sort, action, data)
        assert (response.status_code, message_of(response)) == (404, message), data

    assert shop.board(other) == [("Unsorted Ideas", ["Elsewhere"]), ("Far", [])]


def test_bucket_titles_must_be_1_to_100_characters_and_unique_ignoring_case(shop: Workshop, sort: str) -> None:
    cases = {
        "": (400, "Bucket title must be 1–100 characters."),
        "x" * 101: (400, "Bucket title must be 1–100 characters."),
        "cost": (409, 'A bucket named "cost" already exists.'),
        "UNSORTED IDEAS": (409, 'A bucket named "UNSORTED IDEAS" already exists.'),
    }
    for title, expected in cases.items():
        response = shop.post("fac", sort, "board/buckets", {"title": title})
        assert (response.status_code, message_of(response)) == expected, title
    rename = shop.post("fac", sort, "board/buckets/edit", {"bucket": shop.bucket(sort, "Risk"), "title": "COST"})
    assert (rename.status_code, message_of(rename)) == (409, 'A bucket named "COST" already exists.')
    assert [title for title, _ in shop.board(sort)] == ["Unsorted Ideas", "Cost", "Risk"]


def test_a_board_holds_at_most_50_buckets(shop: Workshop, sort: str) -> None:
    for number in range(48):
        assert shop.post("fac", sort, "board/buckets", {"title": f"B{number}"}).status_code == 303

    response = shop.post("fac", sort, "board/buckets", {"title": "One too many"})

    assert (response.status_code, message_of(response)) == (409, "A board can have at most 50 buckets.")
    assert len(shop.board(sort)) == 51  # Unsorted Ideas and 50 buckets


@pytest.mark.parametrize("text", ["", "   ", "x" * 1001])
def test_empty_or_over_long_ideas_are_refused(shop: Workshop, sort: str, text: str) -> None:
    added = shop.post("fac", sort, "board/items", {"text": text})
    edited = shop.post("fac", sort, "board/items/edit", {"item": shop.item(sort, "Rooftop").id, "text": text})

    for response in (added, edited):
        assert (response.status_code, message_of(response)) == (400, "Idea text must be 1–1000 characters.")
    assert shop.board(sort)[0] == ("Unsorted Ideas", ITEMS)


def test_the_seed_config_locks_once_the_activity_has_started(shop: Workshop, sort: str) -> None:
    response = shop.as_("fac").post(shop.url(sort, "edit"), data={"items": "Only this", "title": "Sort"})

    assert response.status_code == 409
    assert message_of(response) == (
        "Categorization seed settings are locked because the activity has started; manage buckets and items inside the live activity."
    )
    form = shop.as_("fac").get(shop.url(sort, "edit"))
    assert soup(form).select_one("#f-items").has_attr("disabled")  # type: ignore[union-attr]
    assert shop.post("fac", sort, "edit", {"title": "Sorting"}).status_code == 303  # other fields stay editable


# -- the audit, and two facilitators ---------------------------------------------------------------------


def test_every_change_has_an_audit_row_and_a_line_in_the_activity_log(shop: Workshop, sort: str) -> None:
    move(shop, sort, "Cheap hall", "Cost")
    move(shop, sort, "Cheap hall", "Risk", login="cofac")
    shop.post("fac", sort, "board/buckets", {"title": "Other"})

    assert shop.audit(sort) == [
        ("move_item", "fac", "Cheap hall", "Unsorted Ideas", "Cost"),
        ("move_item", "cofac", "Cheap hall", "Cost", "Risk"),
        ("add_bucket", "fac", "Other", "", "Other"),
    ]
    assert shop.log("board_changed") == [
        "fac moved “Cheap hall” from Unsorted Ideas to Cost in “Sort”.",
        "cofac moved “Cheap hall” from Cost to Risk in “Sort”.",
        "fac added the bucket “Other” in “Sort”.",
    ]
    log_page = shop.as_("fac").get(f"{shop.meeting.url}/log")
    assert "fac moved “Cheap hall” from Unsorted Ideas to Cost in “Sort”." in log_page.text


def test_a_move_made_on_a_stale_view_is_refused_and_the_answer_shows_the_board_as_it_is(shop: Workshop, sort: str) -> None:
    seen = shop.item(sort, "Catering")
    assert move(shop, sort, "Catering", "Cost", login="cofac").status_code == 303
    stale = {"item": seen.id, "bucket": shop.bucket(sort, "Risk"), "from": seen.bucket_id, "rev": str(seen.revision)}

    response = shop.post("fac", sort, "board/move", stale, htmx=True)

    assert response.status_code == 409
    assert message_of(response) == "Someone else moved “Catering” meanwhile: it is now in “Cost”. Nothing was changed."
    assert board_on_page(response, sort)[1] == ("Cost", ["Catering"])  # the current board, out of band
    assert shop.board(sort)[1:] == [("Cost", ["Catering"]), ("Risk", [])]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ThreadedServer]:
    running = ThreadedServer(tmp_path).start()
    yield running
    running.stop()


def test_two_facilitators_moving_the_same_idea_at_once_one_wins_the_other_is_told(server: ThreadedServer) -> None:
    shop = seed_workshop(server.db, http_opener(server.url))
    activity = shop.add("categorization", "Sort", {"items": [f"Idea {n}" for n in range(8)], "buckets": ["Cost", "Risk"]})
    shop.control(activity, "start")
    browsers = {login: shop.as_(login) for login in ("fac", "cofac")}
    outcomes: list[tuple[str, str, int, str]] = []

    for number in range(8):
        item = shop.item(activity, f"Idea {number}")
        wanted = {"fac": "Cost", "cofac": "Risk"}
        start = threading.Barrier(2)

        def send(login: str, item: BoardItem = item, wanted: dict[str, str] = wanted, start: threading.Barrier = start) -> None:
            data = {"item": item.id, "bucket": shop.bucket(activity, wanted[login]), "from": item.bucket_id, "rev": "0"}
            start.wait()
            response = browsers[login].post(shop.url(activity, "board/move"), data=data)
            outcomes.append((item.text, login, response.status_code, message_of(response) if response.status_code != 303 else ""))

        threads = [threading.Thread(target=send, args=(login,)) for login in wanted]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    board = dict(shop.board(activity))
    moves = [row for row in shop.audit(activity) if row[0] == "move_item"]
    for number in range(8):
        text = f"Idea {number}"
        mine = sorted((o for o in outcomes if o[0] == text), key=lambda o: o[2])
        assert [o[2] for o in mine] == [303, 409], mine
        winner, loser = mine
        place = {"fac": "Cost", "cofac": "Risk"}[winner[1]]
        assert loser[3] == f"Someone else moved “{text}” meanwhile: it is now in “{place}”. Nothing was changed."
        assert text in board[place]
        assert [m for m in moves if m[2] == text] == [("move_item", winner[1], text, "Unsorted Ideas", place)]
    assert len(moves) == 8


def test_being_moved_reaches_the_other_facilitators_only_and_clears(server: ThreadedServer) -> None:
    shop = seed_workshop(server.db, http_opener(server.url))
    activity = shop.add("categorization", "Sort", {"items": ["Rooftop"], "buckets": ["Cost"]})
    shop.control(activity, "start")
    item = shop.item(activity, "Rooftop")
    path = f"{shop.meeting.url}/events"
    streams = {login: open_stream(server.url, path, shop.people[login].cookie) for login in ("fac", "cofac", "pat")}
    for stream in streams.values():
        stream.wait_event("hello")

    held = shop.post("fac", activity, "board/holding", {"item": item.id, "holding": "1"})

    assert held.status_code == 204
    mark = streams["cofac"].wait_event("board_holding")
    assert "Being moved by fac" in mark.data
    assert f'id="hold-{item.id.replace(":", "--")}"' in mark.data
    let_go = shop.post("fac", activity, "board/holding", {"item": item.id, "holding": "0"})
    assert let_go.status_code == 204
    cleared = streams["cofac"].wait_event("board_holding", start=streams["cofac"].events.index(mark) + 1)
    assert "Being moved" not in cleared.data
    for login in ("fac", "pat"):  # the mover and the participants get nothing
        streams[login].read_for(0.5)
        assert [e.event for e in streams[login].events if e.event == "board_holding"] == []
    refused = shop.post("pat", activity, "board/holding", {"item": item.id, "holding": "1"})
    assert (refused.status_code, message_of(refused)) == (403, "Only facilitators can manage buckets.")
    for stream in streams.values():
        stream.close()


def test_board_changes_reach_facilitators_with_controls_and_participants_read_only(server: ThreadedServer) -> None:
    shop = seed_workshop(server.db, http_opener(server.url))
    activity = shop.add("categorization", "Sort", {"items": ["Rooftop"], "buckets": ["Cost"]})
    shop.control(activity, "start")
    path = f"{shop.meeting.url}/events"
    streams = {login: open_stream(server.url, path, shop.people[login].cookie) for login in ("cofac", "pat", "outsider")}
    for login in ("cofac", "pat"):
        streams[login].wait_event("hello")

    assert move(shop, activity, "Rooftop", "Cost").status_code == 303

    for login, controls in (("cofac", True), ("pat", False)):
        event = streams[login].wait_event("board_changed")
        assert board_on_page(event.data, activity) == [("Unsorted Ideas", []), ("Cost", ["Rooftop"])]
        assert bool(soup(event.data).select("form")) is controls
    assert streams["outsider"].status == 403
    for stream in streams.values():
        stream.close()


# -- results ----------------------------------------------------------------------------------------------


def test_results_list_buckets_in_order_and_the_csv_has_one_row_per_idea(shop: Workshop, sort: str) -> None:
    move(shop, sort, "Cheap hall", "Cost")
    move(shop, sort, "Insurance", "Risk")
    shop.post("fac", sort, "board/items", {"text": "=SUM(A1)"})
    shop.control(sort, "stop")

    csv_text = shop.as_("fac").get(shop.url(sort, "results.csv"))

    assert csv_text.headers["content-disposition"] == f'attachment; filename="{sort}_results.csv"'
    assert csv_text.text.splitlines() == [
        "bucket_order,bucket,item_order,item",
        "1,Unsorted Ideas,1,Rooftop",
        "1,Unsorted Ideas,2,Catering",
        "1,Unsorted Ideas,3,'=SUM(A1)",
        "2,Cost,1,Cheap hall",
        "3,Risk,1,Insurance",
    ]
    results = shop.as_("fac").get(shop.url(sort, "results"))
    assert [text_of(h) for h in soup(results).select(".results-bucket h2")] == ["1. Unsorted Ideas (3 items)", "2. Cost (1 item)", "3. Risk (1 item)"]
    hidden = shop.as_("pat").get(shop.url(sort, "results.csv"))
    assert (hidden.status_code, message_of(hidden)) == (403, "Results for this activity are not published yet.")
    shop.post("fac", sort, "publish", {"publish": "1"})
    assert shop.as_("pat").get(shop.url(sort, "results.csv")).text == csv_text.text
