"""Brainstorming's read path (SPEC §4.8): an activity's effective rules, the board as each viewer
sees it, counts. The submit, edit, delete and moderation rules live in ``ideas``.

A board is read a page at a time: at most ``PAGE_SIZE`` ideas (with their comments), newest or
oldest first as the viewer chose, continued from a number (``before``/``after``), optionally
filtered by text. So a page load, a panel swap or a catch-up costs the same at 10,000 ideas as at
10; the whole board is read only for results, the CSV and Transfer Ideas.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from peewee import JOIN, fn

from ...meetings import provenance
from ...meetings.models import Activity
from ...platform.db import contains
from ...platform.forms import submission_key, whole_number
from ...platform.models import RuntimeSetting, User
from ...platform.prepared import count, every, one
from ...platform.runtime_settings import BY_KEY
from .models import BoardPreference, Idea

ANONYMOUS = "Anonymous"
LIVE_STATES = ("running", "paused")
PAGE_SIZE = 50  # ideas per page of a board, each with its comments
QUERY_MAX = 200  # characters of a board search
NEWEST, OLDEST = "newest", "oldest"


def current_setting(key: str) -> Any:
    """A runtime setting as stored right now (read or write path), so a change applies to the next submit."""
    row = one(RuntimeSetting, key=key)
    return json.loads(row.value) if row is not None else BY_KEY[key].default


@dataclass(frozen=True)
class Rules:
    """An activity's effective brainstorming config: blank limits resolved from the runtime settings."""

    prompt: str
    anonymous: bool
    allow_comments: bool
    auto_jump: bool
    char_limit: int
    max_ideas: int


def rules_of(activity: Activity) -> Rules:
    config = activity.config
    return Rules(
        prompt=str(config.get("prompt") or ""),
        anonymous=bool(config.get("anonymous")),
        allow_comments=bool(config.get("allow_comments")),
        auto_jump=bool(config.get("auto_jump", True)),
        char_limit=int(config.get("char_limit") or current_setting("brainstorming.idea_character_limit")),
        max_ideas=int(config.get("max_ideas_per_user") or current_setting("brainstorming.max_ideas_per_user")),
    )


# -- the board as one viewer sees it ------------------------------------------------------------


@dataclass(frozen=True)
class IdeaView:
    """One row. Holds no author id: only what the viewer may see, and whether it is theirs."""

    id: int
    label: str
    number: int
    sub: int
    parent_id: int | None
    content: str
    created_at: datetime
    edited: bool
    hidden: bool
    author: str
    avatar_color: str | None  # None: the neutral grey avatar (anonymous or no account)
    avatar_text: str
    mine: bool
    anonymous: bool
    source: str


@dataclass(frozen=True)
class GroupView:
    idea: IdeaView
    comments: list[IdeaView]


def initials(name: str) -> str:
    words = [w for w in name.split() if w[:1].isalnum()]
    return ("".join(w[0] for w in words[:2]) or name[:1] or "?").upper()


def ref_of(activity_id: str, label: str) -> str:
    """An idea's stable ref outside its table (transfers, provenance): ``<activity id>:idea-5.2``."""
    return f"{activity_id}:idea-{label}"


def view_of(idea: Idea, rules: Rules, viewer_id: str | None, sources: Mapping[str, str]) -> IdeaView:
    """``sources`` holds the facilitators' "Source: …" lines by ref (empty for participants)."""
    mine = bool(viewer_id) and idea.author_id == viewer_id
    if rules.anonymous:
        author, color, text = ANONYMOUS, None, ""
    else:
        user = idea.author if idea.author_id else None
        author = idea.author_name or (user.display_name if user else "")
        color = user.avatar_color if user else None
        text = (user.avatar_emoji or initials(author)) if user else ""
    return IdeaView(
        id=idea.id,
        label=idea.label,
        number=idea.number,
        sub=idea.sub,
        parent_id=idea.parent_id,
        content=idea.content,
        created_at=idea.created_at,
        edited=idea.edited,
        hidden=idea.hidden,
        author=author,
        avatar_color=color,
        avatar_text=text,
        mine=mine,
        anonymous=rules.anonymous,
        source=sources.get(ref_of(idea.activity_id, idea.label), ""),
    )


def _ideas(activity: Activity, rules: Rules, facilitator: bool) -> Any:
    """Ideas and comments of the activity the viewer may see, with authors unless anonymous."""
    if rules.anonymous:  # the author's profile is never even loaded
        query = Idea.select().where(Idea.activity == activity.id)
    else:
        query = Idea.select(Idea, User).join(User, JOIN.LEFT_OUTER).where(Idea.activity == activity.id)
    return query if facilitator else query.where(Idea.hidden == False)  # noqa: E712


def _grouped(rows: list[Idea], rules: Rules, viewer_id: str | None, sources: Mapping[str, str]) -> list[GroupView]:
    """Ideas in the order given, each with its comments (from ``rows`` too) in order; ``sources``:
    the facilitators' "Source: …" lines (see ``view_of``)."""
    groups: dict[int, GroupView] = {}
    for idea in rows:
        if idea.sub == 0:
            groups[idea.id] = GroupView(view_of(idea, rules, viewer_id, sources), [])
    for comment in sorted((r for r in rows if r.sub), key=lambda r: r.sub):
        group = groups.get(comment.parent_id or 0)
        if group is not None:
            group.comments.append(view_of(comment, rules, viewer_id, sources))
    return list(groups.values())


def board(activity: Activity, rules: Rules, facilitator: bool, viewer_id: str | None) -> list[GroupView]:
    """The whole board, ideas newest first (results, CSV, transfers); participants never get hidden ones."""
    rows = list(_ideas(activity, rules, facilitator).order_by(Idea.number.desc(), Idea.sub))
    sources = provenance.sources_for(activity.id) if facilitator else {}
    return _grouped(rows, rules, viewer_id, sources)


# -- one page of a board --------------------------------------------------------------------------


@dataclass(frozen=True)
class View:
    """Which page of a board a viewer reads: the order, where it continues from, a text filter."""

    order: str = NEWEST
    cursor: int | None = None  # newest first: ideas numbered below it; oldest first: above it
    query: str = ""

    @property
    def newest(self) -> bool:
        return self.order != OLDEST


@dataclass(frozen=True)
class Page:
    """One page of a board and how to read on: ``remaining`` ideas lie beyond it, from ``next_cursor``."""

    view: View
    groups: list[GroupView]
    total: int  # ideas the viewer can see (that match the filter)
    remaining: int
    next_cursor: int | None

    @property
    def next_count(self) -> int:
        return min(PAGE_SIZE, self.remaining)


def view_from(params: Any, order: str) -> View:
    """A view from query parameters (``before``/``after``, ``q``); anything unreadable is ignored."""
    newest = order != OLDEST
    cursor = whole_number(str(params.get("before" if newest else "after") or "")) if params else None
    query = clean_query(str(params.get("q") or "")) if params else ""
    return View(NEWEST if newest else OLDEST, cursor, query)


def clean_query(raw: str) -> str:
    return " ".join(raw.split())[:QUERY_MAX]


def _visible_tops(activity: Activity, facilitator: bool, view: View) -> Any:
    """The viewer's top-level ideas matching the filter (any cursor left to the caller)."""
    query = Idea.select(Idea.id).where(Idea.activity == activity.id, Idea.sub == 0)
    if not facilitator:
        query = query.where(Idea.hidden == False)  # noqa: E712
    if view.query:
        # A substring, case-insensitive as LOWER() is (SQLite: ASCII letters; Postgres: every letter).
        matches = contains(fn.LOWER(Idea.content), fn.LOWER(view.query))
        in_comment = Idea.select(Idea.parent).where(Idea.activity == activity.id, Idea.sub > 0, matches)
        if not facilitator:
            in_comment = in_comment.where(Idea.hidden == False)  # noqa: E712
        query = query.where(matches | Idea.id.in_(in_comment))
    return query


def board_page(activity: Activity, rules: Rules, facilitator: bool, viewer_id: str | None, view: View) -> Page:
    """One page of the board as the viewer sees it (read path)."""
    base = _visible_tops(activity, facilitator, view)
    tops = base.select(Idea.number)
    if view.cursor is not None:
        tops = tops.where(Idea.number < view.cursor if view.newest else Idea.number > view.cursor)
    ordered = tops.order_by(Idea.number.desc() if view.newest else Idea.number).limit(PAGE_SIZE + 1)
    picked = [row.number for row in ordered]
    shown = picked[:PAGE_SIZE]
    groups: list[GroupView] = []
    if shown:
        # A comment carries its idea's number ("5.2"), so the page's ideas and their comments are
        # one range of the (activity, number, sub) index; "id or parent" read the whole board.
        rows = list(_ideas(activity, rules, facilitator).where(Idea.number.in_(shown)))
        position = {number: at for at, number in enumerate(shown)}
        rows.sort(key=lambda r: position[r.number])
        groups = _grouped(rows, rules, viewer_id, _sources(activity, rows) if facilitator else {})
    total = base.count()
    remaining, next_cursor = 0, None
    if len(picked) > PAGE_SIZE:
        edge = shown[-1]
        next_cursor = edge
        remaining = base.where(Idea.number < edge if view.newest else Idea.number > edge).count()
    return Page(view, groups, total, remaining, next_cursor)


def order_of(meeting_id: str, user_id: str | None) -> str:
    """The order the user chose for this meeting's boards (newest first until they choose)."""
    if not user_id:
        return NEWEST
    row = one(BoardPreference, user=user_id, meeting=meeting_id)
    return OLDEST if row is not None and row.oldest_first else NEWEST


def set_order(meeting_id: str, user_id: str, order: str) -> None:
    """Remember the user's order for this meeting's boards (write path; a "set to")."""
    oldest = order == OLDEST
    BoardPreference.insert(user=user_id, meeting=meeting_id, oldest_first=oldest).on_conflict(
        conflict_target=[BoardPreference.user, BoardPreference.meeting], update={BoardPreference.oldest_first: oldest}
    ).execute()


def find(activity: Activity, label: str) -> Idea | None:
    """The idea or comment numbered ``label`` ("5" or "5.2") in this activity."""
    parts = label.strip().split(".")
    numbers = [n for n in map(whole_number, parts) if n is not None]
    if len(numbers) != len(parts) or len(numbers) > 2:
        return None  # not a label: anything but plain ASCII digits, or too large to be a number
    number, sub = numbers[0], numbers[1] if len(numbers) == 2 else 0
    return Idea.get_or_none(Idea.activity == activity.id, Idea.number == number, Idea.sub == sub)


def comments_of(idea: Idea) -> list[Idea]:
    """Every comment of ``idea``, hidden ones included, in order."""
    return every(Idea, "sub", parent=idea.id)


def group_of(
    activity: Activity, idea: Idea, rules: Rules, facilitator: bool, viewer_id: str | None, every: list[Idea] | None = None
) -> GroupView | None:
    """One idea with its comments as the viewer sees it, or None when the viewer may not see it.
    ``every`` is ``comments_of(idea)`` when the caller already has it (one query for all audiences)."""
    if idea.hidden and not facilitator:
        return None
    comments = [c for c in (comments_of(idea) if every is None else every) if facilitator or not c.hidden]
    sources = _sources(activity, [idea, *comments]) if facilitator else {}
    return GroupView(view_of(idea, rules, viewer_id, sources), [view_of(c, rules, viewer_id, sources) for c in comments])


def comment_view(activity: Activity, idea: Idea, rules: Rules, facilitator: bool, viewer_id: str | None) -> IdeaView | None:
    parent = idea.parent
    if not facilitator and (idea.hidden or parent.hidden):
        return None
    return view_of(idea, rules, viewer_id, _sources(activity, [idea]) if facilitator else {})


def _sources(activity: Activity, rows: list[Idea]) -> dict[str, str]:
    """Source lines of a few rows. Only transferred rows have one, and those have no author: a
    participant's idea costs no lookup."""
    refs = [ref_of(activity.id, row.label) for row in rows if row.author_id is None]
    return provenance.lookup(activity.id, refs)


def visible_count(activity: Activity) -> int:
    return count(Idea, activity=activity.id, sub=0, hidden=False)


def board_values(activity: Activity, facilitator: bool, viewer_id: str | None, view: View, reply: str = "") -> dict[str, Any]:
    """What the board partial needs for one viewer: a page of it, the forms it shares (read path)."""
    rules = rules_of(activity)
    page = board_page(activity, rules, facilitator, viewer_id, view)
    return {
        **row_values(activity, rules, facilitator),
        "page": page,
        "groups": page.groups,
        "reply_to": reply.strip()[:20],
        "view_query": view_query(view),
        "own_view": viewer_id is not None,
        "archived": activity.meeting.archived,
        "searchable": facilitator,
    }


def view_query(view: View) -> str:
    """The view's own query parameters ("&before=…&q=…"), kept by the links that reload the page."""
    params: dict[str, str | int] = {}
    if view.cursor is not None:
        params["before" if view.newest else "after"] = view.cursor
    if view.query:
        params["q"] = view.query
    return "&" + urlencode(params) if params else ""


def row_values(activity: Activity, rules: Rules, facilitator: bool) -> dict[str, Any]:
    """What every idea row and form needs, for one audience (no viewer: rows mark ``mine`` themselves)."""
    open_for_input = activity.state != "paused" if facilitator else activity.state == "running"
    return {
        "activity": activity,
        "meeting_id": activity.meeting_id,
        "rules": rules,
        "facilitator": facilitator,
        "own_ok": open_for_input,
        "reply_ok": open_for_input and rules.allow_comments,
        "token": submission_key,
    }
