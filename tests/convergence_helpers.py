"""A workshop for the convergence tests (issue 14): brainstorming, categorization, voting, transfers
and rounds in one meeting. People and activities are seeded through the domain functions; everything
under test is then used over HTTP the way each person's browser would."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from helpers_brainstorming import DEFAULT_CONFIG
from helpers_meetings import Person, SeededMeeting, add_people, seed_meeting, soup, text_of
from voting_helpers import Browser, FileDatabase, add_voting

from decidero.activities.brainstorming import ideas
from decidero.activities.categorization.models import BoardAudit, BoardItem, Bucket
from decidero.meetings import agenda, run_control
from decidero.meetings.models import Activity, MeetingEvent, Provenance
from decidero.platform.db import Database
from decidero.platform.models import User

ROLES = {"fac": "facilitator", "cofac": "facilitator", "pat": "participant", "quinn": "participant", "outsider": "participant"}


@dataclass
class Workshop:
    db: Database | FileDatabase
    meeting: SeededMeeting
    people: dict[str, Person]
    opener: Callable[[Person], Browser]

    def as_(self, login: str) -> Browser:
        return self.opener(self.people[login])

    def url(self, activity: str, action: str = "") -> str:
        return f"/meeting/{self.meeting.id}/activities/{activity}" + (f"/{action}" if action else "")

    def post(self, login: str, activity: str, action: str, data: dict[str, str] | None = None, htmx: bool = False) -> httpx.Response:
        headers = {"HX-Request": "true"} if htmx else {}
        return self.as_(login).post(self.url(activity, action), data=data or {}, headers=headers)

    # -- seeding ----------------------------------------------------------------------------------

    def add(self, type_name: str, title: str, config: dict[str, Any] | None = None) -> str:
        defaults = DEFAULT_CONFIG if type_name == "brainstorming" else None  # its own come from the settings
        return add_voting(self.db, self.meeting.id, type_name, title, config or {}, defaults)

    def control(self, activity: str, action: str, login: str = "fac") -> None:
        def write() -> None:
            run_control.control(Activity.get_by_id(activity), action, User.get(User.login == login), exclusivity=False)

        self.db.write_sync(write)

    def idea(self, login: str, activity: str, content: str, parent: str = "") -> None:
        """Submitted as the participant's form does (the rules are brainstorming's own tests')."""
        user_id = self.people[login].user_id

        def write() -> None:
            ideas.submit(self.meeting.id, activity, User.get_by_id(user_id), content, parent, None)

        self.db.write_sync(write)

    # -- reading the database back ----------------------------------------------------------------

    def activity(self, activity_id: str) -> Activity:
        return self.db.read_sync(lambda: Activity.get_by_id(activity_id))

    def agenda(self) -> list[tuple[str, str, str]]:
        """(id, type, title) in agenda order."""
        return self.db.read_sync(lambda: [(a.id, a.type, a.title) for a in agenda.ordered(self.meeting.id)])

    def board(self, activity: str) -> list[tuple[str, list[str]]]:
        """Bucket titles in order, each with its ideas in order."""

        def read() -> list[tuple[str, list[str]]]:
            buckets = Bucket.select().where(Bucket.activity == activity).order_by(Bucket.position)
            items = BoardItem.select().where(BoardItem.activity == activity).order_by(BoardItem.position)
            by_bucket: dict[str, list[str]] = {}
            for item in items:
                by_bucket.setdefault(item.bucket_id, []).append(item.text)
            return [(b.title, by_bucket.get(b.id, [])) for b in buckets]

        return self.db.read_sync(read)

    def item(self, activity: str, text: str) -> BoardItem:
        return self.db.read_sync(lambda: BoardItem.get(BoardItem.activity == activity, BoardItem.text == text))

    def bucket(self, activity: str, title: str) -> str:
        return str(self.db.read_sync(lambda: Bucket.get(Bucket.activity == activity, Bucket.title == title).id))

    def audit(self, activity: str) -> list[tuple[str, str, str, str, str]]:
        """(operation, who, idea or bucket, from, to), oldest first, without the seed."""

        def read() -> list[tuple[str, str, str, str, str]]:
            rows = BoardAudit.select().where(BoardAudit.activity == activity, BoardAudit.operation != "seed").order_by(BoardAudit.id)
            return [(r.operation, r.actor_name, r.subject_text, r.from_value, r.to_value) for r in rows]

        return self.db.read_sync(read)

    def log(self, kind: str | None = None) -> list[str]:
        """The activity log's lines (summaries), oldest first."""

        def read() -> list[str]:
            query = MeetingEvent.select().where(MeetingEvent.meeting_id == self.meeting.id)
            if kind:
                query = query.where(MeetingEvent.type == kind)
            return [e.summary for e in query.order_by(MeetingEvent.id)]

        return self.db.read_sync(read)

    def provenance(self, activity: str) -> list[Provenance]:
        return self.db.read_sync(lambda: list(Provenance.select().where(Provenance.activity_id == activity).order_by(Provenance.id)))


def seed_workshop(db: Database | FileDatabase, opener: Callable[[Person], Browser]) -> Workshop:
    """F (``fac``, owner) and co-facilitator ``cofac``; participants ``pat`` and ``quinn``; an outsider."""
    people = add_people(db, ROLES)  # type: ignore[arg-type]
    meeting = seed_meeting(db, "fac", ["pat", "quinn"], ["cofac"], activities=[])  # type: ignore[arg-type]
    return Workshop(db, meeting, people, opener)


# -- reading pages --------------------------------------------------------------------------------


def board_on_page(html: str | httpx.Response, activity: str) -> list[tuple[str, list[str]]]:
    """The board as a viewer reads it: each pane's bucket title with its ideas."""
    found = []
    for pane in soup(html).select(f"#board-{activity.replace(':', '--')} .bucket-pane"):
        heading = text_of(pane.find("h3"))
        title = heading.removeprefix("Open bucket contents: ").rsplit(" (", 1)[0]
        found.append((title, [text_of(i) for i in pane.select(".board-item .item-text")]))
    return found


def bucket_counts(html: str | httpx.Response, activity: str) -> list[str]:
    """The Buckets column as it reads: "Cost 2 items"."""
    return [text_of(b.select_one(".bucket-open")) + " " + text_of(b.select_one(".count")) for b in soup(html).select(f"#board-{activity.replace(':', '--')} .bucket-list .bucket")]


def message_of(response: httpx.Response) -> str:
    """The refusal as the user reads it: the flash notice (htmx) or the error page's message."""
    page = soup(response)
    node = page.select_one(".flash-message, .error-message")
    assert node is not None, response.text[:1500]
    return text_of(node)
