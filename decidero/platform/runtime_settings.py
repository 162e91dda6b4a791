"""Runtime settings (SPEC §4.15): declared once here, overridden in the database, cached in memory.

The cache is the only reader; ``save``/``reset`` update it right after their commit, so a change takes
effect on the next request (one process owns the database).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .db import Database
from .errors import Forbidden, FormErrors, Refused
from .forms import whole_number
from .models import RuntimeSetting, utcnow
from .passwords import password_problems


@dataclass(frozen=True)
class RuntimeKey:
    key: str
    default: Any
    help: str
    parse: Callable[[str], Any]
    admin_only: bool = True
    secret: bool = False


def _whole(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = whole_number(str(raw))
        if value is None or not low <= value <= high:
            raise ValueError(f"Must be a whole number between {low} and {high}.")
        return value

    return parse


def _number(low: float, high: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        text = str(raw).strip()
        try:
            value = float(text) if text.isascii() else low - 1  # float() reads "٣" as 3 too
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise ValueError(f"Must be a number between {low:g} and {high:g}.")
        return value

    return parse


def _bool(raw: str) -> bool:
    text = str(raw).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", ""):
        return False
    raise ValueError("Must be true or false.")


def _text(low: int, high: int) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = str(raw).strip()
        if not low <= len(value) <= high:
            raise ValueError(f"Must be {low} to {high} characters.")
        return value

    return parse


def _url(raw: str) -> str:
    value = str(raw).strip()
    if value and not value.startswith(("http://", "https://")):
        raise ValueError("Must be an http(s) URL.")
    return value


def _password(raw: str) -> str:
    problems = password_problems(str(raw))
    if problems:
        raise ValueError(problems[0])
    return str(raw).strip()


KEYS: tuple[RuntimeKey, ...] = (
    RuntimeKey("brainstorming.idea_character_limit", 500, "Default character limit of an idea.", _whole(50, 5000), False),
    RuntimeKey("brainstorming.max_ideas_per_user", 50, "Default cap of ideas and comments per person.", _whole(1, 1000), False),
    RuntimeKey("brainstorming.default_maintain_anonymity", False, "New brainstorming rounds are anonymous.", _bool, False),
    RuntimeKey("brainstorming.default_allow_subcomments", False, "New brainstorming rounds allow comments.", _bool, False),
    RuntimeKey("brainstorming.default_auto_jump_new_ideas", True, "Jump to the newest idea by default.", _bool, False),
    RuntimeKey("meetings.activity_participant_exclusivity", False, "A participant may be in at most one live activity.", _bool),
    RuntimeKey("meetings.allow_guest_join", False, "Signed-out visitors may join as guests.", _bool),
    RuntimeKey("meetings.max_participants", 2000, "Roster capacity of a meeting.", _whole(1, 100000)),
    RuntimeKey("users.default_password", "TempPass123!", "Pre-filled password for batch creation.", _password, secret=True),
    RuntimeKey("auth.allow_self_registration", True, "Anyone may register (ignored while no admin exists).", _bool),
    RuntimeKey("auth.session_lifetime_minutes", 2880, "How long a sign-in lasts.", _whole(15, 43200)),
    RuntimeKey("security.login_rate_limit_enabled", True, "Lock out repeated login failures.", _bool),
    RuntimeKey("security.login_rate_limit_window_seconds", 60, "Window in which failures are counted.", _whole(10, 3600)),
    RuntimeKey("security.login_rate_limit_max_failures_per_username", 8, "Failures per username before lockout.", _whole(1, 1000)),
    RuntimeKey("security.login_rate_limit_max_failures_per_ip", 40, "Failures per client address before lockout.", _whole(1, 10000)),
    RuntimeKey("security.login_rate_limit_lockout_seconds", 60, "Length of a lockout.", _whole(1, 86400)),
    RuntimeKey("ai.endpoint_url", "", "OpenAI-compatible endpoint of the AI designer.", _url),
    RuntimeKey("ai.api_key", "", "API key of the AI provider (write-only).", _text(0, 500), secret=True),
    RuntimeKey("ai.model", "", "Model name for the AI designer.", _text(0, 200)),
    RuntimeKey("ai.max_tokens", 2048, "Largest AI answer in tokens.", _whole(64, 16384)),
    RuntimeKey("ai.temperature", 0.7, "AI sampling temperature.", _number(0, 2)),
)
BY_KEY = {k.key: k for k in KEYS}


class RuntimeSettings:
    def __init__(self, database: Database) -> None:
        self.database = database
        self._overrides: dict[str, Any] = {}

    def load(self) -> None:
        rows = self.database.read_sync(lambda: list(RuntimeSetting.select()))
        self._overrides = {r.key: json.loads(r.value) for r in rows if r.key in BY_KEY}

    def get(self, key: str) -> Any:
        return self._overrides.get(key, BY_KEY[key].default)

    def is_overridden(self, key: str) -> bool:
        return key in self._overrides

    def check_may_edit(self, key: str, is_admin: bool) -> RuntimeKey:
        spec = BY_KEY.get(key)
        if spec is None:
            raise Refused(f"Unknown setting: {key}", 400)
        if spec.admin_only and not is_admin:
            raise Forbidden("Only administrators can change this setting.")
        return spec

    async def save(self, key: str, raw: str, user_id: str | None, is_admin: bool = True) -> Any:
        spec = self.check_may_edit(key, is_admin)
        try:
            value = spec.parse(raw)
        except ValueError as exc:
            raise FormErrors({key: str(exc)}) from exc

        def write() -> None:
            RuntimeSetting.replace(key=key, value=json.dumps(value), updated_at=utcnow(), updated_by=user_id).execute()

        await self.database.write(write)
        self._overrides[key] = value
        return value

    async def reset(self, key: str, is_admin: bool = True) -> None:
        self.check_may_edit(key, is_admin)
        await self.database.write(lambda: RuntimeSetting.delete().where(RuntimeSetting.key == key).execute())
        self._overrides.pop(key, None)
