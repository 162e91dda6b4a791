"""People and meetings for the in-process (TestClient) meeting tests: seeded straight through the
write path (fast), then used over HTTP the way each person's browser would. The real-server tests
use ``helpers_meetings``."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import httpx
from account_helpers import database, soup
from conftest import csrf_token, sign_in
from helpers_meetings import password_hash
from starlette.testclient import TestClient

from decidero.meetings import lifecycle as meetings
from decidero.meetings.access import Access, access_for
from decidero.meetings.models import Activity, Meeting, MeetingMember
from decidero.platform.accounts import create_user
from decidero.platform.models import User


def make_user(client: TestClient, login: str, role: str = "participant", **fields: str) -> User:
    hashed = password_hash()
    first = fields.pop("first_name", login)
    return database(client).write_sync(
        lambda: create_user(login=login, password_hash=hashed, role=role, first_name=first, **fields)
    )


def person(client: TestClient, login: str) -> TestClient:
    """A second browser on the same running app, signed in as ``login``."""
    other = TestClient(client.app, follow_redirects=False)
    response = sign_in(other, login)
    assert response.status_code == 303, response.text
    return other


def signed_out(client: TestClient) -> TestClient:
    return TestClient(client.app, follow_redirects=False)


def get_user(client: TestClient, login: str) -> User:
    return database(client).read_sync(lambda: User.get(User.login == login))


def seed_meeting(
    client: TestClient,
    owner: str,
    title: str = "Q3 Planning",
    participants: Iterable[str] = (),
    cofacilitators: Iterable[str] = (),
    activities: Iterable[str] = (),
) -> str:
    """A meeting created by ``owner`` through ``meetings.create_meeting``; returns its id."""
    db = database(client)
    owner_user = get_user(client, owner)
    people = [get_user(client, login).id for login in participants]
    cofacs = [get_user(client, login).id for login in cofacilitators]
    plan = [meetings.PlannedActivity("discussion", name, "") for name in activities]
    details = meetings.Details(title, "", None, 60)
    meeting, _ = db.write_sync(lambda: meetings.create_meeting(owner_user, details, plan, people, cofacs))
    return str(meeting.id)


def set_state(client: TestClient, meeting_id: str, position: int, state: str) -> None:
    """Put an activity in a run state directly (the run-control engine is not under test here)."""

    def write() -> None:
        started = datetime(2026, 1, 1) if state != "not_started" else None
        Activity.update(state=state, started_at=started).where(
            Activity.meeting == meeting_id, Activity.position == position
        ).execute()

    database(client).write_sync(write)


def meeting_row(client: TestClient, meeting_id: str) -> Meeting | None:
    return database(client).read_sync(lambda: Meeting.get_or_none(Meeting.id == meeting_id))


def roles_in(client: TestClient, meeting_id: str) -> dict[str, str]:
    """login → owner / cofacilitator / participant."""

    def read() -> dict[str, str]:
        meeting = Meeting.get_by_id(meeting_id)
        found = {meeting.owner.login: "owner"}
        for member in MeetingMember.select(MeetingMember, User).join(User).where(MeetingMember.meeting == meeting_id):
            found[member.user.login] = member.role
        return found

    return database(client).read_sync(read)


def access(client: TestClient, meeting_id: str, login: str) -> Access:
    user = get_user(client, login)
    return database(client).read_sync(lambda: access_for(meeting_id, user))


def post(client: TestClient | httpx.Client, path: str, data: dict[str, str] | None = None, page: str = "/dashboard", **kwargs: object) -> httpx.Response:
    """POST a form with the CSRF token the signed-in user's pages carry."""
    token = csrf_token(client, page)
    return client.post(path, data={"csrf_token": token, **(data or {})}, **kwargs)  # type: ignore[arg-type]


def flash(response: httpx.Response) -> list[str]:
    return [n.get_text(" ", strip=True) for n in soup(response).select(".notice")]


def dashboard_rows(client: TestClient, query: str = "") -> dict[str, dict[str, str]]:
    """MY MEETINGS as a user reads it: meeting id → column text, plus the action labels."""
    page = soup(client.get("/dashboard" + (f"?{query}" if query else "")))
    rows = {}
    for tr in page.select("#meeting-rows tbody tr"):
        cells = tr.find_all("td")
        rows[str(tr["data-meeting"])] = {
            "title": cells[0].select_one(".meeting-title").get_text(strip=True),  # type: ignore[union-attr]
            "owner": cells[1].select_one(".owner-name").get_text(strip=True),  # type: ignore[union-attr]
            "status": cells[3].get_text(strip=True),
            "actions": " | ".join(b.get_text(strip=True) for b in cells[4].select("a, button")),
        }
    return rows
