"""Import (SPEC §4.13): a checked bundle becomes a new meeting owned by the importer.

``check`` finds what the schema cannot: ids that point outside the bundle (an activity id of another
meeting, a round after a missing activity, a vote for an option the activity lacks, a user nobody
lists). ``import_meeting`` then creates everything in the caller's single write transaction, so an
error leaves nothing behind: a new meeting id, the activities' ids under it (their numbers kept, so
every link inside the bundle holds), people re-linked by user id, then email, then login, and every
activity stopped with its elapsed time.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..meetings import event_log
from ..meetings.activity_types import TYPES, ImportLinks, unstamp
from ..meetings.ids import new_join_code, next_meeting_id, set_sequences
from ..meetings.lifecycle import FULL, check_creator
from ..meetings.models import (
    Activity,
    ActivityRosterEntry,
    ActivityRound,
    Meeting,
    MeetingMember,
    Provenance,
    TransferDraft,
)
from ..platform import idempotency
from ..platform.accounts import next_user_id, unique_color
from ..platform.models import User, utcnow
from ..platform.prepared import add_many
from .bundle import INVALID_JSON, BundleError

SCOPE = "meeting-import:{user_id}"
IMPORTED = "Meeting imported as “{title}”."
ACTIVITY_NUMBER = re.compile(r"-(\d{4,})$")
MAX_TITLE = 200


def people_of(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Everyone the bundle lists, roster first: owner, co-facilitators, participants, contributors."""
    return [data["owner"], *data["cofacilitators"], *data["participants"], *data["contributors"]]


# -- what the schema cannot check ----------------------------------------------------------------


def check(data: Mapping[str, Any]) -> None:
    """Raise BundleError(INVALID_JSON) naming the first id that points outside the bundle. Pure."""
    problems = _problems(data)
    if problems:
        raise BundleError(INVALID_JSON, 422, problems[0][:300])


def _problems(data: Mapping[str, Any]) -> list[str]:
    meeting_id = data["meeting"]["id"]
    user_ids = [p["user_id"] for p in people_of(data)]
    found = [f"user {u!r} is listed twice" for u in sorted({u for u in user_ids if user_ids.count(u) > 1})]
    listed = set(user_ids)
    activity_ids: list[str] = []
    for index, activity in enumerate(data["activities"]):
        where, activity_type = f"activities[{index}]", TYPES[activity["type"]]
        if not re.fullmatch(re.escape(f"{meeting_id}-{activity_type.stem}-") + r"\d{4,}", activity["id"]) or activity["id"] in activity_ids:
            found.append(f"{where}: {activity['id']!r} is not a {activity['type']} activity id of meeting {meeting_id}")
        activity_ids.append(activity["id"])
        named = set(activity["roster"]) | activity_type.content_users(activity["content"])
        found += [f"{where}: user {u!r} is not listed in the bundle" for u in sorted(named - listed)]
        found += [f"{where}.{p}" for p in activity_type.content_problems(activity["id"], activity["config"], activity["content"])]
    positions = [a["position"] for a in data["activities"]]
    if len(set(positions)) != len(positions):
        found.append("activities: two activities share a position")
    for index, activity in enumerate(data["activities"]):
        previous = (activity["round"] or {}).get("previous_id")
        if previous is not None and previous not in activity_ids:
            found.append(f"activities[{index}].round: activity {previous!r} is not in the bundle")
    refs: set[tuple[str, str]] = set()
    for index, row in enumerate(data["provenance"]):
        if row["activity_id"] not in activity_ids or not row["ref"].startswith(row["activity_id"] + ":"):
            found.append(f"provenance[{index}]: {row['ref']!r} is not in an activity of the bundle")
        if (row["activity_id"], row["ref"]) in refs:
            found.append(f"provenance[{index}]: a second source for {row['ref']!r}")
        refs.add((row["activity_id"], row["ref"]))
    donors: set[str] = set()
    for index, draft in enumerate(data["transfer_drafts"]):
        target = draft["data"]["target_id"]
        if draft["donor_id"] not in activity_ids or (target and target not in activity_ids) or draft["donor_id"] in donors:
            found.append(f"transfer_drafts[{index}]: its donor or target is not in the bundle, or the donor has two drafts")
        donors.add(draft["donor_id"])
    return found


# -- people ----------------------------------------------------------------------------------------


def _match(person: Mapping[str, Any]) -> User | None:
    """The account here for an exported person: by user id, then email, then login (SPEC §4.13).

    A user id alone is not proof on another instance (ids come from names: USR-SMITHJ-001), so an
    id match counts when the account also has the exported login or email, or the export has neither."""
    alive = User.is_deleted == False  # noqa: E712
    login, email = (person["login"] or "").lower(), (person["email"] or "").lower()
    by_id = User.get_or_none((User.id == person["user_id"]) & alive)
    if by_id is not None and (not (login or email) or by_id.login == login or by_id.email == email):
        return by_id
    if email:
        found = User.get_or_none((User.email == email) & alive)
        if found is not None:
            return found
    return User.get_or_none((User.login == login) & alive) if login else None


def _stand_in(person: Mapping[str, Any]) -> str:
    """An account for a person unknown here whose contributions come along: it only carries their
    exported name (no login, e-mail or password, marked deleted: nobody signs in as it, no list
    shows it), like the record a deleted account leaves."""
    first, last = person["first_name"], person["last_name"]
    user_id = next_user_id(first, last)
    User.create(
        id=user_id, login=None, email=None, first_name=first, last_name=last,
        display_name=person["display_name"] or "Unknown", role="participant", password_hash=None,
        is_active=False, is_deleted=True, avatar_color=unique_color(user_id),
    )
    return user_id


def _relink(data: Mapping[str, Any], contributing: set[str]) -> tuple[dict[str, str], set[str]]:
    """(exported user id → account here, the ids re-linked to a real account). An account stands
    for one exported person only: a second one matching it (a shared e-mail) counts as unknown, so
    two people's ballots never merge into one."""
    users: dict[str, str] = {}
    linked: set[str] = set()
    accounts: set[str] = set()
    for person in people_of(data):
        found = _match(person)
        if found is not None and found.id not in accounts:
            users[person["user_id"]] = found.id
            accounts.add(found.id)
            linked.add(person["user_id"])
        elif person["user_id"] in contributing:
            users[person["user_id"]] = _stand_in(person)
    return users, linked


def _contributing(data: Mapping[str, Any]) -> set[str]:
    named: set[str] = set()
    for activity in data["activities"]:
        named |= TYPES[activity["type"]].content_users(activity["content"])
    return named


# -- the meeting -----------------------------------------------------------------------------------


def imported_title(title: str, owner_id: str, today: datetime) -> str:
    """"<title> (Imported YYYY-MM-DD)", then " 2", " 3"… while the importer has that title."""
    suffix = f" (Imported {today.strftime('%Y-%m-%d')})"
    base = title[: MAX_TITLE - len(suffix) - 4] + suffix
    taken = {m.title for m in Meeting.select(Meeting.title).where(Meeting.owner == owner_id)}
    candidate, number = base, 1
    while candidate in taken:
        number += 1
        candidate = f"{base} {number}"
    return candidate


def digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def import_meeting(importer: User, data: Mapping[str, Any], *, token: str | None, upload_digest: str, capacity: int) -> Meeting:
    """Create the meeting of a checked bundle (write path, one transaction). A replayed form token
    returns the first import's meeting."""
    check_creator(importer)
    scope, payload = SCOPE.format(user_id=importer.id), {"form": "meeting-import", "file": upload_digest}
    prior = idempotency.replayed(scope, token, payload)
    if prior is not None:
        existing = Meeting.get_or_none(Meeting.id == prior["meeting_id"])
        if existing is not None:
            return existing
    now = utcnow()
    users, linked = _relink(data, _contributing(data))
    exported = data["meeting"]
    meeting = Meeting.create(
        id=next_meeting_id(now),
        join_code=new_join_code(),
        title=imported_title(exported["title"], importer.id, now),
        description=exported["description"],
        scheduled_start=now,  # the schedule starts now, with the original duration
        duration_minutes=exported["duration_minutes"],
        owner=importer,
        open_join=exported["open_join"],
        created_at=now,
        updated_at=now,
    )
    links = ImportLinks(exported["id"], meeting.id, users)
    participants = _roster(meeting, data, links, linked, importer, capacity)
    _activities(meeting, data, links, participants, now)
    _provenance(data, links, meeting.id)
    _drafts(data, links, meeting.id)
    event_log.record(meeting.id, "meeting_updated", f"{importer.display_name} imported the meeting.", actor_id=importer.id)
    idempotency.remember(scope, token, payload, {"meeting_id": meeting.id})
    return meeting


def _roster(meeting: Meeting, data: Mapping[str, Any], links: ImportLinks, linked: set[str], importer: User, capacity: int) -> set[str]:
    """Re-linked facilitators (of the facilitator role) as co-facilitators, re-linked participants
    as participants; people unknown here are not rostered. Returns the participants' new ids."""
    facilitators = [p["user_id"] for p in [data["owner"], *data["cofacilitators"]] if p["user_id"] in linked]
    eligible = {u.id for u in User.select().where(User.id.in_([links.users[f] for f in facilitators])) if u.is_facilitator}
    cofacilitators = [i for i in dict.fromkeys(links.users[f] for f in facilitators) if i in eligible and i != importer.id]
    taken = {importer.id, *cofacilitators}
    participants = [
        i for i in dict.fromkeys(links.users[p["user_id"]] for p in data["participants"] if p["user_id"] in linked) if i not in taken
    ]
    if len(participants) > capacity:
        raise BundleError(FULL.format(limit=capacity), 409)
    now = utcnow()
    rows = [{"meeting": meeting.id, "user": i, "role": "cofacilitator", "added_at": now} for i in cofacilitators]
    rows += [{"meeting": meeting.id, "user": i, "role": "participant", "added_at": now} for i in participants]
    add_many(MeetingMember, rows)
    return set(participants)


def _activities(meeting: Meeting, data: Mapping[str, Any], links: ImportLinks, participants: set[str], now: datetime) -> None:
    lasts: dict[str, int] = {}
    for exported in sorted(data["activities"], key=lambda a: a["position"]):
        activity_type = TYPES[exported["type"]]
        live = exported["state"] in ("running", "paused")
        roster = [u for u in (links.users.get(old) for old in exported["roster"]) if u in participants]
        # A custom list with nobody left reverts to all participants, as a roster removal does (SPEC §4.4).
        mode = exported["roster_mode"] if roster else "all"
        activity = Activity.create(
            id=links.ref(exported["id"]),
            meeting=meeting.id,
            position=exported["position"],
            type=exported["type"],
            title=exported["title"],
            instructions=exported["instructions"],
            config_json="{}",
            state="stopped" if live else exported["state"],  # every activity arrives stopped (never started ones stay so)
            segment_started_at=None,
            elapsed_seconds=exported["elapsed_seconds"],
            time_limit_minutes=exported["time_limit_minutes"],
            auto_stop=exported["auto_stop"],
            started_at=unstamp(exported["started_at"]),
            stopped_at=now if live else unstamp(exported["stopped_at"]),
            roster_mode=mode,
            results_published=exported["results_published"],
            created_at=unstamp(exported["created_at"]),
        )
        activity.config = activity_type.import_config(dict(exported["config"]), links)
        activity.save()
        if mode == "custom":
            add_many(ActivityRosterEntry, [{"activity": activity.id, "user": u} for u in dict.fromkeys(roster)])
        if exported["round"] is not None:
            ActivityRound.create(
                activity_id=activity.id, previous_id=links.ref(exported["round"]["previous_id"]),
                meeting_id=meeting.id, number=exported["round"]["number"],
            )
        activity_type.load_content(activity, exported["content"], links)
        number = ACTIVITY_NUMBER.search(exported["id"])
        scope = f"activity:{meeting.id}:{activity_type.stem}"
        lasts[scope] = max(lasts.get(scope, 0), int(number.group(1)) if number else 0)
    set_sequences(lasts)


def _provenance(data: Mapping[str, Any], links: ImportLinks, meeting_id: str) -> None:
    add_many(Provenance, [
        {
            "meeting_id": meeting_id, "activity_id": links.ref(row["activity_id"]), "ref": links.ref(row["ref"]),
            "source_meeting_id": links.ref(row["source_meeting_id"]), "source_activity_id": links.ref(row["source_activity_id"]),
            "source_title": row["source_title"], "source_ref": links.ref(row["source_ref"]), "source_label": row["source_label"],
            "source_text": row["source_text"], "parts_json": json.dumps([links.ref(p) for p in row["parts"]]),
            "created_at": unstamp(row["created_at"]),
        }
        for row in data["provenance"]
    ])


def _drafts(data: Mapping[str, Any], links: ImportLinks, meeting_id: str) -> None:
    for draft in data["transfer_drafts"]:
        body = dict(draft["data"])
        body["target_id"] = links.ref(body["target_id"])
        body["sources"] = {
            token: {**source, "ref": links.ref(source["ref"]), "parts": [links.ref(p) for p in source["parts"]]}
            for token, source in body["sources"].items()
        }
        TransferDraft.create(
            donor_id=links.ref(draft["donor_id"]), meeting_id=meeting_id, data_json=json.dumps(body),
            updated_at=unstamp(draft["updated_at"]), updated_by=None,
        )


