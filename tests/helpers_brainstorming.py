"""Brainstorming rounds for the tests: seeded through the domain functions, read back the way users
see them (the board's rows) and the way the database holds them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from bs4 import BeautifulSoup, Tag
from helpers_meetings import SeededMeeting, seed_meeting, soup, text_of

from decidero.activities.brainstorming.models import Idea
from decidero.meetings import agenda, run_control
from decidero.meetings.models import IdCounter, Meeting, MeetingEvent
from decidero.platform.db import Database, replace
from decidero.platform.models import User

DEFAULT_CONFIG: dict[str, Any] = {
    "prompt": "",
    "anonymous": False,
    "allow_comments": False,
    "auto_jump": True,
    "char_limit": None,
    "max_ideas_per_user": None,
}


def seed_brainstorm(
    db: Database,
    owner: str,
    participants: list[str],
    cofacilitators: list[str] | None = None,
    rounds: list[tuple[str, dict[str, Any]]] | None = None,
) -> SeededMeeting:
    """A meeting whose agenda is brainstorming rounds (title, config overrides), none started."""
    meeting = seed_meeting(db, owner, participants, cofacilitators or [], activities=())

    def write() -> list[str]:
        row = Meeting.get_by_id(meeting.id)
        owner_id = User.get(User.login == owner).id
        ids = []
        for title, config in rounds or [("Ideas", {})]:
            common = {"title": title, "instructions": "", "time_limit_minutes": None, "auto_stop": False}
            activity, _ = agenda.add_activity(row, "brainstorming", common, {**DEFAULT_CONFIG, **config}, owner_id)
            ids.append(activity.id)
        return ids

    meeting.activities.extend(db.write_sync(write))
    return meeting


def control(db: Database, activity_id: str, action: str, actor: str = "owner") -> None:
    """Run control as the facilitator's button does it (start, pause, resume, stop)."""

    def write() -> None:
        activity = agenda.Activity.get_by_id(activity_id)
        run_control.control(activity, action, User.get(User.login == actor), exclusivity=False)

    db.write_sync(write)


def seed_ideas(db: Database, activity_id: str, author: str, count: int, logged: bool = False) -> int:
    """Add ``count`` ideas "Idea 1"… by ``author`` in bulk (a big board in a second); with ``logged``
    each also gets the ``idea_created`` record a submit writes, never announced. Returns the newest
    idea number."""

    def write() -> int:
        activity = agenda.Activity.get_by_id(activity_id)
        author_id = User.get(User.login == author).id
        scope = f"idea:{activity_id}"
        first = (IdCounter.get_or_none(IdCounter.scope == scope) or IdCounter(last=0)).last + 1
        numbers = range(first, first + count)
        rows = [{"activity": activity_id, "number": n, "author": author_id, "author_name": author, "content": f"Idea {n}"} for n in numbers]
        for start in range(0, count, 500):
            Idea.insert_many(rows[start : start + 500]).execute()
        replace(IdCounter, scope=scope, last=numbers[-1])
        if logged:
            ids = Idea.select(Idea.id, Idea.number).where(Idea.activity == activity_id, Idea.number >= first)
            events = [
                {"meeting_id": activity.meeting_id, "type": "idea_created", "activity_id": activity_id, "summary": "An idea was submitted.",
                 "payload_json": f'{{"idea": {i.id}, "label": "{i.number}", "parent": null, "action": "create"}}'}
                for i in ids
            ]
            for start in range(0, len(events), 500):
                MeetingEvent.insert_many(events[start : start + 500]).execute()
        return numbers[-1]

    return db.write_sync(write)


@dataclass(frozen=True)
class StoredIdea:
    label: str
    content: str
    author: str | None
    author_name: str
    hidden: bool
    edited: bool


def stored(db: Database, activity_id: str) -> list[StoredIdea]:
    """Every idea and comment of the activity in number order, as the database holds them."""

    def read() -> list[StoredIdea]:
        rows = Idea.select().where(Idea.activity == activity_id).order_by(Idea.number, Idea.sub)
        return [
            StoredIdea(i.label, i.content, i.author.login if i.author else None, i.author_name, i.hidden, i.edited)
            for i in rows
        ]

    return db.read_sync(read)


@dataclass(frozen=True)
class Row:
    """One row of the board as a user reads it."""

    label: str
    text: str
    author: str
    edited: bool
    hidden: bool
    actions: list[str]


def unwrap(html: str | httpx.Response) -> BeautifulSoup:
    """Out-of-band fragments parsed with their ``<template>`` wrappers taken off."""
    text = html if isinstance(html, str) else html.text
    return soup(text.replace("<template>", "").replace("</template>", ""))


def board_rows(html: str | httpx.Response, activity_id: str | None = None) -> list[Row]:
    """The ideas table of the activity's panel top to bottom (or every row of a fragment)."""
    if activity_id is None:
        table: Tag | BeautifulSoup | None = unwrap(html)
    else:
        table = soup(html).select_one(f"#ideas-{activity_id}")
    assert table is not None, "no ideas table"
    rows = []
    for tr in table.select("tr.idea-row"):
        actions = [text_of(b) for b in tr.select(".idea-actions button, .idea-actions summary")]
        rows.append(
            Row(
                label=text_of(tr.select_one("td.num")),
                text=text_of(tr.select_one(".idea-text")),
                author=text_of(tr.select_one(".author-name")),
                edited=tr.select_one(".edited") is not None,
                hidden="is-hidden" in (tr.get("class") or []),
                actions=actions,
            )
        )
    return rows


def empty_state(html: str | httpx.Response, activity_id: str) -> bool:
    """Whether the board shows "No ideas yet. Be the first to share!"."""
    box = soup(html).select_one(f"#ideas-empty-{activity_id}")
    return box is not None and not box.has_attr("hidden") and "No ideas yet. Be the first to share!" in text_of(box)


def form_error(html: str | httpx.Response) -> str:
    """The message shown beside the idea textarea."""
    node = soup(html).select_one("form .field .error")
    return text_of(node)
