"""Dot voting and rank-order voting in a meeting export (SPEC §4.13): the options with their stable
ids in the config, each voter's dots or ranking, and who recorded it for them."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ...meetings.activity_types import ImportLinks, stamp, unstamp
from ...meetings.ids import set_sequences
from ...meetings.models import Activity
from ...platform.prepared import add_many
from .models import Ranking, VoteAllocation

_USER = {"type": "string", "minLength": 1}
_RECORDED_BY = {"type": ["string", "null"], "description": "the facilitator who recorded it for the voter"}
VOTES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["votes"],
    "additionalProperties": False,
    "properties": {
        "votes": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["user_id", "option_id", "count", "recorded_by", "updated_at"],
                "additionalProperties": False,
                "properties": {
                    "user_id": _USER,
                    "option_id": {"type": "string"},
                    "count": {"type": "integer", "minimum": 1, "maximum": 99},
                    "recorded_by": _RECORDED_BY,
                    "updated_at": {"$ref": "#/$defs/time"},
                },
            },
        }
    },
}
RANKINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["rankings"],
    "additionalProperties": False,
    "properties": {
        "rankings": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["user_id", "order", "recorded_by", "submitted_at"],
                "additionalProperties": False,
                "properties": {
                    "user_id": _USER,
                    "order": {"type": "array", "items": {"type": "string"}, "description": "idea ids, first place first"},
                    "recorded_by": _RECORDED_BY,
                    "submitted_at": {"$ref": "#/$defs/time"},
                },
            },
        }
    },
}
_FLAG = {"type": "boolean"}
_OPTIONS = {
    "type": "array",
    "maxItems": 100,
    "items": {
        "type": "object",
        "required": ["id", "label"],
        "properties": {"id": {"type": "string"}, "label": {"type": "string", "minLength": 1, "maxLength": 200}},
    },
}
_COMMON = {"results_visibility": {"enum": ["hidden", "after_submit", "live"]}, "show_results_immediately": _FLAG, "anonymous": _FLAG}
VOTING_CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        **_COMMON, "options": _OPTIONS, "max_votes": {"type": "integer", "minimum": 1, "maximum": 99},
        "max_per_option": {"type": "integer", "minimum": 1, "maximum": 9}, "allow_retract": _FLAG, "randomize_participant_order": _FLAG,
    },
}
RANKING_CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {**_COMMON, "ideas": _OPTIONS, "randomize_order": _FLAG, "allow_reset": _FLAG},
}
OPTION_NUMBER = re.compile(r":opt-(\d+)$")


def option_ids(activity_id: str, config: Mapping[str, Any], key: str) -> tuple[list[str], list[str]]:
    """The config's option ids, and what is wrong with them: each must be ``<activity id>:opt-N``, once."""
    ids, found = [], []
    for index, option in enumerate(config.get(key, [])):
        if not isinstance(option, dict) or not isinstance(option.get("id"), str) or not isinstance(option.get("label"), str):
            found.append(f"config.{key}[{index}]: an option needs an id and a label")
            continue
        option_id = option["id"]
        if not (option_id.startswith(f"{activity_id}:opt-") and OPTION_NUMBER.search(option_id)) or option_id in ids:
            found.append(f"config.{key}[{index}]: {option_id!r} is not an option id of this activity")
        ids.append(option_id)
    return ids, found


def import_config(config: dict[str, Any], key: str, links: ImportLinks) -> dict[str, Any]:
    return {**config, key: [{**option, "id": links.ref(option["id"])} for option in config.get(key, [])]}


def set_option_sequence(activity: Activity, key: str) -> None:
    numbers = [int(m.group(1)) for o in activity.config.get(key, []) if (m := OPTION_NUMBER.search(str(o["id"])))]
    set_sequences({f"option:{activity.id}": max(numbers, default=0)})


# -- dot voting ---------------------------------------------------------------------------------------


def dump_votes(activity: Activity) -> dict[str, Any]:
    rows: Any = VoteAllocation.select(
        VoteAllocation.user, VoteAllocation.option_id, VoteAllocation.count, VoteAllocation.recorded_by, VoteAllocation.updated_at
    ).where(VoteAllocation.activity == activity.id).order_by(VoteAllocation.user, VoteAllocation.option_id).tuples()
    return {
        "votes": [
            {"user_id": user, "option_id": option, "count": count, "recorded_by": by, "updated_at": stamp(at)}
            for user, option, count, by, at in rows
        ]
    }


def vote_problems(activity_id: str, config: Mapping[str, Any], content: Mapping[str, Any]) -> list[str]:
    ids, found = option_ids(activity_id, config, "options")
    seen: set[tuple[str, str]] = set()
    for index, vote in enumerate(content["votes"]):
        if vote["option_id"] not in ids:
            found.append(f"votes[{index}]: {vote['option_id']!r} is not an option of this activity")
        if (vote["user_id"], vote["option_id"]) in seen:
            found.append(f"votes[{index}]: a second row for the same voter and option")
        seen.add((vote["user_id"], vote["option_id"]))
    return found


def load_votes(activity: Activity, content: Mapping[str, Any], links: ImportLinks) -> None:
    set_option_sequence(activity, "options")
    rows = [
        {"activity": activity.id, "user": links.user(v["user_id"]), "option_id": links.ref(v["option_id"]), "count": v["count"],
         "recorded_by": links.user(v["recorded_by"]), "updated_at": unstamp(v["updated_at"])}
        for v in content["votes"]
    ]
    add_many(VoteAllocation, rows)


# -- rank-order voting --------------------------------------------------------------------------------


def dump_rankings(activity: Activity) -> dict[str, Any]:
    rows: Any = Ranking.select(Ranking.user, Ranking.order_json, Ranking.recorded_by, Ranking.submitted_at).where(
        Ranking.activity == activity.id
    ).order_by(Ranking.user).tuples()
    return {
        "rankings": [
            {"user_id": user, "order": json.loads(order), "recorded_by": by, "submitted_at": stamp(at)}
            for user, order, by, at in rows
        ]
    }


def ranking_problems(activity_id: str, config: Mapping[str, Any], content: Mapping[str, Any]) -> list[str]:
    ids, found = option_ids(activity_id, config, "ideas")
    voters: set[str] = set()
    for index, ranking in enumerate(content["rankings"]):
        if sorted(ranking["order"]) != sorted(ids):
            found.append(f"rankings[{index}]: the order must name every idea of this activity exactly once")
        if ranking["user_id"] in voters:
            found.append(f"rankings[{index}]: a second ranking by the same voter")
        voters.add(ranking["user_id"])
    return found


def load_rankings(activity: Activity, content: Mapping[str, Any], links: ImportLinks) -> None:
    set_option_sequence(activity, "ideas")
    rows = [
        {"activity": activity.id, "user": links.user(r["user_id"]), "order_json": json.dumps([links.ref(i) for i in r["order"]]),
         "recorded_by": links.user(r["recorded_by"]), "submitted_at": unstamp(r["submitted_at"])}
        for r in content["rankings"]
    ]
    add_many(Ranking, rows)


def voters(content: Mapping[str, Any], key: str) -> set[str]:
    rows = content[key]
    return {row["user_id"] for row in rows} | {row["recorded_by"] for row in rows if row["recorded_by"] is not None}
