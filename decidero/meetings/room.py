"""The meeting room's state and the template values of its regions (header, presence, agenda, panels).

One ``RoomState`` is loaded per page view or per published event (read path); the region partials
render from it for a viewer. Participant views depend only on the set of activities the viewer is in
scope of, which is what lets the live engine render once per audience instead of once per connection.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from ..platform.errors import NotFound
from ..platform.models import User, utcnow
from ..platform.prepared import every, one
from . import reveal as reveals
from . import rounds
from .activity_types import get_type
from .models import Activity, Meeting
from .roster_cache import roster
from .run_control import ACTIVE_STATES, elapsed_seconds, remaining_seconds, time_is_up

# Drawn as inline SVG (templates/_partials/icons.html) beside the state label: ▶ running, ⏸ paused, ■ stopped.
STATE_ICONS = {"running": "play", "paused": "pause", "stopped": "stop", "not_started": ""}
STATE_LABELS = {"running": "Running", "paused": "Paused", "stopped": "Stopped", "not_started": "Not started"}
FACILITATOR_AUDIENCE = "facilitators"
# Names listed in the presence region (and in the facilitators' "Not connected" list); beyond that a
# crowd is a count. Every presence change sends the region to every stream: at 1,000 names it was
# 125 KB per stream per change.
PRESENCE_NAMES_SHOWN = 50


@dataclass
class RoomState:
    meeting: Meeting
    activities: list[Activity]
    participants: list[User]
    facilitators: list[User]
    custom_rosters: dict[str, set[str]]
    now: datetime
    present: set[str] = field(default_factory=set)
    server_epoch: float = field(default_factory=time.time)
    _presence: dict[bool, dict[str, Any]] = field(default_factory=dict, repr=False)

    # A publish asks every connected viewer's scope and every row's "active now": with a crowd, the
    # parts that do not depend on the viewer are worked out once per state.
    @cached_property
    def _open_to_all(self) -> frozenset[str]:
        return frozenset(a.id for a in self.activities if a.roster_mode != "custom")

    @cached_property
    def _custom_activities(self) -> list[str]:
        return [a.id for a in self.activities if a.roster_mode == "custom"]

    @cached_property
    def people(self) -> dict[str, User]:
        """Everyone on the roster by id: a publish renders each author's rows without a query."""
        return {u.id: u for u in (*self.participants, *self.facilitators)}

    @cached_property
    def present_participants(self) -> list[User]:
        return [u for u in self.participants if u.id in self.present]

    def in_scope(self, activity: Activity, user_id: str) -> bool:
        return activity.roster_mode != "custom" or user_id in self.custom_rosters.get(activity.id, set())

    def scope_of(self, user_id: str) -> frozenset[str]:
        chosen = [a for a in self._custom_activities if user_id in self.custom_rosters.get(a, ())]
        return self._open_to_all.union(chosen) if chosen else self._open_to_all

    def participant_scopes(self) -> set[frozenset[str]]:
        """Every scope a participant can have: the open activities, plus each mix of custom rosters
        that somebody is on (one scope while no roster is custom)."""
        rostered: set[str] = set().union(*(self.custom_rosters.get(a, ()) for a in self._custom_activities))
        return {self._open_to_all, *(self.scope_of(u) for u in rostered)}

    def audience_key(self, user_id: str, facilitator: bool) -> Hashable:
        return FACILITATOR_AUDIENCE if facilitator else self.scope_of(user_id)

    def activity(self, activity_id: str) -> Activity | None:
        return next((a for a in self.activities if a.id == activity_id), None)

    def roster_size(self, activity: Activity) -> int:
        if activity.roster_mode == "custom":
            return len(self.custom_rosters.get(activity.id, ()))
        return len(self.participants)

    def active_now(self, activity: Activity) -> int:
        if activity.roster_mode != "custom":
            return len(self.present_participants)
        chosen = self.custom_rosters.get(activity.id, set())
        return sum(1 for u in self.present_participants if u.id in chosen)

    @cached_property
    def next_rounds(self) -> dict[str, int]:
        """Stopped activities that may run again, with the number of their next round."""
        return rounds.next_numbers(self.activities)

    @cached_property
    def reveal(self) -> reveals.Reveal | None:
        """The newest published results (``meetings.reveal``), worked out once per state."""
        return reveals.reveal_of(self.meeting.id, self.activities)

    def presence(self, facilitator: bool) -> dict[str, Any]:
        if facilitator not in self._presence:
            self._presence[facilitator] = presence_values(self, facilitator)
        return self._presence[facilitator]


def load_room(meeting_id: str, present: set[str] | None = None) -> RoomState:
    """Everything the room's regions show (read path)."""
    meeting = one(Meeting, id=meeting_id)
    if meeting is None:
        raise NotFound()
    activities = every(Activity, "position", meeting=meeting_id)
    people = roster(meeting)
    return RoomState(
        meeting, activities, people.participants, people.facilitators, people.custom_rosters, utcnow(), present or set()
    )


def timer_values(activity: Activity, now: datetime) -> dict[str, Any]:
    """What a timer element needs: the server computes, the script only ticks between events."""
    # A stopped activity has no time left to count down (its limit applies when it runs again).
    left = remaining_seconds(activity, now) if activity.state != "stopped" else None
    return {
        "elapsed": round(elapsed_seconds(activity, now), 1),
        "running": activity.state == "running",
        "remaining": None if left is None else round(max(0.0, left), 1),
        "time_up": time_is_up(activity, now),
    }


def clock(seconds: float | None) -> str:
    if seconds is None:
        return ""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def access_badge(activity: Activity, in_scope: bool, facilitator: bool) -> tuple[str, str]:
    """("Open"/"Closed", tooltip) for an agenda row (SPEC §4.6)."""
    if activity.state == "paused":
        return "Closed", "Paused"
    if activity.state != "running":
        return "Closed", "Not running yet"
    if facilitator:
        return "Open", "Open to participants now"
    return ("Open", "Open to you now") if in_scope else ("Closed", "Not assigned to you")


def row_values(state: RoomState, activity: Activity, audience: Hashable) -> dict[str, Any]:
    facilitator = audience == FACILITATOR_AUDIENCE
    in_scope = facilitator or (isinstance(audience, frozenset) and activity.id in audience)
    activity_type = get_type(activity.type)
    access, tooltip = access_badge(activity, in_scope, facilitator)
    roster = "All" if activity.roster_mode != "custom" else f"Custom ({state.roster_size(activity)})"
    return {
        "activity": activity,
        "type": activity_type,
        "icon": STATE_ICONS[activity.state],
        "state_label": STATE_LABELS[activity.state],
        "timer": timer_values(activity, state.now),
        "access": access,
        "tooltip": tooltip,
        "roster_badge": roster,
        "active_now": state.active_now(activity),
        "in_scope": in_scope,
        "open": activity.state in ACTIVE_STATES,
        "transfer_count": activity_type.transfer_count(activity) if facilitator else 0,
        "next_round": state.next_rounds.get(activity.id) if facilitator else None,
    }


def presence_values(state: RoomState, facilitator: bool) -> dict[str, Any]:
    """Present members, facilitators first, up to PRESENCE_NAMES_SHOWN names (SPEC §4.14)."""
    present = [u for u in state.facilitators if u.id in state.present]
    facilitators = {u.id for u in present}
    present += [u for u in state.present_participants if u.id not in facilitators]
    values: dict[str, Any] = {
        "count": len(present),
        "shown": present[:PRESENCE_NAMES_SHOWN],
        "more": max(0, len(present) - PRESENCE_NAMES_SHOWN),
        "facilitator_ids": facilitators,
        "away_count": 0,
    }
    if facilitator:
        away = [u for u in state.participants if u.id not in state.present]
        values.update(
            away_count=len(away), away=away[:PRESENCE_NAMES_SHOWN], away_more=max(0, len(away) - PRESENCE_NAMES_SHOWN)
        )
    return values


def region_values(state: RoomState, audience: Hashable) -> dict[str, Any]:
    """Template values shared by every region for one audience."""
    facilitator = audience == FACILITATOR_AUDIENCE
    rows = [row_values(state, a, audience) for a in state.activities]
    return {
        "meeting": state.meeting,
        "state": state,
        "rows": rows,
        "facilitator": facilitator,
        "open_rows": [r for r in rows if r["open"] and r["in_scope"]],
        "presence": state.presence(facilitator),
        "active_count": sum(1 for r in rows if r["open"]),
        "server_epoch": state.server_epoch,
        "clock": clock,
        # Called by the reveal region only: other regions never pay for loading results.
        "reveal": lambda: reveals.reveal_for(state.reveal, audience, facilitator),
    }


def page_region_values(state: RoomState, audience: Hashable) -> dict[str, Any]:
    """``region_values`` for a request, with the reveal loaded now: the read runs on a reader
    thread, the page renders later on another thread or on the event loop, where no query may run."""
    values = region_values(state, audience)
    shown = values["reveal"]()
    values["reveal"] = lambda: shown
    return values


def panel_values(
    state: RoomState, activity: Activity, audience: Hashable, user_id: str | None, params: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A panel's values; type-specific values come from the type (``user_id`` None = shared render;
    ``params``: a page request's query, which may choose a view of the panel)."""
    values = row_values(state, activity, audience)
    facilitator = audience == FACILITATOR_AUDIENCE
    values["visible"] = facilitator or (values["in_scope"] and values["open"])
    activity_type = get_type(activity.type)
    if not values["visible"]:
        # A hidden panel renders no body: its ballot, results or board would be read for nothing,
        # once per participant joining while a vote waits further down the agenda.
        values["panel_extra"] = {}
    elif params is None:
        values["panel_extra"] = activity_type.panel_context(activity, user_id or "", facilitator)
    else:
        values["panel_extra"] = activity_type.page_context(activity, user_id or "", facilitator, params)
    return values
