"""A meeting with a dot voting and a rank-order activity, and ballots and results read the way people see them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from bs4 import BeautifulSoup, Tag
from helpers_meetings import Person, SeededMeeting, add_people, second_handle, seed_meeting, soup, text_of
from starlette.testclient import TestClient

from decidero.activities.ballots.models import Ranking, VoteAllocation
from decidero.meetings import agenda
from decidero.meetings.activity_types import get_type
from decidero.meetings.models import Activity, Meeting, MeetingEvent
from decidero.platform.db import Database

ROLES = {
    "owner": "facilitator",
    "pat": "participant",
    "quinn": "participant",
    "rae": "participant",
    "outsider": "participant",
}
OPTIONS = ["A", "B", "C", "D"]
IDEAS = ["X", "Y", "Z"]
Browser = TestClient | httpx.Client
T = TypeVar("T")


class FileDatabase:
    """A server's database file used from the test process, one short-lived handle per call."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read_sync(self, fn: Callable[[], T]) -> T:
        with second_handle(self.path) as db:
            return db.read_sync(fn)

    def write_sync(self, fn: Callable[[], T]) -> T:
        with second_handle(self.path) as db:
            return db.write_sync(fn)


def add_voting(
    db: Database | FileDatabase, meeting_id: str, type_name: str, title: str, config: dict[str, Any], defaults: dict[str, Any] | None = None
) -> str:
    """An activity added the way the agenda adds it (option ids are given on the write path); any
    type, its default config (or ``defaults``, for a type whose defaults need the settings) overridden by ``config``."""

    def write() -> str:
        meeting = Meeting.get_by_id(meeting_id)
        common = {"title": title, "instructions": "", "time_limit_minutes": None, "auto_stop": False}
        full = {**(get_type(type_name).default_config(None) if defaults is None else defaults), **config}
        activity, _ = agenda.add_activity(meeting, type_name, common, full, meeting.owner_id)
        return str(activity.id)

    return db.write_sync(write)


@dataclass
class Poll:
    """Seeded people and meeting ("Vote": A–D, 3 dots, 2 per option; "Rank": X, Y, Z), plus a way
    to open each person's browser."""

    db: Database | FileDatabase
    meeting: SeededMeeting
    people: dict[str, Person]
    vote: str
    rank: str
    opener: Callable[[Person], Browser]

    def as_(self, login: str) -> Browser:
        return self.opener(self.people[login])

    def url(self, template: str) -> str:
        return template.format(mid=self.meeting.id, vote=self.vote, rank=self.rank)

    def post(self, login: str, template: str, data: dict[str, str] | None = None, **headers: str) -> httpx.Response:
        return self.as_(login).post(self.url(template), data=data or {}, headers=headers)

    def get(self, login: str, template: str = "/meeting/{mid}", **headers: str) -> httpx.Response:
        return self.as_(login).get(self.url(template), headers=headers)

    def control(self, action: str, activity: str, login: str = "owner") -> httpx.Response:
        response = self.as_(login).post(f"/meeting/{self.meeting.id}/activities/{activity}/control", data={"action": action})
        assert response.status_code == 303, response.text[:500]
        return response

    def publish(self, activity: str, on: bool = True) -> None:
        response = self.as_("owner").post(
            f"/meeting/{self.meeting.id}/activities/{activity}/publish", data={"publish": "1" if on else "0"}
        )
        assert response.status_code == 303, response.text[:500]

    def vote_as(self, login: str, counts: dict[str, int], key: str = "", **extra: str) -> httpx.Response:
        """Submit an allocation by option label (A–D) as the no-JS form does."""
        fields = {f"opt-{OPTIONS.index(label) + 1}": str(n) for label, n in counts.items()}
        return self.post(login, "/meeting/{mid}/activities/{vote}/votes", {**fields, "key": key, **extra})

    def rank_as(self, login: str, order: list[str]) -> httpx.Response:
        return self.post(login, "/meeting/{mid}/activities/{rank}/ranking", {"order": " ".join(option_ids(order))})

    def configure(self, activity: str, **changes: Any) -> None:
        """Change config keys directly (test setup; the edit form is tested on its own)."""

        def write() -> None:
            row = Activity.get_by_id(activity)
            row.config = {**row.config, **changes}
            row.save()

        self.db.write_sync(write)

    # -- the database, as a check that refused requests stored nothing ----------------------------

    def allocation(self, login: str) -> dict[str, int]:
        user_id = self.people[login].user_id

        def read() -> dict[str, int]:
            rows = VoteAllocation.select().where(VoteAllocation.activity == self.vote, VoteAllocation.user == user_id)
            return {OPTIONS[int(r.option_id.rsplit("-", 1)[1]) - 1]: r.count for r in rows}

        return self.db.read_sync(read)

    def ranking(self, login: str) -> list[str] | None:
        user_id = self.people[login].user_id
        row = self.db.read_sync(lambda: Ranking.get_or_none(Ranking.activity == self.rank, Ranking.user == user_id))
        return None if row is None else [IDEAS[int(i.rsplit("-", 1)[1]) - 1] for i in row.order]

    def events(self, kind: str) -> int:
        return self.db.read_sync(
            lambda: MeetingEvent.select().where(MeetingEvent.meeting_id == self.meeting.id, MeetingEvent.type == kind).count()
        )


def option_ids(labels: list[str]) -> list[str]:
    """``opt-N`` of the seeded ideas or options by label (X, Y, Z are opt-1..3; so are A, B, C)."""
    pool = IDEAS if labels and labels[0] in IDEAS else OPTIONS
    return [f"opt-{pool.index(label) + 1}" if label in pool else label for label in labels]


def seed_poll(db: Database | FileDatabase, opener: Callable[[Person], Browser], vote: dict[str, Any] | None = None, rank: dict[str, Any] | None = None) -> Poll:
    people = add_people(db, ROLES)
    meeting = seed_meeting(db, "owner", participants=["pat", "quinn", "rae"], activities=[])
    vote_id = add_voting(
        db, meeting.id, "voting", "Vote", {"options": OPTIONS, "max_votes": 3, "max_per_option": 2, **(vote or {})}
    )
    rank_id = add_voting(db, meeting.id, "rank_order_voting", "Rank", {"ideas": IDEAS, **(rank or {})})
    return Poll(db, meeting, people, vote_id, rank_id, opener)


def client_opener(client: TestClient) -> Callable[[Person], Browser]:
    def open_(person: Person) -> Browser:
        return TestClient(client.app, follow_redirects=False, cookies=person.cookies, headers=person.headers)

    return open_


def http_opener(base_url: str) -> Callable[[Person], Browser]:
    def open_(person: Person) -> Browser:
        return httpx.Client(base_url=base_url, cookies=person.cookies, headers=person.headers, timeout=10)

    return open_


# -- reading pages --------------------------------------------------------------------------------


def page_of(html: str | httpx.Response) -> BeautifulSoup:
    return soup(html)


def results_rows(html: str | httpx.Response, activity: str) -> list[list[str]]:
    """The results table of an activity as a user reads it (empty when no totals are shown)."""
    return [[text_of(td) for td in tr.find_all("td")] for tr in soup(html).select(f"#results-{activity} table tbody tr")]


def has_totals(html: str | httpx.Response) -> bool:
    """Whether any totals (a results table or chart) are in this HTML at all."""
    page = soup(html)
    return bool(page.select("table.results-table, svg.bar-chart"))


def progress(html: str | httpx.Response, activity: str) -> str:
    return text_of(soup(html).select_one(f"#progress-{activity}"))


def ballot(html: str | httpx.Response, activity: str) -> Tag:
    node = soup(html).select_one(f"#ballot-{activity}")
    assert node is not None, "no ballot"
    return node


def chosen_dots(html: str | httpx.Response, activity: str) -> dict[str, int]:
    """Option label → the checked dot count in the voter's ballot."""
    found = {}
    for group in ballot(html, activity).select("fieldset.dot-option"):
        checked = group.select_one("input[type=radio][checked]")
        found[text_of(group.find("legend"))] = int(str(checked["value"])) if checked else 0
    return found


def notices(html: str | httpx.Response) -> list[str]:
    return [text_of(n) for n in soup(html).select(".notice")]
