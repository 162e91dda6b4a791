"""Process configuration, read once from the environment.

Every setting is declared once in ``SETTINGS`` with its default and a line of help; the README's
configuration table is checked against this list by a test.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

MIN_SECRET_LENGTH = 32
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")

DEV_SECRET_WARNING = (
    "DECIDERO_JWT_SECRET_KEY is not set; using a random key for this process only. "
    "Sessions will not survive a restart. Never do this in production."
)


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("DECIDERO_ENV", "development", "`production` or `prod` (any case) selects production mode."),
    Setting(
        "DECIDERO_JWT_SECRET_KEY",
        "",
        "Signing secret for session cookies and CSRF tokens, at least 32 characters. Required in "
        "production; in development a random per-process key is used (sessions then end on restart).",
    ),
    Setting("DECIDERO_JWT_ISSUER", "decidero", "Signing salt; changing it or the secret ends every session."),
    Setting(
        "DECIDERO_SECURE_COOKIES",
        "true in production, else false",
        "Mark cookies `Secure` (true/1/yes/on or false/0/no/off). Keep it true behind HTTPS.",
    ),
    Setting("GRAB_ENABLED", "false", "Developer aid that annotates rendered templates; refused in production."),
    Setting("LOG_LEVEL", "INFO", "Level for the console and logs/app.log: DEBUG, INFO, WARNING, ERROR, CRITICAL."),
    Setting("LOG_MAX_BYTES", "5242880", "Rotation size of each log file in bytes (at least 1024)."),
    Setting("LOG_BACKUP_COUNT", "5", "Rotated files kept per log (0 or more)."),
    Setting(
        "DECIDERO_DATABASE_URL",
        "sqlite:///./decidero.db",
        "Database location: `sqlite:///path` (a relative path resolves against the working directory) or "
        "`postgresql://user:password@host:port/dbname` for Postgres.",
    ),
    Setting(
        "DECIDERO_REDIS_URL",
        "",
        "Redis for several workers (`redis://`, `rediss://` or `unix://`): live events, presence, login "
        "limits and cache invalidation shared by every worker. Empty: all of it in this process.",
    ),
    Setting(
        "DECIDERO_METRICS_TOKEN",
        "",
        "Bearer token that opens `/metrics` to requests that are not plain loopback ones (a proxied or "
        "remote scraper), at least 32 characters. Empty: `/metrics` answers loopback only.",
    ),
)
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


class ConfigError(Exception):
    """A setting is missing or invalid; the message is shown to the operator as is."""


@dataclass(frozen=True)
class Config:
    production: bool
    secret_key: str
    secret_generated: bool
    issuer: str
    secure_cookies: bool
    grab_enabled: bool
    log_level: int
    log_max_bytes: int
    log_backup_count: int
    database_url: str
    database_path: Path | None  # None on Postgres
    redis_url: str
    metrics_token: str
    log_dir: Path
    templates_dir: Path
    static_dir: Path


PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if raw.lower() in TRUE_WORDS:
        return True
    if raw.lower() in FALSE_WORDS:
        return False
    raise ConfigError(f"Invalid {name} '{raw}'; use true/1/yes/on or false/0/no/off")


def _int(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ConfigError(f"Invalid {name} '{raw}'; use a whole number of at least {minimum}")
    return value


def _log_level(env: Mapping[str, str]) -> int:
    raw = env.get("LOG_LEVEL", "").strip() or "INFO"
    if raw.upper() not in LOG_LEVELS:
        raise ConfigError(f"Invalid LOG_LEVEL '{raw}'; use one of {', '.join(LOG_LEVELS)}")
    return int(logging.getLevelName(raw.upper()))


def redacted(url: str) -> str:
    """``url`` without its password, for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _database_path(url: str, cwd: Path) -> Path | None:
    """The SQLite file the URL names, or None for a Postgres URL."""
    if url.startswith(("postgres://", "postgresql://")):
        return None
    if "://" in url and not url.startswith("sqlite:"):
        raise ConfigError("Scale-out mode (DECIDERO_DATABASE_URL) is not supported by this version")
    if not url.startswith("sqlite:///"):
        raise ConfigError(f"Invalid DECIDERO_DATABASE_URL '{url}'; use sqlite:///path/to/decidero.db")
    path = Path(url.removeprefix("sqlite:///"))
    return path if path.is_absolute() else cwd / path


def load_config(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Config:
    """Read and validate every setting; raises ConfigError with the operator-facing message."""
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    production = env.get("DECIDERO_ENV", "").strip().lower() in ("production", "prod")
    secret = env.get("DECIDERO_JWT_SECRET_KEY", "").strip()
    if not secret and production:
        raise ConfigError("Missing DECIDERO_JWT_SECRET_KEY while DECIDERO_ENV is set to production")
    if secret and len(secret) < MIN_SECRET_LENGTH:
        raise ConfigError("DECIDERO_JWT_SECRET_KEY must be at least 32 characters long")
    grab = _bool(env, "GRAB_ENABLED", False)
    if grab and production:
        raise ConfigError("GRAB_ENABLED must be false when DECIDERO_ENV is set to production")
    redis_url = env.get("DECIDERO_REDIS_URL", "").strip()
    if redis_url and not redis_url.startswith(REDIS_SCHEMES):
        raise ConfigError("Scale-out mode (DECIDERO_REDIS_URL) is not supported by this version")
    metrics_token = env.get("DECIDERO_METRICS_TOKEN", "").strip()
    if metrics_token and len(metrics_token) < MIN_SECRET_LENGTH:
        raise ConfigError("DECIDERO_METRICS_TOKEN must be at least 32 characters long")
    database_url = env.get("DECIDERO_DATABASE_URL", "").strip() or "sqlite:///./decidero.db"
    return Config(
        production=production,
        secret_key=secret or secrets.token_urlsafe(48),
        secret_generated=not secret,
        issuer=env.get("DECIDERO_JWT_ISSUER", "").strip() or "decidero",
        secure_cookies=_bool(env, "DECIDERO_SECURE_COOKIES", production),
        grab_enabled=grab,
        log_level=_log_level(env),
        log_max_bytes=_int(env, "LOG_MAX_BYTES", 5_242_880, 1024),
        log_backup_count=_int(env, "LOG_BACKUP_COUNT", 5, 0),
        database_url=database_url,
        database_path=_database_path(database_url, cwd),
        redis_url=redis_url,
        metrics_token=metrics_token,
        log_dir=cwd / "logs",
        templates_dir=PROJECT_ROOT / "templates",
        static_dir=PROJECT_ROOT / "static",
    )
