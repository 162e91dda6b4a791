"""Live idea events (SPEC §4.14): ``idea_created``, ``idea_updated`` and ``idea_deleted``.

Every idea event means "make this idea on your board match the database": the builder renders the
idea's current row (or its removal) once per audience that can see the board, so replays and
duplicates converge on what a fresh load shows. Rows replace their namesake by id; a row the page
does not have yet is placed by ``static/js/activities/brainstorming.js`` before htmx swaps it in. The author's
streams also get a personal variant (appended after the shared one, so it wins) with their own Edit
and Delete; no shared variant, payload or attribute ever names the author of an anonymous idea.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from jinja2 import Environment

from ...meetings.broker import personal
from ...meetings.models import Activity, MeetingEvent
from ...meetings.room import FACILITATOR_AUDIENCE, RoomState
from ...platform.models import User
from ...platform.prepared import one
from .board import LIVE_STATES, Rules, comment_view, comments_of, group_of, row_values, rules_of, visible_count
from .models import Idea

EVENTS = ("idea_created", "idea_updated", "idea_deleted")
# Changes that move the facilitators' "Transfer Ideas (N)" count.
COUNT_ACTIONS = ("create", "delete", "hide", "unhide")


def sees_board(activity: Activity, audience: Hashable) -> bool:
    """Facilitators always; participants in scope while the activity is live."""
    if audience == FACILITATOR_AUDIENCE:
        return True
    return isinstance(audience, frozenset) and activity.id in audience and activity.state in LIVE_STATES


def _removal(payload: dict[str, Any]) -> str:
    element = ("tr", "idea") if payload.get("parent") else ("tbody", "idea-group")
    tag, prefix = element
    return f'<template><{tag} id="{prefix}-{int(payload["idea"])}" hx-swap-oob="delete" data-idea-oob></{tag}></template>'


def idea_fragment(
    env: Environment,
    activity: Activity,
    rules: Rules,
    idea: Idea | None,
    payload: dict[str, Any],
    facilitator: bool,
    viewer_id: str | None,
    comments: list[Idea] | None = None,
) -> str:
    """Out-of-band HTML that brings one idea (with its comments) up to date for one viewer."""
    values = {**row_values(activity, rules, facilitator), "idea_oob": True}
    if idea is not None and idea.sub == 0:
        group = group_of(activity, idea, rules, facilitator, viewer_id, comments)
        if group is not None:
            html = env.get_template("activities/brainstorming/_idea_group.html").render({**values, "g": group})
            return f"<template>{html}</template>"
    elif idea is not None:
        view = comment_view(activity, idea, rules, facilitator, viewer_id)
        if view is not None:
            html = env.get_template("activities/brainstorming/_idea_row.html").render({**values, "i": view, "row_oob": True})
            return f"<template>{html}</template>"
    return _removal(payload)


def transfer_button(env: Environment, activity: Activity) -> str:
    row = {"activity": activity, "transfer_count": visible_count(activity)}
    return env.get_template("_partials/transfer_button.html").render(r=row, button_oob=True)


def _author_audience(state: RoomState, user_id: str) -> Hashable:
    facilitator = any(f.id == user_id for f in state.facilitators)
    if not facilitator:
        user = _person(state, user_id)
        facilitator = user is not None and user.is_admin
    return state.audience_key(user_id, facilitator)


def _person(state: RoomState, user_id: str) -> User | None:
    return state.people.get(user_id) or one(User, id=user_id)


def _with_relations(state: RoomState, idea: Idea, comments: list[Idea] | None, rules: Rules) -> None:
    """Attach authors (and a comment's parent) up front: each audience's render would otherwise
    fetch them, one query per row per audience."""
    if idea.sub:
        idea.parent = one(Idea, id=idea.parent_id or 0)
    if rules.anonymous:
        return  # rows of an anonymous round never show an author
    for row in (idea, *(comments or ())):
        author = _person(state, row.author_id) if row.author_id else None
        if author is not None:
            row.author = author


def build(state: RoomState, event: MeetingEvent, audiences: set[Hashable], env: Environment) -> dict[Hashable, str]:
    activity = state.activity(event.activity_id or "")
    payload = event.payload
    if activity is None or activity.type != "brainstorming" or "idea" not in payload:
        return {}
    out: dict[Hashable, str] = {}
    counted: set[str] = state.__dict__.setdefault("_idea_counts_built", set())
    if payload.get("action") in COUNT_ACTIONS and not payload.get("parent") and activity.id not in counted:
        if FACILITATOR_AUDIENCE in audiences:  # the count as it is now: once per run of events is enough
            counted.add(activity.id)
            out[FACILITATOR_AUDIENCE] = transfer_button(env, activity)
    built: set[int] = state.__dict__.setdefault("_ideas_built", set())
    if payload["idea"] in built:
        return out  # a replay of many events needs each idea's latest state only once
    built.add(payload["idea"])
    idea = one(Idea, id=int(payload["idea"]), activity=activity.id)
    rules = rules_of(activity)
    comments = comments_of(idea) if idea is not None and idea.sub == 0 else None
    if idea is not None:
        _with_relations(state, idea, comments, rules)
    rows: dict[Hashable, str] = {}
    for audience in audiences:
        if sees_board(activity, audience):
            facilitator = audience == FACILITATOR_AUDIENCE
            rows[audience] = idea_fragment(env, activity, rules, idea, payload, facilitator, None, comments)
    author = idea.author_id if idea is not None else None
    author_key = _author_audience(state, author) if author else None
    if author and author_key in rows:
        own = idea_fragment(env, activity, rules, idea, payload, author_key == FACILITATOR_AUDIENCE, author, comments)
        if own != rows[author_key]:  # e.g. a hidden idea: a removal for its author too
            rows[personal(author)] = own
    return {key: rows.get(key, "") + out.get(key, "") for key in rows.keys() | out.keys()}
