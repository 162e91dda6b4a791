"""The categorization type, "Bucketing - Facilitator" (SPEC §4.11): seed config (items and buckets,
locked once started), the live board panel, and what it gives in a transfer and a second round."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ...meetings import markdown
from ...meetings.activity_types import ActivityType, ImportLinks, Problem, ReportResults, TransferItem, TransferSource
from ...meetings.charts import chart
from ...meetings.models import Activity
from ...meetings.provenance import snippet
from ...platform.accounts import clean_text
from ...platform.errors import Conflict, FormErrors
from ...platform.runtime_settings import RuntimeSettings
from . import changes, exchange
from .board import (
    LIVE_STATES,
    UNSORTED,
    BoardView,
    board_view,
    bucket_titles,
    item_count,
    ordered_items,
    seed_items,
    seed_texts,
    state_of,
)

SEED_LOCKED = "Categorization seed settings are locked because the activity has started; manage buckets and items inside the live activity."
ROLLUP, SUFFIX = "bucket_rollup", "bucket_suffix"
ITEM_SIZE = "Each idea must be at most 1000 characters."


def _lines(raw: str) -> list[str]:
    return [line for line in (clean_text(part) for part in str(raw or "").splitlines()) if line]


def _bucket_errors(titles: list[str]) -> str | None:
    seen = {UNSORTED.casefold()}
    for title in titles:
        if len(title) > changes.MAX_TITLE:
            return changes.TITLE_SIZE
        if title.casefold() in seen:
            return changes.DUPLICATE.format(title)
        seen.add(title.casefold())
    if len(titles) > changes.MAX_BUCKETS:
        return changes.TOO_MANY_BUCKETS
    return None


def with_item_ids(activity: Activity, config: dict[str, Any]) -> dict[str, Any]:
    """Seed items as ``{"id", "text"}``: a kept line keeps its id (``<activity id>:item-N``), a new
    one takes the next (never reused). Ids given in ``config`` are not trusted, only texts."""
    current: dict[str, list[str]] = {}
    for item in seed_items(activity.config):
        if item["id"]:
            current.setdefault(item["text"], []).append(item["id"])
    items = []
    for text in seed_texts(config):
        kept = current.get(text)
        items.append({"id": kept.pop(0) if kept else changes.new_item_id(activity.id), "text": text})
    return {**config, "items": items}


class Categorization(ActivityType):
    name = "categorization"
    label = "Bucketing - Facilitator"
    stem = "CATGRY"
    noun = "the board"
    item_noun = "item"
    config_template = "activities/categorization/config.html"
    participant_template = "activities/categorization/panel.html"
    facilitator_template = "activities/categorization/panel.html"
    scripts = ("/static/js/activities/categorization.js",)
    transforms = ((ROLLUP, "Buckets -> Rollup Ideas"), (SUFFIX, "Ideas -> Append Category"))
    content_key = "items"
    carries_forward = True

    def default_config(self, settings: RuntimeSettings | None = None) -> dict[str, Any]:
        return {"items": [], "buckets": []}

    def validate_config(self, form: dict[str, str], activity: Activity | None) -> dict[str, Any]:
        """Fields left out (greyed out by the lock, or a quick add) keep their current value."""
        current = {**self.default_config(), **(activity.config if activity else {})}
        config = dict(current)
        errors: dict[str, str] = {}
        if "items" in form:
            config["items"] = _lines(form["items"])
            if any(len(text) > changes.MAX_ITEM for text in config["items"]):
                errors["items"] = ITEM_SIZE
            elif len(config["items"]) > changes.MAX_ITEMS:
                errors["items"] = changes.TOO_MANY_ITEMS
        if "buckets" in form:
            config["buckets"] = _lines(form["buckets"])
            problem = _bucket_errors(config["buckets"])
            if problem:
                errors["buckets"] = problem
        if errors:
            raise FormErrors(errors)
        return config

    def prepare_config(self, activity: Activity, config: dict[str, Any]) -> dict[str, Any]:
        changed = seed_texts(activity.config) != seed_texts(config) or bucket_titles(activity.config) != bucket_titles(config)
        if changed and self.config_lock(activity):
            raise Conflict(SEED_LOCKED)
        return with_item_ids(activity, config)

    def config_lock(self, activity: Activity) -> str | None:
        return SEED_LOCKED if activity.started_at is not None else None

    def on_first_start(self, activity: Activity) -> None:
        changes.seed(activity)

    def panel_context(self, activity: Activity, user_id: str, facilitator: bool) -> dict[str, Any]:
        return board_values(activity, facilitator)

    def transfer_count(self, activity: Activity) -> int:
        return item_count(activity)

    def has_participant_data(self, activity: Activity) -> bool:
        return state_of(activity.id) is not None

    def report_results(self, activity: Activity, limit: int | None = None) -> ReportResults:
        """The buckets in order with their items, and a chart of items per bucket; a preview keeps
        at most ``limit`` items per bucket."""
        view = board_view(activity, False)
        buckets = [(b, b.items if limit is None else b.items[:limit]) for b in view.buckets]
        shown = sum(len(items) for _, items in buckets)
        bars = chart([(b.title, len(b.items), str(len(b.items))) for b in view.buckets])
        values = {"buckets": buckets, "bars": bars, "seeded": view.seeded}
        items = {item.id: item.text for _, shown_items in buckets for item in shown_items}
        count, filled = view.item_count, sum(1 for b in view.buckets if b.items)
        participation = f"{count} item{'s' if count != 1 else ''} in {filled} of {len(view.buckets)} buckets"
        return ReportResults(participation, "activities/categorization/_report.html", values, _markdown(view), items, count - shown)

    def public_while_running(self, activity: Activity) -> bool:
        return True  # in-scope participants watch the board live (SPEC §4.11)

    def live_figure(self, activity: Activity) -> str:
        count = item_count(activity)
        return f"{count} item{'s' if count != 1 else ''}"

    def delete_data(self, activity: Activity) -> None:
        changes.delete_data(activity)

    # -- export and import ----------------------------------------------------------------------

    config_schema = MappingProxyType(exchange.CONFIG_SCHEMA)
    content_schema = MappingProxyType(exchange.CONTENT_SCHEMA)

    def dump_content(self, activity: Activity) -> dict[str, Any]:
        return exchange.dump(activity)

    def content_users(self, content: Mapping[str, Any]) -> set[str]:
        return exchange.users(content)

    def content_problems(self, activity_id: str, config: Mapping[str, Any], content: Mapping[str, Any]) -> list[str]:
        return exchange.problems(activity_id, config, content)

    def import_config(self, config: dict[str, Any], links: ImportLinks) -> dict[str, Any]:
        return exchange.import_config(config, links)

    def load_content(self, activity: Activity, content: Mapping[str, Any], links: ImportLinks) -> None:
        exchange.load(activity, content, links)

    # -- transfers and rounds -------------------------------------------------------------------

    def transfer_items(self, activity: Activity, transform: str) -> list[TransferItem]:
        """``bucket_rollup``: one item per non-empty bucket, most items first, then by title;
        ``bucket_suffix``: every item with its bucket, in board order (SPEC §4.12)."""
        buckets = board_view(activity, False).buckets
        if transform == SUFFIX:
            return [
                TransferItem(
                    f"{item.text} (Category: {bucket.title})",
                    TransferSource(item.id, f"item “{snippet(item.text)}” (bucket “{bucket.title}”)", item.text, (bucket.id,)),
                )
                for bucket in buckets
                for item in bucket.items
            ]
        filled = sorted((b for b in buckets if b.items), key=lambda b: (-len(b.items), b.title.casefold(), b.title))
        return [
            TransferItem(
                f"Category: {b.title} (Ideas: {'; '.join(item.text for item in b.items)})",
                TransferSource(b.id, f"bucket “{b.title}”", b.title, tuple(item.id for item in b.items)),
            )
            for b in filled
        ]

    def transfer_problems(self, config: dict[str, Any], items: list[TransferItem]) -> list[Problem]:
        problems: list[Problem] = [(index, ITEM_SIZE) for index, item in enumerate(items) if len(item.text) > changes.MAX_ITEM]
        if len(items) > changes.MAX_ITEMS:
            problems.append((changes.MAX_ITEMS, changes.TOO_MANY_ITEMS))
        return problems

    def content_refs(self, activity: Activity) -> list[tuple[str, str]]:
        return ordered_items(activity)

    runs_rounds = True

    def round_totals(self, activity: Activity) -> list[tuple[str, float]]:
        return [(bucket.title, len(bucket.items)) for bucket in board_view(activity, False).buckets]

    def round_config(self, activity: Activity) -> dict[str, Any]:
        """The board as it ended, sorted again from the start: every item back in Unsorted."""
        view = board_view(activity, False)
        items = [{"id": item_id, "text": text} for item_id, text in ordered_items(activity)]
        return {**activity.config, "items": items, "buckets": [b.title for b in view.buckets if not b.unsorted]}


def _markdown(view: BoardView) -> str:
    if not view.seeded:
        return "_The board has not been started yet._"
    parts = []
    for number, bucket in enumerate(view.buckets, start=1):
        size = len(bucket.items)
        parts.append(f"**{number}. {markdown.text(bucket.title)}** ({size} item{'s' if size != 1 else ''})")
        if bucket.items:
            parts.append(markdown.bullets(markdown.text(item.text) for item in bucket.items))
    return "\n\n".join(parts)


def board_values(activity: Activity, facilitator: bool) -> dict[str, Any]:
    """What the board partial needs for one audience (read path)."""
    view: BoardView = board_view(activity, facilitator)
    live = activity.state in LIVE_STATES
    return {
        "board": view,
        "editable": facilitator and live and not view.locked and not activity.meeting.archived,
        "can_lock": facilitator and live and not activity.meeting.archived,
        "facilitator": facilitator,
        "seed_count": len(seed_items(activity.config)),
    }
