"""Transfer Ideas (SPEC §4.12): carry a stopped activity's items into a new activity inserted right
after it, or into an unused one, through an editable draft.

The engine owns the flow and reaches the types only through the registry: the donor's type gives
its items in results order (``transfer_items``), the target's type states its rules
(``transfer_problems``) and stores what it receives (``receive_transfer``); provenance rows and the
agenda event are written here, in the commit's one transaction. The donor is never modified.

Draft rows carry a token naming their source (``"4"`` = the donor's fourth item, ``"4.1"`` its first
comment); the sources themselves stay on the server, so a form can reorder and edit rows but never
invent where an item came from.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from ..platform import idempotency
from ..platform.accounts import clean_text
from ..platform.db import replace
from ..platform.errors import Conflict, FormErrors, NotFound, Refused
from ..platform.forms import whole_number
from ..platform.models import utcnow
from ..platform.runtime_settings import RuntimeSettings
from . import agenda, event_log, lifecycle, provenance
from .access import Access, require_writable
from .activity_types import TYPES, ActivityType, Problem, TransferItem, TransferSource, get_type
from .models import Activity, MeetingEvent, TransferDraft

DONOR_LIVE = "Activity is currently running. Stop it before transferring ideas."
NOT_STOPPED = "Stop the activity before transferring ideas."
NOTHING = "No ideas to transfer yet."
ONLY_UNUSED = "Only unused activities are eligible to receive transferred ideas."
INTO_DONOR = "Cannot transfer into the donor activity itself."
TARGET_STARTED = "Target activity has already been started."
TARGET_DATA = "Target activity already has participant data."
SAVED = "Draft saved."
SWITCH_WARNING = "Switching the transform discards your draft edits."
TOO_MANY = "A transfer can carry at most {limit} ideas."
TOO_LONG = "Each idea in a draft is limited to {limit} characters."

MAX_ROWS = 5000
MAX_TEXT = 10000
ROW_FIELD = re.compile(r"item-(\d{1,5})")
COMMENT_FIELD = re.compile(r"item-(\d{1,5})-c(\d{1,4})")
MODES = ("new", "existing")
DEFAULT_TARGET_TYPE = "voting"


# -- the draft ------------------------------------------------------------------------------------


@dataclass
class Row:
    """One item of the draft: its text as edited, its source token ("" for an added one), comments."""

    text: str
    src: str = ""
    comments: list[Row] = field(default_factory=list)


@dataclass
class Draft:
    transform: str
    include_comments: bool = True
    mode: str = "new"
    target_type: str = DEFAULT_TARGET_TYPE
    target_title: str = ""
    target_id: str = ""
    rows: list[Row] = field(default_factory=list)
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)  # token → TransferSource fields

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Draft:
        def row(raw: Mapping[str, Any]) -> Row:
            return Row(str(raw.get("text", "")), str(raw.get("src", "")), [row(c) for c in raw.get("comments", [])])

        return cls(
            transform=str(data.get("transform", "")),
            include_comments=bool(data.get("include_comments", True)),
            mode=str(data.get("mode", "new")),
            target_type=str(data.get("target_type", DEFAULT_TARGET_TYPE)),
            target_title=str(data.get("target_title", "")),
            target_id=str(data.get("target_id", "")),
            rows=[row(r) for r in data.get("rows", [])],
            sources=dict(data.get("sources", {})),
        )

    def source(self, token: str) -> TransferSource | None:
        raw = self.sources.get(token) if token else None
        if raw is None:
            return None
        return TransferSource(str(raw["ref"]), str(raw["label"]), str(raw["text"]), tuple(raw.get("parts", ())))

    def items(self) -> list[TransferItem]:
        """The rows as transfer items: empty items and comments are dropped (SPEC §4.12)."""
        return [
            TransferItem(
                r.text.strip(),
                self.source(r.src),
                tuple(TransferItem(c.text.strip(), self.source(c.src)) for c in r.comments if c.text.strip()),
            )
            for r in self.rows
            if r.text.strip()
        ]


def transform_of(activity_type: ActivityType, wanted: str) -> str:
    keys = [key for key, _ in activity_type.transforms]
    return wanted if wanted in keys else (keys[0] if keys else "")


def fresh_draft(donor: Activity, transform: str = "") -> Draft:
    """The donor's items as the type gives them, before any edit (read path)."""
    activity_type = get_type(donor.type)
    chosen = transform_of(activity_type, transform)
    draft = Draft(chosen, target_title=default_title(donor))
    for number, item in enumerate(activity_type.transfer_items(donor, chosen), start=1):
        comments = []
        for sub, comment in enumerate(item.comments, start=1):
            comments.append(Row(comment.text, _remember(draft, f"{number}.{sub}", comment.source)))
        draft.rows.append(Row(item.text, _remember(draft, str(number), item.source), comments))
    return draft


def _remember(draft: Draft, token: str, source: TransferSource | None) -> str:
    if source is None:
        return ""
    draft.sources[token] = {"ref": source.ref, "label": source.label, "text": source.text, "parts": list(source.parts)}
    return token


def default_title(donor: Activity) -> str:
    return f"{donor.title} - Transfer"[:200]


def load_draft(donor: Activity) -> Draft:
    """The saved draft, else a fresh one (read path)."""
    stored = TransferDraft.get_or_none(TransferDraft.donor_id == donor.id)
    return Draft.from_data(stored.data) if stored is not None else fresh_draft(donor)


def parse_form(form: Mapping[str, str], saved: Draft) -> tuple[Draft, dict[str, str]]:
    """The draft as the form shows it, and the fields it refuses (kept as typed, to show beside
    them). Rows and comments come in index order; a source token the saved draft does not know is
    dropped (the row counts as one the facilitator added)."""
    rows: dict[int, Row] = {}
    comments: dict[int, dict[int, Row]] = {}
    errors: dict[str, str] = {}
    for name, value in form.items():
        if (match := ROW_FIELD.fullmatch(name)) is not None:
            index = int(match.group(1))
            rows[index] = Row(_text(name, value, errors), _known(saved, form.get(f"{name}-src", "")))
        elif (match := COMMENT_FIELD.fullmatch(name)) is not None:
            index, sub = int(match.group(1)), int(match.group(2))
            comments.setdefault(index, {})[sub] = Row(_text(name, value, errors), _known(saved, form.get(f"{name}-src", "")))
    if len(rows) > MAX_ROWS:
        raise Refused(TOO_MANY.format(limit=MAX_ROWS), 400)
    for index, row in rows.items():
        row.comments = [comments[index][sub] for sub in sorted(comments.get(index, {}))]
    draft = Draft(
        transform=saved.transform,
        include_comments=form.get("include_comments") in ("on", "1", "true") if "draft_form" in form else saved.include_comments,
        mode=form.get("commit", saved.mode) if form.get("commit") in MODES else saved.mode,
        target_type=str(form.get("target_type", saved.target_type))[:50],
        target_title=clean_text(form.get("target_title", saved.target_title))[:200],
        target_id=str(form.get("target_id", saved.target_id))[:200],
        rows=[rows[i] for i in sorted(rows)],
        sources=saved.sources,
    )
    return draft, errors


def _text(name: str, raw: str, errors: dict[str, str]) -> str:
    """Draft text keeps the facilitator's line breaks; only control characters go."""
    text = clean_text(raw)
    if len(text) > MAX_TEXT:
        errors[name] = TOO_LONG.format(limit=MAX_TEXT)
    return text


def _known(saved: Draft, token: str) -> str:
    return token if token in saved.sources else ""


def apply_action(draft: Draft, action: str) -> None:
    """A no-JS (or button) edit of the draft: ``up:i``, ``down:i``, ``remove:i``, ``remove:i.j``, ``add``."""
    verb, _, arg = action.partition(":")
    index_text, _, sub_text = arg.partition(".")
    index = (whole_number(index_text) or 0) - 1
    if verb == "add" and len(draft.rows) < MAX_ROWS:
        draft.rows.append(Row(""))
    elif not 0 <= index < len(draft.rows):
        return
    elif verb in ("up", "down"):
        other = index - 1 if verb == "up" else index + 1
        if 0 <= other < len(draft.rows):
            draft.rows[index], draft.rows[other] = draft.rows[other], draft.rows[index]
    elif verb == "remove" and sub_text:
        sub = (whole_number(sub_text) or 0) - 1
        if 0 <= sub < len(draft.rows[index].comments):
            del draft.rows[index].comments[sub]
    elif verb == "remove":
        del draft.rows[index]


def save_draft(access: Access, donor_id: str, draft: Draft) -> None:
    """Store the draft (write path); it belongs to the donor, whoever of its facilitators saves it."""
    _check_access(access)
    agenda.get_activity(access.meeting.id, donor_id)
    replace(
        TransferDraft,
        donor_id=donor_id, meeting_id=access.meeting.id, data_json=draft.to_json(), updated_at=utcnow(), updated_by=access.user.id,
    )


def switch_transform(access: Access, donor_id: str, transform: str, current: Draft) -> Draft:
    """A new transform starts again from the donor's items (edits are discarded); the target stays."""
    _check_access(access)
    donor = agenda.get_activity(access.meeting.id, donor_id)
    draft = fresh_draft(donor, transform)
    draft.mode, draft.target_type, draft.target_title, draft.target_id = (
        current.mode, current.target_type, current.target_title, current.target_id
    )
    draft.include_comments = current.include_comments
    save_draft(access, donor_id, draft)
    return draft


def _check_access(access: Access) -> None:
    lifecycle.check_facilitator(access)
    require_writable(access)


# -- targets ----------------------------------------------------------------------------------------


def receiving_types() -> dict[str, ActivityType]:
    """The types a transfer can create or fill, in menu order."""
    return {name: t for name, t in TYPES.items() if t.content_key}


def unused_problem(target: Activity, donor: Activity) -> str | None:
    """Why ``target`` cannot receive ``donor``'s items, or None when it is eligible."""
    if target.id == donor.id:
        return INTO_DONOR
    if target.state != "not_started" or target.started_at is not None or target.elapsed_seconds > 0:
        return TARGET_STARTED
    activity_type = get_type(target.type)
    if activity_type.has_participant_data(target):
        return TARGET_DATA
    if not activity_type.content_key:
        return f"{activity_type.label} activities cannot receive transferred ideas."
    return None


def eligible_targets(meeting_id: str, donor: Activity) -> list[Activity]:
    """Activities of the meeting that may receive the donor's items (read path)."""
    return [a for a in agenda.ordered(meeting_id) if unused_problem(a, donor) is None]


def fold_comments(items: list[TransferItem], target: ActivityType, include: bool) -> list[TransferItem]:
    """Comments as the target takes them: kept as comments, folded into the text as
    ``<idea> (Comments: a; b)``, or left out when Include comments is off. A target that folds them
    keeps its items as a list of lines (options, ideas to rank or sort), so each becomes one line."""
    if target.keeps_comments:
        return items if include else [TransferItem(i.text, i.source) for i in items]
    folded = []
    for item in items:
        texts = [c.text for c in item.comments] if include else []
        text = f"{item.text} (Comments: {'; '.join(texts)})" if texts else item.text
        folded.append(TransferItem(" ".join(text.split()), item.source))
    return folded


# -- commit -----------------------------------------------------------------------------------------


class TransferProblems(FormErrors):
    """The target's rules refuse some rows: their indexes (as the draft shows them) and messages."""

    def __init__(self, problems: list[tuple[int, str]]) -> None:
        super().__init__({f"item-{index + 1}": message for index, message in problems})
        self.problems = problems


@dataclass(frozen=True)
class Committed:
    target_id: str
    mode: str
    event: MeetingEvent | None  # None: a replayed form token, nothing new


def commit(access: Access, donor_id: str, draft: Draft, token: str | None, settings: RuntimeSettings) -> Committed:
    """Create or fill the target in one transaction (write path); idempotent per form ``token``."""
    _check_access(access)
    meeting_id = access.meeting.id
    scope = idempotency.scope_for(meeting_id, donor_id, access.user.id, "transfer")
    earlier = idempotency.replayed(scope, token, {"donor": donor_id})
    if earlier is not None:
        return Committed(str(earlier["target"]), str(earlier["mode"]), None)
    donor = agenda.get_activity(meeting_id, donor_id)
    if donor.state in agenda.ACTIVE_STATES:
        raise Conflict(DONOR_LIVE)
    target, target_type = _target(access, donor, draft)
    items, rows = _items_for(draft, target_type)
    if not items:
        raise Refused(NOTHING, 400)
    config = target.config if target is not None else _new_config(donor, draft.target_type, settings)
    problems = target_type.transfer_problems(config, items)
    if problems:
        raise TransferProblems([(rows[min(index, len(rows) - 1)], message) for index, message in problems])
    if target is None:
        common = {"title": draft.target_title or default_title(donor), "instructions": ""}
        target, _ = agenda.add_activity(access.meeting, draft.target_type, common, config, access.user.id, donor.position + 1)
    created = target_type.receive_transfer(target, items, donor.title)
    origin = provenance.Origin(meeting_id, donor.id, donor.title)
    provenance.record(target, origin, _sources(created))
    count = len(items)
    event = event_log.record(
        meeting_id,
        "agenda_changed",
        f"{count} idea{'s' if count != 1 else ''} from “{donor.title}” {'were' if count != 1 else 'was'} transferred into “{target.title}”.",
        actor_id=access.user.id,
        activity_id=target.id,
        payload={"transfer": donor.id},
    )
    TransferDraft.delete().where(TransferDraft.donor_id == donor.id).execute()
    idempotency.remember(scope, token, {"donor": donor_id}, {"target": target.id, "mode": draft.mode})
    return Committed(target.id, draft.mode, event)


def _target(access: Access, donor: Activity, draft: Draft) -> tuple[Activity | None, ActivityType]:
    """The existing target (checked for eligibility) or, for a new one, None and its type."""
    if draft.mode == "existing":
        target = Activity.get_or_none(Activity.id == draft.target_id, Activity.meeting == access.meeting.id)
        if target is None:
            raise NotFound("Target activity not found in this meeting.")
        problem = unused_problem(target, donor)
        if problem is not None:
            raise Conflict(problem)
        return target, get_type(target.type)
    if draft.target_type not in receiving_types():
        raise FormErrors({"target_type": f"Unknown activity type '{draft.target_type[:50]}'."})
    title = draft.target_title or default_title(donor)
    if not 1 <= len(title) <= 200:
        raise FormErrors({"target_title": "Title must be 1–200 characters."})
    return None, get_type(draft.target_type)


def _items_for(draft: Draft, target_type: ActivityType) -> tuple[list[TransferItem], list[int]]:
    """The items the target receives, and for each the index of its row in the draft as shown
    (empty rows are dropped, so the two differ)."""
    rows = [index for index, row in enumerate(draft.rows) if row.text.strip()]
    return fold_comments(draft.items(), target_type, draft.include_comments), rows


def _new_config(donor: Activity, type_name: str, settings: RuntimeSettings) -> dict[str, Any]:
    """A new target's config: for the same type, the donor's non-content settings (SPEC §4.12)."""
    target_type = get_type(type_name)
    if type_name == donor.type:
        return {k: v for k, v in donor.config.items() if k != target_type.content_key}
    return target_type.default_config(settings)


def _sources(created: list[tuple[str, TransferItem]]) -> list[tuple[str, TransferSource | None]]:
    return [(ref, item.source) for ref, item in created]


def problems_by_row(problems: list[Problem]) -> dict[int, list[str]]:
    """Row index → messages, for highlighting the draft."""
    found: dict[int, list[str]] = {}
    for index, message in problems:
        found.setdefault(index, []).append(message)
    return found


def donor_view(access: Access, donor_id: str) -> tuple[Activity, Draft]:
    """The donor and its draft for the transfer page (read path): facilitators only."""
    lifecycle.check_facilitator(access)
    donor = agenda.get_activity(access.meeting.id, donor_id)
    return donor, load_draft(donor)


def draft_for(access: Access, donor_id: str) -> Draft:
    """The saved (or fresh) draft, the base a submitted form is read against (read path)."""
    return donor_view(access, donor_id)[1]


def _delete_for_activity(activity: Activity) -> None:
    TransferDraft.delete().where(TransferDraft.donor_id == activity.id).execute()


def _delete_for_meeting(meeting_id: str) -> None:
    TransferDraft.delete().where(TransferDraft.meeting_id == meeting_id).execute()


agenda.ON_DELETE.append(_delete_for_activity)
lifecycle.ON_DELETE.append(_delete_for_meeting)

