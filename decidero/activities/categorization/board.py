"""Categorization's read path (SPEC §4.11): the board as the facilitators and the watching
participants see it, the config's seed items, and the transfer and round views of a board."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...meetings import provenance
from ...meetings.models import Activity
from ...platform.prepared import one
from .models import BoardItem, BoardState, Bucket

UNSORTED = "Unsorted Ideas"
LIVE_STATES = ("running", "paused")


def unsorted_id(activity_id: str) -> str:
    return f"{activity_id}:unsorted"


def dom(ref: str) -> str:
    """An element id for a board ref (``:`` would need escaping in every CSS selector)."""
    return ref.replace(":", "--")


@dataclass(frozen=True)
class ItemView:
    id: str
    text: str
    revision: int
    source: str  # the facilitators' "Source: …" line; empty for participants

    @property
    def dom(self) -> str:
        return dom(self.id)


@dataclass(frozen=True)
class BucketView:
    id: str
    title: str
    description: str
    items: list[ItemView] = field(default_factory=list)

    @property
    def dom(self) -> str:
        return dom(self.id)

    @property
    def unsorted(self) -> bool:
        return self.id.endswith(":unsorted")


@dataclass(frozen=True)
class BoardView:
    activity_id: str
    seeded: bool
    locked: bool
    buckets: list[BucketView]

    @property
    def dom(self) -> str:
        return dom(self.activity_id)

    @property
    def item_count(self) -> int:
        return sum(len(b.items) for b in self.buckets)


def state_of(activity_id: str) -> BoardState | None:
    return one(BoardState, activity=activity_id)


def buckets_of(activity_id: str) -> list[Bucket]:
    return list(Bucket.select().where(Bucket.activity == activity_id).order_by(Bucket.position))


def items_of(activity_id: str) -> list[BoardItem]:
    return list(BoardItem.select().where(BoardItem.activity == activity_id).order_by(BoardItem.position))


def board_view(activity: Activity, facilitator: bool) -> BoardView:
    """The whole board in order: Unsorted first, then the buckets, each with its items (read path)."""
    state = state_of(activity.id)
    if state is None:
        return BoardView(activity.id, False, False, [])
    sources: Mapping[str, str] = provenance.sources_for(activity.id) if facilitator else {}
    by_bucket: dict[str, list[ItemView]] = {}
    for item in items_of(activity.id):
        by_bucket.setdefault(item.bucket_id, []).append(ItemView(item.id, item.text, item.revision, sources.get(item.id, "")))
    buckets = [BucketView(b.id, b.title, b.description, by_bucket.get(b.id, [])) for b in buckets_of(activity.id)]
    return BoardView(activity.id, True, state.locked, buckets)


def seed_items(config: Mapping[str, Any]) -> list[dict[str, str]]:
    """The config's items as ``{"id", "text"}`` (ids are given on the write path; plain lines have none yet)."""
    found = []
    for raw in config.get("items", []):
        if isinstance(raw, dict):
            found.append({"id": str(raw.get("id", "")), "text": str(raw.get("text", ""))})
        else:
            found.append({"id": "", "text": str(raw)})
    return found


def seed_texts(config: Mapping[str, Any]) -> list[str]:
    return [item["text"] for item in seed_items(config)]


def bucket_titles(config: Mapping[str, Any]) -> list[str]:
    return [str(title) for title in config.get("buckets", [])]


def item_count(activity: Activity) -> int:
    """Transfer Ideas (N): the board's items, or the seed items of a board not started yet."""
    if state_of(activity.id) is None:
        return len(seed_items(activity.config))
    return BoardItem.select().where(BoardItem.activity == activity.id).count()


def ordered_items(activity: Activity) -> list[tuple[str, str]]:
    """(id, text) of every item, bucket by bucket in board order; the seed items before the start."""
    view = board_view(activity, False)
    if not view.seeded:
        return [(item["id"], item["text"]) for item in seed_items(activity.config)]
    return [(item.id, item.text) for bucket in view.buckets for item in bucket.items]
