"""A discussion step: instructions on everyone's screen while the group talks. No input."""

from __future__ import annotations

from ...meetings.activity_types import ActivityType


class Discussion(ActivityType):
    name = "discussion"
    label = "Discussion"
    stem = "DISCUS"
    noun = "the discussion"
    purpose = "Instructions on everyone's screen while the group talks; no input"
    participant_template = "activities/discussion/panel.html"
    facilitator_template = "activities/discussion/panel.html"
