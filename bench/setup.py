"""Set-up phase: accounts, the meeting and its roster on the database; activities and start over HTTP.

Accounts are written through Decidero's own batch function (the one behind
``POST /admin/users/batch/pattern``) with ONE shared scrypt hash, then ``must_change_password`` is
cleared, so the set-up costs one hash instead of two per participant. Every simulated participant
still signs in with its own account through ``POST /login`` during the ramp.
"""

from __future__ import annotations

import html
import re
import sqlite3
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from decidero.platform.db import Database

PASSWORD = "Bench-Passw0rd!"
ADMIN_LOGIN = "bench_admin"
FACILITATOR_LOGIN = "bench_fac"
PARTICIPANT_PREFIX = "bp"
BATCH_SIZE = 500  # the batch route's limit
VOTE_OPTIONS = 8
VOTE_BUDGET = 5
MEETING_TITLE = "Load benchmark"

CSRF_HEADER = re.compile(r'"X-CSRF-Token":\s*"([^"]+)"')
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
SINCE = re.compile(r'sse-connect="[^"?]*\?since=(\d+)"')
TYPE_OPTION = re.compile(r'<option value="([a-z_]+)"')


class SetupError(RuntimeError):
    """The server refused a set-up step; the message says which and why."""


@dataclass
class Plan:
    """Who takes part, and in which meeting and activities."""

    database: Path | str  # the SQLite file, or a postgresql:// URL
    meeting_id: str = ""
    participants: list[str] = field(default_factory=list)
    user_ids: dict[str, str] = field(default_factory=dict)
    brainstorming_id: str = ""
    voting_id: str = ""
    control_id: str = ""  # a discussion step driven by run control when brainstorming is not available
    types: list[str] = field(default_factory=list)

    @property
    def mode(self) -> str:
        return "ideas" if self.brainstorming_id else "control"


# -- on the database ------------------------------------------------------------------------------


def open_database(where: Path | str) -> Database:
    """The app's own handle on the run's database: the SQLite file, or a postgresql:// URL."""
    from decidero.platform.db import connect

    return connect(str(where), where if isinstance(where, Path) else None)


def prepare_database(path: Path | str, participants: int) -> Plan:
    """Create the admin, the facilitator, ``participants`` accounts and the rostered meeting.

    Runs before the server starts (or against the live file of a server started with ``--db``):
    the schema comes from Decidero's own migrations and every row from its own domain functions.
    """
    from decidero.platform.accounts import create_user
    from decidero.platform.models import User
    from decidero.platform.passwords import hash_password
    from decidero.platform.user_admin import PatternBatch, create_pattern_batch
    from decidero.schema import migrate

    if isinstance(path, Path):
        path.parent.mkdir(parents=True, exist_ok=True)
    database = open_database(path)
    try:
        migrate(database)
        shared_hash = hash_password(PASSWORD)

        def accounts() -> None:
            for login, role in ((ADMIN_LOGIN, "super_admin"), (FACILITATOR_LOGIN, "facilitator")):
                if not User.select().where(User.login == login).exists():
                    create_user(login=login, password_hash=shared_hash, role=role, first_name=login)

        database.write_sync(accounts)
        logins: list[str] = []
        for start in range(1, participants + 1, BATCH_SIZE):
            end = min(participants, start + BATCH_SIZE - 1)
            batch = PatternBatch(PARTICIPANT_PREFIX, start, end, PASSWORD, "participant")
            database.write_sync(lambda b=batch: create_pattern_batch(b, shared_hash))  # type: ignore[misc]
            logins.extend(batch.logins)

        def clear_flags() -> dict[str, str]:
            wanted = [*logins, ADMIN_LOGIN, FACILITATOR_LOGIN]
            User.update(must_change_password=False).where(User.login.in_(wanted)).execute()
            return {str(u.login): str(u.id) for u in User.select(User.login, User.id).where(User.login.in_(wanted))}

        user_ids = database.write_sync(clear_flags)
        meeting_id = database.write_sync(lambda: _create_meeting(user_ids[FACILITATOR_LOGIN], [user_ids[x] for x in logins]))
    finally:
        database.close()
    return Plan(database=path, meeting_id=meeting_id, participants=logins, user_ids=user_ids)


def another_meeting(plan: Plan) -> Plan:
    """A second meeting like ``plan``'s, with the same facilitator and roster (before the server starts)."""
    database = open_database(plan.database)
    try:
        owner = plan.user_ids[FACILITATOR_LOGIN]
        meeting_id = database.write_sync(lambda: _create_meeting(owner, [plan.user_ids[x] for x in plan.participants]))
    finally:
        database.close()
    return Plan(database=plan.database, meeting_id=meeting_id, participants=plan.participants, user_ids=plan.user_ids)


def _create_meeting(owner_id: str, participant_ids: list[str]) -> str:
    """The meeting with everyone on its roster, through the domain function behind ``/meeting/create``."""
    from decidero.meetings.lifecycle import Details, create_meeting
    from decidero.platform.models import User

    details = Details(title=MEETING_TITLE, description="", scheduled_start=None, duration_minutes=120)
    owner = User.get_by_id(owner_id)
    meeting, _ = create_meeting(owner, details, [], participant_ids, capacity=max(2000, len(participant_ids)))
    return str(meeting.id)


def read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)


def query(database: Path | str, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` (``?`` placeholders) on the server's database, read beside it."""
    if isinstance(database, Path):
        with read_only(database) as db:
            return list(db.execute(sql, params))
    import psycopg

    with psycopg.connect(database) as connection:
        return list(connection.execute(sql.replace("?", "%s"), params))


def activities(path: Path | str, meeting_id: str) -> list[tuple[str, str]]:
    rows = query(path, "SELECT id, type FROM activity WHERE meeting_id = ? ORDER BY position", (meeting_id,))
    return [(str(a), str(t)) for a, t in rows]


def latest_event_id(path: Path | str, meeting_id: str) -> int:
    [row] = query(path, "SELECT MAX(id) FROM meeting_event WHERE meeting_id = ?", (meeting_id,))
    return int(row[0] or 0)


# The idea an event logged sits in its JSON payload; each backend reads JSON its own way.
IDEA_OF_EVENT = {"sqlite": "json_extract(e.payload_json, '$.idea')", "postgres": "(e.payload_json::json ->> 'idea')::int"}
IDEA_TOKEN_SQL = (
    "SELECT e.id, substr(i.content, 1, 14) FROM meeting_event e JOIN idea i ON i.id = {idea} "
    "WHERE e.meeting_id = ? AND e.type = 'idea_created'"
)


def idea_events(path: Path | str, meeting_id: str) -> dict[str, int]:
    """Each idea's unique token (the start of its text) → the id of the event that logged its creation.

    Exact where the streams are not: a replay or a merged event carries several ideas under its last id.
    """
    sql = IDEA_TOKEN_SQL.format(idea=IDEA_OF_EVENT["sqlite" if isinstance(path, Path) else "postgres"])
    return {str(token): int(event_id) for event_id, token in query(path, sql, (meeting_id,))}


def event_log(path: Path | str, meeting_id: str) -> list[tuple[int, str, str | None, str]]:
    """(id, type, actor_id, created_at) of every logged event of the meeting."""
    rows = query(path, "SELECT id, type, actor_id, created_at FROM meeting_event WHERE meeting_id = ? ORDER BY id", (meeting_id,))
    return [(int(i), str(t), a, str(c)) for i, t, a, c in rows]


# -- over HTTP ------------------------------------------------------------------------------------


async def sign_in(client: httpx.AsyncClient, login: str, password: str = PASSWORD) -> httpx.Response:
    """GET /login for the token and pre-session cookie, then POST /login; 303 on success."""
    page = await client.get("/login")
    match = CSRF_FIELD.search(page.text)
    if match is None:
        raise SetupError(f"GET /login gave {page.status_code} without a csrf_token")
    form = {"login": login, "password": password, "csrf_token": html.unescape(match.group(1))}
    return await client.post("/login", data=form)


def page_csrf(text: str) -> str:
    match = CSRF_HEADER.search(text) or CSRF_FIELD.search(text)
    return html.unescape(match.group(1)) if match else ""


def page_since(text: str) -> int:
    match = SINCE.search(text)
    return int(match.group(1)) if match else 0


def _expect(response: httpx.Response, what: str) -> None:
    if response.status_code >= 400:
        raise SetupError(f"{what}: HTTP {response.status_code}: {_text_of(response.text)[:300]}")


def _text_of(markup: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", markup)).strip()


# The config markers tell each type that its whole config form was submitted (checkboxes included).
BRAINSTORMING_FIELDS = {
    "type": "brainstorming",
    "brainstorming_config": "1",
    "title": "Ideas",
    "instructions": "Share ideas for the load test.",
    "prompt": "What should we try?",
    "allow_comments": "on",
    "char_limit": "500",
    "max_ideas_per_user": "1000",
}
VOTING_FIELDS = {
    "type": "voting",
    "config_form": "1",
    "title": "Vote",
    "options": "\n".join(f"Option {n}" for n in range(1, VOTE_OPTIONS + 1)),
    "max_votes": str(VOTE_BUDGET),
    "max_per_option": str(VOTE_BUDGET),
    "allow_retract": "on",
}


async def prepare_meeting(client: httpx.AsyncClient, plan: Plan) -> Plan:
    """As the signed-in facilitator: add the activities the server offers, start the first one."""
    room = await client.get(f"/meeting/{plan.meeting_id}")
    _expect(room, "open the meeting")
    csrf = page_csrf(room.text)
    plan.types = TYPE_OPTION.findall(room.text)
    # Without brainstorming, run control on a discussion step drives the events instead.
    opening = BRAINSTORMING_FIELDS if "brainstorming" in plan.types else {"type": "discussion", "title": "Warm-up"}
    wanted = [opening, VOTING_FIELDS] if "voting" in plan.types else [opening]
    for fields in wanted:
        response = await client.post(f"/meeting/{plan.meeting_id}/activities", data={**fields, "csrf_token": csrf})
        _expect(response, f"add the {fields['type']} activity")
    for activity_id, type_name in activities(plan.database, plan.meeting_id):
        if type_name == "brainstorming" and not plan.brainstorming_id:
            plan.brainstorming_id = activity_id
        elif type_name == "voting" and not plan.voting_id:
            plan.voting_id = activity_id
        elif type_name == "discussion" and not plan.control_id:
            plan.control_id = activity_id
    first = plan.brainstorming_id or plan.control_id
    await control(client, plan.meeting_id, first, "start", csrf)
    _expect(await client.get(f"/meeting/{plan.meeting_id}"), "open the prepared meeting")
    return plan


async def control(client: httpx.AsyncClient, meeting_id: str, activity_id: str, action: str, csrf: str) -> httpx.Response:
    response = await client.post(
        f"/meeting/{meeting_id}/activities/{activity_id}/control",
        data={"action": action, "csrf_token": csrf},
        headers={"X-CSRF-Token": csrf},
    )
    _expect(response, f"{action} {activity_id}")
    return response


# -- forms in fragments ---------------------------------------------------------------------------


@dataclass
class Form:
    action: str
    hidden: dict[str, str] = field(default_factory=dict)
    choices: dict[str, list[int]] = field(default_factory=dict)  # radio groups, selects, number inputs


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a: dict[str, Any] = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(a.get("hx-post") or a.get("action", "")))
            return
        if not self.forms:
            return
        form, name = self.forms[-1], a.get("name", "")
        if tag == "input" and name:
            kind = a.get("type", "text").lower()
            if kind == "hidden":
                form.hidden[name] = a.get("value", "")
            elif kind == "radio" and a.get("value", "").lstrip("-").isdigit():
                form.choices.setdefault(name, []).append(int(a["value"]))
            elif kind == "number":
                low, high = a.get("min", "0"), a.get("max", str(VOTE_BUDGET))
                if low.isdigit() and high.isdigit():
                    form.choices[name] = list(range(int(low), int(high) + 1))
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and a.get("value", "").isdigit():
            form.choices.setdefault(self._select, []).append(int(a["value"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def find_form(markup: str, action_suffix: str) -> Form | None:
    parser = _FormParser()
    parser.feed(markup)
    return next((f for f in parser.forms if f.action.rstrip("/").endswith(action_suffix)), None)
