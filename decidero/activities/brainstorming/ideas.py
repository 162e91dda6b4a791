"""Brainstorming rules (SPEC §4.8): submit, edit, delete, hide. Write path only.

Each function runs inside one write transaction, re-reads what it checks, and returns the event-log
record the route announces after the commit. Log summaries and payloads never name an idea's author.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...meetings import event_log
from ...meetings.access import NOT_ASSIGNED, Access, in_scope, require_facilitator, require_member, require_writable
from ...meetings.activity_types import TransferItem
from ...meetings.ids import next_in_sequence, reserve
from ...meetings.models import Activity, IdCounter, MeetingEvent
from ...meetings.run_control import PAUSED, TIME_UP, check_open_for_input, time_is_up
from ...platform import idempotency
from ...platform.accounts import clean_text
from ...platform.errors import Forbidden, FormErrors, NotFound, Refused
from ...platform.models import User, utcnow
from ...platform.prepared import add, add_many, count, one
from .board import Rules, find, ref_of, rules_of
from .models import Idea

EMPTY = "Write something before submitting."
NO_COMMENTS = "Subcomments are not allowed for this activity."
NO_PARENT = "Parent idea not found in this activity."
NOT_FOUND = "Idea not found in this activity."
EDIT_OWN = "You can only edit your own ideas."
DELETE_OWN = "You can only delete your own ideas."
HIDDEN_EDIT = "Hidden ideas cannot be edited."


def too_long(limit: int) -> str:
    return f"Ideas are limited to {limit} characters."


def over_cap(cap: int) -> str:
    return f"You can submit up to {cap} ideas for this brainstorming session."


@dataclass(frozen=True)
class Outcome:
    """What a change did: the idea it concerns (None once deleted), its event, the viewer's standing,
    whether the round is anonymous. A submission also carries the committed row (activity and author
    attached) and the rules it was checked against, so the answer is rendered without reading the
    database again."""

    idea_id: int | None
    event: MeetingEvent | None
    facilitator: bool
    anonymous: bool
    created: Idea | None = None
    rules: Rules | None = None


def activity_of(meeting_id: str, activity_id: str) -> Activity:
    """The meeting's brainstorming activity ``activity_id``, or 404."""
    activity = one(Activity, id=activity_id, meeting=meeting_id)
    if activity is None or activity.type != "brainstorming":
        raise NotFound()
    return activity


def _contributor(meeting_id: str, activity_id: str, user: User) -> tuple[Access, Activity]:
    """Rule 1: a member of the meeting, in scope of the activity, and the meeting is not archived."""
    access = require_member(meeting_id, user)
    require_writable(access)
    activity = activity_of(meeting_id, activity_id)
    if not access.is_facilitator and not in_scope(activity, user.id):
        raise Forbidden(NOT_ASSIGNED)
    return access, activity


def check_open(activity: Activity, facilitator: bool) -> None:
    """Rule 2. Facilitators may also seed ideas before the start or after the stop, never while
    paused or after time ran out."""
    now = utcnow()
    if not facilitator:
        check_open_for_input(activity, now)
    elif activity.state == "paused":
        raise Refused(PAUSED, 409)
    elif time_is_up(activity, now):
        raise Refused(TIME_UP, 409)


def clean_content(raw: str, rules: Rules) -> str:
    """Rule 3: non-empty and within the limit; control characters are dropped, output is escaped."""
    content = clean_text(raw)
    if not content:
        raise FormErrors({"content": EMPTY})
    if len(content) > rules.char_limit:
        raise FormErrors({"content": too_long(rules.char_limit)})
    return content


def _parent(activity: Activity, raw: str, rules: Rules, facilitator: bool) -> Idea:
    """Rule 4: comments are on and the parent is an idea of this activity (a comment's idea for a
    reply to a comment: one level only)."""
    if not rules.allow_comments:
        raise FormErrors({"content": NO_COMMENTS})
    found = find(activity, raw)
    if found is not None and found.parent_id is not None:
        found = found.parent
    if found is None or (found.hidden and not facilitator):
        raise FormErrors({"content": NO_PARENT})
    return found


def _check_cap(activity: Activity, user: User, rules: Rules) -> None:
    """Rule 5: ideas and comments count together, hidden ones too; deleted ones are gone."""
    used = count(Idea, activity=activity.id, author=user.id)
    if used >= rules.max_ideas:
        raise FormErrors({"content": over_cap(rules.max_ideas)})


def add_idea(
    activity: Activity,
    content: str,
    author: User | None,
    author_name: str,
    parent: Idea | None = None,
    **source: str | None,
) -> Idea:
    """Insert with the next number: "n" for an idea, "n.k" for a comment. Numbers are never reused.

    Also the entry point for transfers (``source_meeting_id``, ``source_activity_id``, ``source_item_id``).
    """
    if parent is None:
        number, sub = next_in_sequence(f"idea:{activity.id}"), 0
    else:
        number, sub = parent.number, next_in_sequence(f"idea:{activity.id}:{parent.number}")
    return add(
        Idea,
        activity=activity,
        number=number,
        sub=sub,
        parent=parent,
        author=author,
        author_name=author_name,
        content=content,
        **source,
    )


def _record(activity: Activity, type: str, idea: Idea, summary: str, actor_id: str | None, action: str) -> MeetingEvent:
    return event_log.record(
        activity.meeting_id,
        type,
        summary,
        actor_id=actor_id,
        activity_id=activity.id,
        payload={"idea": idea.id, "label": idea.label, "parent": idea.parent_id, "action": action},
    )


def _noun(idea: Idea) -> str:
    return "A comment" if idea.sub else "An idea"


def submit(meeting_id: str, activity_id: str, user: User, raw: str, parent_raw: str, key: str | None) -> Outcome:
    """Submit an idea, or a comment when ``parent_raw`` names one (rules 1–5, then the insert)."""
    access, activity = _contributor(meeting_id, activity_id, user)
    facilitator = access.is_facilitator
    scope = idempotency.scope_for(meeting_id, activity_id, user.id, "idea")
    payload = {"content": clean_text(raw), "parent": parent_raw.strip()}
    rules = rules_of(activity)
    previous = idempotency.replayed(scope, key, payload)
    if previous is not None:
        return Outcome(previous.get("idea"), None, facilitator, rules.anonymous)  # the first result, nothing new
    check_open(activity, facilitator)
    content = clean_content(raw, rules)
    parent = _parent(activity, parent_raw, rules, facilitator) if parent_raw.strip() else None
    _check_cap(activity, user, rules)
    idea = add_idea(activity, content, user, "" if rules.anonymous else user.display_name, parent)
    verb = "added" if parent else "submitted"
    summary = f"{_noun(idea)} was {verb} in “{activity.title}”."
    event = _record(activity, "idea_created", idea, summary, None if rules.anonymous else user.id, "create")
    idempotency.remember(scope, key, payload, {"idea": idea.id})
    return Outcome(idea.id, event, facilitator, rules.anonymous, idea, rules)


def _existing(activity: Activity, label: str) -> Idea:
    idea = find(activity, label)
    if idea is None:
        raise NotFound(NOT_FOUND)
    return idea


def edit(meeting_id: str, activity_id: str, user: User, label: str, raw: str) -> Outcome:
    """The author changes their own idea's text (same rules as a submit), while input is open."""
    access, activity = _contributor(meeting_id, activity_id, user)
    idea = _existing(activity, label)
    if idea.author_id != user.id:
        raise Forbidden(EDIT_OWN)
    check_open(activity, access.is_facilitator)
    if idea.hidden:
        raise Refused(HIDDEN_EDIT, 409)
    rules = rules_of(activity)
    content = clean_content(raw, rules)
    if content == idea.content:
        return Outcome(idea.id, None, access.is_facilitator, rules.anonymous)
    idea.content, idea.edited = content, True
    idea.save()
    summary = f"{_noun(idea)} was edited in “{activity.title}”."
    event = _record(activity, "idea_updated", idea, summary, None if rules.anonymous else user.id, "edit")
    return Outcome(idea.id, event, access.is_facilitator, rules.anonymous)


def delete(meeting_id: str, activity_id: str, user: User, label: str) -> Outcome:
    """Authors delete their own idea while input is open; facilitators delete any, at any time.
    An idea's comments go with it."""
    access, activity = _contributor(meeting_id, activity_id, user)
    idea = _existing(activity, label)
    if not access.is_facilitator:
        if idea.author_id != user.id:
            raise Forbidden(DELETE_OWN)
        check_open(activity, facilitator=False)
    event = _record(activity, "idea_deleted", idea, f"{_noun(idea)} was deleted in “{activity.title}”.", None, "delete")
    Idea.delete().where(Idea.parent == idea.id).execute()
    Idea.delete().where(Idea.id == idea.id).execute()
    return Outcome(None, event, access.is_facilitator, rules_of(activity).anonymous)


def set_hidden(meeting_id: str, activity_id: str, user: User, label: str, hidden: bool) -> Outcome:
    """Moderation: hide or unhide (a "set to", so repeating it changes and announces nothing)."""
    access = require_facilitator(meeting_id, user)
    require_writable(access)
    activity = activity_of(meeting_id, activity_id)
    idea = _existing(activity, label)
    anonymous = rules_of(activity).anonymous
    if idea.hidden == hidden:
        return Outcome(idea.id, None, True, anonymous)
    idea.hidden = hidden
    idea.save()
    verb = "hidden" if hidden else "restored"
    summary = f"{_noun(idea)} was {verb} in “{activity.title}”."
    event = _record(activity, "idea_updated", idea, summary, None if anonymous else user.id, "hide" if hidden else "unhide")
    return Outcome(idea.id, event, True, anonymous)


def add_transferred(activity: Activity, items: list[TransferItem], donor_title: str) -> list[tuple[str, TransferItem]]:
    """Transferred ideas and their comments, in bulk (SPEC §4.12): authored "From “<donor>”", with
    no user, numbered after the existing ones. One ``idea_created`` record says how many arrived.
    Returns each created row's ref with the item it came from."""
    if not items:
        return []
    first = reserve(f"idea:{activity.id}", len(items))
    now, author_name = utcnow(), f"From “{donor_title}”"

    def row(number: int, sub: int, item: TransferItem, parent: int | None) -> dict[str, object]:
        source = item.source
        return {
            "activity": activity.id, "number": number, "sub": sub, "parent": parent, "author": None,
            "author_name": author_name, "content": item.text, "created_at": now, "edited": False, "hidden": False,
            "source_meeting_id": activity.meeting_id if source else None,
            "source_activity_id": source.ref.rpartition(":")[0] if source else None,
            "source_item_id": source.ref if source else None,
        }

    add_many(Idea, [row(first + i, 0, item, None) for i, item in enumerate(items)])
    numbers = range(first, first + len(items))
    inserted = Idea.select(Idea.number, Idea.id).where(
        Idea.activity == activity.id, Idea.sub == 0, Idea.number.between(numbers[0], numbers[-1])
    )
    parents: dict[int, int] = {row.number: row.id for row in inserted}
    comments = [row(n, j, c, parents[n]) for n, item in zip(numbers, items, strict=True) for j, c in enumerate(item.comments, 1)]
    add_many(Idea, comments)
    counters = [{"scope": f"idea:{activity.id}:{n}", "last": len(item.comments)} for n, item in zip(numbers, items, strict=True) if item.comments]
    add_many(IdCounter, counters, replace=True)
    created = []
    for number, item in zip(numbers, items, strict=True):
        created.append((ref_of(activity.id, str(number)), item))
        created += [(ref_of(activity.id, f"{number}.{j}"), c) for j, c in enumerate(item.comments, 1)]
    count = len(items)
    event_log.record(
        activity.meeting_id,
        "idea_created",
        f"{count} idea{'s' if count != 1 else ''} from “{donor_title}” {'were' if count != 1 else 'was'} added to “{activity.title}”.",
        activity_id=activity.id,
        payload={"action": "transfer", "count": count},
    )
    return created
