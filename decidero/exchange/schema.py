"""The JSON Schema (draft 2020-12) of ``meeting.json``: ``schema.json`` beside this module describes
the meeting, its people and agenda; each registered activity type adds the branch for its content."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import best_match

from ..meetings.activity_types import TYPES

BASE: dict[str, Any] = json.loads(Path(__file__).with_name("schema.json").read_text(encoding="utf-8"))


def bundle_schema() -> dict[str, Any]:
    """The whole schema: the base, with one ``if type … then content …`` branch per activity type."""
    schema = copy.deepcopy(BASE)
    activity = schema["$defs"]["activity"]
    activity["properties"]["type"]["enum"] = list(TYPES)
    activity["allOf"] = [
        {
            "if": {"properties": {"type": {"const": name}}},
            "then": {"properties": {"config": _plain(activity_type.config_schema), "content": _plain(activity_type.content_schema)}},
        }
        for name, activity_type in TYPES.items()
    ]
    return schema


TIMES = FormatChecker(formats=())


def _plain(schema: Any) -> Any:
    """A type's schema (read-only mappings) as plain JSON values."""
    return json.loads(json.dumps(schema, default=dict))


@TIMES.checks("date-time", raises=ValueError)
def _is_time(value: object) -> bool:
    """A real moment (the pattern alone lets 2026-13-45 through), as ``unstamp`` will read it."""
    if isinstance(value, str):
        datetime.fromisoformat(value.removesuffix("Z"))
    return True


@cache
def _validator() -> Draft202012Validator:
    # Built once: the types are all registered before the first export or import.
    return Draft202012Validator(bundle_schema(), format_checker=TIMES)


def schema_problem(data: Any) -> str | None:
    """Why ``data`` does not follow the schema (the most telling error, with where it is), or None."""
    error = best_match(_validator().iter_errors(data))
    if error is None:
        return None
    where = "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in error.absolute_path).lstrip(".")
    return f"{where or 'meeting.json'}: {error.message}"[:300]
