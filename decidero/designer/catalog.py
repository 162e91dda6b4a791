"""What the model is told, and what it must give back (SPEC §4.16).

The activity catalog is the engine's type registry: each type's name, label, purpose and the config
keys a plan may set. A generated agenda is JSON ``{title, description, activities: [{tool_type,
title, instructions, duration_minutes, config, rationale}]}``; after code fences are stripped it is
checked against the catalog and the agenda rules, each config through its type's own
``validate_config``. Unknown config keys are dropped with a warning.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from ..meetings.activity_types import TYPES, ActivityType
from ..platform.accounts import clean_text
from ..platform.errors import FormErrors, Refused
from ..platform.runtime_settings import RuntimeSettings

MAX_ACTIVITIES = 20
UNUSABLE = "The AI returned an agenda that could not be used. Try again or adjust the conversation."
FENCE = re.compile(r"^```[\w-]*[ \t]*\n?(.*?)\n?```$", re.DOTALL)


def catalog_lines() -> str:
    lines = []
    for name, activity_type in TYPES.items():
        keys = "; ".join(f"{key}: {meaning}" for key, meaning in activity_type.designer_keys.items())
        lines.append(f"- {name} ({activity_type.label}): {activity_type.purpose}. Config: {keys or 'none'}.")
    return "\n".join(lines)


def system_prompt() -> str:
    return (
        "You are an expert in designing facilitated group meetings (workshops, retrospectives, planning "
        "sessions, classes) in Decidero. Help the facilitator shape the agenda: understand the goal, the "
        "group and the time available, then suggest a sequence of activities and say why each fits. Ask "
        "at most two questions per turn. Propose only activities from this catalog, by their tool_type:\n"
        f"{catalog_lines()}\n"
        "Keep answers short and practical. When the facilitator is ready, they press Generate agenda."
    )


def generation_request() -> str:
    return (
        "Generate the agenda now from our conversation. Answer with one JSON object only, no prose and no "
        'code fences: {"title": str, "description": str, "activities": [{"tool_type": str, "title": str, '
        '"instructions": str, "duration_minutes": int, "config": object, "rationale": str}]}. Rules: 1 to '
        f"{MAX_ACTIVITIES} activities; tool_type one of {', '.join(TYPES)}; title 1-200 characters; "
        "instructions at most 2000 characters; duration_minutes 1-240; config only with the keys the "
        "catalog lists for that tool_type; rationale says in one or two sentences why the activity is there."
    )


def correction_request(problems: list[str]) -> str:
    listed = "\n".join(f"- {problem}" for problem in problems)
    return f"That answer could not be used:\n{listed}\nAnswer again with the corrected JSON object only."


@dataclass(frozen=True)
class PlannedStep:
    tool_type: str
    title: str
    instructions: str
    duration_minutes: int
    config: dict[str, Any]
    rationale: str

    @property
    def label(self) -> str:
        return TYPES[self.tool_type].label


@dataclass(frozen=True)
class DesignedAgenda:
    title: str
    description: str
    activities: list[PlannedStep]
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> DesignedAgenda:
        data = json.loads(text)
        steps = [PlannedStep(**step) for step in data["activities"]]
        return cls(data["title"], data["description"], steps, list(data.get("warnings", [])))

    @property
    def total_minutes(self) -> int:
        return sum(step.duration_minutes for step in self.activities)


class Unusable(Exception):
    """The answer cannot be used; ``problems`` go back to the model for its one retry."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def strip_fences(text: str) -> str:
    stripped = text.strip()
    fenced = FENCE.match(stripped)
    return fenced.group(1).strip() if fenced else stripped


def parse_agenda(answer: str, settings: RuntimeSettings) -> DesignedAgenda:
    """The model's answer as a usable agenda, or Unusable with every problem found. Config keys the
    plan leaves out take the type's defaults (``settings`` holds the runtime ones)."""
    try:
        data = json.loads(strip_fences(answer))
    except (ValueError, RecursionError):
        raise Unusable(["The answer is not valid JSON."]) from None
    if not isinstance(data, dict):
        raise Unusable(["The answer must be one JSON object."])
    problems: list[str] = []
    title = _text(data.get("title"))
    if not 1 <= len(title) <= 200:
        problems.append("The meeting title must be 1-200 characters.")
    description = _text(data.get("description"))
    if len(description) > 2000:
        problems.append("The description must be at most 2000 characters.")
    activities = data.get("activities")
    if not isinstance(activities, list) or not 1 <= len(activities) <= MAX_ACTIVITIES:
        count = len(activities) if isinstance(activities, list) else 0
        raise Unusable([*problems, f"The agenda must have 1 to {MAX_ACTIVITIES} activities (it has {count})."])
    warnings: list[str] = []
    steps = [_step(number, raw, settings, problems, warnings) for number, raw in enumerate(activities, start=1)]
    if problems:
        raise Unusable(problems)
    return DesignedAgenda(title, description, [s for s in steps if s is not None], warnings)


def _text(value: Any) -> str:
    return clean_text(value) if isinstance(value, str) else ""


def _step(number: int, raw: Any, settings: RuntimeSettings, problems: list[str], warnings: list[str]) -> PlannedStep | None:
    where = f"Activity {number}"
    if not isinstance(raw, dict):
        problems.append(f"{where} must be a JSON object.")
        return None
    tool_type = raw.get("tool_type")
    activity_type = TYPES.get(tool_type) if isinstance(tool_type, str) else None
    if activity_type is None:
        problems.append(f"{where}: unknown tool_type {tool_type!r}; use one of {', '.join(TYPES)}.")
    title = _text(raw.get("title"))
    if not 1 <= len(title) <= 200:
        problems.append(f"{where}: the title must be 1-200 characters.")
    instructions = _text(raw.get("instructions"))
    if len(instructions) > 2000:
        problems.append(f"{where}: the instructions must be at most 2000 characters.")
    duration = raw.get("duration_minutes")
    if not isinstance(duration, int) or isinstance(duration, bool) or not 1 <= duration <= 240:
        problems.append(f"{where}: duration_minutes must be a whole number from 1 to 240.")
    if activity_type is None:
        return None
    defaults = activity_type.default_config(settings)
    config = _config(activity_type, defaults, raw.get("config"), f"{where} (“{title}”)", problems, warnings)
    if config is None or not isinstance(duration, int):
        return None
    return PlannedStep(activity_type.name, title, instructions, duration, config, _text(raw.get("rationale"))[:1000])


def _config(
    activity_type: ActivityType, defaults: dict[str, Any], raw: Any, where: str, problems: list[str], warnings: list[str]
) -> dict[str, Any] | None:
    """The type's own config from the plan's, through ``validate_config``; unknown keys dropped."""
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        problems.append(f"{where}: config must be a JSON object.")
        return None
    kept = {}
    for key, value in raw.items():
        if key not in activity_type.designer_keys:
            warnings.append(f"Dropped the unknown setting “{key}” of {where}.")
        elif not _plain(value):
            problems.append(f"{where}: config “{key}” must be text, a number, true/false or a list of texts.")
        else:
            kept[key] = value
    try:
        return activity_type.validate_config(activity_type.designer_form({**defaults, **kept}), None)
    except FormErrors as exc:
        problems.extend(f"{where}: {message}" for message in exc.errors.values())
    except Refused as exc:
        problems.append(f"{where}: {exc.message}")
    return None


def _plain(value: Any) -> bool:
    if isinstance(value, list):
        return all(isinstance(item, str | int | float) and not isinstance(item, bool) for item in value)
    return isinstance(value, str | int | float | bool) or value is None
