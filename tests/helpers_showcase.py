"""A showcase meeting with every activity type in several states, and the people of every role, seeded
once per module for the whole-site tests (link crawl, accessibility scan) and for looking at pages.

The meeting goes through the domain functions on a second handle of the server's database file, the
way ``helpers_meetings`` seeds the room tests. The settings and the AI designer's conversation go
through the running server (``configure_showcase``), as an admin and a facilitator would make them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
from fake_openai import API_KEY, MODEL, VALID_AGENDA, FakeProvider, as_json
from helpers_brainstorming import DEFAULT_CONFIG as BRAINSTORM_DEFAULTS
from helpers_meetings import Person, add_people, on_file, password_hash, seed_meeting, signed_in

from decidero.activities.ballots.models import Ranking, VoteAllocation
from decidero.activities.brainstorming.board import PAGE_SIZE
from decidero.activities.brainstorming.ideas import add_idea
from decidero.activities.categorization import board, changes
from decidero.meetings import agenda, lifecycle, roster, rounds, run_control, transfer
from decidero.meetings.access import access_for
from decidero.meetings.activity_types import get_type
from decidero.meetings.models import Activity, Meeting
from decidero.platform import accounts
from decidero.platform.db import Database
from decidero.platform.models import User, utcnow
from decidero.platform.runtime_settings import RuntimeSettings

# The first account is the super admin; every global and per-meeting role is represented.
ROLES = {"root": "super_admin", "ada": "admin", "fay": "facilitator", "pia": "participant", "pete": "participant"}
IDEAS = ["Shorter meetings", "Walking one-on-ones", "A shared glossary"]


@dataclass
class Showcase:
    people: dict[str, Person]  # by login; "guest" joined by the meeting's code
    meeting: str
    archived: str
    activities: dict[str, str]  # short name → activity id
    # Per login, pages no link leads to (a generated agenda's preview comes from a POST's redirect).
    unlinked: dict[str, list[str]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"/meeting/{self.meeting}"

    def activity_url(self, name: str, action: str = "") -> str:
        return f"/meeting/{self.meeting}/activities/{self.activities[name]}" + (f"/{action}" if action else "")


def _add(meeting: Meeting, type_name: str, title: str, config: dict[str, Any], instructions: str = "") -> Activity:
    common = {"title": title, "instructions": instructions, "time_limit_minutes": None, "auto_stop": False}
    base = BRAINSTORM_DEFAULTS if type_name == "brainstorming" else get_type(type_name).default_config(None)  # type: ignore[arg-type]
    full = {**base, **config}
    activity, _ = agenda.add_activity(meeting, type_name, common, full, meeting.owner_id)
    return activity


def _control(activity_id: str, *actions: str) -> None:
    for action in actions:
        activity = Activity.get_by_id(activity_id)
        run_control.control(activity, action, User.get_by_id(activity.meeting.owner_id), exclusivity=False)


def _transfer_into(db: Database, meeting: Meeting, donor: Activity, target: Activity, owner: User) -> None:
    """The donor's ideas, as the Transfer Ideas page gives them, fill the unused ``target``."""
    draft = replace(transfer.load_draft(donor), mode="existing", target_id=target.id)
    transfer.commit(access_for(meeting.id, owner), donor.id, draft, None, RuntimeSettings(db))


def seed_showcase(db: Database) -> Showcase:
    """"Showcase" owned by fay with pia and pete: a running brainstorm with ideas, a paused one with
    more than a page of ideas (so it shows "Show N earlier ideas"), a running dot vote, a stopped and
    published ranking, a stopped dot vote with its round 2 (stopped, with votes), a discussion not
    started, a stopped brainstorm whose ideas fill a running categorization board (one idea sorted),
    and a guest who joined by the code; plus an archived meeting of fay's."""
    people = add_people(db, ROLES)
    seeded = seed_meeting(db, "fay", ["pia", "pete"], activities=(), title="Showcase")
    archived = seed_meeting(db, "fay", ["pia"], activities=(("Retro", {}),), title="Last year")

    def write() -> tuple[dict[str, str], Person]:
        meeting = Meeting.get_by_id(seeded.id)
        pia = User.get(User.login == "pia")
        ideas = _add(meeting, "brainstorming", "Ideas", {"allow_comments": True, "prompt": "How could we meet better?"},
                     "One idea per card.")
        parked = _add(meeting, "brainstorming", "Parked", {})
        vote = _add(meeting, "voting", "Vote", {"options": IDEAS, "max_votes": 3, "max_per_option": 2})
        rank = _add(meeting, "rank_order_voting", "Rank", {"ideas": IDEAS})
        tally = _add(meeting, "voting", "Tally", {"options": ["Yes", "No"]})
        talk = _add(meeting, "discussion", "Talk", {}, "Wrap up together.")
        _control(ideas.id, "start")
        for text in IDEAS:
            idea = add_idea(Activity.get_by_id(ideas.id), text, pia, pia.display_name)
        add_idea(Activity.get_by_id(ideas.id), "Yes, please", pia, pia.display_name, idea)
        _control(parked.id, "start")
        pete = User.get(User.login == "pete")
        for n in range(PAGE_SIZE + 3):  # no comments allowed: no Reply link per row for the crawl to follow
            add_idea(Activity.get_by_id(parked.id), f"Parked idea {n + 1}", pete, pete.display_name)
        _control(parked.id, "pause")
        _control(vote.id, "start")
        _control(rank.id, "start")
        options = [o["id"] for o in Activity.get_by_id(rank.id).config["ideas"]]
        for login, order in (("pia", options), ("pete", [options[1], options[0], options[2]])):
            user = User.get(User.login == login)
            Ranking.insert(activity=rank.id, user=user.id, order_json=json.dumps(order), submitted_at=utcnow()).execute()
        _control(rank.id, "stop")
        run_control.publish(Activity.get_by_id(rank.id), True, User.get(User.login == "fay"))
        _control(tally.id, "start", "stop")
        fay = User.get(User.login == "fay")
        tally_2, _ = rounds.run_again(access_for(meeting.id, fay), tally.id)
        _control(tally_2.id, "start")
        yes = Activity.get_by_id(tally_2.id).config["options"][0]["id"]
        VoteAllocation.insert(activity=tally_2.id, user=pia.id, option_id=yes, count=1).execute()
        _control(tally_2.id, "stop")
        retro = _add(meeting, "brainstorming", "Retro", {"allow_comments": True})
        sort = _add(meeting, "categorization", "Sort", {"buckets": ["Keep", "Change"]})
        _control(retro.id, "start")
        first = add_idea(Activity.get_by_id(retro.id), "Demo every Friday", pia, pia.display_name)
        add_idea(Activity.get_by_id(retro.id), "with snacks", pia, pia.display_name, first)
        add_idea(Activity.get_by_id(retro.id), "Fewer status meetings", pia, pia.display_name)
        _control(retro.id, "stop")
        _transfer_into(db, meeting, Activity.get_by_id(retro.id), Activity.get_by_id(sort.id), fay)
        _control(sort.id, "start")
        items = board.items_of(sort.id)
        keep = next(b for b in board.buckets_of(sort.id) if b.title == "Keep")
        changes.move_item(meeting.id, sort.id, fay, items[0].id, keep.id)
        old = Meeting.get_by_id(archived.id)
        lifecycle.archive(access_for(old.id, fay))
        guest = accounts.create_guest(accounts.GuestDetails("Gus Guest", None), password_hash())
        roster.join(meeting.join_code, guest, capacity=100)
        shown = {"ideas": ideas, "parked": parked, "vote": vote, "rank": rank, "tally": tally, "talk": talk}
        shown |= {"tally_2": tally_2, "retro": retro, "sort": sort}
        return {name: activity.id for name, activity in shown.items()}, signed_in(guest)

    activities, people["guest"] = db.write_sync(write)
    return Showcase(people, seeded.id, archived.id, activities)


def seed_showcase_file(path: Path) -> Showcase:
    """The showcase on a running server's database file."""
    return on_file(path, seed_showcase)


def configure_showcase(base_url: str, show: Showcase, provider: FakeProvider) -> None:
    """Through the running server: an admin turns guest join on and points the AI designer at the
    fake provider; fay talks with the designer and generates an agenda (its preview is unlinked)."""

    def client(login: str) -> httpx.Client:
        person = show.people[login]
        return httpx.Client(base_url=base_url, cookies=person.cookies, headers=person.headers, timeout=30)

    with client("root") as root:
        ai = {"ai.endpoint_url": provider.url, "ai.api_key": API_KEY, "ai.model": MODEL}
        for tab, values in (("meetings", {"meetings.allow_guest_join": "true"}), ("ai", ai)):
            saved = root.post("/settings", data={"tab": tab, **values})
            assert saved.status_code == 303, saved.text[:500]
    with client("fay") as fay:
        said = fay.post("/designer/messages", data={"content": "Plan a 45-minute retrospective for 6 people."})
        assert said.status_code == 303, said.text[:500]
        conversation = said.headers["location"].split("c=")[1]
        provider.answers = [as_json(VALID_AGENDA)]
        generated = fay.post("/designer/generate", data={"conversation": conversation})
        assert generated.status_code == 303, generated.text[:500]
    show.unlinked["fay"] = [generated.headers["location"].split("#")[0]]
