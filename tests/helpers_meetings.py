"""People, meetings and activities seeded through Decidero's own domain functions.

Meeting creation has its own routes (built separately); the room tests only need a meeting to
exist, so they write it the way those routes will: on the app's single write path, or on a second
short-lived ``Database`` handle when the server runs in another process (SQLite WAL lets a second
writer in briefly).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import httpx
from bs4 import BeautifulSoup, Tag
from conftest import PASSWORD, SECRET
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from decidero.meetings import agenda
from decidero.meetings.ids import new_join_code, next_meeting_id
from decidero.meetings.models import Activity, Meeting, MeetingEvent, MeetingMember
from decidero.platform.accounts import create_user
from decidero.platform.db import Database
from decidero.platform.models import User, utcnow
from decidero.platform.passwords import hash_password
from decidero.platform.sessions import SESSION_COOKIE, Signing, create_session
from decidero.schema import migrate

T = TypeVar("T")
SIGNING = Signing(SECRET, "decidero")


@cache
def password_hash() -> str:
    """One scrypt hash of PASSWORD shared by every seeded account (hashing costs ~60 ms)."""
    return hash_password(PASSWORD)


@dataclass(frozen=True)
class Person:
    """A seeded account with a live session: its cookie and the CSRF token bound to that session."""

    login: str
    user_id: str
    cookie: str
    csrf: str

    @property
    def cookies(self) -> dict[str, str]:
        return {SESSION_COOKIE: self.cookie}

    @property
    def headers(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.csrf}


@dataclass
class SeededMeeting:
    id: str
    activities: list[str]
    people: dict[str, Person] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"/meeting/{self.id}"

    def activity_url(self, index: int, action: str = "") -> str:
        return f"/meeting/{self.id}/activities/{self.activities[index]}" + (f"/{action}" if action else "")


def _person(login: str, role: str) -> Person:
    user = User.get_or_none(User.login == login) or create_user(
        login=login, password_hash=password_hash(), role=role, first_name=login
    )
    return signed_in(user)


def signed_in(user: User) -> Person:
    """A new session for ``user`` (write path), as its browser would hold it."""
    raw_id = create_session(user, "127.0.0.1", "pytest")
    key = hashlib.sha256(raw_id.encode()).hexdigest()
    return Person(user.login, user.id, SIGNING.sign_session(raw_id), SIGNING.csrf_token(key))


def add_people(db: Database, roles: dict[str, str]) -> dict[str, Person]:
    """Accounts (``login → global role``), each signed in once; existing logins get a new session."""
    password_hash()
    return db.write_sync(lambda: {login: _person(login, role) for login, role in roles.items()})


def seed_meeting(
    db: Database,
    owner: str,
    participants: Sequence[str] = (),
    cofacilitators: Sequence[str] = (),
    activities: Sequence[tuple[str, dict[str, Any]]] = (("Talk", {}),),
    title: str = "Q3 Planning",
) -> SeededMeeting:
    """A meeting owned by ``owner`` with its roster and discussion activities (title, common fields)."""

    def write() -> SeededMeeting:
        owner_user = User.get(User.login == owner)
        meeting = Meeting.create(id=next_meeting_id(utcnow()), join_code=new_join_code(), title=title, owner=owner_user)
        for login in participants:
            MeetingMember.create(meeting=meeting, user=User.get(User.login == login), role="participant")
        for login in cofacilitators:
            MeetingMember.create(meeting=meeting, user=User.get(User.login == login), role="cofacilitator")
        ids = []
        for activity_title, fields in activities:
            common = {"title": activity_title, "instructions": "", "time_limit_minutes": None, "auto_stop": False}
            activity, _ = agenda.add_activity(meeting, "discussion", {**common, **fields}, {}, owner_user.id)
            ids.append(activity.id)
        return SeededMeeting(meeting.id, ids)

    return db.write_sync(write)


@contextmanager
def second_handle(path: Path) -> Iterator[Database]:
    """A short-lived handle on a server's database file from the test process."""
    db = Database(path)
    try:
        migrate(db)
        yield db
    finally:
        db.close()


def on_file(path: Path, fn: Callable[[Database], T]) -> T:
    with second_handle(path) as db:
        return fn(db)


# -- reading state back -------------------------------------------------------------------------


def activity_row(db: Database, activity_id: str) -> Activity:
    return db.read_sync(lambda: Activity.get_by_id(activity_id))


def activity_ids(db: Database, meeting_id: str) -> list[str]:
    return db.read_sync(lambda: [a.id for a in agenda.ordered(meeting_id)])


def log_count(db: Database, meeting_id: str) -> int:
    return db.read_sync(lambda: MeetingEvent.select().where(MeetingEvent.meeting_id == meeting_id).count())


def shift_segment(db: Database, activity_id: str, seconds: float) -> None:
    """Pretend the running segment started ``seconds`` earlier (time passing without sleeping)."""

    def write() -> None:
        activity = Activity.get_by_id(activity_id)
        assert activity.segment_started_at is not None, "activity is not running"
        activity.segment_started_at = activity.segment_started_at - timedelta(seconds=seconds)
        activity.save()

    db.write_sync(write)


def snapshot(db: Database, meeting_id: str) -> list[tuple[Any, ...]]:
    """Everything a refused request must leave unchanged: activities, their state and the log size."""

    def read() -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = [
            (a.id, a.position, a.title, a.state, a.elapsed_seconds, a.roster_mode, a.results_published, a.time_limit_minutes)
            for a in agenda.ordered(meeting_id)
        ]
        rows.append(("log", MeetingEvent.select().where(MeetingEvent.meeting_id == meeting_id).count()))
        return rows

    return db.read_sync(read)


# -- reading pages --------------------------------------------------------------------------------


def soup(html: str | httpx.Response) -> BeautifulSoup:
    return BeautifulSoup(html if isinstance(html, str) else html.text, "html.parser")


def text_of(node: Tag | None) -> str:
    return node.get_text(" ", strip=True) if node is not None else ""


def agenda_titles(html: str | httpx.Response) -> list[str]:
    """The agenda rows as users read them: "1. Talk", "2. Vote", …"""
    return [text_of(a) for a in soup(html).select("#agenda .agenda-row .row-title")]


def row_badges(html: str | httpx.Response, activity_id: str) -> list[str]:
    return [text_of(b) for b in soup(html).select(f"#row-{activity_id} .badges .badge")]


def visible_panel(html: str | httpx.Response, activity_id: str) -> Tag | None:
    """The activity's panel if it is shown to this viewer, else None."""
    panel = soup(html).select_one(f"#panel-{activity_id}")
    return None if panel is None or panel.has_attr("hidden") else panel


def row_action(page: Any, row: str, label: str) -> None:
    """Click a facilitator's action on an agenda row (a Playwright page): the primary button, or one
    under the row's "More" menu, which opens first."""
    button = page.locator(row).get_by_role("button", name=label, exact=True)
    # A live re-render may still be on its way (after Stop: "Run again"); a closed menu hides its
    # buttons from get_by_role, so wait for the button itself, shown or not.
    page.locator(row).get_by_role("button", name=label, exact=True, include_hidden=True).first.wait_for(state="attached")
    # A late live re-render can also replace the row between opening its menu and the click; the
    # click then waits on a detached button, so open the menu again and retry.
    for _ in range(3):
        if not button.is_visible():
            page.locator(f"{row} details.menu > summary").click()
        try:
            button.click(timeout=5_000)
            return
        except PlaywrightTimeoutError:
            continue
    button.click()
