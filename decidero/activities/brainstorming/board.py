"""Brainstorming's read path (SPEC §4.8): an activity's effective rules, the board as each viewer
sees it, counts. The submit, edit, delete and moderation rules live in ``ideas``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from peewee import JOIN

from ...meetings import provenance
from ...meetings.models import Activity
from ...platform.forms import whole_number
from ...platform.models import RuntimeSetting, User
from ...platform.prepared import count, every, one
from ...platform.runtime_settings import BY_KEY
from .models import Idea

ANONYMOUS = "Anonymous"
LIVE_STATES = ("running", "paused")


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


def _rows(activity: Activity, rules: Rules, facilitator: bool) -> list[Idea]:
    if rules.anonymous:  # the author's profile is never even loaded
        query = Idea.select().where(Idea.activity == activity.id)
    else:
        query = Idea.select(Idea, User).join(User, JOIN.LEFT_OUTER).where(Idea.activity == activity.id)
    if not facilitator:
        query = query.where(Idea.hidden == False)  # noqa: E712
    return list(query.order_by(Idea.number, Idea.sub))


def board(activity: Activity, rules: Rules, facilitator: bool, viewer_id: str | None) -> list[GroupView]:
    """Ideas newest first, each with its comments in order; participants never get hidden ones."""
    groups: dict[int, GroupView] = {}
    orphans: list[Idea] = []
    sources = provenance.sources_for(activity.id) if facilitator else {}
    for idea in _rows(activity, rules, facilitator):
        if idea.sub == 0:
            groups[idea.id] = GroupView(view_of(idea, rules, viewer_id, sources), [])
        else:
            orphans.append(idea)
    for comment in orphans:
        group = groups.get(comment.parent_id or 0)
        if group is not None:
            group.comments.append(view_of(comment, rules, viewer_id, sources))
    return sorted(groups.values(), key=lambda g: g.idea.number, reverse=True)


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


def new_token() -> str:
    """A fresh one-time submission key for a form (SPEC §4.8)."""
    return str(uuid.uuid4())


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
        "token": new_token,
    }
