"""The ASGI entry point operators run: ``uvicorn decidero.main:app`` (SPEC §3.1)."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

from starlette.applications import Starlette

from .app import create_app
from .platform.config import ConfigError
from .platform.logs import report_startup_failure

GC_THRESHOLDS = (50_000, 20, 100)  # CPython's default: (700, 10, 10)
# How long a thread running Python may keep the interpreter while another waits (CPython: 5 ms).
SWITCH_INTERVAL_SECONDS = 0.001


def _tune_garbage_collector() -> None:
    """Thousands of open streams hold millions of long-lived objects. With CPython's default
    thresholds a full collection then stopped the event loop for 1.5 s every ten seconds or so
    (bench, 5,000 streams). The young generation is collected far less often, so short-lived
    objects die before they are promoted, and start-up objects leave the collector's view."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _share_the_interpreter() -> None:
    """The writer thread lets go of the interpreter around every SQLite statement, then waits to get
    it back from whichever thread is busy in Python (fan-out on the event loop, a render): up to the
    switch interval each time. A submission is a dozen statements, so under load it waited up to
    60 ms for 1.5 ms of work, and queued submissions behind it (trickle, N = 500: p95 0.9 s).
    1 ms bounds that wait at a small cost in switches (``bench/``, README, Performance)."""
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)


def _app_from_environment() -> Starlette:
    try:
        return create_app()
    except ConfigError as exc:
        # One line on stderr and in logs/error.log, then exit before the server binds.
        report_startup_failure(str(exc), Path.cwd() / "logs")
        raise SystemExit(1) from None


app = _app_from_environment()
_tune_garbage_collector()
_share_the_interpreter()
