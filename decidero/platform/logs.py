"""Logging: console + rotating logs/app.log at LOG_LEVEL, logs/error.log for errors, an audit logger."""

from __future__ import annotations

import logging
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path

from .config import Config

FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
SECRET_FIELD_MARKERS = ("password", "secret", "token", "api_key", "csrf")
# Free text could tie an anonymous contribution to its author in a log line: log its size only.
CONTENT_FIELDS = ("content", "text")
# Loggers that carry Decidero's own records; uvicorn's go through the same handlers.
APP_LOGGERS = ("decidero", "audit", "uvicorn", "uvicorn.error")
# Decidero writes its own access log (decidero.access: user, timing, request id, no query strings).
SILENCED_LOGGERS = ("uvicorn.access",)
# Polled by monitors and browsers all day: never written at INFO (SPEC §3.5).
QUIET_PATHS = ("/health", "/metrics", "/static/")  # probes and scrapes, every few seconds

_handlers: list[logging.Handler] = []


class QuietPaths(logging.Filter):
    """Drops uvicorn's access lines for QUIET_PATHS (args: client, method, path, version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        path = args[2] if isinstance(args, tuple) and len(args) > 2 else ""
        return not str(path).startswith(QUIET_PATHS)


def _prune_rotated(path: Path, keep: int) -> None:
    """Drop rotated files beyond LOG_BACKUP_COUNT (e.g. left from a bigger earlier setting)."""
    for rotated in path.parent.glob(path.name + ".*"):
        suffix = rotated.name.removeprefix(path.name + ".")
        if suffix.isdigit() and int(suffix) > keep:
            rotated.unlink(missing_ok=True)


class _RotatingFile(RotatingFileHandler):
    """Python's handler never shrinks a file when backupCount is 0; LOG_MAX_BYTES still applies then."""

    def doRollover(self) -> None:
        super().doRollover()
        if self.backupCount == 0 and self.stream is not None:
            self.stream.seek(0)
            self.stream.truncate()


def _rotating(path: Path, config: Config, level: int) -> logging.Handler:
    _prune_rotated(path, config.log_backup_count)
    handler = _RotatingFile(
        path, maxBytes=config.log_max_bytes, backupCount=config.log_backup_count, encoding="utf-8"
    )
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter(FORMAT))
    return handler


def configure_logging(config: Config) -> None:
    """Install the handlers; calling it again (a second app in tests) replaces the previous ones."""
    config.log_dir.mkdir(parents=True, exist_ok=True)
    for handler in _handlers:
        handler.close()
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(config.log_level)
    console.setFormatter(logging.Formatter(FORMAT))
    _handlers[:] = [
        console,
        _rotating(config.log_dir / "app.log", config, config.log_level),
        _rotating(config.log_dir / "error.log", config, logging.ERROR),
    ]
    for name in APP_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers = list(_handlers)
        logger.setLevel(config.log_level)
        logger.propagate = False
    for name in SILENCED_LOGGERS:
        logging.getLogger(name).disabled = True
    access = logging.getLogger("uvicorn.access")
    access.filters = [f for f in access.filters if not isinstance(f, QuietPaths)] + [QuietPaths()]


def report_startup_failure(message: str, log_dir: Path) -> None:
    """One line on stderr and in logs/error.log, before the server binds."""
    print(message, file=sys.stderr)
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        with open(log_dir / "error.log", "a", encoding="utf-8") as fh:
            record = logging.LogRecord("decidero", logging.CRITICAL, "", 0, message, None, None)
            fh.write(logging.Formatter(FORMAT).format(record) + "\n")
    except OSError:
        pass


def _redacted(key: str, value: object) -> object:
    if any(marker in key.lower() for marker in SECRET_FIELD_MARKERS):
        return "***"
    if key.lower() in CONTENT_FIELDS:
        return f"<{len(str(value))} chars>"
    return str(value)[:100]


def redact(fields: dict[str, object]) -> dict[str, object]:
    """Mask secrets and free text before submitted fields reach a log line."""
    return {key: _redacted(key, value) for key, value in fields.items()}
