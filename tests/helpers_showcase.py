"""A showcase meeting with every activity type in several states, and the people of every role, seeded
once per module for the whole-site tests (link crawl, accessibility scan) and for looking at pages.

Everything goes through the domain functions on a second handle of the server's database file, the
way ``helpers_meetings`` seeds the room tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers_brainstorming import DEFAULT_CONFIG as BRAINSTORM_DEFAULTS
from helpers_meetings import Person, add_people, on_file, seed_meeting

from decidero.activities.ballots.models import Ranking
from decidero.activities.brainstorming.ideas import add_idea
from decidero.meetings import agenda, lifecycle, run_control
from decidero.meetings.access import access_for
from decidero.meetings.activity_types import get_type
from decidero.meetings.models import Activity, Meeting
from decidero.platform.db import Database
from decidero.platform.models import User, utcnow

# The first account is the super admin; every global and per-meeting role is represented.
ROLES = {"root": "super_admin", "ada": "admin", "fay": "facilitator", "pia": "participant", "pete": "participant"}
IDEAS = ["Shorter meetings", "Walking one-on-ones", "A shared glossary"]


@dataclass
class Showcase:
    people: dict[str, Person]
    meeting: str
    archived: str
    activities: dict[str, str]  # short name → activity id

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


def seed_showcase(db: Database) -> Showcase:
    """"Showcase" owned by fay with pia and pete: a running brainstorm with ideas, a paused one, a
    running dot vote, a stopped and published ranking, a stopped dot vote, a discussion not started;
    plus an archived meeting of fay's."""
    people = add_people(db, ROLES)
    seeded = seed_meeting(db, "fay", ["pia", "pete"], activities=(), title="Showcase")
    archived = seed_meeting(db, "fay", ["pia"], activities=(("Retro", {}),), title="Last year")

    def write() -> dict[str, str]:
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
        _control(parked.id, "start", "pause")
        _control(vote.id, "start")
        _control(rank.id, "start")
        options = [o["id"] for o in Activity.get_by_id(rank.id).config["ideas"]]
        for login, order in (("pia", options), ("pete", [options[1], options[0], options[2]])):
            user = User.get(User.login == login)
            Ranking.insert(activity=rank.id, user=user.id, order_json=json.dumps(order), submitted_at=utcnow()).execute()
        _control(rank.id, "stop")
        run_control.publish(Activity.get_by_id(rank.id), True, User.get(User.login == "fay"))
        _control(tally.id, "start", "stop")
        old = Meeting.get_by_id(archived.id)
        lifecycle.archive(access_for(old.id, User.get(User.login == "fay")))
        return {"ideas": ideas.id, "parked": parked.id, "vote": vote.id, "rank": rank.id, "tally": tally.id, "talk": talk.id}

    activities = db.write_sync(write)
    return Showcase(people, seeded.id, archived.id, activities)


def seed_showcase_file(path: Path) -> Showcase:
    """The showcase on a running server's database file."""
    return on_file(path, seed_showcase)
