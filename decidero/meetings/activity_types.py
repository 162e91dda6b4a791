"""The activity type interface and its registry.

A type module provides: label and id stem, default config, config form fields and validation, the
participant and facilitator panel partials, results, and (later) transfer in/out. The engine (agenda,
run control, live updates) only ever talks to a type through this class.
"""

from __future__ import annotations

from typing import Any

from ..platform.errors import Refused
from ..platform.runtime_settings import RuntimeSettings
from .models import Activity


class ActivityType:
    name = ""
    label = ""
    stem = ""
    # Waiting copy: "The facilitator will open <noun> when ready."
    noun = "the activity"
    config_template = "activities/_no_config.html"
    participant_template = ""
    facilitator_template = ""
    results_template = ""

    def default_config(self, settings: RuntimeSettings) -> dict[str, Any]:
        return {}

    def validate_config(self, form: dict[str, str], activity: Activity | None) -> dict[str, Any]:
        """The type's config from submitted fields; raises FormErrors (field → message) or Conflict."""
        return {}

    def prepare_config(self, activity: Activity, config: dict[str, Any]) -> dict[str, Any]:
        """Write path, on add and edit: the config to store (e.g. with stable option ids). Raises
        Conflict for a change the activity's data no longer allows (config locks, SPEC §4.6)."""
        return config

    def config_lock(self, activity: Activity) -> str | None:
        """Read path: why some config keys are locked (the edit form greys them out), or None."""
        return None

    def check_startable(self, activity: Activity) -> None:
        """Raise Refused when the activity cannot start yet (e.g. no options)."""

    def panel_context(self, activity: Activity, user_id: str, facilitator: bool) -> dict[str, Any]:
        """Extra template values for the panel (read path)."""
        return {}

    def transfer_count(self, activity: Activity) -> int:
        return 0

    def has_participant_data(self, activity: Activity) -> bool:
        return False

    def delete_data(self, activity: Activity) -> None:
        """Remove the type's rows for this activity (write path, before the activity row goes)."""


TYPES: dict[str, ActivityType] = {}


def register(activity_type: ActivityType) -> None:
    TYPES[activity_type.name] = activity_type


def get_type(name: str) -> ActivityType:
    try:
        return TYPES[name]
    except KeyError:
        raise Refused(f"Unknown activity type '{name}'.", 400) from None
