"""The meeting report (SPEC §4.13, issue 15): what facilitators and participants read in it, as HTML
and as Markdown, anonymity and hiding kept, where transferred items came from; the room's reveal of
published results; who may open the presenter view."""

from __future__ import annotations

from dataclasses import replace

import pytest
from bs4 import BeautifulSoup
from helpers_meetings import soup, text_of
from helpers_showcase import Showcase, seed_showcase
from starlette.testclient import TestClient

from decidero.activities.brainstorming.ideas import add_idea, set_hidden
from decidero.meetings import agenda, event_log, provenance, run_control, transfer
from decidero.meetings.access import access_for
from decidero.meetings.activity_types import get_type
from decidero.meetings.models import Activity, Meeting
from decidero.platform.models import User
from decidero.platform.runtime_settings import RuntimeSettings

AGENDA = ["Ideas", "Parked", "Vote", "Rank", "Tally", "Tally (round 2)", "Talk", "Retro", "Sort"]


@pytest.fixture
def show(client: TestClient) -> Showcase:
    return seed_showcase(client.app.state.services.db)  # type: ignore[attr-defined]


def as_(client: TestClient, show: Showcase, login: str) -> TestClient:
    person = show.people[login]
    return TestClient(client.app, follow_redirects=False, cookies=person.cookies, headers=person.headers)


def write(client: TestClient, fn):  # type: ignore[no-untyped-def]
    return client.app.state.services.db.write_sync(fn)  # type: ignore[attr-defined]


def publish(client: TestClient, show: Showcase, name: str, on: bool = True) -> None:
    response = as_(client, show, "fay").post(show.activity_url(name, "publish"), data={"publish": "1" if on else "0"})
    assert response.status_code == 303, response.text[:300]


def sections(html: BeautifulSoup) -> list[str]:
    """The activity titles the report shows, in order ("3. Vote" → "Vote")."""
    return [text_of(h).split(". ", 1)[1] for h in html.select("section.report-activity h2")]


def section(html: BeautifulSoup, title: str) -> BeautifulSoup:
    found = [s for s in html.select("section.report-activity") if text_of(s.find("h2")).split(". ", 1)[1] == title]
    assert found, f"no section {title}"
    return found[0]


def test_a_facilitators_report_has_every_activity_in_order_with_run_time_participation_and_charts(client: TestClient, show: Showcase) -> None:
    response = as_(client, show, "fay").get(f"{show.url}/report")

    assert response.status_code == 200
    html = soup(response)
    assert text_of(html.find("h1")) == "Showcase"
    assert sections(html) == AGENDA
    assert html.select_one(".topbar, nav.usermenu") is None  # printable: no site navigation
    facts = text_of(html.select_one(".report-facts"))
    assert show.meeting in facts and "Facilitators fay" in facts and "Participants 3" in facts  # pia, pete, the guest
    rank = section(html, "Rank")
    assert "Run time 0:00" in text_of(rank.select_one(".report-meta"))
    assert text_of(rank.select_one(".participation")) == "2 of 3 submitted a ranking"
    assert rank.select_one("svg.bar-chart") is not None
    assert [text_of(td) for td in rank.select("tbody tr")[0].find_all("td")][:3] == ["1", "Shorter meetings", "3"]
    assert text_of(section(html, "Tally (round 2)").select_one(".participation")) == "1 of 3 voted"
    assert text_of(section(html, "Retro").select_one(".participation")) == "1 of 3 participants contributed · 2 ideas, 1 comment"
    assert "not run" in text_of(section(html, "Talk").select_one(".report-meta"))
    assert "no results to report" in text_of(section(html, "Talk"))


def test_a_participants_report_has_only_the_published_activities(client: TestClient, show: Showcase) -> None:
    pia = as_(client, show, "pia")
    assert sections(soup(pia.get(f"{show.url}/report"))) == ["Rank"]

    publish(client, show, "tally_2")
    publish(client, show, "ideas")  # running: published, but not stopped, so not yet in the report
    html = soup(pia.get(f"{show.url}/report"))
    assert sections(html) == ["Rank", "Tally (round 2)"]
    assert "published" in text_of(html.select_one(".report-head .notice"))
    markdown = pia.get(f"{show.url}/report.md").text
    assert "## 2. Tally \\(round 2\\)" in markdown and "Retro" not in markdown and "Parked" not in markdown

    publish(client, show, "rank", on=False)
    assert sections(soup(pia.get(f"{show.url}/report"))) == ["Tally (round 2)"]


def test_the_report_keeps_anonymity_and_leaves_hidden_ideas_out(client: TestClient, show: Showcase) -> None:
    def anonymous_round() -> None:
        retro = Activity.get_by_id(show.activities["retro"])
        retro.config = {**retro.config, "anonymous": True}
        retro.save()
        set_hidden(show.meeting, retro.id, User.get(User.login == "fay"), "2", True)

    write(client, anonymous_round)
    publish(client, show, "retro")
    for login in ("fay", "pia"):
        reader = as_(client, show, login)
        retro = section(soup(reader.get(f"{show.url}/report")), "Retro")
        assert [text_of(td) for td in retro.select("td.author")] == ["Anonymous", "Anonymous"]
        assert "Fewer status meetings" not in text_of(retro)  # idea 2, hidden
        markdown = reader.get(f"{show.url}/report.md").text
        retro_md = markdown.split("Retro", 1)[1].split("\n## ", 1)[0]
        assert retro_md.count("— Anonymous") == 2 and "pia" not in retro_md and "Fewer status" not in retro_md


def test_transferred_items_show_where_they_came_from(client: TestClient, show: Showcase) -> None:
    sort = section(soup(as_(client, show, "fay").get(f"{show.url}/report")), "Sort")

    chains = [text_of(li) for li in sort.select(".report-sources li")]
    assert "idea #1 “Demo every Friday” in “Retro” → “Demo every Friday (Comments: with snacks)”" in chains
    assert len(chains) == 2
    assert sort.select_one("svg.bar-chart") is not None  # items per bucket


def test_the_markdown_report_is_a_download_with_the_same_contents(client: TestClient, show: Showcase) -> None:
    def sneaky_idea() -> None:
        ideas = Activity.get_by_id(show.activities["ideas"])
        add_idea(ideas, "<b>bold</b> | =cmd", User.get(User.login == "pete"), "pete")

    write(client, sneaky_idea)
    response = as_(client, show, "fay").get(f"{show.url}/report.md")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/markdown; charset=utf-8"
    assert response.headers["content-disposition"] == f'attachment; filename="{show.meeting}_report.md"'
    text = response.text
    assert text.startswith("# Showcase\n")
    assert [line.split(". ", 1)[1] for line in text.splitlines() if line.startswith("## ")] == [
        t.replace("(", "\\(").replace(")", "\\)") for t in AGENDA
    ]
    assert "| Rank | Idea | Borda Score | Avg Rank | Top Choice % | Rankings |" in text
    assert "| 1 | Shorter meetings | 3 | 1.50 | 50.0 | 2 |" in text
    assert "\\<b\\>bold\\</b\\> \\| =cmd" in text  # user text never becomes markup
    assert "- Participation: 2 of 3 submitted a ranking" in text


def test_only_members_read_the_report_and_only_facilitators_present(client: TestClient, show: Showcase) -> None:
    assert as_(client, show, "pete").get(f"{show.url}/report").status_code == 200
    assert as_(client, show, "pete").get(f"/meeting/{show.archived}/report").status_code == 403  # not on its roster
    assert as_(client, show, "ada").get(f"{show.url}/report").status_code == 200  # admins act as facilitators (SPEC §2.3)
    assert as_(client, show, "pia").get(f"{show.url}/present").status_code == 403
    assert as_(client, show, "fay").get(f"{show.url}/present").status_code == 200
    signed_out = TestClient(client.app, follow_redirects=False)
    for path in ("/report", "/report.md", "/present"):
        assert signed_out.get(show.url + path).status_code == 303


def test_publishing_reveals_results_in_the_participants_room_and_unpublishing_hides_them(client: TestClient, show: Showcase) -> None:
    pia = as_(client, show, "pia")

    def reveal() -> BeautifulSoup | None:
        node = soup(pia.get(show.url)).select_one("#reveal")
        assert node is not None
        return None if node.has_attr("hidden") else node

    assert "Results are in: “Rank”" in text_of(reveal())
    publish(client, show, "tally_2")
    shown = reveal()
    assert "Results are in: “Tally (round 2)”" in text_of(shown)
    assert shown is not None and shown.select_one("table") is None  # pia has activities open: notice and link only

    def stop_everything() -> None:
        for activity in Activity.select().where(Activity.meeting == show.meeting, Activity.state.in_(["running", "paused"])):
            run_control.control(activity, "stop", User.get(User.login == "fay"), exclusivity=False)

    write(client, stop_everything)
    shown = reveal()
    assert shown is not None and [text_of(td) for td in shown.select("tbody tr")[0].find_all("td")][1:3] == ["Yes", "1"]
    assert text_of(shown.select_one(".muted")) == "1 of 3 voted"

    publish(client, show, "tally_2", on=False)
    assert "Results are in: “Rank”" in text_of(reveal())
    publish(client, show, "rank", on=False)
    assert reveal() is None
    assert soup(as_(client, show, "fay").get(show.url)).select_one("#reveal[hidden]") is not None  # facilitators published it


def test_chains_across_two_transfers_match_the_facilitators_source_lines(client: TestClient, show: Showcase) -> None:
    """Retro → Sort (ideas) → Pick (buckets rolled up): the report's chains, read for all items at
    once, are the ones the results pages follow item by item."""

    def second_transfer() -> str:
        meeting = Meeting.get_by_id(show.meeting)
        pick, _ = agenda.add_activity(meeting, "voting", {"title": "Pick", "instructions": ""}, get_type("voting").default_config(None), meeting.owner_id)  # type: ignore[arg-type]
        fay = User.get(User.login == "fay")
        sort = Activity.get_by_id(show.activities["sort"])
        run_control.control(sort, "stop", fay, exclusivity=False)
        draft = replace(transfer.load_draft(Activity.get_by_id(sort.id)), mode="existing", target_id=pick.id)
        transfer.commit(access_for(meeting.id, fay), sort.id, draft, None, RuntimeSettings(client.app.state.services.db))  # type: ignore[attr-defined]
        return str(pick.id)

    pick = write(client, second_transfer)
    one_by_one = client.app.state.services.db.read_sync(  # type: ignore[attr-defined]
        lambda: [(label, provenance.chain(pick, ref)) for ref, label in get_type("voting").content_refs(Activity.get_by_id(pick))]
    )
    section_html = section(soup(as_(client, show, "fay").get(f"{show.url}/report")), "Pick")

    chains = [text_of(li) for li in section_html.select(".report-sources li")]
    assert chains == [" → ".join([*hops, f"“{label}”"]) for label, hops in one_by_one]
    assert any("in “Retro”" in c and "in “Sort”" in c for c in chains), chains


def test_the_presenter_stage_follows_the_focus_and_never_shows_an_old_state(client: TestClient, show: Showcase) -> None:
    fay = as_(client, show, "fay")
    hx = {"HX-Request": "true"}

    def stage() -> BeautifulSoup:
        response = fay.get(f"{show.url}/present", headers=hx)
        assert response.status_code == 200
        return soup(response)

    # Sort was started last of the open activities: its board is public, so its buckets show.
    first = stage()
    assert text_of(first.select_one(".present-heading")) == "Sort"
    assert text_of(first.select_one("#present-figure")) == "2 items"
    assert stage().decode() == first.decode()  # nothing happened: the same stage

    def stop_sort() -> None:
        run_control.control(Activity.get_by_id(show.activities["sort"]), "stop", User.get(User.login == "fay"), exclusivity=False)

    write(client, stop_sort)
    after = stage()  # the stop is a new event: the stage is drawn again, for the next focus
    assert text_of(after.select_one(".present-heading")) == "Vote"  # of the open ones, started last
    assert text_of(after.select_one("#present-figure")) == "0 of 3 voted"
    assert after.select_one("table") is None  # its totals are hidden until published

    def live_results() -> None:
        vote = Activity.get_by_id(show.activities["vote"])
        vote.config = {**vote.config, "results_visibility": "live", "show_results_immediately": True}
        vote.save()
        event_log.record(show.meeting, "agenda_changed", "Vote edited.", activity_id=vote.id)

    write(client, live_results)
    live = stage()  # the reveal policy lets everyone see the totals while it runs: a live chart
    assert live.select_one("svg.bar-chart") is not None
    assert [text_of(td) for td in live.select("tbody tr")[0].find_all("td")][1] == "A shared glossary"
