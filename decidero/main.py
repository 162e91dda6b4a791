"""The ASGI entry point operators run: ``uvicorn decidero.main:app`` (SPEC §3.1)."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette

from .app import create_app
from .config import ConfigError
from .logs import report_startup_failure


def _app_from_environment() -> Starlette:
    try:
        return create_app()
    except ConfigError as exc:
        # One line on stderr and in logs/error.log, then exit before the server binds.
        report_startup_failure(str(exc), Path.cwd() / "logs")
        raise SystemExit(1) from None


app = _app_from_environment()
