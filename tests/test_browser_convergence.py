"""From ideas to a decision in real browsers (issue 14): a facilitator and two participants, each in
their own browser context against a real server, run the whole workflow: brainstorm, transfer into a
categorization, sort (one move by keyboard only) while the participants watch, roll the buckets up
into a dot vote, vote, run it again as round 2, and read both rounds with each option's source chain.
Also the board at a phone's width."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import LiveServer, running_server
from convergence_helpers import Workshop, seed_workshop
from helpers_meetings import Person, row_action, second_handle
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect
from voting_helpers import FileDatabase, http_opener

LIVE_MS = 5000  # arrives without a reload; the 1 s promise is measured by bench/, not asserted here
CONNECT_MS = 15000
BUCKETS = {
    "Venues": ["Cheap hall", "Rooftop terrace", "Old library", "Park pavilion"],
    "Food": ["Street food", "Catering", "Picnic baskets", "Coffee cart"],
    "Budget": ["Sponsors", "Ticket sales", "Grant", "Crowdfunding"],
}
IDEAS = [idea for ideas in BUCKETS.values() for idea in ideas]
COMMENTS = {"Cheap hall": "near the station", "Rooftop terrace": "needs a permit", "Catering": "vegan options", "Grant": "ask the council"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with running_server(tmp_path_factory.mktemp("convergence-browser")) as running:
        yield running


@pytest.fixture
def shop(server: LiveServer) -> Workshop:
    path = server.cwd / "decidero.db"
    with second_handle(path) as db:
        seeded = seed_workshop(db, http_opener(server.url))
    seeded.db = FileDatabase(path)
    return seeded


@pytest.fixture
def open_page(server: LiveServer, browser: Browser, shop: Workshop) -> Iterator[Callable[..., Page]]:
    contexts: list[BrowserContext] = []
    errors: list[str] = []

    def open_(login: str, path: str = "", width: int = 1280) -> Page:
        context = browser.new_context(base_url=server.url, viewport={"width": width, "height": 900})
        context.set_default_timeout(10000)
        contexts.append(context)
        person: Person = shop.people[login]
        context.add_cookies([{"name": "decidero_session", "value": person.cookie, "url": server.url}])
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(f"{login}: {e}"))
        page.goto(path or shop.meeting.url)
        expect(page.locator("#live-pill")).to_have_text("Connected", timeout=CONNECT_MS)
        return page

    yield open_
    for context in contexts:
        context.close()
    assert errors == []


def row(page: Page, activity: str) -> Locator:
    return page.locator(f"#row-{activity}")


def press(page: Page, activity: str, name: str) -> None:
    row_action(page, f"#row-{activity}", name)


def activity_titled(shop: Workshop, title: str) -> str:
    return next(activity for activity, _, name in shop.agenda() if name == title)


def board(page: Page, activity: str) -> Locator:
    return page.locator(f"#board-{activity.replace(':', '--')}")


def item(page: Page, activity: str, text: str) -> Locator:
    """An idea in the bucket that is open (one at a time, as the board's script shows them)."""
    return board(page, activity).locator(".bucket-pane:not([hidden]) .board-item", has=page.locator(".item-text", has_text=text))


def move_by_mouse(page: Page, activity: str, text: str, bucket: str) -> None:
    idea = item(page, activity, text)
    choice = idea.locator("select[data-move-select]")
    # Focused first, as a click on it would be: a live update of the board arriving while the
    # choice is made keeps a focused select's value (the board's script), not an unfocused one's.
    choice.focus()
    choice.select_option(label=bucket)
    idea.get_by_role("button", name="Move", exact=True).click()
    expect(item(page, activity, text)).to_have_count(0)  # gone from the open bucket (Unsorted Ideas)


def counts(page: Page, activity: str, bucket: str | None = None) -> Locator:
    """The "N items" of every bucket in the Buckets column, or of one."""
    buckets = board(page, activity).locator(".bucket-list .bucket")
    return (buckets.filter(has=page.locator(".bucket-open", has_text=bucket)) if bucket else buckets).locator(".count")


def pick_dots(page: Page, activity: str, option: str, dots: int) -> None:
    rail = page.locator(f"#ballot-{activity} fieldset.dot-option").filter(has=page.locator("legend", has_text=option))
    rail.locator("label.dot", has_text=str(dots)).click()


def vote(page: Page, activity: str, dots: dict[str, int]) -> None:
    ballot = page.locator(f"#ballot-{activity}")
    expect(ballot).to_contain_text("Remaining picks", timeout=LIVE_MS)
    for option, count in dots.items():
        pick_dots(page, activity, option, count)
    ballot.get_by_role("button", name="Submit votes").click()
    expect(ballot).to_contain_text("Your votes were submitted.")


@pytest.mark.timeout(600)
def test_from_twelve_ideas_to_a_decision_in_two_rounds(shop: Workshop, open_page: Callable[..., Page]) -> None:
    ideas = shop.add("brainstorming", "Ideas", {"allow_comments": True})
    fac, pat, quinn = open_page("fac"), open_page("pat"), open_page("quinn")

    # 1. Twelve ideas, some with comments.
    press(fac, ideas, "Start")
    for number, text in enumerate(IDEAS):
        page = pat if number % 2 == 0 else quinn
        composer = page.locator(f"#idea-form-{ideas}")
        composer.get_by_placeholder("Share an idea…").fill(text)
        composer.get_by_role("button", name="Submit Idea").click()
        expect(fac.locator(f"#ideas-{ideas} .idea-text", has_text=text)).to_be_visible(timeout=LIVE_MS)
    for text, comment in COMMENTS.items():
        idea = quinn.locator(f"#ideas-{ideas} tr.idea-row:not(.comment)", has=quinn.locator(".idea-text", has_text=text))
        idea.get_by_text("Reply", exact=True).click()
        reply = idea.locator("form.reply-form")
        reply.locator("textarea").fill(comment)
        reply.get_by_role("button", name="Submit reply").click()
        expect(fac.locator(f"#ideas-{ideas} .idea-text", has_text=comment)).to_be_visible(timeout=LIVE_MS)
    press(fac, ideas, "Stop")

    # 2. Transfer into a new categorization.
    row(fac, ideas).get_by_role("link", name="Transfer Ideas (12)").click()
    expect(fac.locator(".transfer-row")).to_have_count(12)
    expect(fac.locator(".transfer-comment textarea")).to_have_count(4)
    fac.get_by_label("Type", exact=True).select_option(label="Bucketing - Facilitator")
    fac.get_by_label("Title", exact=True).fill("Sort")
    fac.get_by_role("button", name="Create Next Activity").click()
    expect(fac.get_by_role("heading", name="Edit activity")).to_be_visible()
    fac.get_by_label("Buckets, one per line").fill("\n".join(BUCKETS))
    fac.get_by_role("button", name="Save").click()
    sort = activity_titled(shop, "Sort")
    expect(row(fac, sort)).to_contain_text("2. Sort", timeout=LIVE_MS)
    expect(row(pat, sort)).to_contain_text("2. Sort", timeout=LIVE_MS)

    # 3. Sort into three buckets while the participants watch; one move by keyboard only.
    press(fac, sort, "Start")
    for page in (fac, pat, quinn):
        expect(board(page, sort).locator(".bucket-pane:not([hidden]) h3")).to_have_text("Open bucket contents: Unsorted Ideas (12)", timeout=LIVE_MS)
    expect(pat.locator(f"#board-{sort.replace(':', '--')} form")).to_have_count(0)  # watching, read-only
    second = item(fac, sort, "Rooftop terrace")
    second.focus()
    fac.keyboard.press("Alt+ArrowUp")  # arrow-key reordering: now first in its bucket
    expect(board(pat, sort).locator(".bucket-pane:not([hidden]) .board-item .item-text").first).to_contain_text("Rooftop terrace", timeout=LIVE_MS)
    keyboard_move = item(fac, sort, "Catering")
    keyboard_move.focus()
    fac.keyboard.press("Tab")  # to its Move to… select
    expect(keyboard_move.locator("select[data-move-select]")).to_be_focused()
    fac.keyboard.press("ArrowDown")  # Venues
    fac.keyboard.press("ArrowDown")  # Food
    fac.keyboard.press("Tab")  # to Move
    fac.keyboard.press("Enter")
    expect(item(fac, sort, "Catering")).to_have_count(0)
    for page in (pat, quinn):
        expect(counts(page, sort, "Food")).to_have_text("1 item", timeout=LIVE_MS)
    for bucket, texts in BUCKETS.items():
        for text in texts:
            if text != "Catering":
                move_by_mouse(fac, sort, text, bucket)
    for page in (fac, pat, quinn):
        expect(counts(page, sort)).to_have_text(["0 items", "4 items", "4 items", "4 items"], timeout=LIVE_MS)
    pat.locator(f"#board-{sort.replace(':', '--')} [data-open-bucket]", has_text="Food").click()
    expect(board(pat, sort).locator(".bucket-pane:not([hidden]) .item-text")).to_have_count(4)
    expect(board(pat, sort).locator(".bucket-pane:not([hidden])")).to_contain_text("Catering (Comments: vegan options)")
    press(fac, sort, "Stop")

    # 4. Roll the buckets up into a dot vote.
    row(fac, sort).get_by_role("link", name="Transfer Ideas (12)").click()
    expect(fac.locator(".transfer-row textarea").first).to_have_value("Category: Budget (Ideas: Sponsors; Ticket sales; Grant (Comments: ask the council); Crowdfunding)")
    fac.get_by_label("Type", exact=True).select_option(label="Dot Voting")
    fac.get_by_label("Title", exact=True).fill("Vote")
    fac.get_by_role("button", name="Create Next Activity").click()
    expect(fac.get_by_role("heading", name="Edit activity")).to_be_visible()
    fac.get_by_label("Total dots per participant").fill("3")
    fac.get_by_label("Dots per option, 1–9").fill("3")
    fac.get_by_role("button", name="Save").click()
    vote_1 = activity_titled(shop, "Vote")
    assert [title for _, _, title in shop.agenda()] == ["Ideas", "Sort", "Vote"]

    # 5. Vote, then run it again as round 2 and vote again.
    press(fac, vote_1, "Start")
    vote(pat, vote_1, {"Category: Venues": 3})
    vote(quinn, vote_1, {"Category: Venues": 2, "Category: Food": 1})
    press(fac, vote_1, "Stop")
    press(fac, vote_1, "Run again as round 2")
    expect(fac.locator(".row-title", has_text="Vote (round 2)")).to_be_visible(timeout=LIVE_MS)
    vote_2 = activity_titled(shop, "Vote (round 2)")
    press(fac, vote_2, "Start")
    vote(pat, vote_2, {"Category: Food": 2, "Category: Venues": 1})
    vote(quinn, vote_2, {"Category: Food": 3})
    press(fac, vote_2, "Stop")

    # 6. Both rounds side by side, and where each option came from.
    fac.goto(shop.url(vote_2, "results"))
    rounds = fac.locator(".rounds-table tbody tr")
    expect(rounds).to_have_count(3)
    expect(rounds.filter(has_text="Category: Venues")).to_contain_text("5")
    venues = [cell.strip() for cell in rounds.filter(has_text="Category: Venues").locator("td").all_inner_texts()]
    food = [cell.strip() for cell in rounds.filter(has_text="Category: Food").locator("td").all_inner_texts()]
    assert venues[1:] == ["5", "1", "-4"]
    assert food[1:] == ["1", "5", "+4"]
    chain = fac.locator("#results-page tbody tr", has_text="Category: Venues").locator("td.chain")
    expect(chain).to_contain_text("idea #1 “Cheap hall” in “Ideas”")
    expect(chain).to_contain_text("bucket “Venues” in “Sort”")
    expect(chain).to_contain_text("in “Vote” → option in “Vote (round 2)” → 1 dot")


def test_the_board_at_a_phones_width_fits_and_keeps_44_pixel_targets(shop: Workshop, open_page: Callable[..., Page], tmp_path: Path) -> None:
    sort = shop.add("categorization", "Sort", {"items": IDEAS[:6], "buckets": list(BUCKETS)})
    shop.control(sort, "start")
    fac = open_page("fac", f"{shop.meeting.url}?activity={sort}", width=390)
    for text, bucket in (("Cheap hall", "Venues"), ("Street food", "Food")):
        move_by_mouse(fac, sort, text, bucket)

    overflow = fac.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    targets = board(fac, sort).locator("button:visible, select:visible, summary:visible, a.bucket-open:visible")
    sizes = [(box["width"], box["height"]) for box in (t.bounding_box() for t in targets.all()) if box]
    assert sizes and all(w >= 44 and h >= 44 for w, h in sizes), sizes
    shot = tmp_path / "board-390.png"
    # The viewport with the board's top just under the sticky top bar (an element or full-page
    # screenshot would draw that bar across the middle of the board).
    fac.evaluate("el => window.scrollTo(0, el.getBoundingClientRect().top + window.scrollY - 60)", board(fac, sort).element_handle())
    fac.screenshot(path=str(shot))
    fac.evaluate("window.scrollBy(0, 700)")
    fac.screenshot(path=str(tmp_path / "page-390.png"))
    keep = os.environ.get("DECIDERO_SCREENSHOTS")
    if keep:  # for a person to look at
        for name in ("board-390.png", "page-390.png"):
            shutil.copy(tmp_path / name, Path(keep) / name)
    assert shot.stat().st_size > 0


def test_a_facilitator_sees_which_idea_another_facilitator_is_moving(shop: Workshop, open_page: Callable[..., Page]) -> None:
    sort = shop.add("categorization", "Sort", {"items": IDEAS[:3], "buckets": list(BUCKETS)})
    shop.control(sort, "start")
    fac, cofac = (open_page(login, f"{shop.meeting.url}?activity={sort}") for login in ("fac", "cofac"))
    mark = item(cofac, sort, "Cheap hall").locator(".holding")

    item(fac, sort, "Cheap hall").locator("select[data-move-select]").focus()
    expect(mark).to_have_text("Being moved by fac", timeout=LIVE_MS)
    expect(item(fac, sort, "Cheap hall").locator(".holding")).to_have_text("")  # not to the mover
    fac.get_by_label("New idea").focus()  # put it down without moving it
    expect(mark).to_have_text("", timeout=LIVE_MS)

    item(fac, sort, "Cheap hall").locator("select[data-move-select]").focus()
    expect(mark).to_have_text("Being moved by fac", timeout=LIVE_MS)
    move_by_mouse(fac, sort, "Cheap hall", "Venues")
    expect(item(cofac, sort, "Cheap hall")).to_have_count(0, timeout=LIVE_MS)  # moved: the mark went with it
    expect(cofac.locator(".holding:not(:empty)")).to_have_count(0)
