"""Categorization's write rules (SPEC §4.11): buckets, items, moves, order and the lock.

Every change runs in one write transaction: it checks who may act (meeting facilitators only), that
the board is live and unlocked, and that every id belongs to this activity; then it changes the
board, writes its audit row and its ``board_changed`` log record together. A move names where the
mover saw the item (bucket and revision): if it has moved since, the move is refused, so two
facilitators working the same board never silently undo each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from peewee import fn

from ...meetings import event_log
from ...meetings.access import Access, require_member, require_writable
from ...meetings.ids import next_in_sequence
from ...meetings.models import Activity, MeetingEvent
from ...platform.accounts import clean_text
from ...platform.errors import Conflict, Forbidden, NotFound, Refused
from ...platform.models import User, utcnow
from ...platform.prepared import add, add_many, one
from .board import LIVE_STATES, UNSORTED, bucket_titles, seed_items, state_of, unsorted_id
from .models import BoardAudit, BoardItem, BoardState, Bucket

CATEGORIZATION = "categorization"
NOT_OPEN = "This activity is not open for categorization."
FACILITATORS_ONLY = "Only facilitators can manage buckets."
LOCKED = "This board is locked. Unlock it to make changes."
UNSORTED_DELETE = "UNSORTED bucket cannot be deleted."
UNSORTED_RENAME = "UNSORTED bucket cannot be renamed."
UNSORTED_MOVE = "UNSORTED bucket cannot be moved."
DUPLICATE = 'A bucket named "{}" already exists.'
ITEM_NOT_FOUND = "Item not found in this activity."
BUCKET_NOT_FOUND = "Bucket not found in this activity."
STALE = "Someone else moved “{text}” meanwhile: it is now in “{bucket}”. Nothing was changed."
TITLE_SIZE = "Bucket title must be 1–100 characters."
DESCRIPTION_SIZE = "Bucket description must be at most 1000 characters."
ITEM_SIZE = "Idea text must be 1–1000 characters."
MAX_BUCKETS = 50
MAX_TITLE = 100
MAX_DESCRIPTION = 1000
MAX_ITEM = 1000
MAX_ITEMS = 5000
TOO_MANY_BUCKETS = f"A board can have at most {MAX_BUCKETS} buckets."
TOO_MANY_ITEMS = f"A board can hold at most {MAX_ITEMS} ideas."
SUMMARY_TEXT = 80  # characters of an idea quoted in a log line


@dataclass(frozen=True)
class Change:
    """What a change did: its log record (None when nothing changed) and the element to show."""

    event: MeetingEvent | None
    focus: str = ""


def categorization_activity(meeting_id: str, activity_id: str) -> Activity:
    activity = one(Activity, id=activity_id, meeting=meeting_id)
    if activity is None or activity.type != CATEGORIZATION:
        raise NotFound()
    return activity


def _open_board(meeting_id: str, activity_id: str, user: User, allow_locked: bool = False) -> tuple[Access, Activity]:
    """Who may change the board, and whether it can change now (the checks every change starts with)."""
    access = require_member(meeting_id, user)
    if not access.is_facilitator:
        raise Forbidden(FACILITATORS_ONLY)
    require_writable(access)
    activity = categorization_activity(meeting_id, activity_id)
    state = state_of(activity.id)
    if activity.state not in LIVE_STATES or state is None:
        raise Conflict(NOT_OPEN)
    if state.locked and not allow_locked:
        raise Conflict(LOCKED)
    return access, activity


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SUMMARY_TEXT else text[: SUMMARY_TEXT - 1] + "…"


def _record(
    access: Access, activity: Activity, operation: str, subject: str, text: str, before: str, after: str, summary: str
) -> MeetingEvent:
    add(
        BoardAudit,
        activity=activity.id,
        actor_id=access.user.id,
        actor_name=access.user.display_name,
        operation=operation,
        subject=subject,
        subject_text=text,
        from_value=before,
        to_value=after,
    )
    return event_log.record(
        activity.meeting_id,
        "board_changed",
        f"{access.user.display_name} {summary} in “{activity.title}”.",
        actor_id=access.user.id,
        activity_id=activity.id,
        payload={"op": operation, "subject": subject},
    )


def _bucket(activity: Activity, bucket_id: str) -> Bucket:
    bucket = one(Bucket, id=bucket_id.strip(), activity=activity.id)
    if bucket is None:
        raise NotFound(BUCKET_NOT_FOUND)
    return bucket


def _item(activity: Activity, item_id: str) -> BoardItem:
    item = one(BoardItem, id=item_id.strip(), activity=activity.id)
    if item is None:
        raise NotFound(ITEM_NOT_FOUND)
    return item


def _title(raw: str, activity: Activity, keep: Bucket | None = None) -> str:
    """A bucket title: 1–100 characters, unique on the board ignoring case (Unsorted's included)."""
    title = clean_text(raw)
    if not 1 <= len(title) <= MAX_TITLE:
        raise Refused(TITLE_SIZE, 400)
    others = Bucket.select(Bucket.id, Bucket.title).where(Bucket.activity == activity.id)
    if any(b.title.casefold() == title.casefold() for b in others if keep is None or b.id != keep.id):
        raise Conflict(DUPLICATE.format(title))
    return title


def _description(raw: str) -> str:
    text = clean_text(raw)
    if len(text) > MAX_DESCRIPTION:
        raise Refused(DESCRIPTION_SIZE, 400)
    return text


def _item_text(raw: str) -> str:
    text = clean_text(raw)
    if not 1 <= len(text) <= MAX_ITEM:
        raise Refused(ITEM_SIZE, 400)
    return text


def _end_of(bucket_id: str) -> int:
    last = BoardItem.select(fn.MAX(BoardItem.position)).where(BoardItem.bucket == bucket_id).scalar()
    return int(last or 0) + 1


# -- seeding ------------------------------------------------------------------------------------------


def seed(activity: Activity) -> None:
    """On first start: Unsorted, then the config's buckets, with every seed item in Unsorted."""
    if state_of(activity.id) is not None:
        return
    BoardState.create(activity=activity.id)
    Bucket.create(id=unsorted_id(activity.id), activity=activity.id, position=0, title=UNSORTED)
    for position, title in enumerate(bucket_titles(activity.config), start=1):
        Bucket.create(id=_new_bucket_id(activity), activity=activity.id, position=position, title=title)
    now = utcnow()
    rows = [
        {"id": item["id"] or new_item_id(activity.id), "activity": activity.id, "bucket": unsorted_id(activity.id),
         "position": position, "text": item["text"], "revision": 0, "created_at": now}
        for position, item in enumerate(seed_items(activity.config), start=1)
    ]
    add_many(BoardItem, rows)
    add(BoardAudit, activity=activity.id, operation="seed", to_value=f"{len(rows)} ideas")


def _new_bucket_id(activity: Activity) -> str:
    return f"{activity.id}:bucket-{next_in_sequence(f'bucket:{activity.id}')}"


def new_item_id(activity_id: str) -> str:
    """``<activity id>:item-N``; config seed items take theirs from the same sequence."""
    return f"{activity_id}:item-{next_in_sequence(f'board-item:{activity_id}')}"


# -- buckets ------------------------------------------------------------------------------------------


def add_bucket(meeting_id: str, activity_id: str, user: User, raw_title: str, raw_description: str = "") -> Change:
    access, activity = _open_board(meeting_id, activity_id, user)
    title, description = _title(raw_title, activity), _description(raw_description)
    count = Bucket.select().where(Bucket.activity == activity.id, Bucket.position > 0).count()
    if count >= MAX_BUCKETS:
        raise Conflict(TOO_MANY_BUCKETS)
    last = Bucket.select(fn.MAX(Bucket.position)).where(Bucket.activity == activity.id).scalar() or 0
    bucket = Bucket.create(id=_new_bucket_id(activity), activity=activity.id, position=last + 1, title=title, description=description)
    event = _record(access, activity, "add_bucket", bucket.id, title, "", title, f"added the bucket “{title}”")
    return Change(event, bucket.id)


def edit_bucket(meeting_id: str, activity_id: str, user: User, bucket_id: str, raw_title: str | None, raw_description: str | None) -> Change:
    """Rename and/or describe; Unsorted can be described but never renamed."""
    access, activity = _open_board(meeting_id, activity_id, user)
    bucket = _bucket(activity, bucket_id)
    title = bucket.title
    if raw_title is not None and clean_text(raw_title) != bucket.title:
        if bucket.position == 0:
            raise Refused(UNSORTED_RENAME, 400)
        title = _title(raw_title, activity, keep=bucket)
    description = bucket.description if raw_description is None else _description(raw_description)
    events = []
    if title != bucket.title:
        events.append(_record(access, activity, "rename_bucket", bucket.id, title, bucket.title, title, f"renamed the bucket “{bucket.title}” to “{title}”"))
    if description != bucket.description:
        events.append(_record(access, activity, "describe_bucket", bucket.id, title, bucket.description, description, f"described the bucket “{title}”"))
    Bucket.update(title=title, description=description).where(Bucket.id == bucket.id).execute()
    return Change(events[-1] if events else None, bucket.id)


def delete_bucket(meeting_id: str, activity_id: str, user: User, bucket_id: str) -> Change:
    """Its items go back to Unsorted, after those already there, in their order."""
    access, activity = _open_board(meeting_id, activity_id, user)
    bucket = _bucket(activity, bucket_id)
    if bucket.position == 0:
        raise Refused(UNSORTED_DELETE, 400)
    home = unsorted_id(activity.id)
    start = _end_of(home)
    moved = list(BoardItem.select().where(BoardItem.bucket == bucket.id).order_by(BoardItem.position))
    for offset, item in enumerate(moved):
        BoardItem.update(bucket=home, position=start + offset, revision=item.revision + 1).where(BoardItem.id == item.id).execute()
    Bucket.delete().where(Bucket.id == bucket.id).execute()
    count = len(moved)
    summary = f"deleted the bucket “{bucket.title}”" + (f" ({count} idea{'s' if count != 1 else ''} back to {UNSORTED})" if count else "")
    event = _record(access, activity, "delete_bucket", bucket.id, bucket.title, bucket.title, UNSORTED, summary)
    return Change(event, home)


def reorder_bucket(meeting_id: str, activity_id: str, user: User, bucket_id: str, direction: str) -> Change:
    """↑/↓ among the buckets; Unsorted stays first."""
    access, activity = _open_board(meeting_id, activity_id, user)
    _check_direction(direction)
    bucket = _bucket(activity, bucket_id)
    if bucket.position == 0:
        raise Refused(UNSORTED_MOVE, 400)
    neighbour = _neighbour(Bucket.select().where(Bucket.activity == activity.id, Bucket.position > 0), Bucket.position, bucket.position, direction)
    if neighbour is None:
        return Change(None, bucket.id)
    Bucket.update(position=neighbour.position).where(Bucket.id == bucket.id).execute()
    Bucket.update(position=bucket.position).where(Bucket.id == neighbour.id).execute()
    event = _record(access, activity, "reorder_bucket", bucket.id, bucket.title, str(bucket.position), str(neighbour.position), f"moved the bucket “{bucket.title}” {direction}")
    return Change(event, bucket.id)


def _neighbour(query: Any, position: Any, current: int, direction: str) -> Any:
    """The row just before (up) or after (down) ``current`` in ``query``'s order, or None."""
    if direction == "up":
        return query.where(position < current).order_by(position.desc()).first()
    return query.where(position > current).order_by(position).first()


def _check_direction(direction: str) -> None:
    if direction not in ("up", "down"):
        raise Refused(f"Unknown direction '{direction[:20]}'; use up or down.", 400)


# -- items --------------------------------------------------------------------------------------------


def add_item(meeting_id: str, activity_id: str, user: User, raw_text: str) -> Change:
    """New ideas start in Unsorted."""
    access, activity = _open_board(meeting_id, activity_id, user)
    text = _item_text(raw_text)
    if BoardItem.select().where(BoardItem.activity == activity.id).count() >= MAX_ITEMS:
        raise Conflict(TOO_MANY_ITEMS)
    home = unsorted_id(activity.id)
    item = add(BoardItem, id=new_item_id(activity.id), activity=activity.id, bucket=home, position=_end_of(home), text=text)
    event = _record(access, activity, "add_item", item.id, text, "", UNSORTED, f"added “{_short(text)}”")
    return Change(event, item.id)


def edit_item(meeting_id: str, activity_id: str, user: User, item_id: str, raw_text: str) -> Change:
    access, activity = _open_board(meeting_id, activity_id, user)
    item = _item(activity, item_id)
    text = _item_text(raw_text)
    if text == item.text:
        return Change(None, item.id)
    BoardItem.update(text=text).where(BoardItem.id == item.id).execute()
    event = _record(access, activity, "edit_item", item.id, text, item.text, text, f"edited “{_short(item.text)}” to “{_short(text)}”")
    return Change(event, item.id)


def delete_item(meeting_id: str, activity_id: str, user: User, item_id: str) -> Change:
    access, activity = _open_board(meeting_id, activity_id, user)
    item = _item(activity, item_id)
    bucket = Bucket.get_by_id(item.bucket_id)
    BoardItem.delete().where(BoardItem.id == item.id).execute()
    event = _record(access, activity, "delete_item", item.id, item.text, bucket.title, "", f"deleted “{_short(item.text)}”")
    return Change(event, bucket.id)


def _stale(item: BoardItem, seen_bucket: str, seen_revision: int | None) -> None:
    """Refuse a change made on an old view of the item's place."""
    if (seen_bucket and seen_bucket != item.bucket_id) or (seen_revision is not None and seen_revision != item.revision):
        raise Conflict(STALE.format(text=_short(item.text), bucket=Bucket.get_by_id(item.bucket_id).title))


def move_item(
    meeting_id: str,
    activity_id: str,
    user: User,
    item_id: str,
    to_bucket: str,
    seen_bucket: str = "",
    seen_revision: int | None = None,
    position: int | None = None,
) -> Change:
    """Move to another bucket (at its end, or at ``position``, 1-based). ``seen_bucket`` and
    ``seen_revision`` are where the mover saw the item; a move from a stale view is refused."""
    access, activity = _open_board(meeting_id, activity_id, user)
    item = _item(activity, item_id)
    target = _bucket(activity, to_bucket)
    _stale(item, seen_bucket.strip(), seen_revision)
    if target.id == item.bucket_id and position is None:
        return Change(None, item.id)
    source = Bucket.get_by_id(item.bucket_id)
    if position is None:
        new_position = _end_of(target.id)
    else:
        others = [i for i in BoardItem.select().where(BoardItem.bucket == target.id, BoardItem.id != item.id).order_by(BoardItem.position)]
        index = max(0, min(position - 1, len(others)))
        others.insert(index, item)
        for number, row in enumerate(others, start=1):
            if row.id != item.id and row.position != number:
                BoardItem.update(position=number).where(BoardItem.id == row.id).execute()
        new_position = index + 1
    BoardItem.update(bucket=target.id, position=new_position, revision=item.revision + 1).where(BoardItem.id == item.id).execute()
    summary = f"moved “{_short(item.text)}” from {source.title} to {target.title}"
    event = _record(access, activity, "move_item", item.id, item.text, source.title, target.title, summary)
    return Change(event, item.id)


def reorder_item(meeting_id: str, activity_id: str, user: User, item_id: str, direction: str, seen_revision: int | None = None) -> Change:
    """↑/↓ within its bucket (the arrow keys and the buttons)."""
    access, activity = _open_board(meeting_id, activity_id, user)
    _check_direction(direction)
    item = _item(activity, item_id)
    _stale(item, "", seen_revision)
    neighbour = _neighbour(BoardItem.select().where(BoardItem.bucket == item.bucket_id), BoardItem.position, item.position, direction)
    if neighbour is None:
        return Change(None, item.id)
    BoardItem.update(position=neighbour.position, revision=item.revision + 1).where(BoardItem.id == item.id).execute()
    BoardItem.update(position=item.position).where(BoardItem.id == neighbour.id).execute()
    event = _record(access, activity, "reorder_item", item.id, item.text, str(item.position), str(neighbour.position), f"moved “{_short(item.text)}” {direction}")
    return Change(event, item.id)


def set_locked(meeting_id: str, activity_id: str, user: User, locked: bool) -> Change:
    """Lock or unlock (a "set to": repeating it changes nothing)."""
    access, activity = _open_board(meeting_id, activity_id, user, allow_locked=True)
    state = state_of(activity.id)
    if state is None or state.locked == locked:
        return Change(None)
    BoardState.update(locked=locked).where(BoardState.activity == activity.id).execute()
    verb = "locked" if locked else "unlocked"
    return Change(_record(access, activity, verb.removesuffix("ed"), activity.id, "", str(not locked), str(locked), f"{verb} the board"))


def holder_check(meeting_id: str, activity_id: str, user: User, item_id: str) -> tuple[Access, BoardItem]:
    """Read path, for the "being moved" signal: a facilitator, and an item of this board."""
    access = require_member(meeting_id, user)
    if not access.is_facilitator:
        raise Forbidden(FACILITATORS_ONLY)
    activity = categorization_activity(meeting_id, activity_id)
    return access, _item(activity, item_id)


def audit(activity_id: str) -> list[BoardAudit]:
    return list(BoardAudit.select().where(BoardAudit.activity == activity_id).order_by(BoardAudit.id))


def delete_data(activity: Activity) -> None:
    BoardAudit.delete().where(BoardAudit.activity == activity.id).execute()
    BoardItem.delete().where(BoardItem.activity == activity.id).execute()
    Bucket.delete().where(Bucket.activity == activity.id).execute()
    BoardState.delete().where(BoardState.activity == activity.id).execute()
