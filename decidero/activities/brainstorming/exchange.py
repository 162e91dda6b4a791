"""Brainstorming in a meeting export (SPEC §4.13): ideas and comments with their numbers, flags,
times, transfer sources and authors, except in anonymous rounds, where no author leaves."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...meetings.activity_types import ImportLinks, stamp, unstamp
from ...meetings.ids import set_sequences
from ...meetings.models import Activity
from ...platform.prepared import add_many
from .models import Idea

_TEXT = {"type": "string"}
_ID = {"type": ["string", "null"]}
_FLAG = {"type": "boolean"}
CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "prompt": {"type": "string", "maxLength": 1000},
        "anonymous": _FLAG,
        "allow_comments": _FLAG,
        "auto_jump": _FLAG,
        "char_limit": {"type": ["integer", "null"], "minimum": 50, "maximum": 5000},
        "max_ideas_per_user": {"type": ["integer", "null"], "minimum": 1, "maximum": 1000},
    },
}
IDEA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["number", "sub", "author_id", "author_name", "content", "created_at", "edited", "hidden", "source"],
    "additionalProperties": False,
    "properties": {
        "number": {"type": "integer", "minimum": 1, "maximum": 1000000},
        "sub": {"type": "integer", "minimum": 0, "maximum": 1000000, "description": "0 for an idea; n for the n-th comment on idea `number`"},
        "author_id": {**_ID, "description": "null in anonymous rounds and for transferred ideas"},
        "author_name": {"type": "string", "maxLength": 255},
        "content": {"type": "string", "minLength": 1, "maxLength": 10000},
        "created_at": {"$ref": "#/$defs/time"},
        "edited": {"type": "boolean"},
        "hidden": {"type": "boolean"},
        "source": {
            # null, or the donor item of a transferred idea ("type" with null, not oneOf: 2,000 ideas
            # validate in a third of the time)
            "type": ["object", "null"],
            "required": ["meeting_id", "activity_id", "item_id"],
            "additionalProperties": False,
            "properties": {"meeting_id": _TEXT, "activity_id": _TEXT, "item_id": _TEXT},
        },
    },
}
CONTENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["ideas"],
    "additionalProperties": False,
    "properties": {"ideas": {"type": "array", "items": IDEA_SCHEMA}},
}


def dump(activity: Activity) -> dict[str, Any]:
    anonymous = bool(activity.config.get("anonymous"))
    rows: Any = Idea.select(  # tuples: a 2,000-idea export builds no model objects
        Idea.number, Idea.sub, Idea.author, Idea.author_name, Idea.content, Idea.created_at, Idea.edited, Idea.hidden,
        Idea.source_meeting_id, Idea.source_activity_id, Idea.source_item_id,
    ).where(Idea.activity == activity.id).order_by(Idea.number, Idea.sub).tuples()
    ideas = []
    for number, sub, author, author_name, content, created, edited, hidden, src_meeting, src_activity, src_item in rows:
        source = {"meeting_id": src_meeting, "activity_id": src_activity, "item_id": src_item} if src_item else None
        ideas.append({
            "number": number, "sub": sub, "author_id": None if anonymous else author, "author_name": author_name,
            "content": content, "created_at": stamp(created), "edited": edited, "hidden": hidden, "source": source,
        })
    return {"ideas": ideas}


def users(content: Mapping[str, Any]) -> set[str]:
    return {idea["author_id"] for idea in content["ideas"] if idea["author_id"] is not None}


def problems(content: Mapping[str, Any]) -> list[str]:
    seen: set[tuple[int, int]] = set()
    found = []
    for index, idea in enumerate(content["ideas"]):
        key = (idea["number"], idea["sub"])
        if key in seen:
            found.append(f"ideas[{index}]: idea {idea['number']}.{idea['sub']} appears twice")
        seen.add(key)
    found += [
        f"ideas[{index}]: comment {idea['number']}.{idea['sub']} has no idea {idea['number']}"
        for index, idea in enumerate(content["ideas"])
        if idea["sub"] and (idea["number"], 0) not in seen
    ]
    return found


def load(activity: Activity, content: Mapping[str, Any], links: ImportLinks) -> None:
    """Ideas first, then their comments pointing at the new rows; sequences past every number."""

    def row(idea: Mapping[str, Any], parent: int | None) -> dict[str, Any]:
        source = idea["source"] or {}
        return {
            "activity": activity.id, "number": idea["number"], "sub": idea["sub"], "parent": parent,
            "author": links.user(idea["author_id"]), "author_name": idea["author_name"], "content": idea["content"],
            "created_at": unstamp(idea["created_at"]), "edited": idea["edited"], "hidden": idea["hidden"],
            "source_meeting_id": links.ref(source["meeting_id"]) if source else None,
            "source_activity_id": links.ref(source["activity_id"]) if source else None,
            "source_item_id": links.ref(source["item_id"]) if source else None,
        }

    ideas = [i for i in content["ideas"] if not i["sub"]]
    add_many(Idea, [row(idea, None) for idea in ideas])
    numbered: Any = Idea.select(Idea.number, Idea.id).where(Idea.activity == activity.id, Idea.sub == 0).tuples()
    parents: dict[int, int] = dict(numbered)
    add_many(Idea, [row(c, parents[c["number"]]) for c in content["ideas"] if c["sub"]])
    lasts = {f"idea:{activity.id}": max((i["number"] for i in ideas), default=0)}
    for comment in (c for c in content["ideas"] if c["sub"]):
        scope = f"idea:{activity.id}:{comment['number']}"
        lasts[scope] = max(lasts.get(scope, 0), comment["sub"])
    set_sequences(lasts)
