"""Categorization in a meeting export (SPEC §4.13): the seed items' ids in the config, and once the
board is seeded its lock, buckets, items with their bucket and place, and the audit record."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ...meetings.activity_types import ImportLinks, stamp, unstamp
from ...meetings.ids import set_sequences
from ...meetings.models import Activity
from ...platform.prepared import add_many
from .board import seed_items, state_of, unsorted_id
from .models import BoardAudit, BoardItem, BoardState, Bucket

_TEXT = {"type": "string"}
CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "items": {
            "type": "array",
            "maxItems": 5000,
            "items": {
                "type": "object",
                "required": ["id", "text"],
                "properties": {"id": _TEXT, "text": {"type": "string", "maxLength": 1000}},
            },
        },
        "buckets": {"type": "array", "maxItems": 50, "items": {"type": "string", "minLength": 1, "maxLength": 100}},
    },
}
BOARD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["locked", "buckets", "items", "audit"],
    "additionalProperties": False,
    "properties": {
        "locked": {"type": "boolean"},
        "buckets": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "position", "title", "description"],
                "additionalProperties": False,
                "properties": {
                    "id": _TEXT,
                    "position": {"type": "integer", "minimum": 0, "maximum": 1000000},
                    "title": {"type": "string", "minLength": 1, "maxLength": 200},
                    "description": {"type": "string", "maxLength": 1000},
                },
            },
        },
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "bucket_id", "position", "text", "revision", "created_at"],
                "additionalProperties": False,
                "properties": {
                    "id": _TEXT,
                    "bucket_id": _TEXT,
                    "position": {"type": "integer", "minimum": 0, "maximum": 1000000},
                    "text": {"type": "string", "maxLength": 10000},
                    "revision": {"type": "integer", "minimum": 0, "maximum": 1000000000},
                    "created_at": {"$ref": "#/$defs/time"},
                },
            },
        },
        "audit": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["actor_id", "actor_name", "at", "operation", "subject", "subject_text", "from_value", "to_value"],
                "additionalProperties": False,
                "properties": {
                    "actor_id": {"type": ["string", "null"]},
                    "actor_name": _TEXT,
                    "at": {"$ref": "#/$defs/time"},
                    "operation": {"type": "string", "minLength": 1},
                    "subject": _TEXT,
                    "subject_text": _TEXT,
                    "from_value": _TEXT,
                    "to_value": _TEXT,
                },
            },
        },
    },
}
CONTENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["board"],
    "additionalProperties": False,
    "properties": {"board": {**BOARD_SCHEMA, "type": ["object", "null"], "description": "null until the board is seeded (first start)"}},
}
NUMBERED = re.compile(r":(item|bucket)-(\d+)$")


def dump(activity: Activity) -> dict[str, Any]:
    state = state_of(activity.id)
    if state is None:
        return {"board": None}
    buckets = Bucket.select().where(Bucket.activity == activity.id).order_by(Bucket.position, Bucket.id)
    items = BoardItem.select().where(BoardItem.activity == activity.id).order_by(BoardItem.bucket, BoardItem.position, BoardItem.id)
    audit = BoardAudit.select().where(BoardAudit.activity == activity.id).order_by(BoardAudit.id)
    return {
        "board": {
            "locked": state.locked,
            "buckets": [{"id": b.id, "position": b.position, "title": b.title, "description": b.description} for b in buckets],
            "items": [
                {"id": i.id, "bucket_id": i.bucket_id, "position": i.position, "text": i.text, "revision": i.revision,
                 "created_at": stamp(i.created_at)}
                for i in items
            ],
            "audit": [
                {"actor_id": a.actor_id, "actor_name": a.actor_name, "at": stamp(a.at), "operation": a.operation,
                 "subject": a.subject, "subject_text": a.subject_text, "from_value": a.from_value, "to_value": a.to_value}
                for a in audit
            ],
        }
    }


def users(content: Mapping[str, Any]) -> set[str]:
    board = content["board"]
    return {a["actor_id"] for a in board["audit"] if a["actor_id"] is not None} if board else set()


def problems(activity_id: str, config: Mapping[str, Any], content: Mapping[str, Any]) -> list[str]:
    found = [
        f"config.items[{index}]: {item['id']!r} is not an item id of this activity"
        for index, item in enumerate(seed_items(config))
        if not item["id"].startswith(f"{activity_id}:item-")
    ]
    board = content["board"]
    if board is None:
        return found
    bucket_ids = [b["id"] for b in board["buckets"]]
    if unsorted_id(activity_id) not in bucket_ids:
        found.append(f"board: the Unsorted bucket {unsorted_id(activity_id)!r} is missing")
    for index, bucket_id in enumerate(bucket_ids):
        if (bucket_id != unsorted_id(activity_id) and not bucket_id.startswith(f"{activity_id}:bucket-")) or bucket_ids.count(bucket_id) > 1:
            found.append(f"board.buckets[{index}]: {bucket_id!r} is not a bucket id of this activity")
    item_ids: set[str] = set()
    for index, item in enumerate(board["items"]):
        if not item["id"].startswith(f"{activity_id}:item-") or item["id"] in item_ids:
            found.append(f"board.items[{index}]: {item['id']!r} is not an item id of this activity")
        if item["bucket_id"] not in bucket_ids:
            found.append(f"board.items[{index}]: bucket {item['bucket_id']!r} is not on this board")
        item_ids.add(item["id"])
    return found


def load(activity: Activity, content: Mapping[str, Any], links: ImportLinks) -> None:
    """The board as it was; the bucket and item sequences past every number the board and the seed use."""
    board = content["board"]
    refs = [item["id"] for item in seed_items(activity.config)]
    if board is not None:
        BoardState.create(activity=activity.id, locked=board["locked"])
        add_many(Bucket, [
            {"id": links.ref(b["id"]), "activity": activity.id, "position": b["position"], "title": b["title"],
             "description": b["description"]}
            for b in board["buckets"]
        ])
        add_many(BoardItem, [
            {"id": links.ref(i["id"]), "activity": activity.id, "bucket": links.ref(i["bucket_id"]), "position": i["position"],
             "text": i["text"], "revision": i["revision"], "created_at": unstamp(i["created_at"])}
            for i in board["items"]
        ])
        add_many(BoardAudit, [
            {"activity": activity.id, "actor_id": links.user(a["actor_id"]), "actor_name": a["actor_name"], "at": unstamp(a["at"]),
             "operation": a["operation"], "subject": links.ref(a["subject"]), "subject_text": a["subject_text"],
             "from_value": links.ref(a["from_value"]), "to_value": links.ref(a["to_value"])}
            for a in board["audit"]
        ])
        refs += [links.ref(b["id"]) for b in board["buckets"]] + [links.ref(i["id"]) for i in board["items"]]
    lasts = {f"board-item:{activity.id}": 0, f"bucket:{activity.id}": 0}
    for ref in refs:
        found = NUMBERED.search(ref)
        if found:
            scope = f"{'board-item' if found.group(1) == 'item' else 'bucket'}:{activity.id}"
            lasts[scope] = max(lasts[scope], int(found.group(2)))
    set_sequences(lasts)


def import_config(config: dict[str, Any], links: ImportLinks) -> dict[str, Any]:
    return {**config, "items": [{"id": links.ref(i["id"]), "text": i["text"]} for i in seed_items(config)]}
