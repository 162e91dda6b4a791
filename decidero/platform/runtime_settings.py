"""Runtime settings (SPEC §4.15): declared once here, overridden in the database, cached in memory.

The cache is the only reader; ``save``/``reset`` update it right after their commit, so a change takes
effect on the next request; with several workers they tell the others (``Bus``), which read the
settings again, as each does after Redis comes back. The settings page (``routes/settings``)
is built from these declarations: each key's tab, input, help line and who may edit it.

Write-only keys (the AI provider's API key) are encrypted at rest with a key derived from
DECIDERO_JWT_SECRET_KEY, so neither a copy of the database nor a page ever shows them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken

from .bus import Bus
from .db import Database, replace
from .errors import Forbidden, FormErrors, Refused
from .forms import whole_number
from .models import RuntimeSetting, utcnow
from .passwords import password_problems

log = logging.getLogger("decidero.settings")

# The settings page's tabs, in order: (id, title, key prefixes shown on it).
TABS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("brainstorming", "Brainstorming", ("brainstorming.",)),
    ("meetings", "Meetings & Users", ("meetings.", "users.")),
    ("security", "Security", ("auth.", "security.")),
    ("ai", "AI", ("ai.",)),
)
UNKNOWN = "Unknown setting: {key}"
ADMINS_ONLY = "Only administrators can change this setting."
MASK = "●●●●"
AI_REQUIRED = ("ai.endpoint_url", "ai.api_key", "ai.model")
ACRONYMS = {"api": "API", "url": "URL", "ip": "IP"}


@dataclass(frozen=True)
class RuntimeKey:
    key: str
    default: Any
    help: str
    parse: Callable[[str], Any]
    admin_only: bool = True
    # Never rendered back: the page shows a mask, and a blank submission keeps the stored value.
    secret: bool = False
    # Also encrypted at rest, and shown as the mask plus its last 4 characters (SPEC §4.15: ai.api_key).
    write_only: bool = False

    @property
    def label(self) -> str:
        """"brainstorming.idea_character_limit" → "Idea character limit"."""
        words = [ACRONYMS.get(w, w) for w in self.key.partition(".")[2].split("_")]
        return " ".join(words)[:1].upper() + " ".join(words)[1:]

    @property
    def slug(self) -> str:
        """For element ids: dots do not belong in CSS selectors."""
        return self.key.replace(".", "-")

    @property
    def tab(self) -> str:
        return next(tab for tab, _, prefixes in TABS if self.key.startswith(prefixes))

    @property
    def kind(self) -> str:
        """The input the page uses: ``bool``, ``number``, ``secret`` or ``text``."""
        if self.secret:
            return "secret"
        if isinstance(self.default, bool):
            return "bool"
        return "number" if isinstance(self.default, int | float) else "text"

    def as_text(self, value: Any) -> str:
        """A value as its form field shows it (``true``/``false`` for switches)."""
        if isinstance(value, bool):
            return "true" if value else "false"
        return f"{value:g}" if isinstance(value, float) else str(value)


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
    try:
        parts = urlsplit(value)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and len(value) <= 500
    except ValueError:  # e.g. "http://[::1" (an unclosed IPv6 bracket)
        valid = False
    if not valid or any(ch.isspace() for ch in value):
        raise ValueError("Must be an http(s) URL.")
    return value.rstrip("/")


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
    RuntimeKey("ai.api_key", "", "API key of the AI provider (write-only).", _text(1, 500), secret=True, write_only=True),
    RuntimeKey("ai.model", "", "Model name for the AI designer.", _text(1, 200)),
    RuntimeKey("ai.max_tokens", 2048, "Largest AI answer in tokens.", _whole(64, 16384)),
    RuntimeKey("ai.temperature", 0.7, "AI sampling temperature.", _number(0, 2)),
)
BY_KEY = {k.key: k for k in KEYS}


def keys_of_tab(tab: str) -> list[RuntimeKey]:
    return [k for k in KEYS if k.tab == tab]


class RuntimeSettings:
    def __init__(self, database: Database, secret: str | None = None, bus: Bus | None = None) -> None:
        """``secret`` (DECIDERO_JWT_SECRET_KEY) keys the encryption of write-only values."""
        self.database = database
        self.bus = bus
        if bus is not None:
            bus.on("settings", lambda _data: self.reload())
            bus.on_connect(self.reload)
        self._overrides: dict[str, Any] = {}
        digest = hashlib.sha256(f"decidero.runtime-settings:{secret}".encode()).digest() if secret else None
        self._fernet = Fernet(base64.urlsafe_b64encode(digest)) if digest else None

    def load(self) -> None:
        self._apply(self.database.read_sync(lambda: list(RuntimeSetting.select())))

    async def reload(self) -> None:
        """Read the settings again (another worker saved some)."""
        self._apply(await self.database.read(lambda: list(RuntimeSetting.select())))

    def _apply(self, rows: list[RuntimeSetting]) -> None:
        overrides, self._overrides = self._overrides, {}
        try:
            for row in rows:
                spec = BY_KEY.get(row.key)
                if spec is not None:
                    self._load_one(spec, json.loads(row.value))
        except Exception:
            self._overrides = overrides
            raise

    def _saved(self) -> None:
        if self.bus is not None:
            self.bus.tell("settings")

    def _load_one(self, spec: RuntimeKey, stored: Any) -> None:
        if not spec.write_only:
            self._overrides[spec.key] = stored
            return
        token = stored.get("encrypted") if isinstance(stored, dict) else None
        try:
            if self._fernet is None or not isinstance(token, str):
                raise InvalidToken
            self._overrides[spec.key] = self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            # Another signing secret (or none): the value cannot be read, so it counts as unset.
            log.warning("The stored %s cannot be decrypted with this DECIDERO_JWT_SECRET_KEY; set it again in Settings", spec.key)

    def _stored(self, spec: RuntimeKey, value: Any) -> str:
        if not spec.write_only:
            return json.dumps(value)
        if self._fernet is None:
            raise RuntimeError(f"{spec.key} is encrypted at rest: RuntimeSettings needs the signing secret")
        return json.dumps({"encrypted": self._fernet.encrypt(str(value).encode()).decode()})

    def get(self, key: str) -> Any:
        return self._overrides.get(key, BY_KEY[key].default)

    def ai_configured(self) -> bool:
        """The AI designer is on once its endpoint, key and model are all set (SPEC §4.16)."""
        return all(self.get(key) for key in AI_REQUIRED)

    def is_overridden(self, key: str) -> bool:
        return key in self._overrides

    def shown(self, key: str) -> str:
        """The value as the settings page may show it: secrets masked, write-only ones as the mask
        plus their last 4 characters, blank when unset."""
        spec, value = BY_KEY[key], self.get(key)
        if spec.write_only:
            return MASK + str(value)[-4:] if value else ""
        if spec.secret:
            return MASK if value else ""
        return spec.as_text(value)

    def check_may_edit(self, key: str, is_admin: bool) -> RuntimeKey:
        spec = BY_KEY.get(key)
        if spec is None:
            raise Refused(UNKNOWN.format(key=key), 400)
        if spec.admin_only and not is_admin:
            raise Forbidden(ADMINS_ONLY)
        return spec

    def changes(self, submitted: Mapping[str, str], is_admin: bool) -> dict[str, Any]:
        """The parsed values of ``submitted`` that differ from the current ones; a blank secret keeps
        its value. Every key is checked first (unknown: 400, admin-only: 403), then every value;
        FormErrors names each field that failed, and nothing is saved."""
        specs = [self.check_may_edit(key, is_admin) for key in submitted]
        changed: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for spec in specs:
            raw = str(submitted[spec.key])
            if (spec.secret and not raw.strip()) or (not spec.secret and raw.strip() == spec.as_text(self.get(spec.key))):
                continue  # kept as it is: an untouched field never fails, nor becomes an override
            try:
                value = spec.parse(raw)
            except ValueError as exc:
                errors[spec.key] = str(exc)
                continue
            if value != self.get(spec.key) or (spec.secret and not self.is_overridden(spec.key)):
                changed[spec.key] = value
        if errors:
            raise FormErrors(errors)
        return changed

    async def save_many(self, submitted: Mapping[str, str], user_id: str | None, is_admin: bool) -> list[str]:
        """Validate and save several keys in one transaction (all or nothing); returns the keys changed."""
        changed = self.changes(submitted, is_admin)
        rows = [(key, self._stored(BY_KEY[key], value)) for key, value in changed.items()]

        def write() -> None:
            for key, stored in rows:
                replace(RuntimeSetting, key=key, value=stored, updated_at=utcnow(), updated_by=user_id)

        if rows:
            await self.database.write(write)
            self._overrides.update(changed)
            self._saved()
        return list(changed)

    async def save(self, key: str, raw: str, user_id: str | None, is_admin: bool = True) -> Any:
        spec = self.check_may_edit(key, is_admin)
        try:
            value = spec.parse(raw)
        except ValueError as exc:
            raise FormErrors({key: str(exc)}) from exc
        stored = self._stored(spec, value)

        def write() -> None:
            replace(RuntimeSetting, key=key, value=stored, updated_at=utcnow(), updated_by=user_id)

        await self.database.write(write)
        self._overrides[key] = value
        self._saved()
        return value

    async def reset(self, key: str, is_admin: bool = True) -> None:
        self.check_may_edit(key, is_admin)
        await self.database.write(lambda: RuntimeSetting.delete().where(RuntimeSetting.key == key).execute())
        self._overrides.pop(key, None)
        self._saved()
